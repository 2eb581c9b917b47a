//! Sustained concurrent load, bounded in count and time, on loopback only: the
//! embedding (many sends in flight through one `Step`) and the command-line batch (5,000
//! rows, then the same batch killed midway and resumed).
//!
//! Each test checks that nothing failed, that no message was lost or sent twice (every
//! `local_id` exactly once in the simulator) and that memory stays steady, and prints
//! its figures (requests, messages, peak and current RSS) for the README.
//!
//! The heaviest tests are `#[ignore]`d so that `cargo test --workspace` stays quick;
//! `scripts/test.d/50-load` runs them explicitly, so CI still does.

mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use heymarket_step::StepConfig;
use support::*;

/// `VmRSS` and `VmHWM` (peak) of a process, in KiB, from `/proc`.
fn memory_kib(pid: &str) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn unlimited_simulator() -> Simulator {
    Simulator::start(Config {
        api_keys: vec![API_KEY.into()],
        rate_limit_per_minute: 0,
        ..Config::default()
    })
    .expect("the simulator starts")
}

/// Asserts that every key in `expected` was stored exactly once and nothing else was.
fn assert_each_once(sim: &Simulator, expected: impl IntoIterator<Item = String>) -> usize {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for message in sim.messages() {
        *counts
            .entry(message.local_id.unwrap_or_default())
            .or_default() += 1;
    }
    let mut lost = Vec::new();
    let mut total = 0;
    for key in expected {
        total += 1;
        match counts.remove(&key) {
            Some(1) => {}
            Some(n) => panic!("{key} was stored {n} times"),
            None => lost.push(key),
        }
    }
    assert!(
        lost.is_empty(),
        "{} messages lost, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    assert!(
        counts.is_empty(),
        "unexpected messages stored: {:?}",
        counts.keys().take(5).collect::<Vec<_>>()
    );
    total
}

/// Sends `count` messages numbered from `from`, `concurrency` at a time, through one
/// step; returns how long it took.
async fn send_many(step: &Arc<Step>, from: usize, count: usize, concurrency: usize) -> Duration {
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(from));
    let end = from + count;
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (step, next) = (step.clone(), next.clone());
        workers.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= end {
                    return;
                }
                let message = Message {
                    local_id: Some(format!("load-{i}")),
                    phone_number: Some(format!("1415{:07}", i % 10_000_000)),
                    text: Some(format!("load message {i}")),
                    ..sms()
                };
                match step.send(&message).await {
                    Ok(Ok(sent)) => assert_eq!(sent.local_id, format!("load-{i}")),
                    Ok(Err(error)) => panic!("message {i} failed: {error:?}"),
                    Err(trap) => panic!("message {i} trapped: {trap}"),
                }
            }
        });
    }
    while let Some(joined) = workers.join_next().await {
        joined.unwrap_or_else(|e| panic!("a sender failed: {e}"));
    }
    started.elapsed()
}

fn embedding_run(phases: usize, per_phase: usize, concurrency: usize) {
    let sim = unlimited_simulator();
    let step = Arc::new(
        Step::load(
            &wasm(),
            StepConfig {
                env: vec![
                    ("HEYMARKET_API_KEY".into(), API_KEY.into()),
                    ("HEYMARKET_BASE_URL".into(), sim.base_url()),
                ],
                cache_dir: Some(std::env::temp_dir().join("heymarket-sms-test-cache")),
                max_instances: concurrency as u32 + 4,
                ..StepConfig::default()
            },
        )
        .expect("the step loads"),
    );
    let rt = runtime();
    let mut rss = Vec::new();
    let mut elapsed = Duration::ZERO;
    for phase in 0..phases {
        elapsed += rt.block_on(send_many(&step, phase * per_phase, per_phase, concurrency));
        rss.push(memory_kib("self"));
    }
    let total = phases * per_phase;
    let stored = assert_each_once(&sim, (0..total).map(|i| format!("load-{i}")));
    let requests = sim.requests().len();
    assert_eq!(requests, total, "every send took exactly one request");
    let (first_rss, _) = rss[0];
    let (last_rss, peak) = *rss.last().unwrap();
    println!(
        "embedding load: {total} sends, {concurrency} in flight, {requests} requests, \
         {stored} messages, 0 lost, 0 duplicated, {:.0} sends/s; RSS after the first \
         phase {} MiB, at the end {} MiB, peak {} MiB",
        total as f64 / elapsed.as_secs_f64(),
        first_rss / 1024,
        last_rss / 1024,
        peak / 1024
    );
    // The simulator in this process keeps every request and message, a few hundred bytes
    // each; beyond that the host must not grow with the number of sends.
    let allowed = 64 * 1024 + (total as u64 * 4);
    assert!(
        last_rss.saturating_sub(first_rss) < allowed,
        "RSS grew from {first_rss} KiB to {last_rss} KiB over {total} sends"
    );
}

#[test]
fn concurrent_sends_through_one_step_lose_and_duplicate_nothing() {
    embedding_run(2, 300, 16);
}

#[test]
#[ignore = "long: run by scripts/test.d/50-load"]
fn sustained_concurrent_sends_keep_memory_steady_and_every_message_once() {
    embedding_run(6, 1000, 48);
}

/// A scratch directory for one test, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "heymarket-load-{name}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn write_rows(path: &Path, rows: usize) {
    let mut csv = String::from("inbox_id,creator_id,phone_number,text\n");
    for i in 1..=rows {
        csv.push_str(&format!("101,55,1415{i:07},batch row {i}\n"));
    }
    std::fs::write(path, csv).unwrap();
}

fn batch_command(sim: &Simulator, rows: &Path, journal: &Path) -> Command {
    let mut command = Command::new(step_cli());
    command
        .arg("batch")
        .arg(rows)
        .arg("--journal")
        .arg(journal)
        .args(["--rate", "10000000", "--concurrency", "64"])
        .args(["--base-url", &sim.base_url()])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HEYMARKET_API_KEY", API_KEY)
        .env("HEYMARKET_SMS_WASM", wasm())
        .env(
            "HEYMARKET_CACHE",
            std::env::temp_dir().join("heymarket-sms-test-cache-cli"),
        );
    command
}

/// One journal line, as far as these tests read it.
#[derive(Debug, serde::Deserialize)]
struct Entry {
    row: usize,
    local_id: Option<String>,
    outcome: String,
    id: Option<u64>,
}

fn read_journal(path: &Path) -> Vec<Entry> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

/// Checks the journal against the simulator: every row recorded as sent, with the id
/// the simulator gave that row's key, and returns the keys.
fn assert_journal_matches(journal: &[Entry], sim: &Simulator, rows: usize) -> Vec<String> {
    let ids: HashMap<String, u64> = sim
        .messages()
        .into_iter()
        .map(|m| (m.local_id.unwrap_or_default(), m.id))
        .collect();
    let mut keys = vec![String::new(); rows];
    for entry in journal {
        assert_eq!(entry.outcome, "sent", "row {} failed: {entry:?}", entry.row);
        let key = entry.local_id.clone().expect("a sent row has its key");
        assert_eq!(
            ids.get(&key).copied(),
            entry.id,
            "row {}: the journal's id is not the simulator's",
            entry.row
        );
        let slot = &mut keys[entry.row - 1];
        assert!(
            slot.is_empty() || *slot == key,
            "row {} has two keys",
            entry.row
        );
        *slot = key;
    }
    let missing: Vec<usize> = (1..=rows).filter(|r| keys[r - 1].is_empty()).collect();
    assert!(
        missing.is_empty(),
        "rows missing from the journal: {missing:?}"
    );
    keys
}

fn summary(stdout: &[u8]) -> serde_json::Value {
    let text = String::from_utf8_lossy(stdout);
    let line = text.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("no JSON summary ({e}): {text}"))
}

fn batch_of(rows: usize) {
    let sim = unlimited_simulator();
    let scratch = Scratch::new("batch");
    let (input, journal) = (scratch.0.join("rows.csv"), scratch.0.join("journal"));
    write_rows(&input, rows);
    let mut command = batch_command(&sim, &input, &journal);
    let started = Instant::now();
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the batch starts");
    let pid = child.id().to_string();
    let mut peak = 0;
    let output = {
        // Sample the child's memory while it runs.
        let sampler = std::thread::spawn(move || {
            let mut peak = 0;
            loop {
                let (rss, hwm) = memory_kib(&pid);
                if rss == 0 {
                    return peak;
                }
                peak = peak.max(hwm);
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        let output = child.wait_with_output().unwrap();
        peak = peak.max(sampler.join().unwrap());
        output
    };
    let elapsed = started.elapsed();
    assert!(
        output.status.success(),
        "the batch failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let summary = summary(&output.stdout);
    assert_eq!(summary["sent"], rows, "{summary}");
    assert_eq!(summary["skipped"], 0, "{summary}");
    let entries = read_journal(&journal);
    assert_eq!(entries.len(), rows, "one journal line per row");
    let keys = assert_journal_matches(&entries, &sim, rows);
    assert_each_once(&sim, keys);
    println!(
        "batch: {rows} rows sent in {:.1} s ({:.0}/s), {} requests, 0 lost, 0 duplicated, \
         peak RSS of the tool {} MiB",
        elapsed.as_secs_f64(),
        rows as f64 / elapsed.as_secs_f64(),
        sim.requests().len(),
        peak / 1024
    );
}

fn batch_killed_and_resumed(rows: usize, kill_after: usize) {
    let sim = unlimited_simulator();
    let scratch = Scratch::new("resume");
    let (input, journal) = (scratch.0.join("rows.csv"), scratch.0.join("journal"));
    write_rows(&input, rows);

    let mut child = batch_command(&sim, &input, &journal)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the batch starts");
    let deadline = Instant::now() + Duration::from_secs(120);
    while read_journal(&journal).len() < kill_after {
        assert!(Instant::now() < deadline, "the batch made no progress");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the batch ended before the kill"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // SIGKILL: no chance to tidy up, as after a crash or a power cut.
    child.kill().unwrap();
    child.wait().unwrap();
    let before = read_journal(&journal);
    let stored_before = sim.messages().len();
    assert!(
        before.len() < rows,
        "the kill came too late to interrupt anything"
    );

    let output = batch_command(&sim, &input, &journal).output().unwrap();
    assert!(
        output.status.success(),
        "the resumed batch failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let summary = summary(&output.stdout);
    assert_eq!(summary["skipped"], before.len(), "{summary}");
    assert_eq!(summary["sent"], rows - before.len(), "{summary}");
    let entries = read_journal(&journal);
    assert_eq!(
        entries.len(),
        rows,
        "each row is journalled once across both runs"
    );
    let keys = assert_journal_matches(&entries, &sim, rows);
    assert_each_once(&sim, keys);
    let requests = sim.requests().len();
    println!(
        "batch killed after {} journalled rows ({stored_before} messages stored by then), \
         resumed: {rows} rows, {requests} requests, {} rows re-sent because they were in \
         flight, 0 lost, 0 duplicated",
        before.len(),
        requests - rows
    );
}

#[test]
fn a_small_batch_sends_every_row_once_and_journals_it() {
    batch_of(300);
}

#[test]
#[ignore = "long: run by scripts/test.d/50-load"]
fn a_batch_of_five_thousand_rows_sends_every_row_exactly_once() {
    batch_of(5000);
}

#[test]
#[ignore = "long: run by scripts/test.d/50-load"]
fn a_batch_of_five_thousand_rows_killed_midway_resumes_without_sending_twice() {
    batch_killed_and_resumed(5000, 2000);
}
