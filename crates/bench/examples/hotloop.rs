//! One client sending in a loop against the simulator, and nothing else, for `perf`:
//!
//! ```sh
//! cargo run --profile bench -p heymarket-bench --example hotloop -- component 1 5
//! ```
//!
//! Arguments: what to call (`component`, `preview` or `native`), how many concurrent
//! callers, how many seconds. `HOTLOOP_RUNTIME=current` runs the callers on a
//! current-thread runtime, so a profile of one thread holds everything the client did.
//! BENCHMARKS.md (Profiling) shows how it was used.

#[path = "../src/fixture.rs"]
mod fixture;
#[path = "../src/native.rs"]
mod native;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use heymarket_step::{Step, StepConfig};

use fixture::{SECRET_ID, SECRET_KEY};

#[derive(Clone, Copy, PartialEq)]
enum Call {
    Component,
    Preview,
    Native,
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let call = match args.first().map_or("component", String::as_str) {
        "component" => Call::Component,
        "preview" => Call::Preview,
        "native" => Call::Native,
        other => bail!("unknown call {other:?}: component, preview or native"),
    };
    let callers: usize = args.get(1).map_or(Ok(1), |s| s.parse())?;
    let seconds: f64 = args.get(2).map_or(Ok(5.0), |s| s.parse())?;

    let sim = fixture::simulator()?;
    let base = sim.base_url();
    let env = fixture::step_env(&base);
    let cache = std::env::temp_dir().join("heymarket-hotloop-cache");
    let step = Arc::new(Step::load(
        &heymarket_step::component_wasm()?,
        StepConfig {
            env,
            // Compiling on every start would put cranelift in the profile.
            cache_dir: Some(cache),
            ..StepConfig::default()
        },
    )?);
    let native = Arc::new(native::Native::new(&base, SECRET_ID, SECRET_KEY, true));

    let runtime = if std::env::var("HOTLOOP_RUNTIME").as_deref() == Ok("current") {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
    };
    let sent = runtime.block_on(async move {
        let started = Instant::now();
        let deadline = started + Duration::from_secs_f64(seconds);
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..callers {
            let step = step.clone();
            let native = native.clone();
            tasks.spawn(async move {
                let mut sent = 0u64;
                while Instant::now() < deadline {
                    call_once(call, &step, &native).await?;
                    sent += 1;
                }
                anyhow::Ok(sent)
            });
        }
        let mut sent = 0;
        while let Some(result) = tasks.join_next().await {
            sent += result.context("a caller panicked")??;
        }
        anyhow::Ok((sent, started.elapsed()))
    })?;
    let (sent, took) = sent;
    println!("{sent} calls, {:.0}/s", sent as f64 / took.as_secs_f64());
    Ok(())
}

async fn call_once(call: Call, step: &Step, native: &native::Native) -> anyhow::Result<()> {
    let refused = |e| anyhow::anyhow!("{e:?}");
    match call {
        Call::Component => drop(
            step.send(&fixture::step_message())
                .await?
                .map_err(refused)?,
        ),
        Call::Preview => drop(
            step.preview(&fixture::step_message())
                .await?
                .map_err(refused)?,
        ),
        Call::Native => drop(native.send(&fixture::native_message()).await?),
    }
    Ok(())
}
