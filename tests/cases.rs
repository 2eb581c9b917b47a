//! The shared cases of `tests/cases/cases.json`, run through the Rust host (the
//! `heymarket-step` embedding); the Python and JavaScript hosts run the same file.

mod support;

use std::net::TcpListener;

use heymarket_step::{MessagePreview, api_error, describe};
use serde_json::{Map, Value};
use support::*;

const CASES: &str = include_str!("cases/cases.json");

/// The `Message` for a case's snake_case body. The file is ours, so a key or type this
/// host cannot carry is a broken case, not a test of the host.
fn message(body: &Value) -> Message {
    let body = body.as_object().expect("a message is an object");
    let id = |name: &str| body.get(name).map(|v| v.as_u64().expect(name));
    let text = |name: &str| body.get(name).map(|v| v.as_str().expect(name).to_owned());
    for key in body.keys() {
        assert!(
            heymarket_sms::message::FIELDS.contains(&key.as_str()),
            "unknown field {key} in a case the Rust host runs"
        );
    }
    Message {
        inbox_id: id("inbox_id").expect("inbox_id"),
        creator_id: id("creator_id").expect("creator_id"),
        phone_number: text("phone_number"),
        targets: body.get("targets").map(|v| {
            v.as_array()
                .expect("targets")
                .iter()
                .map(|t| t.as_str().expect("targets[]").to_owned())
                .collect()
        }),
        chat_id: id("chat_id"),
        list_id: id("list_id"),
        text: text("text"),
        media_url: text("media_url"),
        template_id: id("template_id"),
        local_id: text("local_id"),
        activity_id: text("activity_id"),
        private: body.get("private").map(|v| v.as_bool().expect("private")),
        author: text("author"),
        survey_id: id("survey_id"),
    }
}

fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

fn settings(base: &Value, extra: Option<&Value>, sim: &Simulator) -> Vec<(String, String)> {
    let mut merged: Map<String, Value> = base.as_object().unwrap().clone();
    if let Some(extra) = extra {
        merged.extend(extra.as_object().unwrap().clone());
    }
    merged
        .into_iter()
        .filter_map(|(name, value)| {
            let value = match value.as_str()? {
                "$SIMULATOR" => sim.base_url(),
                "$CLOSED_PORT" => closed_port_url(),
                other => other.to_owned(),
            };
            Some((name, value))
        })
        .collect()
}

fn start_simulator(config: &Value) -> Simulator {
    let text = |name: &str| config[name].as_str().unwrap().to_owned();
    Simulator::start(Config {
        api_keys: vec![text("api_key")],
        jwt_secrets: vec![(text("secret_id"), text("secret_key"))],
        denied_inboxes: vec![config["deny_inbox"].as_u64().unwrap()],
        ..Config::default()
    })
    .expect("the simulator starts")
}

fn check_error(name: &str, error: &SendError, expected: &Value) {
    assert_eq!(kind(error), expected["kind"], "{name}: {error:?}");
    if let Some(wanted) = expected.get("fields") {
        let wanted: Vec<&str> = wanted
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap())
            .collect();
        assert_eq!(fields(error), wanted, "{name}");
    }
    let api = api_error(error);
    if let Some(status) = expected.get("status") {
        assert_eq!(
            u64::from(api.unwrap().status),
            status.as_u64().unwrap(),
            "{name}"
        );
    }
    if let Some(message) = expected.get("message") {
        assert_eq!(api.unwrap().message, message.as_str().unwrap(), "{name}");
    }
    if let Some(present) = expected.get("request_id") {
        let has = api.unwrap().request_id.is_some();
        assert_eq!(has, present.as_bool().unwrap(), "{name}");
    }
    if let Some(part) = expected.get("detail_contains") {
        let detail = match error {
            SendError::Permanent(PermanentFailure::Configuration(text))
            | SendError::Transient(
                TransientFailure::Timeout(text) | TransientFailure::Connection(text),
            ) => text,
            other => panic!("{name}: no detail in {other:?}"),
        };
        assert!(detail.contains(part.as_str().unwrap()), "{name}: {detail}");
    }
    if let Some(secret) = expected.get("not_contains") {
        let shown = format!("{error:?} {}", describe(error));
        assert!(!shown.contains(secret.as_str().unwrap()), "{name}: {shown}");
    }
}

fn check_preview(name: &str, preview: &MessagePreview, expected: &Value) {
    assert_eq!(preview.body, expected["body"].as_str().unwrap(), "{name}");
    let encoding = match preview.encoding {
        heymarket_step::Encoding::Gsm7 => "gsm7",
        heymarket_step::Encoding::Ucs2 => "ucs2",
    };
    assert_eq!(encoding, expected["encoding"], "{name}");
    assert_eq!(
        u64::from(preview.characters),
        expected["characters"],
        "{name}"
    );
    assert_eq!(u64::from(preview.segments), expected["segments"], "{name}");
}

fn run_case(all: &Value, case: &Value) {
    let name = case["name"].as_str().unwrap();
    let sim = start_simulator(&all["simulator"]);
    let step = step_with_env(settings(&all["settings"], case.get("settings"), &sim));
    if let Some(script) = case.get("script") {
        let faults: Vec<Fault> = serde_json::from_value(script.clone()).expect("a fault script");
        sim.script(faults);
    }
    let message = message(&case["message"]);
    let expect = &case["expect"];
    let rt = runtime();

    let mut local_id = None;
    match case["call"].as_str().unwrap() {
        "preview" => {
            let result = rt
                .block_on(step.preview(&message))
                .unwrap_or_else(|e| panic!("{e}"));
            match (result, expect.get("ok"), expect.get("error")) {
                (Ok(preview), Some(ok), None) => check_preview(name, &preview, ok),
                (Err(error), None, Some(wanted)) => check_error(name, &error, wanted),
                (other, _, _) => panic!("{name}: unexpected {other:?}"),
            }
        }
        "send" => match (send(&step, &message), expect.get("ok"), expect.get("error")) {
            (Ok(sent), Some(ok), None) => {
                assert_eq!(u64::from(sent.attempts), ok["attempts"], "{name}");
                if let Some(wanted) = ok.get("local_id") {
                    assert_eq!(sent.local_id, wanted.as_str().unwrap(), "{name}");
                }
                if let Some(present) = ok.get("gallery_url_present") {
                    assert_eq!(sent.gallery_url.is_some(), present.as_bool().unwrap());
                }
                assert!(sent.request_id.as_deref().unwrap().starts_with("sim-"));
                let stored = sim.messages();
                let last = stored.last().expect("a stored message");
                assert_eq!((sent.id, &sent.date), (last.id, &last.date), "{name}");
                local_id = Some(sent.local_id);
            }
            (Err(error), None, Some(wanted)) => check_error(name, &error, wanted),
            (other, _, _) => panic!("{name}: unexpected {other:?}"),
        },
        other => panic!("{name}: unknown call {other}"),
    }

    let requests: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.path == "/v1/message/send")
        .collect();
    if let Some(body) = expect.get("received_body") {
        let mut wanted = body.as_object().unwrap().clone();
        wanted
            .entry("local_id")
            .or_insert_with(|| Value::from(local_id.clone().expect("a sent message")));
        for request in &requests {
            assert_eq!(request.body_json().unwrap(), Value::Object(wanted.clone()));
        }
    }
    if let Some(count) = expect.get("requests") {
        assert_eq!(requests.len() as u64, count.as_u64().unwrap(), "{name}");
    }
    if let Some(count) = expect.get("stored") {
        assert_eq!(
            sim.messages().len() as u64,
            count.as_u64().unwrap(),
            "{name}"
        );
    }
}

#[test]
fn every_shared_case_holds_in_the_rust_host() {
    let all: Value = serde_json::from_str(CASES).expect("cases.json parses");
    let mut ran = 0;
    for case in all["cases"].as_array().unwrap() {
        let hosts = case.get("hosts").and_then(Value::as_array);
        if hosts.is_some_and(|h| !h.iter().any(|h| h == "rust")) {
            continue;
        }
        run_case(&all, case);
        ran += 1;
    }
    assert!(ran >= 15, "only {ran} cases ran");
}
