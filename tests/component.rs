//! The real component in a real wasmtime, against the Heymarket simulator over
//! loopback HTTP.

mod support;

use std::time::{Duration, Instant};

use heymarket_step::{Encoding, FieldError};
use serde_json::json;
use support::*;

#[test]
fn a_plain_sms_reaches_the_wire_exactly_as_documented() {
    let sim = simulator();
    let sent = send(&step(&sim, &[]), &sms()).unwrap();

    let requests = sim.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/v1/message/send");
    assert_eq!(
        request.header("authorization"),
        Some(&*format!("Bearer {API_KEY}"))
    );
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(
        request.header("content-length"),
        Some(&*request.body.len().to_string())
    );
    assert!(
        request
            .header("user-agent")
            .is_some_and(|ua| ua.starts_with("heymarket-sms/0.1.0"))
    );
    assert_eq!(
        request.body_json().unwrap(),
        json!({
            "inbox_id": 101,
            "creator_id": 55,
            "phone_number": "14155551234",
            "text": "Your appointment is confirmed.",
            "local_id": sent.local_id,
        })
    );

    let stored = sim.messages();
    assert_eq!(stored.len(), 1);
    assert_eq!(sent.id, stored[0].id);
    assert_eq!(sent.date, stored[0].date);
    assert_eq!(sent.attempts, 1);
    assert_eq!(sent.gallery_url, None);
    assert!(
        sent.request_id
            .as_deref()
            .is_some_and(|id| id.starts_with("sim-"))
    );
    assert!(sent.local_id.starts_with("hm-") && sent.local_id.len() == 35);
}

#[test]
fn every_field_reaches_the_wire_with_its_name_and_type() {
    let sim = simulator();
    let step = step(&sim, &[]);
    let full = Message {
        media_url: Some("https://cdn.example.com/a.png".into()),
        template_id: Some(12),
        local_id: Some("order-77".into()),
        activity_id: Some("campaign-3".into()),
        private: Some(false),
        author: Some("Front desk".into()),
        survey_id: Some(9),
        ..sms()
    };
    let sent = send(&step, &full).unwrap();
    assert_eq!(sent.local_id, "order-77");
    assert!(sent.gallery_url.is_some(), "an MMS gets a gallery URL");

    let to_chat = Message {
        phone_number: None,
        chat_id: Some(4242),
        private: Some(true),
        ..sms()
    };
    let to_list = Message {
        phone_number: None,
        list_id: Some(31),
        local_id: Some("broadcast-31".into()),
        ..sms()
    };
    let to_group = Message {
        phone_number: None,
        targets: Some(vec!["14155550001".into(), "447700900123".into()]),
        ..sms()
    };
    for message in [&to_chat, &to_list, &to_group] {
        send(&step, message).unwrap();
    }

    let bodies: Vec<_> = sim
        .requests()
        .iter()
        .map(|r| r.body_json().unwrap())
        .collect();
    assert_eq!(
        bodies[0],
        json!({
            "inbox_id": 101, "creator_id": 55, "phone_number": "14155551234",
            "text": "Your appointment is confirmed.",
            "media_url": "https://cdn.example.com/a.png", "template_id": 12,
            "local_id": "order-77", "activity_id": "campaign-3", "private": false,
            "author": "Front desk", "survey_id": 9,
        })
    );
    assert_eq!(bodies[1]["chat_id"], json!(4242));
    assert_eq!(bodies[1]["private"], json!(true));
    assert_eq!(bodies[2]["list_id"], json!(31));
    assert_eq!(bodies[2]["local_id"], json!("broadcast-31"));
    assert_eq!(bodies[3]["targets"], json!(["14155550001", "447700900123"]));
    for body in &bodies[1..] {
        assert!(
            body.get("phone_number").is_none(),
            "absent options stay absent: {body}"
        );
    }
    assert_eq!(sim.messages().len(), 4);
}

#[test]
fn jwt_credentials_sign_a_token_the_simulator_verifies() {
    let sim = simulator();
    let step = step(
        &sim,
        &[
            ("HEYMARKET_API_KEY", ""),
            ("HEYMARKET_SECRET_ID", SECRET_ID),
            ("HEYMARKET_SECRET_KEY", SECRET_KEY),
        ],
    );
    send(&step, &sms()).unwrap();
    let stored = sim.messages();
    assert_eq!(stored[0].credential, format!("jwt:{SECRET_ID}"));
    let auth = sim.requests()[0]
        .header("authorization")
        .unwrap()
        .to_owned();
    assert_eq!(auth.matches('.').count(), 2, "a bearer JWT: {auth}");
}

#[test]
fn a_wrong_secret_key_is_unauthorized_and_never_retried() {
    let sim = simulator();
    let step = step(
        &sim,
        &[
            ("HEYMARKET_API_KEY", ""),
            ("HEYMARKET_SECRET_ID", SECRET_ID),
            ("HEYMARKET_SECRET_KEY", "not-the-key-9d8c"),
        ],
    );
    let err = send(&step, &sms()).unwrap_err();
    assert_eq!(kind(&err), "permanent.unauthorized");
    assert_eq!(sim.requests().len(), 1);
    assert_no_secret(&err, &["not-the-key-9d8c"]);
}

#[test]
fn a_wrong_api_key_is_unauthorized_with_the_request_id() {
    let sim = simulator();
    let err = send(
        &step(&sim, &[("HEYMARKET_API_KEY", "wrong-key-1234")]),
        &sms(),
    )
    .unwrap_err();
    let SendError::Permanent(PermanentFailure::Unauthorized(api)) = &err else {
        panic!("{err:?}");
    };
    assert_eq!(api.status, 401);
    assert!(
        api.request_id
            .as_deref()
            .is_some_and(|id| id.starts_with("sim-"))
    );
    assert!(!api.message.is_empty());
    assert_no_secret(&err, &["wrong-key-1234"]);
    assert!(sim.messages().is_empty());
}

#[test]
fn an_inbox_without_access_is_forbidden() {
    let sim = simulator();
    let err = send(
        &step(&sim, &[]),
        &Message {
            inbox_id: 666,
            ..sms()
        },
    )
    .unwrap_err();
    assert_eq!(kind(&err), "permanent.forbidden");
    assert_eq!(sim.requests().len(), 1);
}

#[test]
fn other_client_errors_are_rejected_with_heymarkets_message() {
    let sim = simulator();
    let step = step(&sim, &[]);
    for status in [400, 404, 409, 422] {
        sim.reset();
        sim.script([Fault::Respond {
            status,
            headers: vec![],
            body: r#"{"error":"bad_data","message":"text: too long for this inbox"}"#.into(),
        }]);
        let err = send(&step, &sms()).unwrap_err();
        let SendError::Permanent(PermanentFailure::Rejected(api)) = &err else {
            panic!("{status}: {err:?}");
        };
        assert_eq!(api.status, status);
        assert_eq!(api.message, "bad_data: text: too long for this inbox");
        assert!(api.body.contains("too long"));
        assert_eq!(sim.requests().len(), 1, "{status} is never retried");
    }
}

#[test]
fn rate_limit_then_success_honours_retry_after_and_sends_once() {
    let sim = simulator();
    sim.script([Fault::Respond {
        status: 429,
        headers: vec![("Retry-After".into(), "1".into())],
        body: r#"{"error":"rate_limited"}"#.into(),
    }]);
    let started = Instant::now();
    let sent = send(&step(&sim, &[]), &sms()).unwrap();
    let elapsed = started.elapsed();
    assert_eq!(sent.attempts, 2);
    assert!(elapsed >= Duration::from_secs(1), "waited only {elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "waited {elapsed:?}");
    assert_eq!(sim.messages().len(), 1);
    let keys: Vec<_> = sim
        .requests()
        .iter()
        .map(|r| r.body_json().unwrap()["local_id"].clone())
        .collect();
    assert_eq!(keys[0], keys[1], "both attempts carry the same local_id");
}

#[test]
fn rate_limit_on_every_attempt_is_transient_rate_limited() {
    let sim = simulator();
    let limited = Fault::Respond {
        status: 429,
        headers: vec![],
        body: String::new(),
    };
    sim.script([limited.clone(), limited.clone(), limited]);
    let err = send(&step(&sim, &[]), &sms()).unwrap_err();
    assert_eq!(kind(&err), "transient.rate-limited");
    assert_eq!(sim.requests().len(), 3);
    assert!(sim.messages().is_empty());
}

#[test]
fn a_server_error_after_storing_then_a_retry_leaves_one_message() {
    let sim = simulator();
    sim.script([Fault::RespondAfterStore {
        status: 500,
        body: "internal error".into(),
    }]);
    let sent = send(&step(&sim, &[]), &sms()).unwrap();
    assert_eq!(sent.attempts, 2);
    let stored = sim.messages();
    assert_eq!(stored.len(), 1);
    assert_eq!(
        stored[0].id, sent.id,
        "the retry returns the stored message"
    );
}

#[test]
fn server_errors_on_every_attempt_are_transient_server() {
    let sim = simulator();
    let step = step(&sim, &[("HEYMARKET_MAX_ATTEMPTS", "2")]);
    let fail = |status| Fault::Respond {
        status,
        headers: vec![],
        body: String::new(),
    };
    sim.script([fail(503), fail(502)]);
    let err = send(&step, &sms()).unwrap_err();
    let SendError::Transient(TransientFailure::Server(api)) = &err else {
        panic!("{err:?}");
    };
    assert_eq!(api.status, 502);
    assert_eq!(sim.requests().len(), 2);
}

#[test]
fn a_slow_answer_times_out_within_the_configured_bound() {
    let sim = simulator();
    sim.script([Fault::Delay(Duration::from_secs(3))]);
    let step = step(
        &sim,
        &[
            ("HEYMARKET_TIMEOUT_MS", "300"),
            ("HEYMARKET_MAX_ATTEMPTS", "1"),
        ],
    );
    let started = Instant::now();
    let err = send(&step, &sms()).unwrap_err();
    let elapsed = started.elapsed();
    assert_eq!(kind(&err), "transient.timeout", "{err:?}");
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
}

#[test]
fn a_slow_first_answer_is_retried_with_the_same_key() {
    let sim = simulator();
    sim.script([Fault::Delay(Duration::from_secs(2))]);
    let step = step(&sim, &[("HEYMARKET_TIMEOUT_MS", "400")]);
    let sent = send(&step, &sms()).unwrap();
    assert_eq!(sent.attempts, 2);
    // The slow first request may also be stored once its delay ends: still one message.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(sim.messages().len(), 1);
}

#[test]
fn a_refused_connection_is_transient_connection() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let step = step_with_env(vec![
        ("HEYMARKET_API_KEY".into(), API_KEY.into()),
        ("HEYMARKET_BASE_URL".into(), format!("http://{closed}")),
        ("HEYMARKET_BACKOFF_BASE_MS".into(), "10".into()),
    ]);
    let err = send(&step, &sms()).unwrap_err();
    assert_eq!(kind(&err), "transient.connection", "{err:?}");
}

#[test]
fn a_dropped_connection_after_storing_is_retried_into_one_message() {
    let sim = simulator();
    sim.script([Fault::DropAfterStore]);
    let sent = send(&step(&sim, &[]), &sms()).unwrap();
    assert_eq!(sent.attempts, 2);
    assert_eq!(sim.messages().len(), 1);
}

#[test]
fn a_2xx_with_a_broken_body_is_an_invalid_response() {
    let sim = simulator();
    let step = step(&sim, &[("HEYMARKET_MAX_ATTEMPTS", "1")]);
    for raw in [
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 9\r\n\r\nnot json!",
        "HTTP/1.1 200 OK\r\ncontent-length: 25\r\n\r\n{\"id\":\"7\",\"date\":\"today\"}",
        "HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\n{}",
    ] {
        sim.script([Fault::RawAfterStore(raw.as_bytes().to_vec())]);
        let err = send(&step, &sms()).unwrap_err();
        let SendError::Transient(TransientFailure::InvalidResponse(api)) = &err else {
            panic!("{raw:?}: {err:?}");
        };
        assert!(api.status == 200 || api.status == 201);
    }
}

#[test]
fn a_truncated_body_is_a_broken_connection() {
    let sim = simulator();
    sim.script([Fault::RawAfterStore(
        b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{\"id\":1".to_vec(),
    )]);
    let sent = send(&step(&sim, &[]), &sms()).unwrap();
    assert_eq!(sent.attempts, 2, "the retry gets the stored message");
    assert_eq!(sim.messages().len(), 1);
}

#[test]
fn invalid_messages_get_every_field_error_and_never_reach_the_network() {
    let sim = simulator();
    let step = step(&sim, &[]);
    let cases: Vec<(Message, Vec<&str>)> = vec![
        (
            Message {
                phone_number: Some("+14155551234".into()),
                ..sms()
            },
            vec!["phone_number"],
        ),
        (
            Message {
                phone_number: Some("415-555-1234".into()),
                ..sms()
            },
            vec!["phone_number"],
        ),
        (
            Message {
                phone_number: None,
                ..sms()
            },
            vec!["message"],
        ),
        (
            Message {
                chat_id: Some(1),
                ..sms()
            },
            vec!["chat_id"],
        ),
        (
            Message {
                list_id: Some(1),
                phone_number: None,
                ..sms()
            },
            vec!["local_id"],
        ),
        (
            Message {
                text: None,
                ..sms()
            },
            vec!["message"],
        ),
        (
            Message {
                text: Some(String::new()),
                ..sms()
            },
            vec!["text"],
        ),
        (
            Message {
                media_url: Some("ftp://x.example/a.png".into()),
                ..sms()
            },
            vec!["media_url"],
        ),
        (
            Message {
                phone_number: None,
                targets: Some(vec!["14155550001".into()]),
                private: Some(true),
                ..sms()
            },
            vec!["private"],
        ),
        (
            Message {
                inbox_id: 0,
                author: Some(String::new()),
                ..sms()
            },
            vec!["inbox_id", "author"],
        ),
        (
            Message {
                text: Some("x".repeat(1601)),
                ..sms()
            },
            vec!["text"],
        ),
    ];
    for (message, expected) in cases {
        let err = send(&step, &message).unwrap_err();
        assert_eq!(fields(&err), expected, "{message:?}");
    }
    assert!(
        sim.requests().is_empty(),
        "no invalid message reached the network"
    );
}

#[test]
fn field_errors_say_how_to_fix_a_leading_plus() {
    let sim = simulator();
    let err = send(
        &step(&sim, &[]),
        &Message {
            phone_number: Some("+14155551234".into()),
            ..sms()
        },
    )
    .unwrap_err();
    let SendError::Permanent(PermanentFailure::InvalidMessage(errors)) = err else {
        panic!()
    };
    let FieldError { field, reason } = &errors[0];
    assert_eq!(field, "phone_number");
    assert!(reason.contains("drop the leading '+'") && reason.contains("14155551234"));
}

#[test]
fn missing_or_unusable_configuration_names_the_variable_and_sends_nothing() {
    let sim = simulator();
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![("HEYMARKET_API_KEY", "")], "HEYMARKET_API_KEY"),
        (
            vec![("HEYMARKET_SECRET_ID", "only-id")],
            "HEYMARKET_SECRET_KEY",
        ),
        (
            vec![("HEYMARKET_BASE_URL", "http://api.heymarket.com")],
            "HEYMARKET_BASE_URL",
        ),
        (
            vec![("HEYMARKET_TIMEOUT_MS", "fast")],
            "HEYMARKET_TIMEOUT_MS",
        ),
        (
            vec![("HEYMARKET_MAX_ATTEMPTS", "99")],
            "HEYMARKET_MAX_ATTEMPTS",
        ),
    ];
    for (extra, variable) in cases {
        let mut env = vec![
            ("HEYMARKET_API_KEY".to_string(), API_KEY.to_string()),
            ("HEYMARKET_BASE_URL".to_string(), sim.base_url()),
        ];
        for (k, v) in &extra {
            env.retain(|(name, _)| name != k);
            if !v.is_empty() {
                env.push((k.to_string(), v.to_string()));
            }
        }
        // The step's own allow-list must not stand in the way of the component's check.
        let step = Step::load(
            &wasm(),
            StepConfig {
                env,
                allowed_authorities: vec!["127.0.0.1:1".into()],
                ..StepConfig::default()
            },
        )
        .unwrap();
        let err = send(&step, &sms()).unwrap_err();
        let SendError::Permanent(PermanentFailure::Configuration(text)) = &err else {
            panic!("{extra:?}: {err:?}");
        };
        assert!(text.contains(variable), "{text}");
        assert_no_secret(&err, &[API_KEY]);
    }
    assert!(sim.requests().is_empty());
}

#[test]
fn a_host_outside_the_allow_list_is_refused_by_the_host() {
    let sim = simulator();
    let other = simulator();
    let step = Step::load(
        &wasm(),
        StepConfig {
            env: vec![
                ("HEYMARKET_API_KEY".into(), API_KEY.into()),
                ("HEYMARKET_BASE_URL".into(), other.base_url()),
            ],
            allowed_authorities: vec![sim.addr().to_string()],
            ..StepConfig::default()
        },
    )
    .unwrap();
    let err = send(&step, &sms()).unwrap_err();
    assert_eq!(kind(&err), "permanent.configuration", "{err:?}");
    assert!(other.requests().is_empty(), "the other host saw nothing");
}

#[test]
fn preview_renders_the_exact_body_and_counts_segments_offline() {
    let step = step_with_env(vec![]);
    let preview = |text: &str| {
        runtime()
            .block_on(step.preview(&Message {
                text: Some(text.into()),
                ..sms()
            }))
            .unwrap()
            .unwrap()
    };
    let plain = preview("Hello");
    assert_eq!(
        plain.body,
        r#"{"inbox_id":101,"creator_id":55,"phone_number":"14155551234","text":"Hello"}"#
    );
    assert_eq!(
        (plain.encoding, plain.characters, plain.segments),
        (Encoding::Gsm7, 5, 1)
    );
    let euro = preview(&"€".repeat(81));
    assert_eq!(
        (euro.encoding, euro.characters, euro.segments),
        (Encoding::Gsm7, 162, 2)
    );
    let emoji = preview(&format!("{}👋", "a".repeat(69)));
    assert_eq!(
        (emoji.encoding, emoji.characters, emoji.segments),
        (Encoding::Ucs2, 71, 2)
    );

    let invalid = runtime()
        .block_on(step.preview(&Message {
            phone_number: Some("+1".into()),
            ..sms()
        }))
        .unwrap()
        .unwrap_err();
    assert_eq!(fields(&invalid), ["phone_number"]);
}

#[test]
fn the_same_local_id_twice_creates_one_message() {
    let sim = simulator();
    let step = step(&sim, &[]);
    let message = Message {
        local_id: Some("step-42".into()),
        ..sms()
    };
    let first = send(&step, &message).unwrap();
    let second = send(&step, &message).unwrap();
    assert_eq!(first.id, second.id);
    assert_eq!(sim.messages().len(), 1);
}

/// Fails when any text reachable from `err` contains one of `secrets`.
fn assert_no_secret(err: &SendError, secrets: &[&str]) {
    let text = format!("{err:?}");
    for secret in secrets {
        assert!(!text.contains(secret), "a secret leaked: {text}");
    }
}

#[test]
fn deeply_nested_answers_never_exhaust_the_guest_stack() {
    // The component links a 256 KiB stack (build.rs); JSON parsing must stay within it
    // however deep a hostile answer nests.
    let sim = simulator();
    let step = step(&sim, &[("HEYMARKET_MAX_ATTEMPTS", "1")]);
    let nested = format!("{}{}", "[".repeat(50_000), "]".repeat(50_000));
    let object = format!(
        r#"{}"x"{}"#,
        r#"{"error":"#.repeat(20_000),
        "}".repeat(20_000)
    );
    for (status, body, expected) in [
        (400, nested.clone(), "permanent.rejected"),
        (400, object, "permanent.rejected"),
        (503, nested.clone(), "transient.server"),
        (200, nested, "transient.invalid-response"),
    ] {
        sim.script([Fault::Respond {
            status,
            headers: vec![],
            body,
        }]);
        let err = send(&step, &sms()).unwrap_err();
        assert_eq!(kind(&err), expected, "{status}");
    }
}
