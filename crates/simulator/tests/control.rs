//! The `/_sim` control paths used by out-of-process tests (Python, Node).

mod common;

use common::*;
use serde_json::{Value, json};

#[test]
fn healthz_answers_200_with_json() {
    let sim = start();
    let reply = call(&sim, "GET", "/healthz", None, "");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), json!({ "status": "ok" }));
}

#[test]
fn get_sim_messages_lists_stored_messages_as_json() {
    let sim = start();
    let body = r#"{"inbox_id":1,"creator_id":2,"chat_id":3,"local_id":"l-1","text":"t"}"#;
    send_default(&sim, body);
    let listed = call(&sim, "GET", "/_sim/messages", None, "").json();
    let message = &listed.as_array().unwrap()[0];
    assert_eq!(message["id"], 1000);
    assert_eq!(message["local_id"], "l-1");
    assert_eq!(message["credential"], "api-key:#0");
    assert_eq!(
        message["body"],
        serde_json::from_str::<Value>(body).unwrap()
    );
    assert!(message["date"].is_string());
}

#[test]
fn get_sim_requests_lists_requests_with_status_and_a_redacted_authorization() {
    let sim = start();
    send_default(&sim, SMS);
    let listed = call(&sim, "GET", "/_sim/requests", None, "").json();
    let requests = listed.as_array().unwrap();
    assert_eq!(
        requests.len(),
        1,
        "control requests are not recorded: {listed}"
    );
    let request = &requests[0];
    assert_eq!(request["method"], "POST");
    assert_eq!(request["path"], SEND);
    assert_eq!(request["status"], 200);
    assert_eq!(request["credential"], "api-key:#0");
    assert_eq!(request["body"], SMS);
    assert!(
        request["headers"]
            .as_array()
            .unwrap()
            .contains(&json!(["authorization", "Bearer [redacted]"]))
    );
    assert!(!listed.to_string().contains("sim-api-key"));
}

#[test]
fn post_sim_script_queues_every_documented_fault_shape() {
    let sim = start();
    let script = r#"[
        {"respond": {"status": 429, "headers": [["Retry-After", "7"]], "body": "{}"}},
        {"delay_ms": 10},
        {"respond_after_store": {"status": 500, "body": "oops"}},
        "drop_before_store",
        "drop_after_store",
        {"raw_after_store": "HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n"}
    ]"#;
    let reply = call(&sim, "POST", "/_sim/script", None, script);
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["queued"], 6);

    let first = send_default(&sim, SMS);
    assert_eq!(
        (first.status, first.header("retry-after")),
        (429, Some("7"))
    );
    assert_eq!(send_default(&sim, SMS).status, 200);
    assert_eq!(send_default(&sim, SMS).status, 500);
    for expected_stored in [1, 2] {
        let mut client = Client::connect(&sim);
        client.write(&request("POST", SEND, Some("Bearer sim-api-key"), SMS));
        assert!(client.read_to_close().is_empty());
        assert_eq!(sim.messages().len(), expected_stored + 1);
    }
    let redirect = send_default(&sim, SMS);
    assert_eq!(redirect.status, 302);
    assert_eq!(redirect.header("location"), Some("/x"));
    assert_eq!(sim.pending_faults(), 0);
}

#[test]
fn post_sim_script_rejects_an_unknown_fault_kind_with_400_and_queues_nothing() {
    let sim = start();
    let reply = call(&sim, "POST", "/_sim/script", None, r#"["explode"]"#);
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["error"], "bad_data");
    assert_eq!(sim.pending_faults(), 0);
}

#[test]
fn post_sim_reset_clears_the_state() {
    let sim = start();
    send_default(&sim, SMS);
    sim.script([heymarket_simulator::Fault::DropBeforeStore]);
    let reply = call(&sim, "POST", "/_sim/reset", None, "");
    assert_eq!(reply.status, 200);
    assert!(sim.messages().is_empty());
    assert!(sim.requests().is_empty());
    assert_eq!(sim.pending_faults(), 0);
}

#[test]
fn control_paths_answer_405_to_the_wrong_method_and_404_to_unknown_names() {
    let sim = start();
    assert_eq!(call(&sim, "POST", "/_sim/messages", None, "").status, 405);
    assert_eq!(call(&sim, "GET", "/_sim/reset", None, "").status, 405);
    assert_eq!(call(&sim, "GET", "/_sim/nothing", None, "").status, 404);
}
