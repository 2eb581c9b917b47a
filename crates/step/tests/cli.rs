//! End-to-end tests of the `heymarket-step` binary: each run spawns the built tool, which
//! runs the real component in wasmtime against a simulator started here, over loopback.

use std::collections::HashSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use heymarket_simulator::{Config, Fault, Simulator};
use serde_json::Value;

const API_KEY: &str = "cli-test-key-81c2d4e6";
const SECRET_ID: &str = "cli-secret-id";
const SECRET_KEY: &str = "cli-secret-key-0a9b8c7d";
/// The longest any one run of the tool may take before the test kills it and fails.
const RUN_LIMIT: Duration = Duration::from_secs(120);

fn wasm() -> PathBuf {
    static WASM: OnceLock<PathBuf> = OnceLock::new();
    WASM.get_or_init(|| heymarket_step::component_wasm().expect("the component builds"))
        .clone()
}

/// Shared by the tests (not the cache test), so that only the first run compiles; the
/// tool keeps compiled components in `$HEYMARKET_CACHE/compiled`.
fn shared_cache() -> PathBuf {
    std::env::temp_dir().join("heymarket-sms-cli-test-cache")
}

fn simulator() -> Simulator {
    Simulator::start(Config {
        api_keys: vec![API_KEY.into()],
        jwt_secrets: vec![(SECRET_ID.into(), SECRET_KEY.into())],
        denied_inboxes: vec![666],
        rate_limit_per_minute: 0,
        ..Config::default()
    })
    .expect("the simulator starts")
}

/// The tool with an empty environment apart from the component's path and `env`.
fn tool(env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_heymarket-step"));
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HEYMARKET_SMS_WASM", wasm())
        .env("HEYMARKET_BACKOFF_BASE_MS", "20")
        .env("HEYMARKET_CACHE", shared_cache());
    for (name, value) in env {
        command.env(name, value);
    }
    command
}

/// The tool aimed at `sim` with the API key.
fn tool_for(sim: &Simulator) -> Command {
    let mut command = tool(&[("HEYMARKET_API_KEY", API_KEY)]);
    command.arg("--base-url").arg(sim.base_url());
    command
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not one JSON value ({e}): {self}"))
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

fn finish(output: Output) -> Run {
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs `command` with `stdin`, killing it if it outlives [`RUN_LIMIT`].
fn run_with_input(mut command: Command, stdin: &str) -> Run {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the tool starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > RUN_LIMIT {
            child.kill().ok();
            panic!("the tool ran longer than {RUN_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    finish(child.wait_with_output().unwrap())
}

fn run(command: Command) -> Run {
    run_with_input(command, "")
}

fn args<'a>(mut command: Command, args: impl IntoIterator<Item = &'a str>) -> Command {
    command.args(args);
    command
}

const SMS: [&str; 9] = [
    "--inbox",
    "101",
    "--creator",
    "55",
    "--to",
    "14155551234",
    "--text",
    "Hello from heymarket-sms",
    "--verbose",
];

fn send_args(extra: &[&'static str]) -> Vec<&'static str> {
    let mut all = vec!["send"];
    all.extend(SMS);
    all.extend(extra);
    all
}

fn assert_no_secret(run: &Run) {
    for secret in [API_KEY, SECRET_KEY] {
        assert!(!run.stdout.contains(secret), "a secret leaked: {run}");
        assert!(!run.stderr.contains(secret), "a secret leaked: {run}");
    }
}

#[test]
fn send_prints_heymarkets_receipt_as_json_and_exits_0() {
    let sim = simulator();
    let out = run(args(tool_for(&sim), send_args(&[])));
    assert_eq!(out.code, 0, "{out}");
    let receipt = out.json();
    let stored = sim.messages();
    assert_eq!(stored.len(), 1);
    assert_eq!(receipt["id"], stored[0].id);
    assert_eq!(receipt["attempts"], 1);
    assert!(receipt["request_id"].as_str().is_some(), "{out}");
    assert_eq!(
        stored[0].body,
        serde_json::json!({"inbox_id": 101, "creator_id": 55, "phone_number": "14155551234",
            "text": "Hello from heymarket-sms", "local_id": receipt["local_id"]})
    );
    assert_no_secret(&out);
}

#[test]
fn every_message_flag_reaches_the_wire_under_its_field_name() {
    let sim = simulator();
    let out = run(args(
        tool_for(&sim),
        [
            "send",
            "--inbox",
            "7",
            "--creator",
            "8",
            "--to",
            "14155550000",
            "--text",
            "hi",
            "--media-url",
            "https://example.com/a.png",
            "--template",
            "3",
            "--survey",
            "4",
            "--local-id",
            "flags-1",
            "--activity",
            "act-9",
            "--private",
            "--author",
            "Front desk",
        ],
    ));
    assert_eq!(out.code, 0, "{out}");
    let out2 = run(args(
        tool_for(&sim),
        [
            "send",
            "--inbox",
            "7",
            "--creator",
            "8",
            "--targets",
            "14155550001,14155550002",
            "--targets",
            "14155550003",
            "--text",
            "hi",
        ],
    ));
    assert_eq!(out2.code, 0, "{out2}");
    let out3 = run(args(
        tool_for(&sim),
        [
            "send",
            "--inbox",
            "7",
            "--creator",
            "8",
            "--list",
            "12",
            "--local-id",
            "list-1",
            "--text",
            "hi",
        ],
    ));
    assert_eq!(out3.code, 0, "{out3}");
    let out4 = run(args(
        tool_for(&sim),
        [
            "send",
            "--inbox",
            "7",
            "--creator",
            "8",
            "--chat",
            "99",
            "--private=false",
            "--text",
            "hi",
        ],
    ));
    assert_eq!(out4.code, 0, "{out4}");

    let bodies: Vec<Value> = sim.messages().into_iter().map(|m| m.body).collect();
    assert_eq!(
        bodies[0],
        serde_json::json!({"inbox_id": 7, "creator_id": 8, "phone_number": "14155550000",
            "text": "hi", "media_url": "https://example.com/a.png", "template_id": 3,
            "survey_id": 4, "local_id": "flags-1", "activity_id": "act-9", "private": true,
            "author": "Front desk"})
    );
    assert_eq!(
        bodies[1]["targets"],
        serde_json::json!(["14155550001", "14155550002", "14155550003"])
    );
    assert_eq!(
        (
            bodies[2]["list_id"].as_u64(),
            bodies[2]["local_id"].as_str()
        ),
        (Some(12), Some("list-1"))
    );
    assert_eq!(
        (
            bodies[3]["chat_id"].as_u64(),
            bodies[3]["private"].as_bool()
        ),
        (Some(99), Some(false))
    );
}

#[test]
fn send_takes_the_endpoints_json_body_from_a_file_or_stdin() {
    let sim = simulator();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("body.json");
    std::fs::write(
        &file,
        r#"{"inbox_id":101,"creator_id":55,"phone_number":"14155551234","text":"from a file"}"#,
    )
    .unwrap();
    let out = run(args(
        tool_for(&sim),
        ["send", "--json", file.to_str().unwrap()],
    ));
    assert_eq!(out.code, 0, "{out}");

    let stdin_body = r#"{"inbox_id":101,"creator_id":55,"chat_id":5}"#;
    let out = run_with_input(
        args(
            tool_for(&sim),
            ["send", "--json", "-", "--text", "flags add to it"],
        ),
        stdin_body,
    );
    assert_eq!(out.code, 0, "{out}");

    let texts: Vec<Value> = sim
        .messages()
        .iter()
        .map(|m| m.body["text"].clone())
        .collect();
    assert_eq!(texts, ["from a file", "flags add to it"]);

    let clash = run_with_input(
        args(
            tool_for(&sim),
            ["send", "--json", "-", "--inbox", "102", "--text", "x"],
        ),
        stdin_body,
    );
    assert_eq!(clash.code, 2, "{clash}");
    assert!(clash.stderr.contains("inbox_id"), "{clash}");
    assert_eq!(sim.messages().len(), 2, "nothing more was sent");
}

#[test]
fn an_unknown_or_mistyped_json_field_is_invalid_input_naming_it() {
    let sim = simulator();
    for (body, named) in [
        (
            r#"{"inbox_id":1,"creator_id":2,"phone":"14155551234","text":"x"}"#,
            "`phone`",
        ),
        (
            r#"{"inbox_id":"1","creator_id":2,"phone_number":"1","text":"x"}"#,
            "`inbox_id`",
        ),
    ] {
        let out = run_with_input(args(tool_for(&sim), ["send", "--json", "-"]), body);
        assert_eq!(out.code, 2, "{out}");
        assert!(out.stderr.contains(named), "{out}");
        assert_eq!(out.stderr.lines().count(), 1, "one line: {out}");
    }
    assert!(sim.requests().is_empty());
}

#[test]
fn preview_prints_the_exact_body_offline_without_credentials() {
    let out = run(args(
        tool(&[]),
        [
            "preview",
            "--inbox",
            "101",
            "--creator",
            "55",
            "--to",
            "14155551234",
            "--text",
            "Hello 👋",
        ],
    ));
    assert_eq!(out.code, 0, "{out}");
    let preview = out.json();
    assert_eq!(
        preview["body"],
        r#"{"inbox_id":101,"creator_id":55,"phone_number":"14155551234","text":"Hello 👋"}"#
    );
    assert_eq!(preview["encoding"], "ucs2");
    assert_eq!(
        (preview["characters"].as_u64(), preview["segments"].as_u64()),
        (Some(8), Some(1))
    );
    assert!(
        !out.stderr.contains("simulator"),
        "no simulator for a preview: {out}"
    );
}

#[test]
fn with_no_credentials_send_uses_the_embedded_simulator_and_says_so() {
    let out = run(args(tool(&[]), send_args(&[])));
    assert_eq!(out.code, 0, "{out}");
    assert!(out.json()["id"].as_u64().is_some(), "{out}");
    assert!(out.stderr.contains("embedded Heymarket simulator"), "{out}");
    assert!(out.stderr.contains("nothing left this machine"), "{out}");
}

#[test]
fn an_invalid_message_exits_2_and_sends_nothing() {
    let sim = simulator();
    let out = run(args(
        tool_for(&sim),
        [
            "send",
            "--inbox",
            "1",
            "--creator",
            "2",
            "--to",
            "+14155551234",
            "--text",
            "x",
        ],
    ));
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("permanent.invalid-message"), "{out}");
    assert!(out.stderr.contains("phone_number"), "{out}");
    let bad_flag = run(args(tool_for(&sim), ["send", "--inbox", "one"]));
    assert_eq!(bad_flag.code, 2, "{bad_flag}");
    let missing = run(args(
        tool_for(&sim),
        ["send", "--to", "14155551234", "--text", "x"],
    ));
    assert_eq!(missing.code, 2, "{missing}");
    assert!(missing.stderr.contains("inbox_id"), "{missing}");
    assert!(sim.requests().is_empty());
}

#[test]
fn missing_credentials_for_a_base_url_exit_3_naming_the_variable() {
    let sim = simulator();
    let mut command = tool(&[]);
    command.arg("--base-url").arg(sim.base_url());
    let out = run(args(command, send_args(&[])));
    assert_eq!(out.code, 3, "{out}");
    assert!(out.stderr.contains("HEYMARKET_API_KEY"), "{out}");
    let mut bad = tool(&[
        ("HEYMARKET_API_KEY", API_KEY),
        ("HEYMARKET_TIMEOUT_MS", "soon"),
    ]);
    bad.args(["--base-url", "http://127.0.0.1:9"]);
    let bad = run(args(bad, send_args(&[])));
    assert_eq!(bad.code, 3, "{bad}");
    assert!(bad.stderr.contains("HEYMARKET_TIMEOUT_MS"), "{bad}");
    assert!(sim.requests().is_empty());
    assert_no_secret(&bad);
}

#[test]
fn refusals_by_heymarket_exit_4_with_the_request_id() {
    let sim = simulator();
    let mut wrong_key = tool(&[("HEYMARKET_API_KEY", "wrong-key-55aa")]);
    wrong_key.arg("--base-url").arg(sim.base_url());
    let out = run(args(wrong_key, send_args(&[])));
    assert_eq!(out.code, 4, "{out}");
    assert!(out.stderr.contains("permanent.unauthorized"), "{out}");
    assert!(out.stderr.contains("request id sim-"), "{out}");
    assert!(!out.stderr.contains("wrong-key-55aa"), "{out}");

    let denied = run(args(
        tool_for(&sim),
        [
            "send",
            "--inbox",
            "666",
            "--creator",
            "1",
            "--to",
            "14155551234",
            "--text",
            "x",
        ],
    ));
    assert_eq!(denied.code, 4, "{denied}");
    assert!(denied.stderr.contains("permanent.forbidden"), "{denied}");

    let mut jwt = tool(&[
        ("HEYMARKET_SECRET_ID", SECRET_ID),
        ("HEYMARKET_SECRET_KEY", "not-the-key-1234"),
    ]);
    jwt.args(["--base-url", &sim.base_url()]);
    let jwt = run(args(jwt, send_args(&[])));
    assert_eq!(jwt.code, 4, "{jwt}");
    assert!(!jwt.stderr.contains("not-the-key-1234"), "{jwt}");
    assert!(sim.messages().is_empty());
}

#[test]
fn transient_failures_exit_5_and_json_output_puts_the_error_on_stdout() {
    let sim = simulator();
    sim.script([Fault::Respond {
        status: 503,
        headers: vec![],
        body: r#"{"error":"busy"}"#.into(),
    }]);
    let mut command = tool(&[
        ("HEYMARKET_API_KEY", API_KEY),
        ("HEYMARKET_MAX_ATTEMPTS", "1"),
    ]);
    command.args(["--base-url", &sim.base_url(), "--output", "json"]);
    let out = run(args(command, send_args(&[])));
    assert_eq!(out.code, 5, "{out}");
    let error = &out.json()["error"];
    assert_eq!(error["kind"], "transient.server");
    assert_eq!(error["status"], 503);
    assert_eq!(error["exit_code"], 5);
    assert!(error["request_id"].as_str().is_some(), "{out}");
    assert_no_secret(&out);
}

#[test]
fn a_broken_component_is_an_internal_failure_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.wasm");
    std::fs::write(&broken, b"not wasm").unwrap();
    let mut command = tool(&[]);
    command.env("HEYMARKET_SMS_WASM", &broken);
    let out = run(args(
        command,
        ["--no-cache", "preview", "--inbox", "1", "--creator", "2"],
    ));
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.starts_with("heymarket-step: internal:"), "{out}");
}

#[test]
fn help_documents_every_exit_code() {
    let out = run(args(tool(&[]), ["--help"]));
    assert_eq!(out.code, 0, "{out}");
    for line in ["  0 ", "  1 ", "  2 ", "  3 ", "  4 ", "  5 ", "  130 "] {
        assert!(out.stdout.contains(line), "{line:?} missing: {out}");
    }
}

#[test]
fn a_guest_request_to_a_host_outside_the_allow_list_is_refused() {
    let sim = simulator();
    let other = simulator();
    let mut command = tool(&[("HEYMARKET_API_KEY", API_KEY)]);
    command.args([
        "--base-url",
        &other.base_url(),
        "--allow-host",
        &sim.addr().to_string(),
    ]);
    let out = run(args(command, send_args(&[])));
    assert_eq!(out.code, 3, "{out}");
    assert!(out.stderr.contains("permanent.configuration"), "{out}");
    assert!(other.requests().is_empty(), "the other host saw nothing");
    assert!(sim.requests().is_empty());
}

#[test]
fn the_compiled_component_is_cached_and_reused_on_the_second_start() {
    let dir = tempfile::tempdir().unwrap();
    let preview = || {
        let mut command = tool(&[]);
        command.arg("--cache-dir").arg(dir.path());
        run(args(
            command,
            [
                "preview",
                "--verbose",
                "--inbox",
                "1",
                "--creator",
                "2",
                "--chat",
                "3",
                "--text",
                "x",
            ],
        ))
    };
    let first = preview();
    assert_eq!(first.code, 0, "{first}");
    assert!(first.stderr.contains("compiled "), "{first}");
    let cached: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".cwasm"))
        .collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
    let second = preview();
    assert_eq!(second.code, 0, "{second}");
    assert!(
        second
            .stderr
            .contains("loaded the compiled component from the cache"),
        "{second}"
    );
    assert_eq!(first.stdout, second.stdout);
}

fn journal(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn batch(sim: &Simulator, file: &Path, extra: &[&str]) -> Command {
    let mut command = tool_for(sim);
    command
        .args(["batch", "--inbox", "101", "--creator", "55"])
        .arg(file)
        .args(extra);
    command
}

#[test]
fn a_csv_batch_sends_each_row_journals_it_and_a_rerun_skips_what_was_sent() {
    let sim = simulator();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("people.csv");
    std::fs::write(
        &file,
        "phone_number,text,local_id\n\
         14155550001,Hi Ann,\n\
         14155550002,\"Hi, Bob\",own-key-2\n\
         +14155550003,Hi Cy,\n\
         14155550004,,\n",
    )
    .unwrap();
    let out = run(batch(&sim, &file, &["--text", "Default text"]));
    assert_eq!(out.code, 2, "the worst failure is an invalid row: {out}");
    let summary = out.json();
    assert_eq!(summary["rows"], 4);
    assert_eq!(summary["sent"], 3);
    assert_eq!(
        summary["failed"],
        serde_json::json!({"permanent.invalid-message": 1})
    );
    assert!(out.stderr.contains("row 3:"), "plain progress lines: {out}");

    let bodies: Vec<Value> = sim.messages().into_iter().map(|m| m.body).collect();
    assert_eq!(bodies.len(), 3);
    assert_eq!(bodies[1]["text"], "Hi, Bob");
    assert_eq!(bodies[1]["local_id"], "own-key-2");
    assert_eq!(
        bodies[2]["text"], "Default text",
        "an empty cell takes the default"
    );
    let batch_id = summary["batch"].as_str().unwrap();
    assert_eq!(bodies[0]["local_id"], format!("hm-{batch_id}-1"));

    let journal_path = PathBuf::from(format!("{}.journal", file.display()));
    let entries = journal(&journal_path);
    assert_eq!(entries.len(), 4);
    let failed: Vec<&Value> = entries
        .iter()
        .filter(|e| e["outcome"] == "failed")
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["row"], 3);
    assert_eq!(failed[0]["error"], "permanent.invalid-message");

    let again = run(batch(&sim, &file, &["--text", "Default text"]));
    assert_eq!(again.code, 2, "{again}");
    assert_eq!(again.json()["skipped"], 3);
    assert_eq!(sim.messages().len(), 3, "nothing sent twice");
    assert_eq!(
        journal(&journal_path).len(),
        5,
        "only the failed row was tried again"
    );
}

#[test]
fn an_ndjson_batch_from_stdin_sends_every_row_and_exits_0() {
    let sim = simulator();
    let dir = tempfile::tempdir().unwrap();
    let journal_path = dir.path().join("j.ndjson");
    let rows = "{\"phone_number\":\"14155550001\",\"text\":\"one\"}\n\n\
                {\"chat_id\":5,\"text\":\"two\",\"inbox_id\":102}\n";
    let out = run_with_input(
        batch(
            &sim,
            Path::new("-"),
            &["--journal", journal_path.to_str().unwrap()],
        ),
        rows,
    );
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(out.json()["sent"], 2);
    let bodies: Vec<Value> = sim.messages().into_iter().map(|m| m.body).collect();
    assert_eq!(
        bodies[1]["inbox_id"], 102,
        "a row's own value wins over the default"
    );
    assert_eq!(journal(&journal_path).len(), 2);
}

#[test]
fn a_batch_with_an_unknown_column_or_another_batchs_journal_sends_nothing() {
    let sim = simulator();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.csv");
    std::fs::write(&file, "phone,text\n14155550001,x\n").unwrap();
    let out = run(batch(&sim, &file, &[]));
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("unknown field `phone`"), "{out}");

    let good = dir.path().join("good.csv");
    std::fs::write(&good, "phone_number,text\n14155550001,x\n").unwrap();
    let journal_path = dir.path().join("shared.journal");
    let j = journal_path.to_str().unwrap();
    assert_eq!(run(batch(&sim, &good, &["--journal", j])).code, 0);
    std::fs::write(&good, "phone_number,text\n14155550001,changed\n").unwrap();
    let out = run(batch(&sim, &good, &["--journal", j]));
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("another batch"), "{out}");
    assert_eq!(sim.messages().len(), 1);
}

#[test]
fn a_batch_killed_midway_then_rerun_sends_every_row_exactly_once() {
    const ROWS: usize = 12;
    let sim = simulator();
    sim.script((0..ROWS).map(|_| Fault::Delay(Duration::from_millis(250))));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.csv");
    let mut csv = String::from("phone_number,text\n");
    for i in 0..ROWS {
        csv.push_str(&format!("1415555{i:04},Message {i}\n"));
    }
    std::fs::write(&file, csv).unwrap();
    let journal_path = PathBuf::from(format!("{}.journal", file.display()));

    let mut child = batch(&sim, &file, &["--concurrency", "2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while journal(&journal_path).len() < 4 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the batch ended too soon"
        );
        assert!(started.elapsed() < RUN_LIMIT, "the batch made no progress");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before = journal(&journal_path).len();
    assert!(before < ROWS, "killed midway: {before} rows journaled");

    let out = run(batch(&sim, &file, &["--concurrency", "2"]));
    assert_eq!(out.code, 0, "{out}");
    let summary = out.json();
    assert_eq!(summary["skipped"], before);
    assert_eq!(summary["sent"], ROWS - before);

    let messages = sim.messages();
    let keys: HashSet<_> = messages
        .iter()
        .map(|m| m.local_id.clone().unwrap())
        .collect();
    assert_eq!(messages.len(), ROWS, "no duplicate message");
    assert_eq!(keys.len(), ROWS);
    let sent_rows: HashSet<u64> = journal(&journal_path)
        .iter()
        .filter(|e| e["outcome"] == "sent")
        .map(|e| e["row"].as_u64().unwrap())
        .collect();
    assert_eq!(sent_rows, (1..=ROWS as u64).collect());
}

#[test]
fn the_rate_limit_spaces_sends_at_the_configured_rate() {
    const ROWS: u64 = 7;
    let sim = simulator();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rate.ndjson");
    let rows: String = (0..ROWS)
        .map(|i| format!("{{\"phone_number\":\"1415555{i:04}\",\"text\":\"r\"}}\n"))
        .collect();
    std::fs::write(&file, rows).unwrap();
    let out = run(batch(&sim, &file, &["--rate", "120", "--concurrency", "8"]));
    assert_eq!(out.code, 0, "{out}");
    let mut times: Vec<u64> = journal(Path::new(&format!("{}.journal", file.display())))
        .iter()
        .map(|e| e["at_ms"].as_u64().unwrap())
        .collect();
    times.sort();
    assert_eq!(times.len() as u64, ROWS);
    // 120 per minute is one every 500 ms: 7 sends span 3 s, whatever the concurrency.
    let span = times[times.len() - 1] - times[0];
    assert!(span >= 2_900, "sends came too fast: {span} ms for {ROWS}");
    // Generous above: a loaded machine may slow the sends, never speed them up.
    assert!(span <= 6_000, "sends came too slowly: {span} ms for {ROWS}");
    let per_second = (ROWS - 1) as f64 / (span as f64 / 1000.0);
    assert!((1.0..=2.1).contains(&per_second), "{per_second} per second");
}

#[test]
fn no_secret_appears_in_any_output_or_journal() {
    let sim = simulator();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.csv");
    std::fs::write(&file, "phone_number,text\n14155550001,x\n+1,y\n").unwrap();
    sim.script([Fault::Respond {
        status: 500,
        headers: vec![],
        body: "{}".into(),
    }]);
    let mut runs = vec![
        run(batch(&sim, &file, &[])),
        run(args(tool_for(&sim), send_args(&[]))),
    ];
    let mut jwt = tool(&[
        ("HEYMARKET_SECRET_ID", SECRET_ID),
        ("HEYMARKET_SECRET_KEY", SECRET_KEY),
    ]);
    jwt.args(["--base-url", &sim.base_url(), "--output", "json"]);
    runs.push(run(args(jwt, send_args(&[]))));
    let mut jwt_wrong = tool(&[
        ("HEYMARKET_SECRET_ID", "unknown-id"),
        ("HEYMARKET_SECRET_KEY", SECRET_KEY),
    ]);
    jwt_wrong.args(["--base-url", &sim.base_url()]);
    runs.push(run(args(jwt_wrong, send_args(&[]))));
    assert_eq!(runs[2].code, 0, "{}", runs[2]);
    assert_eq!(runs[3].code, 4, "{}", runs[3]);
    for out in &runs {
        assert_no_secret(out);
    }
    let journal_text = std::fs::read_to_string(format!("{}.journal", file.display())).unwrap();
    assert!(!journal_text.contains(API_KEY) && !journal_text.contains(SECRET_KEY));
    assert!(
        !journal_text.contains("14155550001"),
        "no message content in the journal"
    );
}
