//! The vendor endpoint: auth, body rules, access, idempotency, rate limit, answers.

mod common;

use common::*;
use heymarket_simulator::{Config, DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, Simulator};
use serde_json::json;

#[test]
fn a_valid_sms_with_the_api_key_is_stored_and_answered_with_id_and_date() {
    let sim = start();
    let reply = send_default(&sim, SMS);

    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let body = reply.json();
    assert_eq!(body["id"], 1000);
    let date = body["date"].as_str().unwrap();
    assert_eq!(date.len(), "2026-12-03T18:10:00Z".len());
    assert!(date.ends_with('Z') && date.as_bytes()[10] == b'T', "{date}");
    assert!(body.get("gallery_url").is_none());

    let messages = sim.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].id, 1000);
    assert_eq!(messages[0].date, date);
    assert_eq!(messages[0].credential, "api-key:#0");
    assert_eq!(messages[0].local_id, None);
    assert_eq!(
        messages[0].body,
        serde_json::from_str::<serde_json::Value>(SMS).unwrap()
    );
}

#[test]
fn message_ids_increase_with_each_stored_message() {
    let sim = start();
    let first = send_default(&sim, SMS).json()["id"].as_u64().unwrap();
    let second = send_default(&sim, SMS).json()["id"].as_u64().unwrap();
    assert!(second > first);
}

#[test]
fn an_mms_answer_carries_a_gallery_url_derived_from_the_id() {
    let sim = start();
    let body = r#"{"inbox_id":1,"creator_id":2,"chat_id":3,"media_url":"https://e.com/a.png"}"#;
    let reply = send_default(&sim, body).json();
    let url = reply["gallery_url"].as_str().unwrap();
    assert!(url.starts_with("https://"));
    assert!(url.ends_with(&reply["id"].to_string()));
    assert_eq!(sim.messages()[0].gallery_url.as_deref(), Some(url));
}

#[test]
fn basic_auth_with_the_api_key_as_user_and_an_empty_password_is_accepted() {
    let sim = start();
    let reply = call(&sim, "POST", SEND, Some(&basic("sim-api-key", "")), SMS);
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(sim.messages()[0].credential, "api-key:#0");
}

#[test]
fn basic_auth_with_a_password_is_unauthorized() {
    let sim = start();
    let reply = call(&sim, "POST", SEND, Some(&basic("sim-api-key", "x")), SMS);
    assert_eq!(reply.status, 401);
}

#[test]
fn the_second_configured_api_key_is_named_by_its_index() {
    let sim = Simulator::start(Config {
        api_keys: vec!["first".into(), "second".into()],
        ..Config::default()
    })
    .unwrap();
    assert_eq!(send(&sim, "second", SMS).status, 200);
    assert_eq!(sim.messages()[0].credential, "api-key:#1");
}

#[test]
fn a_fresh_jwt_signed_with_the_secret_pair_is_accepted() {
    let sim = start();
    let token = vendor_jwt(DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, now());
    let reply = send(&sim, &token, SMS);
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(sim.messages()[0].credential, "jwt:sim-secret-id");
    assert_eq!(
        sim.requests()[0].credential.as_deref(),
        Some("jwt:sim-secret-id")
    );
}

#[test]
fn the_library_jwt_helper_makes_tokens_the_simulator_accepts() {
    let sim = start();
    let iat = now();
    let token = heymarket_simulator::sign_jwt(DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, iat);
    assert_eq!(
        token,
        vendor_jwt(DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, iat)
    );
    assert_eq!(send(&sim, &token, SMS).status, 200);
}

#[test]
fn a_jwt_with_a_bad_signature_is_unauthorized() {
    let sim = start();
    let token = vendor_jwt(DEFAULT_SECRET_ID, "not-the-key", now());
    let reply = send(&sim, &token, SMS);
    assert_eq!(reply.status, 401);
    assert_eq!(reply.json()["error"], "unauthorized");
    assert!(sim.messages().is_empty());
}

#[test]
fn a_jwt_signed_with_the_key_alone_instead_of_id_and_key_is_unauthorized() {
    let sim = start();
    let payload = format!(r#"{{"iss":"sim-secret-id","iat":{}}}"#, now());
    let token = jwt(
        r#"{"alg":"HS256","typ":"JWT"}"#,
        &payload,
        DEFAULT_SECRET_KEY,
    );
    assert_eq!(send(&sim, &token, SMS).status, 401);
}

#[test]
fn an_expired_jwt_is_unauthorized_with_a_message_saying_it_expired() {
    let sim = start();
    let token = vendor_jwt(DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, now() - 301);
    let reply = send(&sim, &token, SMS);
    assert_eq!(reply.status, 401);
    assert!(
        reply.json()["message"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
}

#[test]
fn a_jwt_issued_more_than_a_minute_ahead_is_unauthorized() {
    let sim = start();
    let token = vendor_jwt(DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, now() + 120);
    assert_eq!(send(&sim, &token, SMS).status, 401);
    let token = vendor_jwt(DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, now() + 30);
    assert_eq!(send(&sim, &token, SMS).status, 200);
}

#[test]
fn a_jwt_from_an_unknown_secret_id_is_unauthorized() {
    let sim = start();
    let token = vendor_jwt("someone-else", DEFAULT_SECRET_KEY, now());
    assert_eq!(send(&sim, &token, SMS).status, 401);
}

#[test]
fn a_jwt_with_another_algorithm_is_unauthorized() {
    let sim = start();
    let payload = format!(r#"{{"iss":"sim-secret-id","iat":{}}}"#, now());
    let token = jwt(
        r#"{"alg":"HS384","typ":"JWT"}"#,
        &payload,
        "sim-secret-id||sim-secret-key",
    );
    assert_eq!(send(&sim, &token, SMS).status, 401);
    let unsigned = format!("{}.", token.rsplit_once('.').unwrap().0);
    assert_eq!(send(&sim, &unsigned, SMS).status, 401);
}

#[test]
fn a_request_without_authorization_is_unauthorized() {
    let sim = start();
    let reply = call(&sim, "POST", SEND, None, SMS);
    assert_eq!(reply.status, 401);
    assert_eq!(reply.json()["error"], "unauthorized");
    assert!(sim.messages().is_empty());
}

#[test]
fn unauthorized_answers_never_echo_the_token() {
    let sim = start();
    let forged = vendor_jwt(DEFAULT_SECRET_ID, "wrong", now());
    for token in ["a-wrong-api-key-123", forged.as_str()] {
        let reply = send(&sim, token, SMS);
        assert_eq!(reply.status, 401);
        assert!(!reply.text().contains(token));
        assert!(reply.headers.iter().all(|(_, v)| !v.contains(token)));
    }
}

#[test]
fn every_answer_carries_a_unique_request_id() {
    let sim = start();
    let replies = [
        send_default(&sim, SMS),
        send_default(&sim, "{}"),
        call(&sim, "POST", SEND, None, SMS),
        call(&sim, "GET", "/nowhere", None, ""),
        call(&sim, "GET", "/healthz", None, ""),
    ];
    let ids: Vec<&str> = replies
        .iter()
        .map(|r| r.header("x-request-id").expect("X-Request-Id"))
        .collect();
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "{ids:?}");
}

/// Each case: a body, and the field the 400 must name. `IDS` stands for valid
/// `"inbox_id":1,"creator_id":2` to keep the table readable.
const BROKEN_BODIES: &[(&str, &str)] = &[
    ("[1,2]", "body"),
    ("not json", "body"),
    (
        r#"{"creator_id":2,"phone_number":"14155551234","text":"t"}"#,
        "inbox_id",
    ),
    (
        r#"{"inbox_id":1,"phone_number":"14155551234","text":"t"}"#,
        "creator_id",
    ),
    (
        r#"{"inbox_id":0,"creator_id":2,"phone_number":"14155551234","text":"t"}"#,
        "inbox_id",
    ),
    (
        r#"{"inbox_id":-1,"creator_id":2,"phone_number":"14155551234","text":"t"}"#,
        "inbox_id",
    ),
    (
        r#"{"inbox_id":"1","creator_id":2,"phone_number":"14155551234","text":"t"}"#,
        "inbox_id",
    ),
    (
        r#"{"inbox_id":1.5,"creator_id":2,"phone_number":"14155551234","text":"t"}"#,
        "inbox_id",
    ),
    (r#"{IDS,"text":"t"}"#, "phone_number"),
    (
        r#"{IDS,"phone_number":"14155551234","chat_id":3,"text":"t"}"#,
        "chat_id",
    ),
    (
        r#"{IDS,"phone_number":"14155551234","list_id":3,"local_id":"l","text":"t"}"#,
        "list_id",
    ),
    (
        r#"{IDS,"chat_id":3,"targets":["14155551234"],"text":"t"}"#,
        "targets",
    ),
    (
        r#"{IDS,"phone_number":"+14155551234","text":"t"}"#,
        "phone_number",
    ),
    (
        r#"{IDS,"phone_number":"141555","text":"t"}"#,
        "phone_number",
    ),
    (
        r#"{IDS,"phone_number":"0415555123","text":"t"}"#,
        "phone_number",
    ),
    (
        r#"{IDS,"phone_number":14155551234,"text":"t"}"#,
        "phone_number",
    ),
    (r#"{IDS,"targets":[],"text":"t"}"#, "targets"),
    (r#"{IDS,"targets":"14155551234","text":"t"}"#, "targets"),
    (r#"{IDS,"targets":[14155551234],"text":"t"}"#, "targets"),
    (
        r#"{IDS,"targets":["14155551234","12"],"text":"t"}"#,
        "targets",
    ),
    (r#"{IDS,"list_id":3,"text":"t"}"#, "local_id"),
    (r#"{IDS,"chat_id":3,"local_id":"","text":"t"}"#, "local_id"),
    (r#"{IDS,"chat_id":3}"#, "text"),
    (r#"{IDS,"chat_id":3,"text":""}"#, "text"),
    (
        r#"{IDS,"chat_id":3,"media_url":"ftp://e.com/a"}"#,
        "media_url",
    ),
    (r#"{IDS,"chat_id":3,"media_url":"/a.png"}"#, "media_url"),
    (r#"{IDS,"chat_id":3,"text":"t","private":"yes"}"#, "private"),
    (r#"{IDS,"chat_id":3,"text":7}"#, "text"),
    (r#"{IDS,"chat_id":3,"text":null}"#, "text"),
    (r#"{IDS,"chat_id":3,"template_id":"x"}"#, "template_id"),
    (r#"{IDS,"chat_id":3,"survey_id":true}"#, "survey_id"),
    (r#"{IDS,"chat_id":3,"text":"t","author":1}"#, "author"),
    (
        r#"{IDS,"chat_id":3,"text":"t","activity_id":1}"#,
        "activity_id",
    ),
    (r#"{IDS,"chat_id":3,"text":"t","colour":"red"}"#, "colour"),
    (
        r#"{IDS,"targets":["14155551234"],"text":"t","private":true}"#,
        "private",
    ),
];

#[test]
fn each_broken_body_rule_is_bad_data_naming_the_field_and_stores_nothing() {
    let sim = start();
    for (body, field) in BROKEN_BODIES {
        let body = &body.replace("IDS", r#""inbox_id":1,"creator_id":2"#);
        let reply = send_default(&sim, body);
        assert_eq!(reply.status, 400, "{body} -> {}", reply.text());
        let json = reply.json();
        assert_eq!(json["error"], "bad_data", "{body}");
        assert_eq!(json["field"], *field, "{body} -> {json}");
        let message = json["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("{field}: ")),
            "{body} -> {message}"
        );
    }
    assert!(sim.messages().is_empty());
}

#[test]
fn every_documented_recipient_and_content_form_is_accepted() {
    let sim = start();
    let bodies = [
        r#"{"inbox_id":1,"creator_id":2,"phone_number":"14155551234","text":"t"}"#,
        r#"{"inbox_id":1,"creator_id":2,"chat_id":3,"template_id":4,"private":true}"#,
        r#"{"inbox_id":1,"creator_id":2,"list_id":3,"local_id":"b-1","text":"t",
            "activity_id":"a","author":"Ann"}"#,
        r#"{"inbox_id":1,"creator_id":2,"targets":["14155551234","442071838750"],
            "media_url":"http://e.com/x.gif"}"#,
        r#"{"inbox_id":1,"creator_id":2,"phone_number":"14155551234","survey_id":9}"#,
    ];
    for body in bodies {
        let reply = send_default(&sim, body);
        assert_eq!(reply.status, 200, "{body} -> {}", reply.text());
    }
    assert_eq!(sim.messages().len(), bodies.len());
}

#[test]
fn a_denied_inbox_is_refused_with_403_and_stores_nothing() {
    let sim = Simulator::start(Config {
        denied_inboxes: vec![101],
        ..Config::default()
    })
    .unwrap();
    let reply = send_default(&sim, SMS);
    assert_eq!(reply.status, 403);
    assert_eq!(reply.json()["error"], "denied");
    assert!(sim.messages().is_empty());
}

#[test]
fn a_repeated_local_id_returns_the_same_receipt_and_stores_one_message() {
    let sim = start();
    let body = r#"{"inbox_id":1,"creator_id":2,"chat_id":3,"local_id":"k-1",
        "media_url":"https://e.com/a.png"}"#;
    let first = send_default(&sim, body).json();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let second = send_default(&sim, body).json();

    assert_eq!(first, second);
    assert!(first.get("gallery_url").is_some());
    let messages = sim.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].local_id.as_deref(), Some("k-1"));
}

#[test]
fn the_same_local_id_from_another_credential_is_a_new_message() {
    let sim = start();
    let body = r#"{"inbox_id":1,"creator_id":2,"chat_id":3,"local_id":"k-1","text":"t"}"#;
    let by_key = send_default(&sim, body).json();
    let token = vendor_jwt(DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, now());
    let by_jwt = send(&sim, &token, body).json();
    assert_ne!(by_key["id"], by_jwt["id"]);
    assert_eq!(sim.messages().len(), 2);
}

#[test]
fn requests_over_the_rate_limit_get_429_without_retry_after_and_are_not_processed() {
    let sim = Simulator::start(Config {
        rate_limit_per_minute: 3,
        ..Config::default()
    })
    .unwrap();
    for _ in 0..3 {
        assert_eq!(send_default(&sim, SMS).status, 200);
    }
    let refused = send_default(&sim, SMS);
    assert_eq!(refused.status, 429);
    assert_eq!(refused.json()["error"], "rate_limited");
    assert_eq!(refused.header("retry-after"), None);
    assert!(refused.header("x-request-id").is_some());
    assert_eq!(sim.messages().len(), 3);
}

#[test]
fn the_rate_limit_counts_each_credential_separately() {
    let sim = Simulator::start(Config {
        rate_limit_per_minute: 3,
        ..Config::default()
    })
    .unwrap();
    for _ in 0..3 {
        assert_eq!(send_default(&sim, SMS).status, 200);
    }
    assert_eq!(send_default(&sim, SMS).status, 429);
    let token = vendor_jwt(DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, now());
    assert_eq!(send(&sim, &token, SMS).status, 200);
}

#[test]
fn a_rate_limit_of_zero_turns_the_limit_off() {
    let sim = Simulator::start(Config {
        rate_limit_per_minute: 0,
        ..Config::default()
    })
    .unwrap();
    for _ in 0..5 {
        assert_eq!(send_default(&sim, SMS).status, 200);
    }
}

#[test]
fn unknown_paths_are_404_and_wrong_methods_are_405_as_json() {
    let sim = start();
    let missing = call(
        &sim,
        "POST",
        "/v1/messages",
        Some("Bearer sim-api-key"),
        SMS,
    );
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["error"], "not_found");
    let wrong = call(&sim, "GET", SEND, Some("Bearer sim-api-key"), "");
    assert_eq!(wrong.status, 405);
    assert_eq!(wrong.header("allow"), Some("POST"));
    assert_eq!(wrong.json()["error"], "method_not_allowed");
    assert!(sim.messages().is_empty());
}

#[test]
fn a_query_string_does_not_change_the_route_and_is_recorded() {
    let sim = start();
    let reply = call(
        &sim,
        "POST",
        "/v1/message/send?x=1",
        Some("Bearer sim-api-key"),
        SMS,
    );
    assert_eq!(reply.status, 200);
    assert_eq!(sim.requests()[0].path, "/v1/message/send?x=1");
}

#[test]
fn every_request_is_recorded_with_method_path_headers_body_and_status() {
    let sim = start();
    send_default(&sim, SMS);
    call(&sim, "POST", SEND, None, "{}");
    let requests = sim.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].method, "POST");
    assert_eq!(requests[0].path, SEND);
    assert_eq!(
        requests[0].header("authorization"),
        Some("Bearer sim-api-key")
    );
    assert_eq!(requests[0].header("Content-Type"), Some("application/json"));
    assert!(
        requests[0]
            .headers
            .iter()
            .all(|(n, _)| *n == n.to_lowercase())
    );
    assert_eq!(requests[0].body, SMS.as_bytes());
    assert_eq!(
        requests[0].body_json(),
        Some(serde_json::from_str(SMS).unwrap())
    );
    assert_eq!(requests[0].status, Some(200));
    assert_eq!(requests[1].status, Some(401));
    assert_eq!(requests[1].credential, None);
    assert_eq!(json!(requests[1].body_json()), json!({}));
}
