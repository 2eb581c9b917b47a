//! Bad input, generated and hand-picked.
//!
//! Properties (proptest): any `Message` is either refused with field errors or rendered
//! into JSON that the simulator accepts as it is, and that parses back into the very
//! same message (nothing the caller sent is changed). A smaller sample goes through the
//! real component in wasmtime: the guest never traps, agrees with the native build on
//! every verdict, and sends exactly what it previews.
//!
//! Hostile strings (control characters, 1 MB texts, phone numbers of every wrong shape,
//! URLs with credentials or other schemes) go through the real component: each is
//! refused naming its field before any request is made, or, when the rules allow it,
//! sent byte for byte. Lone surrogates cannot be written in a Rust `String`, and
//! wasmtime's canonical ABI checks every string it lowers into the guest, so a host
//! cannot hand the component invalid UTF-8 or UTF-16 through `send-message`; the
//! gateway's JSON, where `"\ud800"` can be written, is tested with the gateway.

mod support;

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use heymarket_sms::message::{FieldError as CoreFieldError, Message as CoreMessage};
use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestRunner};
use support::*;

/// How many generated messages the native property tries.
const NATIVE_CASES: u32 = 1500;
/// How many generated messages go through the real component.
const COMPONENT_CASES: u32 = 150;

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(RunnerConfig {
        cases,
        failure_persistence: None,
        // Shrinking a failure through a component call is slow; a few hundred steps
        // find a small enough example.
        max_shrink_iters: 300,
        ..RunnerConfig::default()
    })
}

fn id() -> impl Strategy<Value = u64> {
    prop_oneof![
        8 => 1..100_000u64,
        1 => Just(0u64),
        1 => Just(i64::MAX as u64),
        1 => Just(i64::MAX as u64 + 1),
        1 => any::<u64>(),
    ]
}

fn phone() -> BoxedStrategy<String> {
    prop_oneof![
        10 => "[1-9][0-9]{6,14}",
        1 => "\\+[0-9]{0,16}",
        1 => "[0-9]{0,20}",
        1 => "[0-9 ()+.-]{0,20}",
        1 => any::<String>(),
    ]
    .boxed()
}

fn text() -> BoxedStrategy<String> {
    prop_oneof![
        6 => "[ -~\n\t]{1,300}",
        3 => "\\PC{1,200}",
        1 => any::<String>(),
        1 => "[a-z€]{1590,1610}",
        1 => "[\u{0}-\u{1f}\u{7f}-\u{9f}a]{1,5}",
    ]
    .boxed()
}

fn url() -> BoxedStrategy<String> {
    prop_oneof![
        6 => concat!(
            "(https?|HTTPS)://[a-z]{1,12}(\\.[a-z]{2,5})?(:[0-9]{1,5})?",
            "/[A-Za-z0-9._~%/?=&-]{0,40}"
        ),
        1 => "(ftp|file|javascript|data|mailto|gopher)://[a-z]{1,10}/x",
        1 => "https?://[a-z]{1,5}(:[a-z]{1,5})?@[a-z]{1,8}\\.com/x",
        1 => "https?://[^/]{0,3}/[ -~]{0,10}",
        1 => any::<String>(),
    ]
    .boxed()
}

fn label() -> BoxedStrategy<String> {
    prop_oneof![
        6 => "[A-Za-z0-9_.:-]{1,40}",
        1 => any::<String>(),
        1 => "[a-z]{250,260}",
        1 => "\\PC{1,20}",
    ]
    .boxed()
}

/// Which recipient fields a generated message keeps: one family, or a random mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recipients {
    Phone,
    Chat,
    List,
    Targets,
    Any,
}

/// Messages near the rules: most meet them, many break one or several.
fn message() -> impl Strategy<Value = CoreMessage> {
    let recipients = (
        prop_oneof![
            Just(Recipients::Phone),
            Just(Recipients::Chat),
            Just(Recipients::List),
            Just(Recipients::Targets),
            Just(Recipients::Any),
        ],
        proptest::option::of(phone()),
        proptest::option::of(prop_oneof![
            10 => proptest::collection::vec(phone(), 0..6),
            1 => proptest::collection::vec("[1-9][0-9]{9}", 95..105),
        ]),
        proptest::option::of(id()),
        proptest::option::of(id()),
    );
    let content = (
        proptest::option::weighted(0.8, text()),
        proptest::option::weighted(0.2, url()),
        proptest::option::weighted(0.1, id()),
        proptest::option::weighted(0.1, id()),
    );
    let labels = (
        proptest::option::weighted(0.3, label()),
        proptest::option::weighted(0.2, label()),
        proptest::option::weighted(0.2, any::<bool>()),
        proptest::option::weighted(0.2, label()),
    );
    (id(), id(), recipients, content, labels).prop_map(
        |(
            inbox_id,
            creator_id,
            (family, phone_number, targets, chat_id, list_id),
            (text, media_url, template_id, survey_id),
            (local_id, activity_id, private, author),
        )| {
            let keep = |which: Recipients| family == Recipients::Any || family == which;
            let mut m = CoreMessage {
                inbox_id,
                creator_id,
                phone_number: phone_number.filter(|_| keep(Recipients::Phone)),
                targets: targets.filter(|_| keep(Recipients::Targets)),
                chat_id: chat_id.filter(|_| keep(Recipients::Chat)),
                list_id: list_id.filter(|_| keep(Recipients::List)),
                text,
                media_url,
                template_id,
                local_id,
                activity_id,
                private,
                author,
                survey_id,
            };
            // A chosen family is present, so that most messages have one recipient.
            match family {
                Recipients::Phone if m.phone_number.is_none() => {
                    m.phone_number = Some("14155551234".into())
                }
                Recipients::Chat if m.chat_id.is_none() => m.chat_id = Some(77),
                Recipients::List if m.list_id.is_none() => m.list_id = Some(31),
                Recipients::Targets if m.targets.is_none() => {
                    m.targets = Some(vec!["14155550001".into()])
                }
                _ => {}
            }
            m
        },
    )
}

/// The wire names a field error may name.
fn is_known_field(field: &str) -> bool {
    // "message" names the message as a whole (a rule no single field breaks).
    field == "message"
        || heymarket_sms::message::FIELDS.contains(&field)
        || field
            .strip_prefix("targets[")
            .and_then(|rest| rest.strip_suffix(']'))
            .is_some_and(|i| i.parse::<usize>().is_ok())
}

fn check_field_errors(errors: &[CoreFieldError]) -> Result<(), TestCaseError> {
    prop_assert!(!errors.is_empty(), "a refusal without any field error");
    for e in errors {
        prop_assert!(is_known_field(&e.field), "unknown field name {:?}", e.field);
        prop_assert!(!e.reason.is_empty(), "no reason for {}", e.field);
    }
    Ok(())
}

#[test]
fn every_message_is_refused_with_field_errors_or_rendered_into_json_the_simulator_accepts() {
    let sim = Simulator::start(Config {
        api_keys: vec![API_KEY.into()],
        rate_limit_per_minute: 0,
        ..Config::default()
    })
    .expect("the simulator starts");
    let valid = Cell::new(0u32);
    let tried = Cell::new(0u32);
    runner(NATIVE_CASES)
        .run(&message(), |m| {
            tried.set(tried.get() + 1);
            let original = m.clone();
            let preview = heymarket_sms::preview(m.clone());
            let verdict = m.validate();
            match verdict {
                Err(errors) => {
                    check_field_errors(&errors)?;
                    prop_assert!(preview.is_err(), "preview accepted what validate refused");
                }
                Ok(valid_message) => {
                    valid.set(valid.get() + 1);
                    let body = valid_message.body();
                    prop_assert_eq!(&preview.expect("preview of a valid message").body, &body);
                    let back = CoreMessage::from_json(body.as_bytes())
                        .map_err(|e| TestCaseError::fail(format!("{e}: {body}")))?;
                    // The native serde rendering that host crates use is the same body.
                    let serde_body = serde_json::to_string(&original).unwrap();
                    prop_assert_eq!(&serde_body, &body, "serde renders another body");
                    prop_assert_eq!(&back, &original, "the JSON changed the message");

                    sim.reset();
                    let reply = post_to_simulator(&sim, body.as_bytes());
                    prop_assert_eq!(
                        reply.status,
                        200,
                        "the simulator refused a valid body {}: {}",
                        body,
                        reply.text()
                    );
                    let stored = sim.messages();
                    prop_assert_eq!(stored.len(), 1);
                    let sent: serde_json::Value = serde_json::from_str(&body).unwrap();
                    prop_assert_eq!(&stored[0].body, &sent, "the simulator stored another body");
                }
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let (valid, tried) = (valid.get(), tried.get());
    println!("native property: {tried} messages, {valid} valid");
    // The generator must exercise both verdicts, or the property proves little.
    assert!(
        valid * 5 > tried && valid * 5 < tried * 4,
        "only {valid} of {tried} generated messages were valid"
    );
}

/// The WIT record the component takes, field for field.
fn to_wit(m: &CoreMessage) -> Message {
    Message {
        inbox_id: m.inbox_id,
        creator_id: m.creator_id,
        phone_number: m.phone_number.clone(),
        targets: m.targets.clone(),
        chat_id: m.chat_id,
        list_id: m.list_id,
        text: m.text.clone(),
        media_url: m.media_url.clone(),
        template_id: m.template_id,
        local_id: m.local_id.clone(),
        activity_id: m.activity_id.clone(),
        private: m.private,
        author: m.author.clone(),
        survey_id: m.survey_id,
    }
}

fn field_pairs(error: &SendError) -> Option<Vec<(String, String)>> {
    match error {
        SendError::Permanent(PermanentFailure::InvalidMessage(errors)) => Some(
            errors
                .iter()
                .map(|e| (e.field.clone(), e.reason.clone()))
                .collect(),
        ),
        _ => None,
    }
}

#[test]
fn the_component_never_traps_and_agrees_with_the_native_rules_on_every_message() {
    let sim = Simulator::start(Config {
        api_keys: vec![API_KEY.into()],
        rate_limit_per_minute: 0,
        ..Config::default()
    })
    .expect("the simulator starts");
    let step = step(&sim, &[]);
    let rt = runtime();
    let tried = AtomicUsize::new(0);
    runner(COMPONENT_CASES)
        .run(&message(), |m| {
            tried.fetch_add(1, Ordering::Relaxed);
            let wit = to_wit(&m);
            let native = heymarket_sms::preview(m.clone());
            let preview = rt
                .block_on(step.preview(&wit))
                .map_err(|e| TestCaseError::fail(format!("preview trapped: {e}")))?;
            sim.reset();
            let sent = rt
                .block_on(step.send(&wit))
                .map_err(|e| TestCaseError::fail(format!("send trapped: {e}")))?;
            match (native, preview, sent) {
                (Ok(native), Ok(preview), Ok(sent)) => {
                    prop_assert_eq!(&preview.body, &native.body);
                    prop_assert_eq!(preview.segments, native.segments.segments);
                    prop_assert_eq!(preview.characters, native.segments.characters);
                    let stored = sim.messages();
                    prop_assert_eq!(stored.len(), 1);
                    prop_assert_eq!(stored[0].id, sent.id);
                    let mut expected: serde_json::Value =
                        serde_json::from_str(&native.body).unwrap();
                    expected["local_id"] = sent.local_id.clone().into();
                    prop_assert_eq!(&stored[0].body, &expected);
                }
                (Err(native), Err(preview), Err(sent)) => {
                    let heymarket_sms::error::SendError::Permanent(
                        heymarket_sms::error::Permanent::InvalidMessage(errors),
                    ) = native
                    else {
                        return Err(TestCaseError::fail("preview failed for another reason"));
                    };
                    let native: Vec<(String, String)> =
                        errors.into_iter().map(|e| (e.field, e.reason)).collect();
                    prop_assert_eq!(field_pairs(&preview), Some(native.clone()));
                    prop_assert_eq!(field_pairs(&sent), Some(native));
                    prop_assert!(
                        sim.requests().is_empty(),
                        "an invalid message reached the network"
                    );
                }
                (native, preview, sent) => {
                    return Err(TestCaseError::fail(format!(
                        "verdicts differ: native {native:?}, preview {preview:?}, \
                         send {sent:?}"
                    )));
                }
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    println!(
        "component property: {} messages",
        tried.load(Ordering::Relaxed)
    );
}

/// One hostile value for one field, and whether the rules allow it.
struct Hostile {
    what: String,
    message: Message,
    /// The field the refusal must name; `None` when the value is acceptable and must be
    /// sent unchanged.
    refused_field: Option<&'static str>,
}

fn hostile(what: impl Into<String>, message: Message, field: Option<&'static str>) -> Hostile {
    Hostile {
        what: what.into(),
        message,
        refused_field: field,
    }
}

fn hostile_inputs() -> Vec<Hostile> {
    let mut cases = Vec::new();
    let megabyte = 1 << 20;

    // Every C0 and C1 control character, and DEL, in every free-text field.
    let controls = (0u32..0x20).chain(0x7f..0xa0).filter_map(char::from_u32);
    for c in controls {
        let allowed_in_text = matches!(c, '\n' | '\r' | '\t');
        let name = format!("U+{:04X}", u32::from(c));
        cases.push(hostile(
            format!("text with {name}"),
            Message {
                text: Some(format!("before{c}after")),
                ..sms()
            },
            (!allowed_in_text).then_some("text"),
        ));
        for (field, set) in [
            ("author", set_author as fn(&mut Message, String)),
            ("local_id", set_local_id),
            ("activity_id", set_activity_id),
            ("media_url", set_media_url),
            ("phone_number", set_phone),
        ] {
            let mut m = sms();
            let value = if field == "media_url" {
                format!("https://example.com/a{c}.png")
            } else if field == "phone_number" {
                format!("1415555{c}1234")
            } else {
                format!("key{c}")
            };
            set(&mut m, value);
            cases.push(hostile(format!("{field} with {name}"), m, Some(field)));
        }
    }

    // Megabyte values in every string field.
    let big = "a".repeat(megabyte);
    cases.push(hostile(
        "a 1 MB text",
        Message {
            text: Some(big.clone()),
            ..sms()
        },
        Some("text"),
    ));
    cases.push(hostile(
        "a 1 MB text of four-byte characters",
        Message {
            text: Some("😀".repeat(megabyte / 4)),
            ..sms()
        },
        Some("text"),
    ));
    for (field, set) in [
        ("author", set_author as fn(&mut Message, String)),
        ("local_id", set_local_id),
        ("activity_id", set_activity_id),
        ("phone_number", set_phone),
    ] {
        let mut m = sms();
        set(&mut m, big.clone());
        cases.push(hostile(format!("a 1 MB {field}"), m, Some(field)));
    }
    cases.push(hostile(
        "a 1 MB media_url",
        Message {
            media_url: Some(format!("https://example.com/{big}")),
            ..sms()
        },
        Some("media_url"),
    ));
    cases.push(hostile(
        "10,000 targets",
        Message {
            phone_number: None,
            targets: Some((0..10_000).map(|i| format!("1415{i:07}")).collect()),
            ..sms()
        },
        Some("targets"),
    ));

    // Phone numbers of every wrong shape.
    for bad in [
        "",
        "+",
        "+1",
        "+14155551234",
        "++14155551234",
        " 14155551234",
        "14155551234 ",
        "1415 555 1234",
        "(415) 555-1234",
        "1-415-555-1234",
        "1.415.555.1234",
        "1415555123a",
        "tel:14155551234",
        "14155551234;ext=1",
        "14155551234\n",
        "0014155551234",
        "04155551234",
        "123456",
        "1234567890123456",
        "1e10",
        "-14155551234",
        "NaN",
        "１４１５５５５１２３４",
        "١٤١٥٥٥٥١٢٣٤",
        "14155551234\u{200b}",
        "\u{202e}14155551234",
    ] {
        cases.push(hostile(
            format!("phone number {bad:?}"),
            Message {
                phone_number: Some(bad.into()),
                ..sms()
            },
            Some("phone_number"),
        ));
        cases.push(hostile(
            format!("target {bad:?}"),
            Message {
                phone_number: None,
                targets: Some(vec!["14155550001".into(), bad.into()]),
                ..sms()
            },
            Some("targets[1]"),
        ));
    }

    // URLs with credentials, other schemes, or no host.
    for bad in [
        "https://user:pass@example.com/a.png",
        "https://user@example.com/a.png",
        "http://:secret@example.com/a.png",
        "https://example.com@evil.example/a.png",
        "ftp://example.com/a.png",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "javascript://example.com/%0aalert(1)",
        "data:image/png;base64,iVBORw0KGgo=",
        "gopher://example.com/",
        "ws://example.com/a.png",
        "//example.com/a.png",
        "/a.png",
        "example.com/a.png",
        "https://",
        "https:///a.png",
        "https://:443/a.png",
        "https://example.com/a b.png",
        "https://exa mple.com/a.png",
        "https://example.com/a\u{a0}b.png",
    ] {
        cases.push(hostile(
            format!("media_url {bad:?}"),
            Message {
                media_url: Some(bad.into()),
                ..sms()
            },
            Some("media_url"),
        ));
    }

    // Ids beyond what the vendor's signed 64-bit ids can hold.
    for (field, set) in [
        ("inbox_id", set_inbox as fn(&mut Message, u64)),
        ("creator_id", set_creator),
    ] {
        for bad in [0, i64::MAX as u64 + 1, u64::MAX] {
            let mut m = sms();
            set(&mut m, bad);
            cases.push(hostile(format!("{field} {bad}"), m, Some(field)));
        }
    }

    // Odd but legitimate text: sent unchanged, byte for byte.
    for fine in [
        "right-to-left \u{202e}override",
        "zero\u{200b}width and \u{feff}BOM",
        "emoji 👩‍👩‍👧 and flags 🇫🇷",
        "combining e\u{301} and Hangul 한국어",
        "quotes \" ' \\ and </script>",
        "{\"json\": \"inside\"}",
        "line\r\nbreaks\tand tabs",
        "\u{10ffff} the last code point",
    ] {
        cases.push(hostile(
            format!("text {fine:?}"),
            Message {
                text: Some(fine.into()),
                ..sms()
            },
            None,
        ));
    }
    cases.push(hostile(
        "a text of exactly the longest length",
        Message {
            text: Some("€".repeat(1600)),
            ..sms()
        },
        None,
    ));
    cases.push(hostile(
        "an upper-case HTTPS media URL with a port and query",
        Message {
            media_url: Some("HTTPS://cdn.example.com:8443/a.png?x=1&y=%20".into()),
            ..sms()
        },
        None,
    ));
    cases
}

fn set_author(m: &mut Message, v: String) {
    m.author = Some(v);
}
fn set_local_id(m: &mut Message, v: String) {
    m.local_id = Some(v);
}
fn set_activity_id(m: &mut Message, v: String) {
    m.activity_id = Some(v);
}
fn set_media_url(m: &mut Message, v: String) {
    m.media_url = Some(v);
}
fn set_phone(m: &mut Message, v: String) {
    m.phone_number = Some(v);
}
fn set_inbox(m: &mut Message, v: u64) {
    m.inbox_id = v;
}
fn set_creator(m: &mut Message, v: u64) {
    m.creator_id = v;
}

#[test]
fn hostile_strings_are_refused_by_field_before_the_network_or_sent_unchanged() {
    let sim = Simulator::start(Config {
        api_keys: vec![API_KEY.into()],
        rate_limit_per_minute: 0,
        ..Config::default()
    })
    .expect("the simulator starts");
    let step = step(&sim, &[]);
    let rt = runtime();
    let cases = hostile_inputs();
    let mut failures = Vec::new();
    for case in &cases {
        sim.reset();
        let outcome = match rt.block_on(step.send(&case.message)) {
            Ok(outcome) => outcome,
            Err(trap) => {
                failures.push(format!("{}: the guest trapped: {}", case.what, trap.reason));
                continue;
            }
        };
        match (&outcome, case.refused_field) {
            (Err(error), Some(field)) => {
                let named =
                    field_pairs(error).is_some_and(|pairs| pairs.iter().any(|(f, _)| f == field));
                if !named {
                    failures.push(format!("{}: not refused by {field}: {error:?}", case.what));
                }
                if !sim.requests().is_empty() {
                    failures.push(format!("{}: reached the network", case.what));
                }
            }
            (Ok(_), None) => {
                let stored = sim.messages();
                let expected = serde_json::json!({
                    "text": case.message.text,
                    "media_url": case.message.media_url,
                });
                let same = stored.len() == 1
                    && ["text", "media_url"].iter().all(|k| {
                        stored[0].body.get(*k).unwrap_or(&serde_json::Value::Null) == &expected[*k]
                    });
                if !same {
                    failures.push(format!("{}: not stored unchanged: {stored:?}", case.what));
                }
            }
            (Ok(sent), Some(field)) => {
                failures.push(format!(
                    "{}: sent ({}), expected a refusal of {field}",
                    case.what, sent.id
                ));
            }
            (Err(error), None) => {
                failures.push(format!(
                    "{}: refused, expected a send: {error:?}",
                    case.what
                ));
            }
        }
    }
    println!("hostile inputs: {}", cases.len());
    assert!(
        failures.is_empty(),
        "{} of {} hostile inputs misbehaved:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
