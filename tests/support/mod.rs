//! Shared by the integration tests: the component built once, a simulator, and a step
//! configured to reach it.

#![allow(
    dead_code,
    unused_imports,
    reason = "each test binary uses a different part of this module"
)]

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

pub use heymarket_simulator::{Config, Fault, Simulator};
pub use heymarket_step::{
    Message, PermanentFailure, SendError, SentMessage, Step, StepConfig, TransientFailure,
    error_kind as kind,
};

pub const API_KEY: &str = "test-api-key-7f3a9c";
pub const SECRET_ID: &str = "test-secret-id";
pub const SECRET_KEY: &str = "test-secret-key-5e1d0b";

/// The component, built once per test binary.
pub fn wasm() -> PathBuf {
    static WASM: OnceLock<PathBuf> = OnceLock::new();
    WASM.get_or_init(|| heymarket_step::component_wasm().expect("the component builds"))
        .clone()
}

/// Compiled components are cached here, so that each test's step loads in milliseconds.
fn cache_dir() -> PathBuf {
    std::env::temp_dir().join("heymarket-sms-test-cache")
}

pub fn simulator() -> Simulator {
    Simulator::start(Config {
        api_keys: vec![API_KEY.into()],
        jwt_secrets: vec![(SECRET_ID.into(), SECRET_KEY.into())],
        denied_inboxes: vec![666],
        ..Config::default()
    })
    .expect("the simulator starts")
}

/// A step that reaches `sim` with the API key, fast backoff, and `extra` settings.
pub fn step(sim: &Simulator, extra: &[(&str, &str)]) -> Step {
    let mut env = vec![
        ("HEYMARKET_API_KEY".to_string(), API_KEY.to_string()),
        ("HEYMARKET_BASE_URL".to_string(), sim.base_url()),
        ("HEYMARKET_BACKOFF_BASE_MS".to_string(), "20".to_string()),
    ];
    for (k, v) in extra {
        env.retain(|(name, _)| name != k);
        if !v.is_empty() {
            env.push((k.to_string(), v.to_string()));
        }
    }
    step_with_env(env)
}

pub fn step_with_env(env: Vec<(String, String)>) -> Step {
    Step::load(
        &wasm(),
        StepConfig {
            env,
            cache_dir: Some(cache_dir()),
            max_instances: 16,
            call_limit: Duration::from_secs(60),
            ..StepConfig::default()
        },
    )
    .expect("the step loads")
}

/// A plain SMS that meets every rule.
pub fn sms() -> Message {
    Message {
        inbox_id: 101,
        creator_id: 55,
        phone_number: Some("14155551234".into()),
        targets: None,
        chat_id: None,
        list_id: None,
        text: Some("Your appointment is confirmed.".into()),
        media_url: None,
        template_id: None,
        local_id: None,
        activity_id: None,
        private: None,
        author: None,
        survey_id: None,
    }
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Sends `message` through `step`, failing the test on a host-side failure.
pub fn send(step: &Step, message: &Message) -> Result<SentMessage, SendError> {
    runtime()
        .block_on(step.send(message))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The field names of an `invalid-message` error.
pub fn fields(error: &SendError) -> Vec<String> {
    match error {
        SendError::Permanent(PermanentFailure::InvalidMessage(errors)) => {
            errors.iter().map(|e| e.field.clone()).collect()
        }
        other => panic!("expected invalid-message, got {other:?}"),
    }
}

/// The `heymarket-step` binary, built once per test binary with the profile of the
/// running tests (`dev` when debug assertions are on, else `bench`, which shares
/// `target/release` without the release profile's whole-program LTO).
pub fn step_cli() -> PathBuf {
    static CLI: OnceLock<PathBuf> = OnceLock::new();
    CLI.get_or_init(|| {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let (profile, dir) = if cfg!(debug_assertions) {
            ("dev", "debug")
        } else {
            ("bench", "release")
        };
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = std::process::Command::new(cargo)
            .current_dir(root)
            .args(["build", "--quiet", "--profile", profile])
            .args(["-p", "heymarket-step", "--bin", "heymarket-step"])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building heymarket-step failed");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"));
        target.join(dir).join("heymarket-step")
    })
    .clone()
}

/// A raw HTTP/1.1 answer: status, headers (names lowercased) and body.
#[derive(Debug, Clone)]
pub struct RawReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawReply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Writes `head` (request line and headers, without the blank line) and `body` to `addr`
/// on a fresh connection, with `connection: close` and a `content-length` added, and
/// reads the whole answer. Hand-made so that tests can send bytes no client library
/// would.
pub fn raw_request(
    addr: std::net::SocketAddr,
    head: &str,
    body: &[u8],
) -> std::io::Result<RawReply> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut request = format!(
        "{head}\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    stream.write_all(&request)?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    parse_reply(&answer).ok_or_else(|| {
        std::io::Error::other(format!(
            "not an HTTP answer: {:?}",
            String::from_utf8_lossy(&answer[..answer.len().min(200)])
        ))
    })
}

/// Parses a complete HTTP/1.1 answer read until the connection closed.
fn parse_reply(answer: &[u8]) -> Option<RawReply> {
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&answer[..split]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = answer[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    if chunked {
        body = dechunk(&body)?;
    }
    Some(RawReply {
        status,
        headers,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

/// Posts a JSON `body` to the simulator's send endpoint with the API key.
pub fn post_to_simulator(sim: &Simulator, body: &[u8]) -> RawReply {
    raw_request(
        sim.addr(),
        &format!(
            "POST /v1/message/send HTTP/1.1\r\nhost: {}\r\nauthorization: Bearer {API_KEY}\r\n\
             content-type: application/json",
            sim.addr()
        ),
        body,
    )
    .expect("the simulator answers")
}
