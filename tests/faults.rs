//! The faults matrix: every way Heymarket (or the network in between) can misbehave,
//! scripted in the simulator and met by the real component in wasmtime.
//!
//! Each row is one call. For each it checks the outcome (the error case, or a success
//! after retries), the number of attempts the component reports and the number of
//! requests the simulator saw, the time spent against the configured bounds, and the
//! number of messages the simulator holds afterwards: never more than one per call.
//!
//! The settings are small so that the matrix runs in seconds: a 400 ms timeout per
//! attempt, a 20 ms backoff base, at most 3 attempts within a 4 s deadline.

mod support;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use heymarket_step::StepConfig;
use support::*;

const TIMEOUT_MS: u64 = 400;
const DEADLINE_MS: u64 = 4000;
/// Backoff ceilings are 20, 40, 80 ms; anything the host adds stays well below this.
const SLACK: Duration = Duration::from_millis(1500);

/// What one call must end with.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// A success after this many attempts.
    Sent { attempts: u32 },
    /// This error case.
    Failed { kind: &'static str },
}

/// One fault scenario.
struct Row {
    name: &'static str,
    faults: Vec<Fault>,
    /// Settings on top of the matrix's defaults.
    env: Vec<(&'static str, String)>,
    expect: Expect,
    /// How many requests the simulator must have received.
    requests: usize,
    /// How many messages the simulator must hold afterwards (0 or 1).
    stored: usize,
    /// The shortest and longest the call may take.
    within: (Duration, Duration),
    /// Wait this long after the call before counting stored messages, for requests the
    /// simulator is still delaying.
    settle: Duration,
    /// The guest's memory cap, when the row tests that a body is not buffered whole.
    memory_limit: Option<usize>,
}

impl Row {
    fn new(name: &'static str, faults: Vec<Fault>, expect: Expect) -> Row {
        Row {
            name,
            faults,
            env: Vec::new(),
            expect,
            requests: 1,
            stored: 0,
            within: (Duration::ZERO, SLACK),
            settle: Duration::ZERO,
            memory_limit: None,
        }
    }
    fn requests(mut self, n: usize) -> Row {
        self.requests = n;
        self
    }
    fn stored(mut self, n: usize) -> Row {
        self.stored = n;
        self
    }
    fn within(mut self, min_ms: u64, max_ms: u64) -> Row {
        self.within = (Duration::from_millis(min_ms), Duration::from_millis(max_ms));
        self
    }
    fn env(mut self, name: &'static str, value: impl Into<String>) -> Row {
        self.env.push((name, value.into()));
        self
    }
    fn settle(mut self, ms: u64) -> Row {
        self.settle = Duration::from_millis(ms);
        self
    }
    fn memory_limit(mut self, bytes: usize) -> Row {
        self.memory_limit = Some(bytes);
        self
    }
}

fn sent(attempts: u32) -> Expect {
    Expect::Sent { attempts }
}

fn failed(kind: &'static str) -> Expect {
    Expect::Failed { kind }
}

fn respond(status: u16, headers: &[(&str, &str)], body: impl Into<String>) -> Fault {
    Fault::Respond {
        status,
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body: body.into(),
    }
}

fn status(code: u16) -> Fault {
    respond(code, &[], format!(r#"{{"error":"scripted {code}"}}"#))
}

fn raw(text: &str) -> Fault {
    Fault::RawAfterStore(text.as_bytes().to_vec())
}

fn delay(ms: u64) -> Fault {
    Fault::Delay(Duration::from_millis(ms))
}

/// `Retry-After` as an IMF-fixdate `seconds` from now, the form RFC 9110 prefers.
fn http_date_in(seconds: u64) -> String {
    let at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + seconds;
    let (days, rest) = (at / 86_400, at % 86_400);
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{weekday}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        months[(month - 1) as usize],
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

/// Runs every row, each against its own simulator, and fails with one line per broken
/// row.
fn run(rows: Vec<Row>) {
    let mut failures = Vec::new();
    for row in &rows {
        if let Err(why) = run_row(row) {
            failures.push(format!("{}: {why}", row.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fault rows failed:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}

fn run_row(row: &Row) -> Result<(), String> {
    let sim = simulator();
    let mut env = vec![
        ("HEYMARKET_API_KEY".to_string(), API_KEY.to_string()),
        ("HEYMARKET_BASE_URL".to_string(), sim.base_url()),
        ("HEYMARKET_BACKOFF_BASE_MS".to_string(), "20".to_string()),
        ("HEYMARKET_TIMEOUT_MS".to_string(), TIMEOUT_MS.to_string()),
        ("HEYMARKET_DEADLINE_MS".to_string(), DEADLINE_MS.to_string()),
        ("HEYMARKET_MAX_ATTEMPTS".to_string(), "3".to_string()),
    ];
    for (name, value) in &row.env {
        env.retain(|(k, _)| k != name);
        env.push((name.to_string(), value.clone()));
    }
    let step = match row.memory_limit {
        None => step_with_env(env),
        Some(limit) => Step::load(
            &wasm(),
            StepConfig {
                env,
                memory_limit: limit,
                max_instances: 4,
                cache_dir: Some(std::env::temp_dir().join("heymarket-sms-test-cache")),
                ..StepConfig::default()
            },
        )
        .map_err(|e| format!("the step did not load: {e:#}"))?,
    };
    sim.script(row.faults.clone());

    let started = Instant::now();
    let result = runtime()
        .block_on(step.send(&sms()))
        .map_err(|e| format!("the host call failed (a trap?): {e}"))?;
    let elapsed = started.elapsed();
    std::thread::sleep(row.settle);

    let attempts = match (&result, row.expect) {
        (Ok(sent), Expect::Sent { attempts }) => {
            if sent.attempts != attempts {
                return Err(format!(
                    "sent after {} attempts, expected {attempts}",
                    sent.attempts
                ));
            }
            let stored = sim.messages();
            if !stored.iter().any(|m| m.id == sent.id) {
                return Err(format!("sent id {} is not in the simulator", sent.id));
            }
            Some(sent.attempts as usize)
        }
        (Err(error), Expect::Failed { kind: expected }) => {
            if kind(error) != expected {
                return Err(format!(
                    "failed as {}, expected {expected}: {error:?}",
                    kind(error)
                ));
            }
            if let Some(api) = api_error(error)
                && api.body.len() > 4096
            {
                return Err(format!(
                    "an error body of {} bytes was kept",
                    api.body.len()
                ));
            }
            None
        }
        (Ok(sent), Expect::Failed { kind }) => {
            return Err(format!("sent ({sent:?}), expected {kind}"));
        }
        (Err(error), Expect::Sent { .. }) => {
            return Err(format!("failed, expected a success: {error:?}"));
        }
    };

    let requests = sim
        .requests()
        .iter()
        .filter(|r| r.path == "/v1/message/send")
        .count();
    if requests != row.requests {
        return Err(format!(
            "the simulator saw {requests} requests, expected {}",
            row.requests
        ));
    }
    if let Some(attempts) = attempts
        && attempts != requests
    {
        return Err(format!(
            "the component reports {attempts} attempts but made {requests} requests"
        ));
    }
    let (min, max) = row.within;
    if elapsed < min || elapsed > max {
        return Err(format!(
            "took {} ms, expected {} to {} ms",
            elapsed.as_millis(),
            min.as_millis(),
            max.as_millis()
        ));
    }
    let stored = sim.messages().len();
    if stored > 1 {
        return Err(format!("one call created {stored} messages"));
    }
    if stored != row.stored {
        return Err(format!(
            "the simulator holds {stored} messages, expected {}",
            row.stored
        ));
    }
    if sim.pending_faults() != 0 {
        return Err(format!(
            "{} scripted faults were never met",
            sim.pending_faults()
        ));
    }
    Ok(())
}

fn api_error(error: &SendError) -> Option<&heymarket_step::ApiError> {
    match error {
        SendError::Permanent(
            PermanentFailure::Unauthorized(e)
            | PermanentFailure::Forbidden(e)
            | PermanentFailure::Rejected(e),
        )
        | SendError::Transient(
            TransientFailure::RateLimited(e)
            | TransientFailure::Server(e)
            | TransientFailure::InvalidResponse(e),
        ) => Some(e),
        _ => None,
    }
}

/// The rows about throttling: `Retry-After` in both forms, missing, unreadable and too
/// long.
fn rate_limit_rows() -> Vec<Row> {
    vec![
        Row::new(
            "429 without Retry-After, then success",
            vec![status(429)],
            sent(2),
        )
        .requests(2)
        .stored(1),
        Row::new(
            "429 with Retry-After in seconds, then success",
            vec![respond(429, &[("Retry-After", "1")], "{}")],
            sent(2),
        )
        .requests(2)
        .stored(1)
        .within(1000, 1000 + SLACK.as_millis() as u64),
        Row::new(
            "429 with Retry-After as an HTTP date, then success",
            vec![respond(429, &[("Retry-After", &http_date_in(2))], "{}")],
            sent(2),
        )
        .requests(2)
        .stored(1)
        // The date has whole seconds, so the wait is between one and two seconds.
        .within(900, 2000 + SLACK.as_millis() as u64),
        Row::new(
            "429 with an HTTP date in the past, then success",
            vec![respond(
                429,
                &[("Retry-After", "Sun, 06 Nov 1994 08:49:37 GMT")],
                "{}",
            )],
            sent(2),
        )
        .requests(2)
        .stored(1),
        Row::new(
            "429 with an unreadable Retry-After falls back to backoff",
            vec![respond(429, &[("Retry-After", "soon-ish")], "{}")],
            sent(2),
        )
        .requests(2)
        .stored(1),
        Row::new(
            "429 with a Retry-After beyond the cap ends the call at once",
            vec![respond(429, &[("Retry-After", "3600")], "{}")],
            failed("transient.rate-limited"),
        ),
        Row::new(
            "429 with a Retry-After beyond the deadline ends the call at once",
            vec![respond(429, &[("Retry-After", "5")], "{}")],
            failed("transient.rate-limited"),
        ),
        Row::new(
            "429 on every attempt",
            vec![status(429), status(429), status(429)],
            failed("transient.rate-limited"),
        )
        .requests(3),
    ]
}

fn server_error_rows() -> Vec<Row> {
    let mut rows = Vec::new();
    for (code, name) in [
        (500, "500 then success"),
        (502, "502 then success"),
        (503, "503 then success"),
        (504, "504 then success"),
    ] {
        rows.push(
            Row::new(name, vec![status(code)], sent(2))
                .requests(2)
                .stored(1),
        );
    }
    for (code, name) in [
        (500, "500 on every attempt"),
        (502, "502 on every attempt"),
        (503, "503 on every attempt"),
        (504, "504 on every attempt"),
    ] {
        rows.push(Row::new(name, vec![status(code); 3], failed("transient.server")).requests(3));
    }
    rows.push(
        Row::new(
            "503 with Retry-After 1, then success",
            vec![respond(503, &[("Retry-After", "1")], "")],
            sent(2),
        )
        .requests(2)
        .stored(1)
        .within(1000, 1000 + SLACK.as_millis() as u64),
    );
    rows.push(
        Row::new(
            "500 after the message was stored, then a retry",
            vec![Fault::RespondAfterStore {
                status: 500,
                body: "stored, then failed".into(),
            }],
            sent(2),
        )
        .requests(2)
        .stored(1),
    );
    rows.push(
        Row::new(
            "500 after storing on every attempt",
            vec![
                Fault::RespondAfterStore {
                    status: 500,
                    body: String::new(),
                };
                3
            ],
            failed("transient.server"),
        )
        .requests(3)
        .stored(1),
    );
    rows.push(
        Row::new(
            "one attempt allowed: a 503 is returned as it is",
            vec![status(503)],
            failed("transient.server"),
        )
        .env("HEYMARKET_MAX_ATTEMPTS", "1"),
    );
    for (code, expected) in [
        (400, "permanent.rejected"),
        (401, "permanent.unauthorized"),
        (403, "permanent.forbidden"),
        (404, "permanent.rejected"),
        (409, "permanent.rejected"),
        (422, "permanent.rejected"),
    ] {
        rows.push(Row::new(
            match code {
                400 => "400 is never retried",
                401 => "401 is never retried",
                403 => "403 is never retried",
                404 => "404 is never retried",
                409 => "409 is never retried",
                _ => "422 is never retried",
            },
            vec![status(code)],
            failed(expected),
        ));
    }
    rows
}

fn connection_rows() -> Vec<Row> {
    let truncated = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                     content-length: 100\r\n\r\n{\"id\":1";
    vec![
        Row::new(
            "connection dropped before storing, then success",
            vec![Fault::DropBeforeStore],
            sent(2),
        )
        .requests(2)
        .stored(1),
        Row::new(
            "connection dropped before storing on every attempt",
            vec![Fault::DropBeforeStore; 3],
            failed("transient.connection"),
        )
        .requests(3),
        Row::new(
            "connection dropped after storing, then success",
            vec![Fault::DropAfterStore],
            sent(2),
        )
        .requests(2)
        .stored(1),
        Row::new(
            "connection dropped after storing on every attempt",
            vec![Fault::DropAfterStore; 3],
            failed("transient.connection"),
        )
        .requests(3)
        .stored(1),
        Row::new(
            "an answer slower than the timeout, then success",
            vec![delay(1200)],
            sent(2),
        )
        .requests(2)
        .stored(1)
        .within(TIMEOUT_MS, TIMEOUT_MS + SLACK.as_millis() as u64)
        .settle(1200),
        Row::new(
            "answers slower than the timeout on every attempt",
            vec![delay(1200); 3],
            failed("transient.timeout"),
        )
        .requests(3)
        .stored(1)
        .within(3 * TIMEOUT_MS, 3 * TIMEOUT_MS + SLACK.as_millis() as u64)
        .settle(1200),
        Row::new(
            "slow answers end at the overall deadline",
            vec![delay(2000); 2],
            failed("transient.timeout"),
        )
        .env("HEYMARKET_TIMEOUT_MS", "1000")
        .env("HEYMARKET_DEADLINE_MS", "1200")
        .requests(2)
        .stored(1)
        .within(1200, 1200 + SLACK.as_millis() as u64)
        .settle(2000),
        Row::new(
            "a body cut short of its content-length, then success",
            vec![raw(truncated)],
            sent(2),
        )
        .requests(2)
        .stored(1),
        Row::new(
            "a body cut short on every attempt",
            vec![raw(truncated); 3],
            failed("transient.connection"),
        )
        .requests(3)
        .stored(1),
        Row::new(
            "a head with no body and a closed connection",
            vec![raw("HTTP/1.1 200 OK\r\ncontent-length: 50\r\n\r\n"); 3],
            failed("transient.connection"),
        )
        .requests(3)
        .stored(1),
        Row::new(
            "garbage instead of an HTTP answer",
            vec![raw("SSH-2.0-OpenSSH_9.6\r\n"); 3],
            failed("transient.connection"),
        )
        .requests(3)
        .stored(1),
    ]
}

fn body_rows() -> Vec<Row> {
    let date = r#""date":"2026-01-01T00:00:00Z""#;
    let mut rows = vec![
        Row::new(
            "a 200 whose body is not JSON (not stored)",
            vec![respond(200, &[], "<html>maintenance</html>")],
            failed("transient.invalid-response"),
        ),
        Row::new(
            "a 200 whose body is not JSON (stored)",
            vec![raw("HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nnot json!")],
            failed("transient.invalid-response"),
        )
        .stored(1),
        Row::new(
            "a 200 with an empty body",
            vec![respond(200, &[], "")],
            failed("transient.invalid-response"),
        ),
        Row::new(
            "a 204 No Content",
            vec![raw("HTTP/1.1 204 No Content\r\n\r\n")],
            failed("transient.invalid-response"),
        )
        .stored(1),
        Row::new(
            "a 200 whose body is a JSON array",
            vec![respond(200, &[], "[1,2,3]")],
            failed("transient.invalid-response"),
        ),
    ];
    for (name, body) in [
        ("a 200 without an id", format!("{{{date}}}")),
        (
            "a 200 with the id as a string",
            format!(r#"{{"id":"7",{date}}}"#),
        ),
        ("a 200 with a negative id", format!(r#"{{"id":-7,{date}}}"#)),
        (
            "a 200 with a fractional id",
            format!(r#"{{"id":7.5,{date}}}"#),
        ),
        ("a 200 with a null id", format!(r#"{{"id":null,{date}}}"#)),
        (
            "a 200 with an id beyond 64 bits",
            format!(r#"{{"id":18446744073709551616,{date}}}"#),
        ),
        ("a 200 without a date", r#"{"id":7}"#.to_string()),
        (
            "a 200 with a numeric date",
            r#"{"id":7,"date":20260101}"#.to_string(),
        ),
        (
            "a 200 with gallery_url as a number",
            format!(r#"{{"id":7,{date},"gallery_url":5}}"#),
        ),
    ] {
        rows.push(Row::new(
            name,
            vec![respond(200, &[], body)],
            failed("transient.invalid-response"),
        ));
    }
    rows
}

/// Bodies far over the read cap: the call ends promptly with a bounded error, and the
/// guest, capped at 4 MiB of memory, would trap if it buffered a 5 MB body whole.
fn huge_body_rows() -> Vec<Row> {
    let five_mb = 5 * 1024 * 1024;
    let json_prefix = r#"{"id":7,"date":"2026-01-01T00:00:00Z","pad":""#;
    let huge_json = format!("{json_prefix}{}\"}}", "x".repeat(five_mb));
    let huge_text = "e".repeat(five_mb);
    let raw_close_delimited = {
        let mut bytes = b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n".to_vec();
        bytes.extend(std::iter::repeat_n(b'z', five_mb));
        Fault::RawAfterStore(bytes)
    };
    let cap = 4 << 20;
    vec![
        Row::new(
            "a 200 with a 5 MB JSON body",
            vec![respond(200, &[], huge_json)],
            failed("transient.invalid-response"),
        )
        .memory_limit(cap),
        Row::new(
            "a 500 with a 5 MB body on every attempt",
            vec![respond(500, &[], huge_text.clone()); 3],
            failed("transient.server"),
        )
        .requests(3)
        .memory_limit(cap),
        Row::new(
            "a 400 with a 5 MB body",
            vec![respond(400, &[], huge_text)],
            failed("permanent.rejected"),
        )
        .memory_limit(cap),
        Row::new(
            "a 200 with 5 MB and no content-length",
            vec![raw_close_delimited],
            failed("transient.invalid-response"),
        )
        .stored(1)
        .memory_limit(cap),
    ]
}

/// A redirect would carry the credential to another host: it is reported, never
/// followed.
fn redirect_rows(elsewhere: &str) -> Vec<Row> {
    let location = format!("{elsewhere}/v1/message/send");
    let mut rows = Vec::new();
    for (code, name) in [
        (301, "a 301 redirect is not followed"),
        (302, "a 302 redirect is not followed"),
        (303, "a 303 redirect is not followed"),
        (307, "a 307 redirect is not followed"),
        (308, "a 308 redirect is not followed"),
    ] {
        rows.push(Row::new(
            name,
            vec![respond(code, &[("Location", &location)], "")],
            failed("transient.invalid-response"),
        ));
    }
    rows.push(Row::new(
        "a redirect without a Location",
        vec![respond(302, &[], "")],
        failed("transient.invalid-response"),
    ));
    rows
}

#[test]
fn rate_limits_are_retried_as_retry_after_says_and_send_once() {
    run(rate_limit_rows());
}

#[test]
fn server_errors_are_retried_and_client_errors_are_not() {
    run(server_error_rows());
}

#[test]
fn broken_connections_and_timeouts_end_within_their_bounds_with_one_message() {
    run(connection_rows());
}

#[test]
fn broken_success_bodies_are_invalid_responses_and_never_retried() {
    run(body_rows());
}

#[test]
fn huge_bodies_are_read_only_up_to_the_cap() {
    run(huge_body_rows());
}

#[test]
fn redirects_are_never_followed() {
    let elsewhere = simulator();
    run(redirect_rows(&elsewhere.base_url()));
    assert!(
        elsewhere.requests().is_empty(),
        "a redirect target received {} requests",
        elsewhere.requests().len()
    );
}

/// The figure the README reports: how many distinct faults the matrix tries.
#[test]
fn the_matrix_tries_every_fault_kind_the_issue_names() {
    let rows: Vec<Row> = [
        rate_limit_rows(),
        server_error_rows(),
        connection_rows(),
        body_rows(),
        huge_body_rows(),
        redirect_rows("http://127.0.0.1:9"),
    ]
    .into_iter()
    .flatten()
    .collect();
    let names: Vec<&str> = rows.iter().map(|r| r.name).collect();
    for needle in [
        "429 without Retry-After",
        "Retry-After in seconds",
        "Retry-After as an HTTP date",
        "500 then",
        "502 then",
        "503 then",
        "504 then",
        "dropped before storing",
        "dropped after storing",
        "slower than the timeout",
        "cut short",
        "not JSON",
        "without an id",
        "id as a string",
        "5 MB",
        "redirect",
    ] {
        assert!(
            names.iter().any(|n| n.contains(needle)),
            "no row covers {needle:?}"
        );
    }
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "row names must be unique");
    println!("fault rows: {}", rows.len());
}
