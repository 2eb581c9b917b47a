//! The component as an HTTP service: the real `wasmtime serve` CLI runs the built
//! `.wasm`, the simulator plays Heymarket, and every request goes over loopback HTTP.
//! Also `wasmtime run --invoke`, and the README's gateway commands exactly as written.

mod support;

use std::collections::BTreeSet;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{API_KEY, Config, Fault, Simulator, simulator, wasm};

const TOKEN: &str = "gateway-token-4c1e9a";
const SMS: &str = r#"{"inbox_id":101,"creator_id":55,"phone_number":"14155551234","text":"Hi"}"#;
const PROBLEM_PREFIX: &str = "urn:heymarket-sms:problem:";
/// How long `wasmtime serve` may take to compile the component and answer.
const START_LIMIT: Duration = Duration::from_secs(90);
/// How long any one request may take; the slowest scripted fault takes two seconds.
const REQUEST_LIMIT: Duration = Duration::from_secs(60);

/// The wasmtime CLI: `HEYMARKET_WASMTIME`, else `wasmtime` on `PATH`.
fn wasmtime() -> PathBuf {
    if let Some(path) = std::env::var_os("HEYMARKET_WASMTIME") {
        return PathBuf::from(path);
    }
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("wasmtime"))
                .find(|path| path.is_file())
        })
        .unwrap_or_else(|| {
            panic!(
                "these tests need the wasmtime CLI 48: set HEYMARKET_WASMTIME or put \
                 `wasmtime` on PATH (`source scripts/tools` installs it)"
            )
        })
}

/// A running `wasmtime serve`; killed on drop.
struct Gateway {
    child: Child,
    addr: SocketAddr,
}

impl Gateway {
    /// Serves the component with `HEYMARKET_*` settings that reach `sim` with the API
    /// key and require [`TOKEN`]; `extra` overrides them, and an empty value removes one.
    fn start(sim: &Simulator, extra: &[(&str, &str)]) -> Gateway {
        let base_url = sim.base_url();
        let mut env = vec![
            ("HEYMARKET_API_KEY", API_KEY),
            ("HEYMARKET_BASE_URL", base_url.as_str()),
            ("HEYMARKET_GATEWAY_TOKEN", TOKEN),
            ("HEYMARKET_BACKOFF_BASE_MS", "20"),
        ];
        for (name, value) in extra {
            env.retain(|(n, _)| n != name);
            if !value.is_empty() {
                env.push((name, value));
            }
        }
        let wasm = wasm();
        Gateway::spawn(|addr| {
            let mut command = Command::new(wasmtime());
            command.args(["serve", "-S", "cli", "--addr", &addr.to_string()]);
            for (name, value) in &env {
                command.arg("--env").arg(format!("{name}={value}"));
            }
            command.arg(&wasm);
            command
        })
    }

    /// Starts `command` for a free loopback address and waits until `/healthz` answers.
    /// A port taken between choosing and binding it means another try on a new one.
    fn spawn(command: impl Fn(SocketAddr) -> Command) -> Gateway {
        static RUNS: AtomicUsize = AtomicUsize::new(0);
        for _ in 0..5 {
            let addr = free_addr();
            let run = RUNS.fetch_add(1, Ordering::Relaxed);
            let log = std::env::temp_dir().join(format!(
                "heymarket-gateway-{}-{run}.log",
                std::process::id()
            ));
            let file = std::fs::File::create(&log).expect("a log file");
            let child = command(addr)
                .stdin(Stdio::null())
                .stdout(file.try_clone().expect("a log file"))
                .stderr(file)
                .spawn()
                .unwrap_or_else(|e| panic!("starting the gateway: {e}"));
            let mut gateway = Gateway { child, addr };
            let started = Instant::now();
            while started.elapsed() < START_LIMIT {
                if let Ok(Some(_)) = gateway.child.try_wait() {
                    break;
                }
                if try_get(addr, "/healthz").is_some_and(|a| a.status == 200) {
                    return gateway;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let output = std::fs::read_to_string(&log).unwrap_or_default();
            if !output.contains("in use") {
                panic!("the gateway did not start on {addr}; its output:\n{output}");
            }
            drop(gateway);
        }
        panic!("no free loopback port in five tries");
    }

    fn get(&self, path: &str) -> Answer {
        exchange(self.addr, &request_bytes("GET", path, &[], b""))
    }

    /// POSTs `body` as JSON with the gateway token.
    fn post(&self, path: &str, body: &str) -> Answer {
        let headers = [
            ("Content-Type", "application/json"),
            ("Authorization", &*format!("Bearer {TOKEN}")),
        ];
        self.post_with(path, &headers, body)
    }

    fn post_with(&self, path: &str, headers: &[(&str, &str)], body: &str) -> Answer {
        exchange(
            self.addr,
            &request_bytes("POST", path, headers, body.as_bytes()),
        )
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    listener.local_addr().expect("its address")
}

/// One HTTP answer, read to the end of the connection.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// The problem type without its prefix, after checking the RFC 9457 shape.
    fn problem(&self) -> String {
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{self:?}"
        );
        let body = self.json();
        assert_eq!(body["status"], self.status, "{body}");
        assert!(body["title"].as_str().is_some_and(|t| !t.is_empty()));
        assert!(body["detail"].as_str().is_some_and(|t| !t.is_empty()));
        let kind = body["type"].as_str().expect("a problem type");
        kind.strip_prefix(PROBLEM_PREFIX)
            .unwrap_or_else(|| panic!("unexpected problem type {kind}"))
            .to_owned()
    }
}

fn request_bytes(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    let chunked = headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("transfer-encoding"));
    let declared = headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-length"));
    if !chunked && !declared && (method == "POST" || !body.is_empty()) {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// Sends raw request bytes and reads the answer, checking that it declares its length.
fn exchange(addr: SocketAddr, request: &[u8]) -> Answer {
    let answer = try_exchange(addr, request).unwrap_or_else(|| panic!("no answer from {addr}"));
    assert_eq!(
        answer.header("content-length"),
        Some(answer.body.len().to_string().as_str()),
        "every answer declares its length: {answer:?}"
    );
    answer
}

fn try_get(addr: SocketAddr, path: &str) -> Option<Answer> {
    try_exchange(addr, &request_bytes("GET", path, &[], b""))
}

fn try_exchange(addr: SocketAddr, request: &[u8]) -> Option<Answer> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
    stream.set_read_timeout(Some(REQUEST_LIMIT)).ok()?;
    stream.set_write_timeout(Some(REQUEST_LIMIT)).ok()?;
    // A server may answer and close before reading a body it refuses; the answer is
    // still there to read.
    let _ = stream.write_all(request);
    let mut bytes = Vec::new();
    let mut buffer = [0u8; 8192];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => bytes.extend_from_slice(&buffer[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset && !bytes.is_empty() => break,
            Err(_) => return None,
        }
    }
    parse_answer(&bytes)
}

fn parse_answer(bytes: &[u8]) -> Option<Answer> {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&bytes[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Some(Answer {
        status,
        headers,
        body: bytes[end + 4..].to_vec(),
    })
}

#[test]
fn health_answers_the_version_without_a_token_and_without_reaching_heymarket() {
    let sim = simulator();
    let gateway = Gateway::start(&sim, &[]);

    let answer = gateway.get("/healthz");
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    let body = answer.json();
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(body["gateway_auth"], "token");
    assert!(sim.requests().is_empty());
}

#[test]
fn a_message_sent_through_the_gateway_arrives_once_exactly_as_given() {
    let sim = simulator();
    let gateway = Gateway::start(&sim, &[]);

    let answer = gateway.post("/v1/message/send", SMS);
    assert_eq!(answer.status, 200, "{:?}", answer.json());
    let body = answer.json();
    let local_id = body["local_id"].as_str().expect("the local_id used");
    let stored = sim.messages();
    assert_eq!(stored.len(), 1);
    assert_eq!(body["id"], stored[0].id);
    assert_eq!(body["date"], stored[0].date.as_str());
    assert_eq!(stored[0].local_id.as_deref(), Some(local_id));
    assert!(body.get("gallery_url").is_none());
    assert!(
        answer
            .header("x-request-id")
            .is_some_and(|id| id.starts_with("sim-"))
    );

    let requests = sim.requests();
    assert_eq!(requests.len(), 1);
    let mut expected: Value = serde_json::from_str(SMS).unwrap();
    expected["local_id"] = local_id.into();
    assert_eq!(requests[0].body_json().unwrap(), expected);
    assert_eq!(
        requests[0].header("authorization"),
        Some(&*format!("Bearer {API_KEY}"))
    );
    let wire = format!("{:?}", requests[0].headers);
    assert!(!wire.contains(TOKEN), "the gateway token reached Heymarket");
}

#[test]
fn an_mms_with_the_callers_local_id_answers_with_the_gallery_url() {
    let sim = simulator();
    let gateway = Gateway::start(&sim, &[]);
    let mms = json!({
        "inbox_id": 101, "creator_id": 55, "phone_number": "14155551234",
        "media_url": "https://example.com/cat.png", "local_id": "order-77",
    });

    let first = gateway.post("/v1/message/send", &mms.to_string());
    let again = gateway.post("/v1/message/send", &mms.to_string());
    assert_eq!((first.status, again.status), (200, 200));
    assert_eq!(first.json()["local_id"], "order-77");
    assert!(first.json()["gallery_url"].as_str().is_some());
    assert_eq!(first.json()["id"], again.json()["id"]);
    assert_eq!(sim.messages().len(), 1);
}

#[test]
fn a_preview_through_the_gateway_renders_and_sends_nothing() {
    let sim = simulator();
    let gateway = Gateway::start(&sim, &[]);

    let answer = gateway.post("/v1/message/preview", &SMS.replace("Hi", "Hi 👋"));
    assert_eq!(answer.status, 200);
    let body = answer.json();
    assert_eq!(body["encoding"], "ucs2");
    assert_eq!(body["segments"], 1);
    let rendered: Value = serde_json::from_str(body["body"].as_str().unwrap()).unwrap();
    assert_eq!(rendered["text"], "Hi 👋");
    assert!(sim.requests().is_empty());
}

#[test]
fn every_malformed_request_gets_its_own_problem_and_reaches_nothing() {
    let sim = simulator();
    let gateway = Gateway::start(&sim, &[]);
    let auth = format!("Bearer {TOKEN}");
    let json_auth = [
        ("Content-Type", "application/json"),
        ("Authorization", auth.as_str()),
    ];

    let answer = gateway.post("/v1/messages/send", SMS);
    assert_eq!(
        (answer.status, answer.problem()),
        (404, "gateway.not-found".into())
    );

    let answer = gateway.get("/v1/message/send");
    assert_eq!(answer.status, 405);
    assert_eq!(answer.problem(), "gateway.method-not-allowed");
    assert_eq!(answer.header("allow"), Some("POST"));
    let answer = gateway.post("/healthz", "{}");
    assert_eq!(answer.header("allow"), Some("GET"));

    let text = [("Content-Type", "text/plain"), ("Authorization", &*auth)];
    let answer = gateway.post_with("/v1/message/send", &text, SMS);
    assert_eq!(answer.status, 415);
    assert_eq!(answer.problem(), "gateway.unsupported-media-type");

    let answer = gateway.post("/v1/message/send", "{\"inbox_id\": 101,");
    assert_eq!(
        (answer.status, answer.problem()),
        (400, "gateway.malformed-json".into())
    );

    let camel = SMS.replace("phone_number", "phoneNumber");
    let answer = gateway.post("/v1/message/send", &camel);
    assert_eq!(
        (answer.status, answer.problem()),
        (400, "gateway.invalid-json".into())
    );
    assert_eq!(answer.json()["errors"][0]["field"], "phoneNumber");

    let invalid = r#"{"inbox_id":101,"creator_id":55,"phone_number":"+1 415","list_id":3}"#;
    let answer = gateway.post("/v1/message/send", invalid);
    assert_eq!(answer.status, 400);
    assert_eq!(answer.problem(), "permanent.invalid-message");
    let fields: BTreeSet<String> = answer.json()["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        ["phone_number", "list_id", "local_id", "message"]
            .iter()
            .all(|f| fields.contains(*f)),
        "{fields:?}"
    );

    // Declared too large: refused before a byte of the body is read.
    let over = (64 * 1024 + 1).to_string();
    let head = [
        json_auth[0],
        json_auth[1],
        ("Content-Length", over.as_str()),
    ];
    let answer = exchange(
        gateway.addr,
        &request_bytes("POST", "/v1/message/send", &head, b""),
    );
    assert_eq!(
        (answer.status, answer.problem()),
        (413, "gateway.body-too-large".into())
    );

    // Not declared: the cap holds while reading.
    let mut chunked = Vec::new();
    for _ in 0..17 {
        chunked.extend_from_slice(format!("1000\r\n{}\r\n", " ".repeat(4096)).as_bytes());
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let head = [json_auth[0], json_auth[1], ("Transfer-Encoding", "chunked")];
    let answer = exchange(
        gateway.addr,
        &request_bytes("POST", "/v1/message/send", &head, &chunked),
    );
    assert_eq!(
        (answer.status, answer.problem()),
        (413, "gateway.body-too-large".into())
    );

    assert!(sim.requests().is_empty());
}

#[test]
fn callers_without_the_gateway_token_are_refused_and_the_token_is_never_echoed() {
    let sim = simulator();
    let gateway = Gateway::start(&sim, &[]);
    let wrong = [
        None,
        Some("Bearer not-the-token".to_owned()),
        Some(format!("Bearer {TOKEN}-and-more")),
        Some(format!("Basic {TOKEN}")),
    ];
    for authorization in wrong {
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(value) = &authorization {
            headers.push(("Authorization", value));
        }
        for path in ["/v1/message/send", "/v1/message/preview"] {
            let answer = gateway.post_with(path, &headers, SMS);
            assert_eq!(answer.status, 401, "{authorization:?}");
            assert_eq!(answer.problem(), "gateway.unauthenticated");
            assert!(
                answer
                    .header("www-authenticate")
                    .is_some_and(|v| v.starts_with("Bearer"))
            );
            let everything = format!("{:?}{}", answer.headers, answer.json());
            assert!(!everything.contains(TOKEN), "the token was echoed");
        }
    }
    let lowercase = [
        ("Content-Type", "application/json"),
        ("Authorization", &*format!("bearer {TOKEN}")),
    ];
    assert_eq!(
        gateway
            .post_with("/v1/message/send", &lowercase, SMS)
            .status,
        200
    );
    assert_eq!(sim.messages().len(), 1);
}

#[test]
fn without_a_token_the_gateway_refuses_to_send_unless_told_it_is_for_local_testing() {
    let sim = simulator();
    let refusing = Gateway::start(&sim, &[("HEYMARKET_GATEWAY_TOKEN", "")]);
    assert_eq!(refusing.get("/healthz").json()["gateway_auth"], "refusing");
    let answer = refusing.post_with(
        "/v1/message/send",
        &[("Content-Type", "application/json")],
        SMS,
    );
    assert_eq!(
        (answer.status, answer.problem()),
        (500, "gateway.unconfigured".into())
    );
    assert!(
        answer.json()["detail"]
            .as_str()
            .unwrap()
            .contains("HEYMARKET_GATEWAY_TOKEN")
    );
    drop(refusing);

    let open = Gateway::start(
        &sim,
        &[
            ("HEYMARKET_GATEWAY_TOKEN", ""),
            ("HEYMARKET_GATEWAY_ALLOW_UNAUTHENTICATED", "1"),
        ],
    );
    assert_eq!(
        open.get("/healthz").json()["gateway_auth"],
        "unauthenticated"
    );
    let answer = open.post_with(
        "/v1/message/send",
        &[("Content-Type", "application/json")],
        SMS,
    );
    assert_eq!(answer.status, 200);
    assert_eq!(sim.messages().len(), 1);
}

#[test]
fn upstream_failures_come_back_with_statuses_that_say_whose_fault_it_is() {
    let sim = simulator();
    let gateway = Gateway::start(
        &sim,
        &[
            ("HEYMARKET_MAX_ATTEMPTS", "1"),
            ("HEYMARKET_TIMEOUT_MS", "300"),
        ],
    );
    let respond = |status: u16, headers: &[(&str, &str)], body: &str| Fault::Respond {
        status,
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        body: body.into(),
    };
    let cases = [
        (
            Some(respond(401, &[], r#"{"error":"unauthorized"}"#)),
            401,
            "permanent.unauthorized",
        ),
        (None, 403, "permanent.forbidden"),
        (
            Some(respond(400, &[], r#"{"error":"bad_data"}"#)),
            400,
            "permanent.rejected",
        ),
        (
            Some(respond(429, &[("Retry-After", "120")], "{}")),
            429,
            "transient.rate-limited",
        ),
        (
            Some(respond(503, &[("X-Request-Id", "up-503")], "down")),
            502,
            "transient.server",
        ),
        (
            Some(Fault::RawAfterStore(
                b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnope".to_vec(),
            )),
            502,
            "transient.invalid-response",
        ),
        (Some(Fault::DropBeforeStore), 502, "transient.connection"),
        (
            Some(Fault::Delay(Duration::from_secs(2))),
            504,
            "transient.timeout",
        ),
    ];
    for (fault, status, kind) in cases {
        sim.reset();
        let body = match fault {
            Some(fault) => {
                sim.script([fault]);
                SMS.to_owned()
            }
            // The simulator denies inbox 666 for real.
            None => SMS.replace("101", "666"),
        };
        let answer = gateway.post("/v1/message/send", &body);
        assert_eq!((answer.status, answer.problem()), (status, kind.to_owned()));
        let problem = answer.json();
        assert!(problem["local_id"].as_str().is_some(), "{problem}");
        if status == 429 {
            assert_eq!(answer.header("retry-after"), Some("120"));
        }
        if kind == "transient.server" {
            assert_eq!(problem["request_id"], "up-503");
            assert_eq!(answer.header("x-request-id"), Some("up-503"));
            assert_eq!(problem["upstream_status"], 503);
        }
    }
}

#[test]
fn a_gateway_without_heymarket_credentials_answers_500_configuration() {
    let sim = simulator();
    let gateway = Gateway::start(&sim, &[("HEYMARKET_API_KEY", "")]);
    let answer = gateway.post("/v1/message/send", SMS);
    assert_eq!(
        (answer.status, answer.problem()),
        (500, "permanent.configuration".into())
    );
    assert!(sim.requests().is_empty());
}

#[test]
fn sixty_concurrent_sends_through_the_gateway_each_arrive_exactly_once() {
    const SENDS: usize = 60;
    let sim = Simulator::start(Config {
        api_keys: vec![API_KEY.into()],
        rate_limit_per_minute: 0,
        ..Config::default()
    })
    .expect("the simulator starts");
    let gateway = Arc::new(Gateway::start(&sim, &[]));
    let start = Arc::new(Barrier::new(SENDS));

    let started = Instant::now();
    let threads: Vec<_> = (0..SENDS)
        .map(|i| {
            let (gateway, start) = (gateway.clone(), start.clone());
            std::thread::spawn(move || {
                // Half carry their own key, half get one from the component.
                let mut message: Value = serde_json::from_str(SMS).unwrap();
                message["text"] = format!("concurrent {i}").into();
                if i % 2 == 0 {
                    message["local_id"] = format!("concurrent-{i}").into();
                }
                start.wait();
                let answer = gateway.post("/v1/message/send", &message.to_string());
                assert_eq!(
                    answer.status,
                    200,
                    "{}",
                    String::from_utf8_lossy(&answer.body)
                );
                answer.json()["local_id"].as_str().unwrap().to_owned()
            })
        })
        .collect();
    let answered: BTreeSet<String> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let elapsed = started.elapsed();

    let stored = sim.messages();
    let keys: BTreeSet<String> = stored.iter().filter_map(|m| m.local_id.clone()).collect();
    assert_eq!(answered.len(), SENDS, "every answer names its own key");
    assert_eq!(stored.len(), SENDS, "every message arrived once");
    assert_eq!(keys, answered);
    let texts: BTreeSet<&str> = stored
        .iter()
        .filter_map(|m| m.body["text"].as_str())
        .collect();
    assert_eq!(texts.len(), SENDS);
    eprintln!("{SENDS} concurrent sends through wasmtime serve took {elapsed:?}");
}

#[test]
fn wasmtime_run_invoke_calls_send_message_against_the_simulator() {
    let sim = simulator();
    let run = |call: &str| {
        let output = Command::new(wasmtime())
            .args(["run", "-S", "http"])
            .arg("--env")
            .arg(format!("HEYMARKET_API_KEY={API_KEY}"))
            .arg("--env")
            .arg(format!("HEYMARKET_BASE_URL={}", sim.base_url()))
            .args(["--invoke", call])
            .arg(wasm())
            .output()
            .expect("wasmtime runs");
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout).unwrap()
    };

    let sent = run(concat!(
        r#"send-message({inbox-id: 101, creator-id: 55, "#,
        r#"phone-number: some("14155551234"), text: some("Hi"), local-id: some("invoke-1")})"#,
    ));
    assert!(sent.starts_with("ok({id: "), "{sent}");
    assert!(sent.contains(r#"local-id: "invoke-1""#), "{sent}");
    assert_eq!(sim.messages().len(), 1);

    let refused =
        run(r#"send-message({inbox-id: 101, creator-id: 55, phone-number: some("+14155551234")})"#);
    assert!(
        refused.starts_with("err(permanent(invalid-message([{field: \"phone_number\""),
        "{refused}"
    );
    assert_eq!(sim.requests().len(), 1);
}

/// The fenced `sh` block that follows `<!-- marker -->` in the README.
fn readme_block(readme: &str, marker: &str) -> String {
    let tag = format!("<!-- {marker} -->");
    let after = readme
        .split_once(&tag)
        .unwrap_or_else(|| panic!("README.md has no {tag}"))
        .1;
    let fence = after.find("```sh\n").expect("a sh block after the marker") + 6;
    let end = after[fence..].find("```").expect("the end of the block");
    after[fence..fence + end].to_owned()
}

/// Replaces the README's example addresses and paths with this test's, making sure
/// each was there to replace.
fn localize(command: &str, replacements: &[(&str, &str)]) -> String {
    let mut command = command.to_owned();
    for (from, to) in replacements {
        assert!(
            command.contains(from),
            "the README command lost {from}:\n{command}"
        );
        command = command.replace(from, to);
    }
    command
}

fn shell(command: &str) -> Command {
    let dir = wasmtime().parent().expect("a directory").to_owned();
    let path = std::env::var_os("PATH").unwrap_or_default();
    let path = std::env::join_paths(std::iter::once(dir).chain(std::env::split_paths(&path)))
        .expect("a PATH");
    let mut shell = Command::new("sh");
    shell.arg("-c").arg(command).env("PATH", path);
    shell
}

#[test]
fn the_readme_gateway_commands_work_as_written() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let section = readme
        .split_once("## HTTP gateway (wasmtime serve)")
        .expect("the gateway section")
        .1;
    // The README's simulator uses the default key; so does this one.
    let sim = Simulator::start(Config::default()).expect("the simulator starts");
    let wasm = wasm();
    let wasm = wasm.to_str().expect("a UTF-8 path");
    let base_url = sim.base_url();
    let wasm_path = "target/wasm32-wasip2/release/heymarket_sms.wasm";

    let serve = readme_block(section, "gateway-serve");
    let gateway = Gateway::spawn(|addr| {
        let addr = addr.to_string();
        let replacements = [
            ("127.0.0.1:8080", addr.as_str()),
            ("http://127.0.0.1:8081", base_url.as_str()),
            (wasm_path, wasm),
        ];
        shell(&format!("exec {}", localize(&serve, &replacements)))
    });
    let addr = gateway.addr.to_string();

    let curl = readme_block(section, "gateway-curl");
    let output = shell(&localize(&curl, &[("127.0.0.1:8080", addr.as_str())]))
        .output()
        .expect("curl runs");
    assert!(output.status.success(), "{output:?}");
    let answer: Value = serde_json::from_slice(&output.stdout).expect("a JSON answer");
    assert!(answer["id"].as_u64().is_some(), "{answer}");
    assert_eq!(sim.messages().len(), 1);

    let invoke = readme_block(section, "gateway-invoke");
    let replacements = [
        ("http://127.0.0.1:8081", base_url.as_str()),
        (wasm_path, wasm),
    ];
    let output = shell(&localize(&invoke, &replacements))
        .output()
        .expect("wasmtime runs");
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && printed.starts_with("ok({id: "),
        "{output:?}"
    );
    assert_eq!(sim.messages().len(), 2);
}
