//! HTTP/1.1 handling: framing, keep-alive, limits, lifecycle.

mod common;

use std::net::TcpStream;

use common::*;
use heymarket_simulator::{Config, Simulator};

#[test]
fn a_chunked_request_body_is_decoded_before_handling() {
    let sim = start();
    let (a, b) = SMS.split_at(20);
    let raw = format!(
        "POST {SEND} HTTP/1.1\r\nHost: sim\r\nAuthorization: Bearer sim-api-key\r\n\
         Transfer-Encoding: chunked\r\n\r\n{:x};ext=1\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\
         X-Trailer: yes\r\n\r\n",
        a.len(),
        b.len()
    );
    let mut client = Client::connect(&sim);
    client.write(raw.as_bytes());
    let reply = client.read_reply().unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(sim.requests()[0].body, SMS.as_bytes());
}

#[test]
fn two_requests_on_one_keep_alive_connection_are_both_answered() {
    let sim = start();
    let mut client = Client::connect(&sim);
    client.write(&request("POST", SEND, Some("Bearer sim-api-key"), SMS));
    let first = client.read_reply().unwrap();
    client.write(&request("GET", "/healthz", None, ""));
    let second = client.read_reply().unwrap();
    assert_eq!((first.status, second.status), (200, 200));
    assert_eq!(first.header("connection"), None);
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let sim = start();
    let mut client = Client::connect(&sim);
    let mut both = request("POST", SEND, Some("Bearer sim-api-key"), SMS);
    both.extend(request("POST", SEND, None, SMS));
    client.write(&both);
    assert_eq!(client.read_reply().unwrap().status, 200);
    assert_eq!(client.read_reply().unwrap().status, 401);
}

#[test]
fn connection_close_is_honoured_after_the_answer() {
    let sim = start();
    let mut client = Client::connect(&sim);
    client.write(b"GET /healthz HTTP/1.1\r\nHost: sim\r\nConnection: close\r\n\r\n");
    let reply = client.read_reply().unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("connection"), Some("close"));
    assert!(client.is_closed());
}

#[test]
fn http_1_0_requests_get_one_answer_then_the_connection_closes() {
    let sim = start();
    let mut client = Client::connect(&sim);
    client.write(b"GET /healthz HTTP/1.0\r\n\r\n");
    assert_eq!(client.read_reply().unwrap().status, 200);
    assert!(client.is_closed());
}

#[test]
fn a_body_over_one_mebibyte_is_refused_with_413_without_reading_it() {
    let sim = start();
    let mut client = Client::connect(&sim);
    let head = format!(
        "POST {SEND} HTTP/1.1\r\nHost: sim\r\nAuthorization: Bearer sim-api-key\r\n\
         Content-Length: {}\r\n\r\n",
        heymarket_simulator::MAX_BODY_BYTES + 1
    );
    client.write(head.as_bytes());
    let reply = client.read_reply().unwrap();
    assert_eq!(reply.status, 413);
    assert!(reply.header("x-request-id").is_some());
    assert_eq!(sim.requests()[0].status, Some(413));
}

#[test]
fn a_chunked_body_growing_past_the_cap_is_refused_with_413() {
    let sim = start();
    let mut client = Client::connect(&sim);
    let head = format!(
        "POST {SEND} HTTP/1.1\r\nHost: sim\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n",
        heymarket_simulator::MAX_BODY_BYTES + 1
    );
    client.write(head.as_bytes());
    assert_eq!(client.read_reply().unwrap().status, 413);
}

#[test]
fn expect_100_continue_gets_an_interim_answer_before_the_body_is_sent() {
    let sim = start();
    let mut client = Client::connect(&sim);
    let head = format!(
        "POST {SEND} HTTP/1.1\r\nHost: sim\r\nAuthorization: Bearer sim-api-key\r\n\
         Expect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        SMS.len()
    );
    client.write(head.as_bytes());
    assert_eq!(client.read_raw(25), b"HTTP/1.1 100 Continue\r\n\r\n");
    client.write(SMS.as_bytes());
    assert_eq!(client.read_reply().unwrap().status, 200);
}

#[test]
fn a_malformed_request_line_gets_400_and_a_closed_connection() {
    let sim = start();
    let mut client = Client::connect(&sim);
    client.write(b"NOT HTTP AT ALL\r\n\r\n");
    assert_eq!(client.read_reply().unwrap().status, 400);
    assert!(client.is_closed());
}

#[test]
fn head_requests_get_headers_without_a_body() {
    let sim = start();
    let mut client = Client::connect(&sim);
    client.write(b"HEAD /healthz HTTP/1.1\r\nHost: sim\r\n\r\n");
    client.write(b"GET /healthz HTTP/1.1\r\nHost: sim\r\nConnection: close\r\n\r\n");
    let both = String::from_utf8(client.read_to_close()).unwrap();
    assert_eq!(both.matches("HTTP/1.1 200 OK").count(), 2, "{both}");
    assert_eq!(both.matches(r#"{"status":"ok"}"#).count(), 1, "{both}");
}

#[test]
fn base_url_names_loopback_and_the_bound_port_without_a_trailing_slash() {
    let sim = start();
    assert_eq!(
        sim.base_url(),
        format!("http://127.0.0.1:{}", sim.addr().port())
    );
    let any = Simulator::start(Config {
        bind: "0.0.0.0:0".parse().unwrap(),
        ..Config::default()
    })
    .unwrap();
    assert_eq!(
        any.base_url(),
        format!("http://127.0.0.1:{}", any.addr().port())
    );
}

#[test]
fn dropping_the_simulator_stops_it_listening() {
    let sim = start();
    let addr = sim.addr();
    drop(sim);
    assert!(TcpStream::connect(addr).is_err());
}

#[test]
fn the_synchronous_api_works_inside_an_async_runtime() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let sim = start();
        sim.script([heymarket_simulator::Fault::DropBeforeStore]);
        assert!(sim.messages().is_empty());
        drop(sim);
    });
}

#[test]
fn the_simulator_can_be_shared_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Simulator>();
}
