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

#[path = "../src/native.rs"]
mod native;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use heymarket_simulator::{Config, Simulator};
use heymarket_step::{Step, StepConfig};

const SECRET_ID: &str = "sim-secret-id";
const SECRET_KEY: &str = "sim-secret-key";
const TEXT: &str = "Your order #1234 has shipped and arrives on Friday.";

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

    let sim = Simulator::start(Config {
        rate_limit_per_minute: 0,
        ..Config::default()
    })?;
    let base = sim.base_url();
    let env = vec![
        ("HEYMARKET_BASE_URL".to_owned(), base.clone()),
        ("HEYMARKET_SECRET_ID".to_owned(), SECRET_ID.to_owned()),
        ("HEYMARKET_SECRET_KEY".to_owned(), SECRET_KEY.to_owned()),
    ];
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
    let message = heymarket_step::Message {
        inbox_id: 1,
        creator_id: 2,
        phone_number: Some("14155551234".into()),
        targets: None,
        chat_id: None,
        list_id: None,
        text: Some(TEXT.into()),
        media_url: None,
        template_id: None,
        local_id: None,
        activity_id: None,
        private: None,
        author: None,
        survey_id: None,
    };
    match call {
        Call::Component => drop(
            step.send(&message)
                .await?
                .map_err(|e| anyhow::anyhow!("{e:?}"))?,
        ),
        Call::Preview => drop(
            step.preview(&message)
                .await?
                .map_err(|e| anyhow::anyhow!("{e:?}"))?,
        ),
        Call::Native => {
            let message = heymarket_sms::message::Message {
                inbox_id: 1,
                creator_id: 2,
                phone_number: Some("14155551234".into()),
                text: Some(TEXT.into()),
                ..Default::default()
            };
            native.send(&message).await?;
        }
    }
    Ok(())
}
