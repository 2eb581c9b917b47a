//! A fuzz harness (proptest, many cases, bounded time) over the HTTP gateway's request
//! handling, called natively through its pure entry point `gateway::handle`: arbitrary
//! methods, paths, header names and bytes, bodies (JSON near the message's shape,
//! broken JSON, lone-surrogate escapes, arbitrary bytes, bodies too large, slow or cut
//! short), gateway modes and upstream answers.
//!
//! For every request: no panic; one complete answer whose `content-length` is its body's;
//! every error an RFC 9457 `application/problem+json` object with a known `type`, the
//! same `status` and a title and detail; every success a JSON object; and nothing in
//! the answer that holds the gateway token, the upstream credential or a signed token
//! (the fake upstream echoes the `Authorization` it receives).
//!
//! A sample of the same requests goes through the real component under `wasmtime serve`
//! in `tests/gateway_campaign.rs`.

use std::cell::{Cell, RefCell};
use std::time::Duration;

use heymarket_sms::gateway::{self, Body, Head};
use heymarket_sms::message::Message;
use heymarket_sms::send::{Io, Outcome, Request, Response};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestRunner};

/// How many requests the harness tries.
const CASES: u32 = 10_000;

const GATEWAY_TOKEN: &str = "fuzz-gateway-token-8Kq2";
const API_KEY: &str = "fuzz-upstream-key-Rj51";
const SECRET_ID: &str = "fuzz-secret-id";
const SECRET_KEY: &str = "fuzz-secret-key-Tz07";

/// A fake upstream: answers from a script, echoing the credential when told to, and
/// counting what it was asked.
struct Upstream {
    script: Vec<Reply>,
    echo: bool,
    clock: Duration,
    performed: usize,
    authorizations: RefCell<Vec<String>>,
}

/// One scripted upstream answer.
#[derive(Debug, Clone)]
enum Reply {
    Status {
        status: u16,
        body: Vec<u8>,
        retry_after: Option<String>,
    },
    Timeout,
    Connection,
    Refused,
}

impl Io for Upstream {
    fn monotonic(&mut self) -> Duration {
        self.clock
    }
    fn unix_time(&mut self) -> u64 {
        1_800_000_000 + self.clock.as_secs()
    }
    fn random_u64(&mut self) -> u64 {
        0x5eed_0000 + self.performed as u64
    }
    fn sleep(&mut self, duration: Duration) {
        self.clock += duration;
    }
    fn perform(&mut self, request: &Request<'_>, timeout: Duration) -> Outcome {
        let authorization = request.authorization.expose().to_owned();
        self.authorizations.borrow_mut().push(authorization.clone());
        let reply = self
            .script
            .get(self.performed)
            .cloned()
            .unwrap_or(Reply::Status {
                status: 200,
                body: br#"{"id":9,"date":"2026-01-01T00:00:00Z"}"#.to_vec(),
                retry_after: None,
            });
        self.performed += 1;
        match reply {
            Reply::Status {
                status,
                mut body,
                retry_after,
            } => {
                if self.echo {
                    body.extend_from_slice(authorization.as_bytes());
                }
                Outcome::Response(Response {
                    status,
                    request_id: Some(if self.echo {
                        authorization
                    } else {
                        "req-fuzz".into()
                    }),
                    retry_after,
                    location: None,
                    body,
                })
            }
            Reply::Timeout => {
                self.clock += timeout;
                Outcome::Timeout("slow".into())
            }
            Reply::Connection => Outcome::Connection("reset".into()),
            Reply::Refused => Outcome::Refused("denied".into()),
        }
    }
}

/// How the gateway is configured.
#[derive(Debug, Clone, Copy)]
enum Mode {
    TokenWithApiKey,
    TokenWithJwt,
    Open,
    Refusing,
    TokenWithoutCredentials,
}

fn env(mode: Mode) -> impl Fn(&str) -> Option<String> {
    move |name| {
        let value = match (mode, name) {
            (Mode::Open, "HEYMARKET_GATEWAY_ALLOW_UNAUTHENTICATED") => "1",
            (Mode::Open | Mode::TokenWithApiKey, "HEYMARKET_API_KEY") => API_KEY,
            (Mode::TokenWithJwt, "HEYMARKET_SECRET_ID") => SECRET_ID,
            (Mode::TokenWithJwt, "HEYMARKET_SECRET_KEY") => SECRET_KEY,
            (Mode::Refusing | Mode::Open, "HEYMARKET_GATEWAY_TOKEN") => return None,
            (_, "HEYMARKET_GATEWAY_TOKEN") => GATEWAY_TOKEN,
            (_, "HEYMARKET_BASE_URL") => "http://127.0.0.1:9",
            (_, "HEYMARKET_BACKOFF_BASE_MS") => "10",
            _ => return None,
        };
        Some(value.to_owned())
    }
}

/// One generated request and the world it meets.
#[derive(Debug, Clone)]
struct Case {
    method: String,
    path: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Body,
    mode: Mode,
    script: Vec<Reply>,
    echo: bool,
}

fn method() -> BoxedStrategy<String> {
    prop_oneof![
        16 => Just("POST".to_string()),
        2 => Just("GET".to_string()),
        1 => prop::sample::select(vec!["PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "post"])
            .prop_map(str::to_string),
        1 => any::<String>(),
    ]
    .boxed()
}

fn path() -> BoxedStrategy<String> {
    prop_oneof![
        5 => Just("/v1/message/send".to_string()),
        3 => Just("/v1/message/preview".to_string()),
        1 => Just("/healthz".to_string()),
        1 => "/v1/message/(send|preview)[?#][ -~]{0,30}",
        1 => "/[ -~]{0,60}",
        1 => any::<String>(),
    ]
    .boxed()
}

fn header() -> BoxedStrategy<(String, Vec<u8>)> {
    let name = prop_oneof![
        4 => prop::sample::select(vec![
            "content-type",
            "Content-Type",
            "authorization",
            "AUTHORIZATION",
            "content-length",
            "transfer-encoding",
            "x-request-id",
        ])
        .prop_map(str::to_string),
        1 => "[a-zA-Z0-9-]{1,20}",
    ];
    let value = prop_oneof![
        3 => Just(b"application/json".to_vec()),
        1 => Just(b"application/json; charset=utf-8".to_vec()),
        1 => Just(b"text/plain".to_vec()),
        3 => Just(format!("Bearer {GATEWAY_TOKEN}").into_bytes()),
        1 => Just(format!("bearer   {GATEWAY_TOKEN}").into_bytes()),
        1 => Just(format!("Bearer {GATEWAY_TOKEN}x").into_bytes()),
        1 => Just(b"Bearer ".to_vec()),
        1 => "[0-9]{1,25}".prop_map(String::into_bytes),
        2 => proptest::collection::vec(any::<u8>(), 0..80),
    ];
    (name, value).boxed()
}

/// Headers that usually let the request through, plus noise.
fn headers() -> BoxedStrategy<Vec<(String, Vec<u8>)>> {
    let usual = vec![
        ("content-type".to_string(), b"application/json".to_vec()),
        (
            "authorization".to_string(),
            format!("Bearer {GATEWAY_TOKEN}").into_bytes(),
        ),
    ];
    prop_oneof![
        8 => proptest::collection::vec(header(), 0..3).prop_map(move |mut extra| {
            let mut all = usual.clone();
            all.append(&mut extra);
            all
        }),
        2 => proptest::collection::vec(header(), 0..6),
    ]
    .boxed()
}

/// A message near the rules, as JSON.
fn message_json() -> BoxedStrategy<Vec<u8>> {
    (
        prop_oneof![Just(0u64), 1..1000u64, any::<u64>()],
        prop_oneof![
            4 => "[1-9][0-9]{6,14}",
            1 => "\\+?[0-9 -]{0,16}",
        ],
        proptest::option::weighted(0.9, "\\PC{1,80}"),
        proptest::option::weighted(0.2, "[A-Za-z0-9-]{1,20}"),
    )
        .prop_map(|(inbox_id, phone, text, local_id)| {
            let message = Message {
                inbox_id,
                creator_id: 55,
                phone_number: Some(phone),
                text,
                local_id,
                ..Message::default()
            };
            serde_json::to_vec(&message).expect("a message serializes")
        })
        .boxed()
}

fn body() -> BoxedStrategy<Body> {
    let json_like = prop_oneof![
        6 => message_json(),
        // A byte changed, cut or inserted somewhere in a message.
        2 => (message_json(), any::<prop::sample::Index>(), any::<u8>(), 0..3u8).prop_map(
            |(mut bytes, at, byte, how)| {
                let i = at.index(bytes.len().max(1)).min(bytes.len());
                match how {
                    0 => bytes.insert(i, byte),
                    1 => bytes.truncate(i),
                    _ if i < bytes.len() => bytes[i] = byte,
                    _ => bytes.push(byte),
                }
                bytes
            }
        ),
        // Escapes a host cannot pass through the canonical ABI, but JSON can carry.
        1 => prop::sample::select(vec![
            r#"{"inbox_id":1,"creator_id":2,"phone_number":"14155551234","text":"\ud800"}"#,
            r#"{"inbox_id":1,"creator_id":2,"phone_number":"14155551234","text":"a\udfffb"}"#,
            r#"{"inbox_id":1,"creator_id":2,"phone_number":"\ud83d","text":"x"}"#,
            r#"{"inbox_id":1,"creator_id":2,"phone_number":"14155551234","text":"\u0000"}"#,
            r#"{"inbox_id":1,"creator_id":2,"phone_number":"14155551234","text":"\ud83d\ude00"}"#,
            r#"{"inbox_id":1,"inbox_id":2,"creator_id":2,"phone_number":"14155551234","text":"x"}"#,
            r#"{"inbox_id":1e3,"creator_id":2,"phone_number":"14155551234","text":"x"}"#,
            r#"{"inbox_id":99999999999999999999999,"creator_id":2,"chat_id":1,"text":"x"}"#,
            r#"{"inbox_id":-1,"creator_id":2,"chat_id":1,"text":"x"}"#,
            r#"{"inbox_id":"1","creator_id":2,"chat_id":1,"text":"x"}"#,
            r#"{"inbox_id":1,"creator_id":2,"chat_id":1,"text":"x","extra":true}"#,
            r#"{"inbox_id":1,"creator_id":2,"chat_id":1,"text":null}"#,
            r#"[{"inbox_id":1}]"#,
            "null",
            "",
            "\u{feff}{}",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        1 => (1usize..5000).prop_map(|depth| {
            let mut nested = "[".repeat(depth).into_bytes();
            nested.extend(std::iter::repeat_n(b']', depth));
            nested
        }),
        1 => proptest::collection::vec(any::<u8>(), 0..300),
    ];
    prop_oneof![
        12 => json_like.prop_map(Body::Complete),
        1 => Just(Body::TooLarge),
        1 => Just(Body::TimedOut),
        1 => any::<String>().prop_map(Body::Broken),
    ]
    .boxed()
}

fn upstream_reply() -> BoxedStrategy<Reply> {
    prop_oneof![
        4 => Just(Reply::Status {
            status: 200,
            body: br#"{"id":9,"date":"2026-01-01T00:00:00Z","gallery_url":null}"#.to_vec(),
            retry_after: None,
        }),
        3 => (
            prop::sample::select(vec![400u16, 401, 403, 404, 422, 429, 500, 502, 503, 504, 302]),
            "[ -~]{0,40}",
        )
            .prop_map(|(status, body)| Reply::Status {
                status,
                body: body.into_bytes(),
                retry_after: None,
            }),
        2 => (100u16..600, proptest::collection::vec(any::<u8>(), 0..200),
              proptest::option::of(prop_oneof!["[0-9]{1,4}", "[ -~]{0,30}"]))
            .prop_map(|(status, body, retry_after)| Reply::Status { status, body, retry_after }),
        1 => Just(Reply::Timeout),
        1 => Just(Reply::Connection),
        1 => Just(Reply::Refused),
    ]
    .boxed()
}

fn case() -> impl Strategy<Value = Case> {
    prop_oneof![wild_case(), upstream_case()]
}

/// A well-formed send whose upstream misbehaves the same way on every attempt.
fn upstream_case() -> BoxedStrategy<Case> {
    (
        prop_oneof![Just(Mode::TokenWithApiKey), Just(Mode::TokenWithJwt)],
        upstream_reply(),
        any::<bool>(),
        proptest::option::of("[A-Za-z0-9-]{1,20}"),
    )
        .prop_map(|(mode, reply, echo, local_id)| {
            let message = Message {
                inbox_id: 101,
                creator_id: 55,
                phone_number: Some("14155551234".into()),
                text: Some("hello".into()),
                local_id,
                ..Message::default()
            };
            Case {
                method: "POST".into(),
                path: "/v1/message/send".into(),
                headers: vec![
                    ("content-type".to_string(), b"application/json".to_vec()),
                    (
                        "authorization".to_string(),
                        format!("Bearer {GATEWAY_TOKEN}").into_bytes(),
                    ),
                ],
                body: Body::Complete(serde_json::to_vec(&message).unwrap()),
                mode,
                script: vec![reply; 3],
                echo,
            }
        })
        .boxed()
}

fn wild_case() -> BoxedStrategy<Case> {
    (
        method(),
        path(),
        headers(),
        body(),
        prop_oneof![
            4 => Just(Mode::TokenWithApiKey),
            2 => Just(Mode::TokenWithJwt),
            1 => Just(Mode::Open),
            1 => Just(Mode::Refusing),
            1 => Just(Mode::TokenWithoutCredentials),
        ],
        proptest::collection::vec(upstream_reply(), 0..4),
        any::<bool>(),
    )
        .prop_map(|(method, path, headers, body, mode, script, echo)| Case {
            method,
            path,
            headers,
            body,
            mode,
            script,
            echo,
        })
        .boxed()
}

/// The problem types the gateway may answer with.
fn known_type(kind: &str) -> bool {
    gateway::title(kind) != "Error"
}

fn check(case: &Case) -> Result<(), TestCaseError> {
    let mut upstream = Upstream {
        script: case.script.clone(),
        echo: case.echo,
        clock: Duration::ZERO,
        performed: 0,
        authorizations: RefCell::new(Vec::new()),
    };
    let head = Head {
        method: &case.method,
        path: &case.path,
        headers: &case.headers,
    };
    let reads = Cell::new(0);
    let reply = gateway::handle(
        &head,
        |cap| {
            reads.set(reads.get() + 1);
            match &case.body {
                Body::Complete(bytes) if bytes.len() > cap => Body::TooLarge,
                other => other.clone(),
            }
        },
        env(case.mode),
        &mut upstream,
    );

    prop_assert!(
        (200..600).contains(&reply.status),
        "status {}",
        reply.status
    );
    prop_assert!(reads.get() <= 1);
    prop_assert!(
        upstream.performed <= 10,
        "{} upstream requests",
        upstream.performed
    );
    let length = reply.header("content-length").map(str::to_owned);
    prop_assert_eq!(length, Some(reply.body.len().to_string()));
    let body: serde_json::Value = serde_json::from_slice(&reply.body)
        .map_err(|e| TestCaseError::fail(format!("the answer is not JSON: {e}")))?;
    prop_assert!(
        body.is_object(),
        "the answer is not a JSON object: {}",
        body
    );
    if reply.status >= 400 {
        prop_assert_eq!(
            reply.header("content-type"),
            Some("application/problem+json")
        );
        let kind = body["type"]
            .as_str()
            .and_then(|t| t.strip_prefix(gateway::PROBLEM_TYPE_PREFIX))
            .ok_or_else(|| TestCaseError::fail(format!("no problem type: {body}")))?;
        prop_assert!(known_type(kind), "unknown problem type {}", kind);
        prop_assert_eq!(&body["status"], &serde_json::Value::from(reply.status));
        prop_assert!(body["title"].as_str().is_some_and(|t| !t.is_empty()));
        prop_assert!(body["detail"].as_str().is_some_and(|t| !t.is_empty()));
        if reply.status == 405 {
            prop_assert!(reply.header("allow").is_some(), "405 without Allow");
        }
        if reply.status == 401 && kind.starts_with("gateway.") {
            prop_assert!(reply.header("www-authenticate").is_some());
        }
        if reply.status == 429 {
            prop_assert!(
                reply.header("retry-after").is_some(),
                "429 without Retry-After"
            );
        }
    } else {
        prop_assert_eq!(reply.header("content-type"), Some("application/json"));
    }

    let mut seen = String::from_utf8_lossy(&reply.body).into_owned();
    for (name, value) in &reply.headers {
        seen.push_str(&format!("\n{name}: {value}"));
    }
    // The gateway token may come back only to a caller who sent it (say, in a
    // Content-Type the answer quotes); the upstream credentials never.
    let mut sent = format!("{} {}", case.method, case.path).into_bytes();
    for (name, value) in &case.headers {
        sent.extend_from_slice(name.as_bytes());
        sent.extend_from_slice(value);
    }
    match &case.body {
        Body::Complete(bytes) => sent.extend_from_slice(bytes),
        Body::Broken(text) => sent.extend_from_slice(text.as_bytes()),
        Body::TooLarge | Body::TimedOut => {}
    }
    let caller_sent_token = String::from_utf8_lossy(&sent).contains(GATEWAY_TOKEN);
    let mut secrets = vec![API_KEY.to_string(), SECRET_KEY.to_string()];
    if !caller_sent_token {
        secrets.push(GATEWAY_TOKEN.to_string());
    }
    for authorization in upstream.authorizations.borrow().iter() {
        secrets.push(authorization.trim_start_matches("Bearer ").to_string());
    }
    for secret in &secrets {
        prop_assert!(
            !seen.contains(secret.as_str()),
            "the answer shows {}: {}",
            secret,
            seen
        );
    }
    Ok(())
}

#[test]
fn arbitrary_requests_never_panic_and_always_get_one_well_formed_answer_without_secrets() {
    let tried = Cell::new(0u32);
    let statuses = RefCell::new(std::collections::BTreeMap::<u16, u32>::new());
    let mut runner = TestRunner::new(RunnerConfig {
        cases: CASES,
        failure_persistence: None,
        max_shrink_iters: 2000,
        ..RunnerConfig::default()
    });
    let started = std::time::Instant::now();
    runner
        .run(&case(), |case| {
            tried.set(tried.get() + 1);
            check(&case)?;
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    // Count the answers of a fresh sample, to show the harness reaches every part.
    let mut sampler = TestRunner::deterministic();
    for _ in 0..1000 {
        let case = case().new_tree(&mut sampler).unwrap().current();
        let mut upstream = Upstream {
            script: case.script.clone(),
            echo: case.echo,
            clock: Duration::ZERO,
            performed: 0,
            authorizations: RefCell::new(Vec::new()),
        };
        let head = Head {
            method: &case.method,
            path: &case.path,
            headers: &case.headers,
        };
        let reply = gateway::handle(&head, |_| case.body.clone(), env(case.mode), &mut upstream);
        *statuses.borrow_mut().entry(reply.status).or_default() += 1;
    }
    let statuses = statuses.into_inner();
    println!(
        "gateway fuzz: {} requests in {:.1} s; answers of a 1000-request sample by status: \
         {statuses:?}",
        tried.get(),
        started.elapsed().as_secs_f64()
    );
    for status in [200, 400, 401, 404, 405, 413, 415, 429, 500, 502, 504] {
        assert!(
            statuses.contains_key(&status),
            "the sample never reached a {status}: {statuses:?}"
        );
    }
}
