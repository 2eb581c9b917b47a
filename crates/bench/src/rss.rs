//! 7b: the peak resident memory of a process that sends a batch of messages, measured in
//! a child process so that nothing else this harness did counts against it.
//!
//! The child is this same binary, run with [`CHILD_FLAG`]: it loads the component from
//! the compile cache (as a runner does after its first start) or makes the native
//! client, sends the batch with eight callers, and prints its own `VmHWM`.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail};
use heymarket_step::{Step, StepConfig};

use crate::report::Report;
use crate::stats::Summary;
use crate::{SECRET_ID, SECRET_KEY, Sender, native::Native};

/// The first argument that makes this binary a batch child.
pub const CHILD_FLAG: &str = "--batch-child";
/// How many callers the batch runs with: `heymarket-step batch`'s default.
const CONCURRENCY: usize = 8;
/// The longest a batch child may take before it is killed.
const CHILD_LIMIT: Duration = Duration::from_secs(300);

/// Runs a component batch and a native batch of `count` messages, each in its own
/// process, and reports their peak RSS.
pub async fn measure(
    report: &mut Report,
    wasm: &Path,
    base_url: &str,
    cache_dir: &Path,
    count: usize,
) -> anyhow::Result<()> {
    for (kind, what) in [
        ("component", "peak RSS, batch through the component"),
        ("native", "peak RSS, batch through native reqwest"),
    ] {
        eprintln!("sending {count} messages in a {kind} child process");
        let output = tokio::time::timeout(
            CHILD_LIMIT,
            tokio::process::Command::new(std::env::current_exe()?)
                .arg(CHILD_FLAG)
                .args([kind, base_url])
                .arg(wasm)
                .arg(cache_dir)
                .arg(count.to_string())
                .kill_on_drop(true)
                .output(),
        )
        .await
        .context("the batch child ran past its time limit")??;
        if !output.status.success() {
            bail!(
                "the {kind} batch child failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let result: serde_json::Value =
            serde_json::from_slice(&output.stdout).context("reading the batch child's report")?;
        let kib = |key: &str| result[key].as_f64().unwrap_or(f64::NAN);
        report.row(
            &format!("memory.rss_batch.{kind}"),
            &format!("{what} of {count} (in-process, 8 callers)"),
            "MiB",
            Summary::of(vec![kib("peak_kib") / 1024.0]),
            None,
        );
        report.row(
            &format!("memory.rss_ready.{kind}"),
            &format!("RSS before the first send ({kind})"),
            "MiB",
            Summary::of(vec![kib("ready_kib") / 1024.0]),
            None,
        );
    }
    Ok(())
}

/// Peak RSS of `heymarket-step batch` itself sending `count` messages: built here with
/// cargo, warmed up once so that it loads the component from its compile cache, then
/// watched through /proc while it runs.
pub async fn measure_cli(
    report: &mut Report,
    wasm: &Path,
    base_url: &str,
    dir: &Path,
    count: usize,
) -> anyhow::Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = tokio::process::Command::new(cargo)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .args([
            "build",
            "--quiet",
            "--profile",
            "bench",
            "-p",
            "heymarket-step",
        ])
        .args(["--bin", "heymarket-step"])
        .status()
        .await?;
    if !status.success() {
        report.note("heymarket-step batch not measured: building it failed");
        return Ok(());
    }
    let cli = crate::target_dir().join("release/heymarket-step");
    std::fs::create_dir_all(dir)?;
    let line = serde_json::to_string(&crate::native_message())?;
    let mut peak = 0;
    for (n, measured) in [(8, false), (count, true)] {
        let input = dir.join(format!("batch-{n}.ndjson"));
        let journal = dir.join(format!("batch-{n}.journal"));
        std::fs::write(&input, format!("{line}\n").repeat(n))?;
        std::fs::remove_file(&journal).ok();
        let mut child = tokio::process::Command::new(&cli)
            .env("HEYMARKET_SMS_WASM", wasm)
            .env("HEYMARKET_SECRET_ID", SECRET_ID)
            .env("HEYMARKET_SECRET_KEY", SECRET_KEY)
            .args(["--base-url", base_url, "--cache-dir"])
            .arg(dir.join("cli-cache"))
            .args([
                "batch",
                "--concurrency",
                "8",
                "--rate",
                "1000000",
                "--journal",
            ])
            .arg(&journal)
            .arg(&input)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let pid = child.id().context("the batch process has no id")?;
        let started = std::time::Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if started.elapsed() > CHILD_LIMIT {
                child.kill().await.ok();
                bail!("heymarket-step batch ran past {CHILD_LIMIT:?}");
            }
            if let Ok(kib) = proc_kib(&format!("/proc/{pid}/status"), "VmHWM") {
                peak = peak.max(kib);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        if !status.success() {
            let output = child.wait_with_output().await?;
            bail!(
                "heymarket-step batch failed ({status}): {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        if measured {
            report.row(
                "memory.rss_batch.cli",
                &format!("peak RSS, `heymarket-step batch` of {count} (8 callers)"),
                "MiB",
                Summary::of(vec![peak as f64 / 1024.0]),
                None,
            );
        }
        peak = 0;
    }
    Ok(())
}

/// The child's side: `<component|native> <base url> <wasm> <cache dir> <count>`.
pub fn child(args: &[String]) -> anyhow::Result<()> {
    let [kind, base_url, wasm, cache_dir, count] = args else {
        bail!("{CHILD_FLAG} takes <component|native> <base url> <wasm> <cache dir> <count>");
    };
    let count: usize = count.parse()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let sender = match kind.as_str() {
        "component" => Sender::Component(Arc::new(Step::load(
            Path::new(wasm),
            StepConfig {
                env: crate::fixture::step_env(base_url),
                cache_dir: Some(cache_dir.into()),
                ..StepConfig::default()
            },
        )?)),
        "native" => Sender::Native(Arc::new(Native::new(
            base_url, SECRET_ID, SECRET_KEY, false,
        ))),
        other => bail!("unknown batch kind {other:?}"),
    };
    let ready = status_kib("VmRSS")?;
    let next = Arc::new(AtomicUsize::new(0));
    runtime.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..CONCURRENCY {
            let (sender, next) = (sender.clone(), next.clone());
            tasks.spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < count {
                    sender.send().await?;
                }
                anyhow::Ok(())
            });
        }
        while let Some(result) = tasks.join_next().await {
            result??;
        }
        anyhow::Ok(())
    })?;
    let peak = status_kib("VmHWM")?;
    println!(
        "{}",
        serde_json::json!({ "sent": count, "ready_kib": ready, "peak_kib": peak })
    );
    Ok(())
}

/// A `kB` field of /proc/self/status.
fn status_kib(field: &str) -> anyhow::Result<u64> {
    proc_kib("/proc/self/status", field)
}

/// A `kB` field of a /proc status file.
fn proc_kib(path: &str, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(path)
        .context("peak RSS is read from /proc, which this system lacks")?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no {field} in /proc/self/status"))
}
