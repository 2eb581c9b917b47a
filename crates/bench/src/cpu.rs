//! 4b: the CPU time one send costs the process that makes it, apart from the server's.
//!
//! Wall-clock latency mixes the caller's work with the simulator's and with the
//! machine's scheduling; this isolates the caller. Each client runs on one thread with
//! a current-thread runtime, so that everything it does (its connection tasks included)
//! is counted on that thread's CPU clock.
//! The clients are made on that thread, so their connections are driven there too.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use heymarket_step::{Step, StepConfig};

use crate::report::Report;
use crate::stats::Summary;
use crate::{SECRET_ID, SECRET_KEY, native::Native, native_message, step_message};

/// Sends per measured round, and rounds per client.
pub struct Plan {
    pub sends: usize,
    pub rounds: usize,
    pub warmup: usize,
}

/// Runs the three clients (the component's send and preview, the native keep-alive
/// send) round by round, interleaved, and reports µs of CPU per call.
pub async fn measure(
    report: &mut Report,
    wasm: &Path,
    env: Vec<(String, String)>,
    base_url: String,
    cache_dir: PathBuf,
    plan: Plan,
) -> anyhow::Result<()> {
    report.section("4b. CPU time of the caller per send (one thread, server excluded)");
    let wasm = wasm.to_owned();
    let [send, preview, native] = tokio::task::spawn_blocking(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(rounds(&wasm, env, &base_url, cache_dir, &plan))
    })
    .await
    .context("the CPU measurement thread panicked")??;
    report.row("cpu.component", "component (Step), send", "µs", send, None);
    report.row(
        "cpu.component_preview",
        "  of which instance + guest (preview, no network)",
        "µs",
        preview,
        None,
    );
    report.row(
        "cpu.native_keepalive",
        "native reqwest, keep-alive, send",
        "µs",
        native,
        None,
    );
    report.ratio(
        "cpu.ratio_keepalive",
        "component / native (keep-alive)",
        send,
        native,
        None,
    );
    Ok(())
}

async fn rounds(
    wasm: &Path,
    env: Vec<(String, String)>,
    base_url: &str,
    cache_dir: PathBuf,
    plan: &Plan,
) -> anyhow::Result<[Summary; 3]> {
    let step = Step::load(
        wasm,
        StepConfig {
            env,
            cache_dir: Some(cache_dir),
            ..StepConfig::default()
        },
    )?;
    let native = Native::new(base_url, SECRET_ID, SECRET_KEY, true);
    let mut per_call = [Vec::new(), Vec::new(), Vec::new()];
    for round in 0..plan.warmup + plan.rounds {
        for k in 0..3 {
            let which = (round + k) % 3;
            let started = thread_cpu()?;
            for _ in 0..plan.sends {
                match which {
                    0 => {
                        step.send(&step_message())
                            .await?
                            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
                    }
                    1 => {
                        step.preview(&step_message())
                            .await?
                            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
                    }
                    _ => {
                        native.send(&native_message()).await?;
                    }
                }
            }
            let spent = thread_cpu()? - started;
            if round >= plan.warmup {
                per_call[which].push(spent / plan.sends as u32);
            }
        }
    }
    Ok(per_call.map(|times| Summary::of_micros(&times)))
}

/// The CPU time this thread has run so far, to the nanosecond. (The scheduler's
/// `/proc/thread-self/schedstat` lags for a thread that does not block, and a preview
/// never blocks.)
fn thread_cpu() -> anyhow::Result<Duration> {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec for the duration of the call.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    anyhow::ensure!(status == 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    let seconds = u64::try_from(now.tv_sec)?;
    let nanos = u32::try_from(now.tv_nsec)?;
    Ok(Duration::new(seconds, nanos))
}
