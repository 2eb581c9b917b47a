//! The fault queue: each kind, FIFO order, and what consumes a fault.

mod common;

use std::time::{Duration, Instant};

use common::*;
use heymarket_simulator::Fault;

fn respond(status: u16, body: &str) -> Fault {
    Fault::Respond {
        status,
        headers: Vec::new(),
        body: body.to_owned(),
    }
}

#[test]
fn a_respond_fault_answers_as_scripted_without_auth_or_storing() {
    let sim = start();
    sim.script([Fault::Respond {
        status: 429,
        headers: vec![("Retry-After".into(), "1".into())],
        body: r#"{"error":"rate_limited"}"#.into(),
    }]);
    let reply = call(&sim, "POST", SEND, None, SMS);

    assert_eq!(reply.status, 429);
    assert_eq!(reply.header("retry-after"), Some("1"));
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert!(reply.header("x-request-id").is_some());
    assert_eq!(reply.json()["error"], "rate_limited");
    assert!(sim.messages().is_empty());
    assert_eq!(sim.requests()[0].status, Some(429));
}

#[test]
fn a_respond_fault_with_a_non_json_body_is_labelled_as_text() {
    let sim = start();
    sim.script([respond(502, "<html>bad gateway</html>")]);
    let reply = send_default(&sim, SMS);
    assert_eq!(reply.status, 502);
    assert!(
        reply
            .header("content-type")
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(reply.text(), "<html>bad gateway</html>");
}

#[test]
fn respond_after_store_stores_the_message_then_answers_the_scripted_status() {
    let sim = start();
    sim.script([Fault::RespondAfterStore {
        status: 500,
        body: "oops".into(),
    }]);
    let reply = send_default(&sim, SMS);
    assert_eq!(reply.status, 500);
    assert_eq!(reply.text(), "oops");
    assert_eq!(sim.messages().len(), 1);
}

#[test]
fn a_retry_after_a_stored_500_with_the_same_local_id_gets_the_first_receipt() {
    let sim = start();
    let body = r#"{"inbox_id":1,"creator_id":2,"chat_id":3,"local_id":"r-1","text":"t"}"#;
    sim.script([Fault::RespondAfterStore {
        status: 500,
        body: "{}".into(),
    }]);
    assert_eq!(send_default(&sim, body).status, 500);
    let retry = send_default(&sim, body);
    assert_eq!(retry.status, 200);
    assert_eq!(retry.json()["id"], sim.messages()[0].id);
    assert_eq!(sim.messages().len(), 1);
}

#[test]
fn a_delay_holds_the_answer_then_handles_the_request_normally() {
    let sim = start();
    sim.script([Fault::Delay(Duration::from_millis(300))]);
    let started = Instant::now();
    let reply = send_default(&sim, SMS);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(reply.status, 200);
    assert_eq!(sim.messages().len(), 1);
}

#[test]
fn drop_before_store_closes_without_an_answer_and_stores_nothing() {
    let sim = start();
    sim.script([Fault::DropBeforeStore]);
    let mut client = Client::connect(&sim);
    client.write(&request("POST", SEND, Some("Bearer sim-api-key"), SMS));
    assert!(client.read_to_close().is_empty());
    assert!(sim.messages().is_empty());
    assert_eq!(sim.requests()[0].status, None);
}

#[test]
fn drop_after_store_stores_the_message_then_closes_without_an_answer() {
    let sim = start();
    sim.script([Fault::DropAfterStore]);
    let mut client = Client::connect(&sim);
    client.write(&request("POST", SEND, Some("Bearer sim-api-key"), SMS));
    assert!(client.read_to_close().is_empty());
    assert_eq!(sim.messages().len(), 1);
    assert_eq!(sim.requests()[0].status, None);
}

#[test]
fn raw_after_store_writes_exactly_the_scripted_bytes_then_closes() {
    let sim = start();
    let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{\"id\":".to_vec();
    sim.script([Fault::RawAfterStore(raw.clone())]);
    let mut client = Client::connect(&sim);
    client.write(&request("POST", SEND, Some("Bearer sim-api-key"), SMS));
    assert_eq!(client.read_to_close(), raw);
    assert_eq!(sim.messages().len(), 1);
    assert_eq!(sim.requests()[0].status, Some(200));
}

#[test]
fn faults_apply_one_per_send_in_the_order_scripted() {
    let sim = start();
    sim.script([respond(503, "{}"), respond(429, "{}")]);
    sim.script([respond(500, "{}")]);
    assert_eq!(sim.pending_faults(), 3);
    let statuses: Vec<u16> = (0..4).map(|_| send_default(&sim, SMS).status).collect();
    assert_eq!(statuses, [503, 429, 500, 200]);
    assert_eq!(sim.pending_faults(), 0);
}

#[test]
fn other_paths_and_control_requests_do_not_consume_faults() {
    let sim = start();
    sim.script([respond(503, "{}")]);
    call(&sim, "GET", "/healthz", None, "");
    call(&sim, "GET", "/_sim/messages", None, "");
    call(&sim, "GET", SEND, None, "");
    call(&sim, "POST", "/v1/other", None, "");
    assert_eq!(sim.pending_faults(), 1);
    assert_eq!(send_default(&sim, SMS).status, 503);
}

#[test]
fn an_after_store_fault_on_a_refused_request_answers_the_normal_error_and_is_used_up() {
    let sim = start();
    sim.script([Fault::DropAfterStore]);
    let reply = call(&sim, "POST", SEND, None, SMS);
    assert_eq!(reply.status, 401);
    assert_eq!(sim.pending_faults(), 0);
    assert_eq!(send_default(&sim, SMS).status, 200);
}

#[test]
fn reset_clears_messages_requests_faults_and_rate_windows() {
    let sim = heymarket_simulator::Simulator::start(heymarket_simulator::Config {
        rate_limit_per_minute: 1,
        ..Default::default()
    })
    .unwrap();
    assert_eq!(send_default(&sim, SMS).status, 200);
    assert_eq!(send_default(&sim, SMS).status, 429);
    sim.script([respond(500, "{}")]);

    sim.reset();

    assert!(sim.messages().is_empty());
    assert!(sim.requests().is_empty());
    assert_eq!(sim.pending_faults(), 0);
    let reply = send_default(&sim, SMS);
    assert_eq!(reply.status, 200);
    // Ids keep counting so they stay unique over the server's life.
    assert_eq!(reply.json()["id"], 1001);
}
