//! Secrets never show: every error path of the real component, run with distinctive
//! credentials, and everything observable scanned for them.
//!
//! Observable here means: the returned value (`Debug` and the hosts' one-line
//! `describe`), the host's failure (`CallError`, with the guest's stdout and stderr),
//! and, in the tests of the tools built on the component, their stdout, stderr and
//! files. Scanned for: the API key, the secret key, every signed token the simulator
//! received (and each token's signature alone), and any 12-character piece of the key
//! or secret key, so that a secret cut in half by a length cap is caught too.
//!
//! Many paths are made by a simulator scripted to echo the credential back, in the body,
//! in Heymarket's `message`, in `X-Request-Id`, in a redirect's `Location` and across
//! the length caps, which is what proves the redaction works.

mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use heymarket_sms::settings::Secret;
use heymarket_step::{CallError, StepConfig, describe};
use support::*;

const KEY: &str = "sekret-api-key-Zq81xK9wLm";
const SECRET_ID_: &str = "sekret-id-Pf02";
const SECRET_KEY_: &str = "sekret-key-Hw93mVc7Rt";

/// Which credential the component is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    ApiKey,
    Jwt,
}

const KINDS: [Kind; 2] = [Kind::ApiKey, Kind::Jwt];

fn credentials(kind: Kind) -> Vec<(String, String)> {
    match kind {
        Kind::ApiKey => vec![("HEYMARKET_API_KEY".into(), KEY.into())],
        Kind::Jwt => vec![
            ("HEYMARKET_SECRET_ID".into(), SECRET_ID_.into()),
            ("HEYMARKET_SECRET_KEY".into(), SECRET_KEY_.into()),
        ],
    }
}

/// A simulator that knows the distinctive credentials, with no rate limit.
fn knowing_simulator() -> Simulator {
    Simulator::start(Config {
        api_keys: vec![KEY.into()],
        jwt_secrets: vec![(SECRET_ID_.into(), SECRET_KEY_.into())],
        denied_inboxes: vec![666],
        rate_limit_per_minute: 0,
        ..Config::default()
    })
    .expect("the simulator starts")
}

fn env_for(kind: Kind, base_url: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = credentials(kind);
    env.push(("HEYMARKET_BASE_URL".into(), base_url.into()));
    env.push(("HEYMARKET_BACKOFF_BASE_MS".into(), "5".into()));
    env.push(("HEYMARKET_TIMEOUT_MS".into(), "300".into()));
    for (k, v) in extra {
        env.retain(|(name, _)| name != k);
        env.push((k.to_string(), v.to_string()));
    }
    env
}

/// Every token the component could sign in the next minute, under both claim orders,
/// so a scripted answer can echo the very token it is sent.
fn predicted_tokens() -> Vec<String> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let key = Secret::new(SECRET_KEY_.into());
    (now.saturating_sub(5)..now + 60)
        .flat_map(|t| {
            [
                heymarket_sms::auth::sign_token(SECRET_ID_, &key, t),
                heymarket_simulator::sign_jwt(SECRET_ID_, SECRET_KEY_, t as i64),
            ]
        })
        .collect()
}

/// What the credential looks like on the wire, as a server would echo it.
fn echo(kind: Kind) -> String {
    match kind {
        Kind::ApiKey => format!("Bearer {KEY}"),
        Kind::Jwt => predicted_tokens()
            .iter()
            .map(|t| format!("Bearer {t}"))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// Everything that must never be seen.
struct Secrets {
    whole: Vec<String>,
    pieces: Vec<String>,
}

impl Secrets {
    fn new(tokens: &[String]) -> Secrets {
        let mut whole = vec![KEY.to_string(), SECRET_KEY_.to_string()];
        for token in tokens {
            whole.push(token.clone());
            if let Some((_, signature)) = token.rsplit_once('.') {
                whole.push(signature.to_string());
            }
        }
        let mut pieces = Vec::new();
        for secret in [KEY, SECRET_KEY_] {
            for start in 0..=secret.len() - 12 {
                pieces.push(secret[start..start + 12].to_string());
            }
        }
        Secrets { whole, pieces }
    }

    /// The secrets (or pieces) found in `text`.
    fn found_in(&self, text: &str) -> Vec<String> {
        self.whole
            .iter()
            .chain(&self.pieces)
            .filter(|s| text.contains(s.as_str()))
            .cloned()
            .collect()
    }
}

/// The tokens the simulator received, without `Bearer `.
fn tokens_received(sim: &Simulator) -> Vec<String> {
    sim.requests()
        .iter()
        .filter_map(|r| r.header("authorization"))
        .filter_map(|h| h.strip_prefix("Bearer "))
        .filter(|t| t.matches('.').count() == 2)
        .map(str::to_string)
        .collect()
}

/// One error path.
struct Path {
    name: String,
    kind: Kind,
    /// The call's observable text, or the reason it could not run.
    observed: Vec<(String, String)>,
    tokens: Vec<String>,
    /// The error kind returned, for the coverage check.
    outcome: String,
}

fn observe(
    name: impl Into<String>,
    kind: Kind,
    sim: Option<&Simulator>,
    result: Result<Result<SentMessage, SendError>, CallError>,
) -> Path {
    let mut observed = Vec::new();
    let outcome = match &result {
        Ok(Ok(sent)) => {
            observed.push(("the sent message".to_string(), format!("{sent:?}")));
            "sent".to_string()
        }
        Ok(Err(error)) => {
            observed.push(("the error's Debug".to_string(), format!("{error:?}")));
            observed.push(("describe(error)".to_string(), describe(error)));
            kind_of(error).to_string()
        }
        Err(call) => {
            observed.push(("the CallError's Display".to_string(), call.to_string()));
            observed.push(("the CallError's Debug".to_string(), format!("{call:?}")));
            observed.push(("the guest's output".to_string(), call.guest_output.clone()));
            "trap".to_string()
        }
    };
    Path {
        name: name.into(),
        kind,
        observed,
        tokens: sim.map(tokens_received).unwrap_or_default(),
        outcome,
    }
}

fn kind_of(error: &SendError) -> &'static str {
    kind(error)
}

fn load(env: Vec<(String, String)>, tweak: impl FnOnce(&mut StepConfig)) -> Step {
    let mut config = StepConfig {
        env,
        cache_dir: Some(std::env::temp_dir().join("heymarket-sms-test-cache")),
        max_instances: 4,
        call_limit: Duration::from_secs(30),
        ..StepConfig::default()
    };
    tweak(&mut config);
    Step::load(&wasm(), config).expect("the step loads")
}

fn respond(status: u16, headers: Vec<(String, String)>, body: String) -> Fault {
    Fault::Respond {
        status,
        headers,
        body,
    }
}

/// Runs every error path the component can reach with credential `kind`.
fn component_paths(kind: Kind) -> Vec<Path> {
    let rt = runtime();
    let mut paths = Vec::new();
    let sim = knowing_simulator();
    let step = load(env_for(kind, &sim.base_url(), &[]), |_| {});
    let echoed = echo(kind);
    let json_echo = format!(r#"{{"error":"bad_auth","message":"you sent {echoed}"}}"#);

    // Answers scripted to echo the credential, one per error case with an answer.
    let one = |fault: Fault| vec![fault];
    let three = |fault: Fault| vec![fault.clone(), fault.clone(), fault];
    let scripted: Vec<(&str, Vec<Fault>)> = vec![
        (
            "401 echoing the credential",
            one(respond(401, vec![], json_echo.clone())),
        ),
        (
            "403 echoing the credential",
            one(respond(403, vec![], json_echo.clone())),
        ),
        (
            "400 echoing the credential",
            one(respond(400, vec![], json_echo.clone())),
        ),
        (
            "404 echoing in plain text",
            one(respond(404, vec![], echoed.clone())),
        ),
        (
            "429 echoing, every attempt",
            three(respond(429, vec![], json_echo.clone())),
        ),
        (
            "500 echoing, every attempt",
            three(respond(500, vec![], json_echo.clone())),
        ),
        (
            "500 after storing, echoing",
            three(Fault::RespondAfterStore {
                status: 500,
                body: json_echo.clone(),
            }),
        ),
        (
            "200 that is not JSON, echoing",
            one(respond(200, vec![], echoed.clone())),
        ),
        (
            "200 with the id mistyped, echoing",
            one(respond(
                200,
                vec![],
                format!(r#"{{"id":"{echoed}","date":"x"}}"#),
            )),
        ),
        (
            "a redirect to a URL holding the credential",
            one(respond(
                302,
                vec![(
                    "Location".into(),
                    format!(
                        "https://evil.example/steal?auth={}",
                        echoed.replace(' ', "+")
                    ),
                )],
                String::new(),
            )),
        ),
        (
            "X-Request-Id echoing the credential",
            one(respond(
                400,
                vec![("X-Request-Id".into(), echoed.replace(' ', "_"))],
                "{}".into(),
            )),
        ),
        (
            "a secret cut by the 4 KiB error-body cap",
            one(respond(
                400,
                vec![],
                format!("{}{echoed}", "x".repeat(4096 - 21)),
            )),
        ),
        (
            "a secret cut by the 512-byte message cap",
            one(respond(
                400,
                vec![],
                format!(r#"{{"message":"{}{echoed}"}}"#, "y".repeat(512 - 21)),
            )),
        ),
        (
            "a secret cut by the 256-byte header cap",
            one(respond(
                503,
                vec![(
                    "X-Request-Id".into(),
                    format!("{}{}", "r".repeat(256 - 21), echoed.replace(' ', "_")),
                )],
                String::new(),
            )),
        ),
        (
            "a body cut short, echoing",
            three(Fault::RawAfterStore(
                format!("HTTP/1.1 500 Oops\r\ncontent-length: 9999\r\n\r\n{echoed}").into_bytes(),
            )),
        ),
        (
            "a connection dropped before storing",
            three(Fault::DropBeforeStore),
        ),
        (
            "a connection dropped after storing",
            three(Fault::DropAfterStore),
        ),
        (
            "answers slower than the timeout",
            three(Fault::Delay(Duration::from_millis(700))),
        ),
        (
            "a 200 echoing in every field",
            one(respond(
                200,
                vec![("X-Request-Id".into(), echoed.replace(' ', "_"))],
                format!(
                    r#"{{"id":5,"date":"{echoed}","gallery_url":"https://g.example/{}"}}"#,
                    echoed.replace(' ', "/")
                ),
            )),
        ),
    ];
    for (name, faults) in scripted {
        sim.reset();
        sim.script(faults);
        let result = rt.block_on(step.send(&sms()));
        paths.push(observe(name, kind, Some(&sim), result));
    }

    // The simulator's own refusals.
    sim.reset();
    let result = rt.block_on(step.send(&Message {
        inbox_id: 666,
        ..sms()
    }));
    paths.push(observe(
        "403 for an inbox without access",
        kind,
        Some(&sim),
        result,
    ));
    let stranger = Simulator::start(Config {
        api_keys: vec!["someone-else".into()],
        jwt_secrets: vec![("someone".into(), "else".into())],
        ..Config::default()
    })
    .unwrap();
    let to_stranger = load(env_for(kind, &stranger.base_url(), &[]), |_| {});
    let result = rt.block_on(to_stranger.send(&sms()));
    paths.push(observe(
        "401 from a server that does not know the credential",
        kind,
        Some(&stranger),
        result,
    ));

    // Paths that end before the network.
    let result = rt.block_on(step.send(&Message {
        phone_number: Some("+1".into()),
        ..sms()
    }));
    paths.push(observe("an invalid message", kind, None, result));
    let result = rt.block_on(step.preview(&Message {
        text: None,
        ..sms()
    }));
    paths.push(observe(
        "an invalid preview",
        kind,
        None,
        result.map(|r| r.map(|_| unreachable_sent())),
    ));
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let refused = load(env_for(kind, &format!("http://{closed}"), &[]), |_| {});
    let result = rt.block_on(refused.send(&sms()));
    paths.push(observe("a refused connection", kind, None, result));
    let elsewhere = load(env_for(kind, &sim.base_url(), &[]), |c| {
        c.allowed_authorities = vec!["127.0.0.2:1".into()];
    });
    let result = rt.block_on(elsewhere.send(&sms()));
    paths.push(observe("a host outside the sandbox", kind, None, result));

    // Configuration errors, the base URL rule first, with this credential kind.
    for (name, url) in [
        ("plain http to a remote host", "http://api.heymarket.com"),
        ("plain http to a private address", "http://10.1.2.3:8080"),
        ("a base URL with a non-http scheme", "ftp://127.0.0.1:21"),
        (
            "a base URL holding the API key",
            &*format!("https://user:{KEY}@api.heymarket.com"),
        ),
        (
            "a base URL holding the secret key",
            &*format!("https://{SECRET_ID_}:{SECRET_KEY_}@api.heymarket.com"),
        ),
    ] {
        let step = load(env_for(kind, url, &[]), |c| {
            c.allowed_authorities = vec!["127.0.0.1:9".into()];
        });
        let result = rt.block_on(step.send(&sms()));
        paths.push(observe(name, kind, None, result));
    }
    let step = load(
        env_for(kind, &sim.base_url(), &[("HEYMARKET_TIMEOUT_MS", "soon")]),
        |_| {},
    );
    let result = rt.block_on(step.send(&sms()));
    paths.push(observe("an unreadable setting", kind, None, result));
    let half = match kind {
        Kind::ApiKey => vec![("HEYMARKET_API_KEY".to_string(), " ".to_string())],
        Kind::Jwt => vec![("HEYMARKET_SECRET_KEY".to_string(), SECRET_KEY_.to_string())],
    };
    let mut env = half;
    env.push(("HEYMARKET_BASE_URL".into(), sim.base_url()));
    let step = load(env, |_| {});
    let result = rt.block_on(step.send(&sms()));
    paths.push(observe("half a credential", kind, None, result));

    // The sandbox stopping the guest: a trap with the guest's output attached.
    sim.reset();
    sim.script([Fault::Delay(Duration::from_secs(3))]);
    let slow = load(
        env_for(kind, &sim.base_url(), &[("HEYMARKET_TIMEOUT_MS", "5000")]),
        |c| {
            c.call_limit = Duration::from_millis(300);
        },
    );
    let result = rt.block_on(slow.send(&sms()));
    paths.push(observe(
        "a call stopped by the host's time limit",
        kind,
        Some(&sim),
        result,
    ));
    paths
}

/// `preview` returns another type; its errors are what matter here.
fn unreachable_sent() -> SentMessage {
    panic!("an invalid preview was accepted")
}

fn assert_clean(paths: &[Path]) {
    let mut leaks = Vec::new();
    for path in paths {
        let secrets = Secrets::new(&path.tokens);
        for (what, text) in &path.observed {
            let found = secrets.found_in(text);
            if !found.is_empty() {
                leaks.push(format!(
                    "{} ({:?}): {what} shows {found:?}: {text:.600}",
                    path.name, path.kind
                ));
            }
        }
    }
    assert!(
        leaks.is_empty(),
        "{} leaks in {} paths:\n{}",
        leaks.len(),
        paths.len(),
        leaks.join("\n")
    );
}

#[test]
fn no_error_path_of_the_component_shows_a_key_a_secret_or_a_signed_token() {
    let mut paths = Vec::new();
    for kind in KINDS {
        paths.extend(component_paths(kind));
    }
    // The echoing paths prove something only if the token echoed is the token sent.
    let predicted = predicted_tokens();
    for path in paths.iter().filter(|p| p.kind == Kind::Jwt) {
        for token in &path.tokens {
            assert!(
                predicted.contains(token),
                "{}: the token sent was not among those echoed",
                path.name
            );
        }
    }
    let mut outcomes: Vec<&str> = paths.iter().map(|p| p.outcome.as_str()).collect();
    outcomes.sort();
    outcomes.dedup();
    for expected in [
        "permanent.invalid-message",
        "permanent.configuration",
        "permanent.unauthorized",
        "permanent.forbidden",
        "permanent.rejected",
        "transient.rate-limited",
        "transient.server",
        "transient.timeout",
        "transient.connection",
        "transient.invalid-response",
        "trap",
    ] {
        assert!(
            outcomes.contains(&expected),
            "no path ended in {expected}: {outcomes:?}"
        );
    }
    println!("secret paths: {}", paths.len());
    assert_clean(&paths);
}

#[test]
fn a_base_url_the_host_cannot_parse_is_refused_without_repeating_a_credential_in_it() {
    for url in [
        format!("https://user:{KEY} @api.heymarket.com"),
        format!("https://user:{KEY}@api.heymarket.com:99999"),
        format!("https://{SECRET_ID_}:{SECRET_KEY_}@/"),
    ] {
        let mut env = credentials(Kind::ApiKey);
        env.push(("HEYMARKET_BASE_URL".into(), url.clone()));
        let loaded = Step::load(
            &wasm(),
            StepConfig {
                env,
                ..StepConfig::default()
            },
        );
        let text = match loaded {
            Ok(step) => {
                let result = runtime().block_on(step.send(&sms()));
                observe(url.clone(), Kind::ApiKey, None, result)
                    .observed
                    .into_iter()
                    .map(|(_, t)| t)
                    .collect::<Vec<_>>()
                    .join("\n")
            }
            Err(error) => format!("{error:#} {error:?}"),
        };
        let found = Secrets::new(&[]).found_in(&text);
        assert!(
            found.is_empty(),
            "{url}: the refusal shows {found:?}: {text}"
        );
    }
}

#[test]
fn plain_http_to_a_remote_host_is_refused_with_either_credential_before_any_request() {
    let rt = runtime();
    for kind in KINDS {
        for url in [
            "http://api.heymarket.com",
            "http://203.0.113.7",
            "http://[2001:db8::1]:80",
            "http://127.0.0.1.nip.io",
            "HTTP://api.heymarket.com",
        ] {
            // The host's sandbox would refuse these hosts too, but with another message:
            // the error must be the component's own rule, met before any request.
            let sim = knowing_simulator();
            let step = load(env_for(kind, url, &[]), |c| {
                c.allowed_authorities = vec![sim.addr().to_string()];
            });
            let error = rt
                .block_on(step.send(&sms()))
                .expect("no trap")
                .expect_err("plain http to a remote host must be refused");
            let SendError::Permanent(PermanentFailure::Configuration(text)) = &error else {
                panic!("{kind:?} {url}: expected a configuration error, got {error:?}");
            };
            assert!(
                text.contains("HEYMARKET_BASE_URL") && text.contains("https"),
                "{kind:?} {url}: the error must name the variable and the rule: {text}"
            );
            assert!(Secrets::new(&[]).found_in(text).is_empty(), "{text}");
        }
        // Loopback in clear text stays allowed, for the simulator and local proxies.
        let sim = knowing_simulator();
        let step = load(env_for(kind, &sim.base_url(), &[]), |_| {});
        rt.block_on(step.send(&sms()))
            .expect("no trap")
            .unwrap_or_else(|e| panic!("{kind:?}: loopback http refused: {e:?}"));
    }
}

/// Runs the command-line tool with the distinctive API key and returns what it printed.
fn run_cli(sim: &Simulator, args: &[&str], env: &[(&str, &str)]) -> String {
    let mut command = std::process::Command::new(step_cli());
    command
        .args(args)
        .args(["--base-url", &sim.base_url()])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HEYMARKET_SMS_WASM", wasm())
        .env("HEYMARKET_BACKOFF_BASE_MS", "5")
        .env(
            "HEYMARKET_CACHE",
            std::env::temp_dir().join("heymarket-sms-test-cache-cli"),
        );
    for (k, v) in env {
        command.env(k, v);
    }
    let output = command.output().expect("the tool runs");
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn the_command_line_tool_shows_no_secret_in_its_output_or_its_journal() {
    let sim = knowing_simulator();
    let echoing = |kind: Kind, status: u16| {
        let echoed = echo(kind);
        Fault::Respond {
            status,
            headers: vec![("X-Request-Id".into(), echoed.replace(' ', "_"))],
            body: format!(r#"{{"error":"bad","message":"you sent {echoed}"}}"#),
        }
    };
    let mut seen = Vec::new();
    let send = [
        "send",
        "--inbox",
        "101",
        "--creator",
        "55",
        "--to",
        "14155551234",
        "--text",
        "x",
    ];
    for kind in KINDS {
        let env: Vec<(String, String)> = credentials(kind);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let echoed = echo(kind);
        for faults in [
            vec![echoing(kind, 401)],
            vec![echoing(kind, 400)],
            vec![echoing(kind, 500); 3],
            vec![echoing(kind, 429); 3],
            vec![Fault::Respond {
                status: 200,
                headers: vec![("X-Request-Id".into(), echoed.replace(' ', "_"))],
                body: format!(r#"{{"id":3,"date":"{echoed}"}}"#),
            }],
        ] {
            for output in ["text", "json"] {
                sim.reset();
                sim.script(faults.clone());
                let mut args = vec!["--output", output];
                args.extend_from_slice(&send);
                seen.push((
                    format!("send {kind:?} {output}"),
                    run_cli(&sim, &args, &env),
                ));
            }
        }
        // A configuration error that names the base URL, holding a credential.
        let bad_url = format!("https://user:{KEY}@api.heymarket.com");
        let mut args = vec!["--base-url", bad_url.as_str()];
        args.extend_from_slice(&send);
        seen.push((format!("bad base URL {kind:?}"), run_cli(&sim, &args, &env)));
    }

    // A batch whose rows meet an echoing server, then its journal.
    let dir = std::env::temp_dir().join(format!("heymarket-secrets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rows = dir.join("rows.csv");
    std::fs::write(
        &rows,
        "inbox_id,creator_id,phone_number,text\n101,55,14155550001,a\n101,55,14155550002,b\n\
         101,55,14155550003,c\n101,55,+1,d\n",
    )
    .unwrap();
    sim.reset();
    sim.script([
        echoing(Kind::ApiKey, 401),
        echoing(Kind::ApiKey, 500),
        echoing(Kind::ApiKey, 500),
        echoing(Kind::ApiKey, 500),
    ]);
    let journal = dir.join("journal");
    let journal_arg = journal.to_string_lossy().into_owned();
    let rows_arg = rows.to_string_lossy().into_owned();
    let output = run_cli(
        &sim,
        &[
            "batch",
            &rows_arg,
            "--journal",
            &journal_arg,
            "--concurrency",
            "1",
        ],
        &[("HEYMARKET_API_KEY", KEY)],
    );
    seen.push(("batch".into(), output));
    seen.push((
        "the batch journal".into(),
        std::fs::read_to_string(&journal).unwrap_or_default(),
    ));
    let _ = std::fs::remove_dir_all(&dir);

    let tokens = tokens_received(&sim);
    let secrets = Secrets::new(&tokens);
    let leaks: Vec<String> = seen
        .iter()
        .filter(|(_, text)| !secrets.found_in(text).is_empty())
        .map(|(what, text)| format!("{what}: {text}"))
        .collect();
    assert!(
        seen.iter().any(|(_, text)| text.contains("[redacted]")),
        "no echo ever reached the tool's output, so nothing was proved"
    );
    println!("command-line secret paths: {}", seen.len());
    assert!(leaks.is_empty(), "{}", leaks.join("\n---\n"));
}
