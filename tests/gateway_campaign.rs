//! The reliability campaign against the gateway as it really runs: the built component
//! under the real `wasmtime serve`, the simulator upstream, raw HTTP on loopback.
//!
//! Hostile requests (lone-surrogate escapes, broken framing, wrong methods, huge
//! declared lengths) each get one problem+json answer and leave the server healthy; an
//! upstream that echoes the credential cannot make the gateway show it, nor the server's
//! own output; and sustained concurrent sends arrive exactly once each while the
//! server's memory stays steady.

mod support;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use support::*;

const TOKEN: &str = "campaign-gateway-token-Wd62";
const KEY: &str = "campaign-upstream-key-Np38";

/// A running `wasmtime serve` with its output in a file; killed on drop.
struct Served {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Served {
    fn start(sim: &Simulator) -> Served {
        let wasmtime = std::env::var_os("HEYMARKET_WASMTIME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("wasmtime"));
        for attempt in 0..5 {
            let addr = {
                let listener = TcpListener::bind("127.0.0.1:0").unwrap();
                listener.local_addr().unwrap()
            };
            let log = std::env::temp_dir().join(format!(
                "heymarket-campaign-{}-{attempt}-{}.log",
                std::process::id(),
                addr.port()
            ));
            let file = std::fs::File::create(&log).unwrap();
            let child = Command::new(&wasmtime)
                .args(["serve", "-S", "cli", "--addr", &addr.to_string()])
                .args(["--env", &format!("HEYMARKET_API_KEY={KEY}")])
                .args(["--env", &format!("HEYMARKET_BASE_URL={}", sim.base_url())])
                .args(["--env", &format!("HEYMARKET_GATEWAY_TOKEN={TOKEN}")])
                .args(["--env", "HEYMARKET_BACKOFF_BASE_MS=10"])
                .args(["--env", "HEYMARKET_TIMEOUT_MS=2000"])
                .arg(wasm())
                .stdin(Stdio::null())
                .stdout(file.try_clone().unwrap())
                .stderr(file)
                .spawn()
                .unwrap_or_else(|e| {
                    panic!(
                        "starting {} (source scripts/tools): {e}",
                        wasmtime.display()
                    )
                });
            let mut served = Served { child, addr, log };
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(90) {
                if served.child.try_wait().unwrap().is_some() {
                    break;
                }
                let health = raw_request(addr, "GET /healthz HTTP/1.1\r\nhost: g", b"");
                if health.is_ok_and(|a| a.status == 200) {
                    return served;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if !served.output().contains("in use") {
                panic!("wasmtime serve did not start: {}", served.output());
            }
        }
        panic!("no free loopback port in five tries");
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn post(&self, path: &str, body: &str) -> RawReply {
        raw_request(
            self.addr,
            &format!(
                "POST {path} HTTP/1.1\r\nhost: g\r\ncontent-type: application/json\r\n\
                 authorization: Bearer {TOKEN}"
            ),
            body.as_bytes(),
        )
        .expect("the gateway answers")
    }

    fn healthy(&self) -> bool {
        raw_request(self.addr, "GET /healthz HTTP/1.1\r\nhost: g", b"")
            .is_ok_and(|a| a.status == 200)
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// Sends `bytes` as they are and reads the answer until the server closes.
fn raw_exchange(addr: SocketAddr, bytes: &[u8]) -> Option<RawReply> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    let _ = stream.write_all(bytes);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&answer[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Some(RawReply {
        status,
        headers,
        body: answer[split + 4..].to_vec(),
    })
}

/// Checks the RFC 9457 shape and returns the problem type.
fn problem(reply: &RawReply) -> Result<String, String> {
    if reply.header("content-type") != Some("application/problem+json") {
        return Err(format!("content-type {:?}", reply.header("content-type")));
    }
    if reply.header("content-length") != Some(&*reply.body.len().to_string()) {
        return Err("content-length is not the body's length".into());
    }
    let body: serde_json::Value =
        serde_json::from_slice(&reply.body).map_err(|e| format!("not JSON: {e}"))?;
    if body["status"] != reply.status {
        return Err(format!(
            "status member {} in a {}",
            body["status"], reply.status
        ));
    }
    body["type"]
        .as_str()
        .and_then(|t| t.strip_prefix("urn:heymarket-sms:problem:"))
        .map(str::to_owned)
        .ok_or_else(|| format!("no problem type: {body}"))
}

fn hostile_requests() -> Vec<(&'static str, Vec<u8>, u16)> {
    let auth = format!("authorization: Bearer {TOKEN}\r\n");
    let json = "content-type: application/json\r\n";
    let post = |body: &str| -> Vec<u8> {
        format!(
            "POST /v1/message/send HTTP/1.1\r\nhost: g\r\n{auth}{json}content-length: {}\r\n\
             connection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    };
    let sms = r#""inbox_id":101,"creator_id":55,"phone_number":"14155551234""#;
    vec![
        (
            "a lone high surrogate",
            post(&format!(r#"{{{sms},"text":"\ud800"}}"#)),
            400,
        ),
        (
            "a lone low surrogate",
            post(&format!(r#"{{{sms},"text":"a\udfffb"}}"#)),
            400,
        ),
        (
            "a reversed surrogate pair",
            post(&format!(r#"{{{sms},"text":"\ude00\ud83d"}}"#)),
            400,
        ),
        (
            "a NUL escape",
            post(&format!(r#"{{{sms},"text":"a\u0000b"}}"#)),
            400,
        ),
        (
            "invalid UTF-8",
            {
                let mut bytes = post(&format!(r#"{{{sms},"text":"ab"}}"#));
                let at = bytes.len() - 3;
                bytes[at] = 0xff;
                bytes
            },
            400,
        ),
        (
            "deeply nested JSON",
            post(&format!("{}{}", "[".repeat(100_000), "]".repeat(100_000))),
            413,
        ),
        (
            "nesting under the size cap",
            post(&format!("{}{}", "[".repeat(5000), "]".repeat(5000))),
            400,
        ),
        ("not JSON at all", post("hello"), 400),
        ("an empty body", post(""), 400),
        ("a JSON array", post("[1,2]"), 400),
        (
            "an unknown field",
            post(&format!(r#"{{{sms},"text":"x","bcc":"1"}}"#)),
            400,
        ),
        (
            "a declared length far over the cap",
            format!(
                "POST /v1/message/send HTTP/1.1\r\nhost: g\r\n{auth}{json}\
                 content-length: 99999999999\r\nconnection: close\r\n\r\n{{}}"
            )
            .into_bytes(),
            413,
        ),
        (
            "a chunked body with bad JSON",
            format!(
                "POST /v1/message/send HTTP/1.1\r\nhost: g\r\n{auth}{json}\
                 transfer-encoding: chunked\r\nconnection: close\r\n\r\n3\r\n{{x}}\r\n0\r\n\r\n"
            )
            .into_bytes(),
            400,
        ),
        (
            "no content type",
            format!(
                "POST /v1/message/send HTTP/1.1\r\nhost: g\r\n{auth}content-length: 2\r\n\
                 connection: close\r\n\r\n{{}}"
            )
            .into_bytes(),
            415,
        ),
        (
            "a wrong token",
            format!(
                "POST /v1/message/send HTTP/1.1\r\nhost: g\r\nauthorization: Bearer {TOKEN}x\r\n\
                 {json}content-length: 2\r\nconnection: close\r\n\r\n{{}}"
            )
            .into_bytes(),
            401,
        ),
        (
            "two authorization headers",
            format!(
                "POST /v1/message/send HTTP/1.1\r\nhost: g\r\n{auth}{auth}{json}\
                 content-length: 2\r\nconnection: close\r\n\r\n{{}}"
            )
            .into_bytes(),
            401,
        ),
        (
            "a wrong method",
            b"DELETE /v1/message/send HTTP/1.1\r\nhost: g\r\nconnection: close\r\n\r\n".to_vec(),
            405,
        ),
        (
            "an unknown path with odd bytes",
            b"GET /%ff%00/../etc/passwd HTTP/1.1\r\nhost: g\r\nconnection: close\r\n\r\n".to_vec(),
            404,
        ),
        (
            "a very long path",
            format!(
                "GET /{} HTTP/1.1\r\nhost: g\r\nconnection: close\r\n\r\n",
                "a".repeat(8000)
            )
            .into_bytes(),
            404,
        ),
    ]
}

#[test]
fn hostile_requests_through_wasmtime_serve_each_get_a_problem_and_leave_it_healthy() {
    let sim = simulator();
    let served = Served::start(&sim);
    let mut failures = Vec::new();
    let cases = hostile_requests();
    for (name, bytes, expected) in &cases {
        match raw_exchange(served.addr, bytes) {
            None => failures.push(format!("{name}: no HTTP answer")),
            Some(reply) => {
                if reply.status != *expected {
                    failures.push(format!(
                        "{name}: status {}, expected {expected}: {}",
                        reply.status,
                        reply.text()
                    ));
                }
                // wasmtime itself may refuse a request before the component sees it
                // (a 4xx of its own); anything the component answers is a problem.
                if reply.header("content-type").is_some()
                    && let Err(why) = problem(&reply)
                {
                    failures.push(format!("{name}: {why}"));
                }
            }
        }
        if !served.healthy() {
            failures.push(format!("{name}: the server is no longer healthy"));
            break;
        }
    }
    assert!(
        sim.requests().is_empty(),
        "a hostile request reached Heymarket"
    );
    println!("hostile gateway requests: {}", cases.len());
    assert!(
        failures.is_empty(),
        "{} of {} hostile requests misbehaved:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn an_upstream_echoing_the_credential_cannot_make_the_gateway_show_it() {
    let sim = Simulator::start(Config {
        api_keys: vec![KEY.into()],
        rate_limit_per_minute: 0,
        ..Config::default()
    })
    .unwrap();
    let served = Served::start(&sim);
    let echo = format!("Bearer {KEY}");
    let json_echo = format!(r#"{{"error":"bad","message":"you sent {echo}"}}"#);
    let respond = |status: u16, headers: Vec<(String, String)>, body: String| Fault::Respond {
        status,
        headers,
        body,
    };
    let scripts: Vec<(&str, Vec<Fault>)> = vec![
        ("401 echo", vec![respond(401, vec![], json_echo.clone())]),
        ("403 echo", vec![respond(403, vec![], json_echo.clone())]),
        (
            "400 echo",
            vec![respond(
                400,
                vec![("X-Request-Id".into(), echo.clone())],
                json_echo.clone(),
            )],
        ),
        (
            "429 echo",
            vec![respond(
                429,
                vec![("Retry-After".into(), "3600".into())],
                json_echo.clone(),
            )],
        ),
        ("500 echo", vec![respond(500, vec![], json_echo.clone()); 3]),
        (
            "200 not JSON echo",
            vec![respond(200, vec![], echo.clone())],
        ),
        (
            "200 echo in every field",
            vec![respond(
                200,
                vec![("X-Request-Id".into(), echo.clone())],
                format!(r#"{{"id":1,"date":"{echo}","gallery_url":"https://g/{KEY}"}}"#),
            )],
        ),
        (
            "302 to a URL with the key",
            vec![respond(
                302,
                vec![("Location".into(), format!("https://evil/?k={KEY}"))],
                String::new(),
            )],
        ),
    ];
    let mut leaks = Vec::new();
    for (name, faults) in &scripts {
        sim.reset();
        sim.script(faults.clone());
        let reply = served.post(
            "/v1/message/send",
            r#"{"inbox_id":101,"creator_id":55,"phone_number":"14155551234","text":"x"}"#,
        );
        let mut seen = reply.text();
        for (n, v) in &reply.headers {
            seen.push_str(&format!("\n{n}: {v}"));
        }
        if seen.contains(KEY) {
            leaks.push(format!("{name}: the answer shows the key: {seen}"));
        }
        // The echo must have reached the answer, redacted, or the row proves nothing;
        // only the body of a 2xx that is not JSON is not quoted at all.
        if !seen.contains("[redacted]") && *name != "200 not JSON echo" {
            leaks.push(format!("{name}: no redacted echo in the answer: {seen}"));
        }
    }
    if served.output().contains(KEY) {
        leaks.push("wasmtime serve's output shows the key".into());
    }
    println!("gateway secret paths: {}", scripts.len());
    assert!(leaks.is_empty(), "{}", leaks.join("\n"));
}

/// `VmRSS` and `VmHWM` of a process, in KiB.
fn memory_kib(pid: &str) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn sends_through_wasmtime_serve(phases: usize, per_phase: usize, concurrency: usize) {
    let sim = Simulator::start(Config {
        api_keys: vec![KEY.into()],
        rate_limit_per_minute: 0,
        ..Config::default()
    })
    .unwrap();
    let served = Arc::new(Served::start(&sim));
    let pid = served.pid();
    let mut rss = Vec::new();
    let started = Instant::now();
    for phase in 0..phases {
        let next = Arc::new(AtomicUsize::new(phase * per_phase));
        let end = (phase + 1) * per_phase;
        let workers: Vec<_> = (0..concurrency)
            .map(|_| {
                let (served, next) = (served.clone(), next.clone());
                std::thread::spawn(move || {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= end {
                            return;
                        }
                        let body = format!(
                            concat!(
                                r#"{{"inbox_id":101,"creator_id":55,"phone_number":"1415{:07}","#,
                                r#""text":"serve {i}","local_id":"serve-{i}"}}"#,
                            ),
                            i % 10_000_000,
                            i = i,
                        );
                        let reply = served.post("/v1/message/send", &body);
                        assert_eq!(reply.status, 200, "send {i}: {}", reply.text());
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().expect("a sender finished");
        }
        rss.push(memory_kib(&pid));
    }
    let elapsed = started.elapsed();
    let total = phases * per_phase;
    let mut counts: HashMap<String, usize> = HashMap::new();
    for m in sim.messages() {
        *counts.entry(m.local_id.unwrap_or_default()).or_default() += 1;
    }
    for i in 0..total {
        assert_eq!(counts.remove(&format!("serve-{i}")), Some(1), "serve-{i}");
    }
    assert!(
        counts.is_empty(),
        "unexpected messages: {:?}",
        counts.keys()
    );
    let requests = sim.requests().len();
    assert_eq!(requests, total);
    let (first, _) = rss[0];
    let (last, peak) = *rss.last().unwrap();
    println!(
        "wasmtime serve load: {total} sends, {concurrency} in flight, {requests} requests, \
         0 lost, 0 duplicated, {:.0} sends/s; server RSS after the first phase {} MiB, at \
         the end {} MiB, peak {} MiB",
        total as f64 / elapsed.as_secs_f64(),
        first / 1024,
        last / 1024,
        peak / 1024
    );
    // wasmtime serve makes a fresh instance per request; it must not keep anything.
    assert!(
        last.saturating_sub(first) < 48 * 1024,
        "the server grew from {first} KiB to {last} KiB"
    );
}

#[test]
fn concurrent_sends_through_wasmtime_serve_arrive_once_each() {
    sends_through_wasmtime_serve(2, 200, 16);
}

#[test]
#[ignore = "long: run by scripts/test.d/50-load"]
fn sustained_sends_through_wasmtime_serve_keep_its_memory_steady() {
    sends_through_wasmtime_serve(6, 1000, 48);
}
