//! The benchmark harness: what the component costs next to a native client, measured
//! side by side in one run against the simulator on loopback.
//!
//! `cargo run --profile bench -p heymarket-bench` builds the component in release mode,
//! prints a table and writes it as JSON to `target/bench/results.json` (or `--out`).
//! `--quick` takes fewer runs, for checking the harness itself. See BENCHMARKS.md.

mod cpu;
mod fixture;
mod gateway;
mod guest;
mod native;
mod report;
mod rss;
mod stats;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use heymarket_simulator::Simulator;
use heymarket_step::{Step, StepConfig};
use wasmtime::component::Component;

use crate::native::Native;
use crate::report::{Report, Target};
use crate::stats::Summary;

use fixture::{SECRET_ID, SECRET_KEY, native_message, step_message};
/// The concurrency levels of the throughput runs.
const CALLERS: [usize; 3] = [1, 8, 64];

/// How many times each measurement is repeated.
struct Runs {
    compile: usize,
    load: usize,
    instantiate: usize,
    sends: usize,
    warmup: usize,
    cpu_sends: usize,
    cpu_rounds: usize,
    throughput_runs: usize,
    throughput_window: Duration,
    memory_sends: usize,
    batch: usize,
}

impl Runs {
    fn full() -> Runs {
        Runs {
            compile: 10,
            load: 50,
            instantiate: 2000,
            sends: 300,
            warmup: 30,
            cpu_sends: 200,
            cpu_rounds: 15,
            throughput_runs: 5,
            throughput_window: Duration::from_secs(1),
            memory_sends: 20,
            batch: 1000,
        }
    }

    fn quick() -> Runs {
        Runs {
            compile: 2,
            load: 5,
            instantiate: 200,
            sends: 30,
            warmup: 5,
            cpu_sends: 20,
            cpu_rounds: 3,
            throughput_runs: 2,
            throughput_window: Duration::from_millis(300),
            memory_sends: 3,
            batch: 100,
        }
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(rss::CHILD_FLAG) {
        return rss::child(&args[1..]);
    }
    let mut quick = false;
    let mut out = None;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--out" => out = Some(PathBuf::from(rest.next().context("--out needs a path")?)),
            "-h" | "--help" => {
                println!("usage: heymarket-bench [--quick] [--out results.json]");
                return Ok(());
            }
            other => bail!("unknown argument {other:?}; try --help"),
        }
    }
    let runs = if quick { Runs::quick() } else { Runs::full() };
    let wasm = heymarket_step::component_wasm()?;
    let out = out.unwrap_or_else(|| target_dir().join("bench/results.json"));

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(run(&wasm, &runs))?;
    report.print();
    report.write(&out, quick)?;
    println!("\nwritten to {}", out.display());
    Ok(())
}

/// The workspace's target directory, where the results and the compile cache go.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

async fn run(wasm: &Path, runs: &Runs) -> anyhow::Result<Report> {
    let mut report = Report::default();
    let bytes = std::fs::read(wasm).with_context(|| format!("reading {}", wasm.display()))?;
    eprintln!("component: {} ({} bytes)", wasm.display(), bytes.len());

    startup(&mut report, &bytes, runs).await?;

    let sim = fixture::simulator()?;
    let base_url = sim.base_url();
    let env = fixture::step_env(&base_url);
    let cache_dir = target_dir().join("bench/cache");
    let step = Step::load(
        wasm,
        StepConfig {
            env: env.clone(),
            cache_dir: Some(cache_dir.clone()),
            ..StepConfig::default()
        },
    )?;
    let senders = Senders {
        component: Sender::Component(Arc::new(step)),
        native: Sender::Native(Arc::new(Native::new(
            &base_url, SECRET_ID, SECRET_KEY, false,
        ))),
        pooled: Sender::Native(Arc::new(Native::new(
            &base_url, SECRET_ID, SECRET_KEY, true,
        ))),
    };

    one_send(&mut report, &sim, &senders, runs).await?;
    let plan = cpu::Plan {
        sends: runs.cpu_sends,
        rounds: runs.cpu_rounds,
        warmup: 1,
    };
    cpu::measure(
        &mut report,
        wasm,
        env.clone(),
        base_url.clone(),
        cache_dir.clone(),
        plan,
    )
    .await?;
    sim.reset();
    throughput(&mut report, &sim, &senders, runs).await?;
    memory(&mut report, &sim, &bytes, &env, runs).await?;
    sim.reset();
    rss::measure(&mut report, wasm, &base_url, &cache_dir, runs.batch).await?;
    sim.reset();
    let batch_dir = target_dir().join("bench/batch");
    rss::measure_cli(&mut report, wasm, &base_url, &batch_dir, runs.batch).await?;
    sim.reset();
    gateway::measure(&mut report, &sim, wasm, &senders.native, runs).await?;
    Ok(report)
}

/// 1-3: bytes to ship, compilation against loading, instantiation per call.
async fn startup(report: &mut Report, wasm: &[u8], runs: &Runs) -> anyhow::Result<()> {
    report.section("1. Size");
    let pooling = guest::engine(guest::Allocator::Pooling)?;
    let artifact = pooling.precompile_component(wasm)?;
    report.value(
        "size.wasm",
        "component .wasm",
        "bytes",
        wasm.len() as f64,
        Some(Target::at_most(200_000.0, "<= 200 KB")),
    );
    report.value(
        "size.cwasm",
        "precompiled artifact (.cwasm)",
        "bytes",
        artifact.len() as f64,
        None,
    );

    report.section("2. Start-up");
    eprintln!("compiling the component {} times", runs.compile);
    let compile = guest::compile_times(&pooling, wasm, runs.compile)?;
    report.row(
        "startup.compile",
        "compile (Component::new)",
        "ms",
        Summary::of_micros(&compile).scaled(1e-3),
        None,
    );
    let load = guest::load_times(&pooling, &artifact, runs.load)?;
    report.row(
        "startup.load",
        "load precompiled (Component::deserialize)",
        "ms",
        Summary::of_micros(&load).scaled(1e-3),
        None,
    );

    report.section("3. Instantiation per call (new store + InstancePre::instantiate)");
    let env = vec![(
        "HEYMARKET_BASE_URL".to_owned(),
        "http://127.0.0.1:9".to_owned(),
    )];
    for (allocator, engine, name) in [
        (guest::Allocator::Pooling, pooling, "pooling"),
        (
            guest::Allocator::OnDemand,
            guest::engine(guest::Allocator::OnDemand)?,
            "on-demand",
        ),
    ] {
        // SAFETY: produced by `precompile_component` just above, for an engine with the
        // same settings; wasmtime checks the compatibility itself.
        let component = unsafe { Component::deserialize(&engine, &artifact) }
            .or_else(|_| Component::new(&engine, wasm))?;
        let pre = guest::pre(&engine, &component)?;
        guest::instantiation(&pre, &env, runs.instantiate / 10).await?;
        let (ready, total) = guest::instantiation(&pre, &env, runs.instantiate).await?;
        let target = matches!(allocator, guest::Allocator::Pooling)
            .then(|| Target::at_most(50.0, "<= 50 µs"));
        report.row(
            &format!("instantiate.{name}"),
            &format!("instantiate, {name} allocator"),
            "µs",
            Summary::of_micros(&ready),
            target,
        );
        report.row(
            &format!("instantiate.{name}.with_drop"),
            &format!("instantiate + drop store, {name}"),
            "µs",
            Summary::of_micros(&total),
            None,
        );
    }
    Ok(())
}

/// One way of sending.
#[derive(Clone)]
enum Sender {
    /// The component through `heymarket_step::Step`: a fresh instance per send.
    Component(Arc<Step>),
    /// The native `reqwest` client.
    Native(Arc<Native>),
    /// The component's gateway under `wasmtime serve`.
    Gateway(Arc<gateway::Gateway>),
}

impl Sender {
    async fn send(&self) -> anyhow::Result<()> {
        match self {
            Sender::Component(step) => match step.send(&step_message()).await? {
                Ok(_) => Ok(()),
                Err(e) => bail!("{}: {e:?}", heymarket_step::error_kind(&e)),
            },
            Sender::Native(native) => native.send(&native_message()).await.map(drop),
            Sender::Gateway(gateway) => gateway.send().await,
        }
    }
}

struct Senders {
    component: Sender,
    /// A new connection per send: what the component cost before its host pooled
    /// connections, kept to show what the pool is worth.
    native: Sender,
    /// Connections kept alive and reused, as `reqwest` does by default and as the
    /// component's host does: the baseline the targets are held to.
    pooled: Sender,
}

/// 4: one send at a time; the three clients take turns so that they share any drift.
async fn one_send(
    report: &mut Report,
    sim: &Simulator,
    senders: &Senders,
    runs: &Runs,
) -> anyhow::Result<()> {
    report.section("4. One send, end to end (sequential)");
    let clients = [&senders.component, &senders.native, &senders.pooled];
    let mut times = [Vec::new(), Vec::new(), Vec::new()];
    for round in 0..runs.warmup + runs.sends {
        for k in 0..3 {
            let i = (round + k) % 3;
            let started = Instant::now();
            clients[i].send().await?;
            if round >= runs.warmup {
                times[i].push(started.elapsed());
            }
        }
    }
    let sent = sim.messages().len();
    anyhow::ensure!(
        sent == 3 * (runs.warmup + runs.sends),
        "the simulator stored {sent} messages"
    );
    sim.reset();
    let [component, native, pooled] = times.map(|t| Summary::of_micros(&t).scaled(1e-3));
    report.row("send.component", "component (Step)", "ms", component, None);
    if let Sender::Component(step) = &senders.component {
        // The same call without the network: instance, validation, rendering.
        let mut previews = Vec::with_capacity(runs.sends);
        for round in 0..runs.warmup + runs.sends {
            let started = Instant::now();
            step.preview(&step_message())
                .await?
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            if round >= runs.warmup {
                previews.push(started.elapsed());
            }
        }
        report.row(
            "send.component_preview",
            "  of which instance + guest (preview, no network)",
            "ms",
            Summary::of_micros(&previews).scaled(1e-3),
            None,
        );
    }
    report.row(
        "send.native",
        "native reqwest, new connection",
        "ms",
        native,
        None,
    );
    report.row(
        "send.native_keepalive",
        "native reqwest, keep-alive",
        "ms",
        pooled,
        None,
    );
    report.ratio(
        "send.ratio",
        "component / native (new connection)",
        component,
        native,
        None,
    );
    report.ratio(
        "send.ratio_keepalive",
        "component / native (keep-alive)",
        component,
        pooled,
        Some(Target::at_most(1.25, "<= 1.25")),
    );
    Ok(())
}

/// 5: N callers sending as fast as they can for a fixed window, repeated.
async fn throughput(
    report: &mut Report,
    sim: &Simulator,
    senders: &Senders,
    runs: &Runs,
) -> anyhow::Result<()> {
    report.section("5. Throughput (sends/s; median and p95 over runs)");
    for callers in CALLERS {
        let clients = [&senders.component, &senders.native, &senders.pooled];
        let mut rates = [Vec::new(), Vec::new(), Vec::new()];
        // Warm each client up at this concurrency before measuring.
        for client in clients {
            sends_per_second(client, callers, runs.throughput_window / 4).await?;
            sim.reset();
        }
        for run in 0..runs.throughput_runs {
            for k in 0..3 {
                let i = (run + k) % 3;
                let rate = sends_per_second(clients[i], callers, runs.throughput_window).await?;
                rates[i].push(rate);
                sim.reset();
            }
        }
        let ratios: Vec<f64> = rates[0].iter().zip(&rates[1]).map(|(c, n)| c / n).collect();
        let ratios_pooled: Vec<f64> = rates[0].iter().zip(&rates[2]).map(|(c, n)| c / n).collect();
        let [component, native, pooled] = rates.map(Summary::of);
        report.row(
            &format!("throughput.{callers}.component"),
            &format!("N={callers} component"),
            "sends/s",
            component,
            None,
        );
        report.row(
            &format!("throughput.{callers}.native"),
            &format!("N={callers} native, new connection"),
            "sends/s",
            native,
            None,
        );
        report.row(
            &format!("throughput.{callers}.native_keepalive"),
            &format!("N={callers} native, keep-alive"),
            "sends/s",
            pooled,
            None,
        );
        report.row(
            &format!("throughput.{callers}.ratio"),
            &format!("N={callers} component / native (new conn.)"),
            "x",
            Summary::of(ratios),
            None,
        );
        report.row(
            &format!("throughput.{callers}.ratio_keepalive"),
            &format!("N={callers} component / native (keep-alive)"),
            "x",
            Summary::of(ratios_pooled),
            Some(Target::at_least(0.8, ">= 0.8")),
        );
    }
    Ok(())
}

/// Sends with `callers` concurrent callers until `window` has passed; every send is
/// bounded by its client's own timeout.
async fn sends_per_second(
    sender: &Sender,
    callers: usize,
    window: Duration,
) -> anyhow::Result<f64> {
    let started = Instant::now();
    let deadline = started + window;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..callers {
        let sender = sender.clone();
        tasks.spawn(async move {
            let mut sent = 0u64;
            while Instant::now() < deadline {
                sender.send().await?;
                sent += 1;
            }
            anyhow::Ok(sent)
        });
    }
    let mut sent = 0;
    while let Some(result) = tasks.join_next().await {
        sent += result??;
    }
    Ok(sent as f64 / started.elapsed().as_secs_f64())
}

/// 7a: how far one instance's linear memory grows during a send.
async fn memory(
    report: &mut Report,
    sim: &Simulator,
    wasm: &[u8],
    env: &[(String, String)],
    runs: &Runs,
) -> anyhow::Result<()> {
    report.section("7. Memory");
    let engine = guest::engine(guest::Allocator::Pooling)?;
    let pre = guest::pre(&engine, &Component::new(&engine, wasm)?)?;
    let typical = guest_message(native_message());
    let mut largest = native_message();
    // The longest text accepted, in UCS-2 so that it is also the most segments.
    largest.text = Some("é".repeat(heymarket_sms::limits::MAX_TEXT_CHARS));
    largest.author = Some("a".repeat(heymarket_sms::limits::MAX_AUTHOR_CHARS));
    largest.activity_id = Some("b".repeat(heymarket_sms::limits::MAX_KEY_BYTES));
    let largest = guest_message(largest);
    for (name, what, message) in [
        ("memory.linear", "peak linear memory, one send", &typical),
        (
            "memory.linear_largest",
            "peak linear memory, largest message",
            &largest,
        ),
    ] {
        let mut peaks = Vec::new();
        for _ in 0..runs.memory_sends {
            let used = guest::send_memory(&pre, env, message).await?;
            anyhow::ensure!(used.memories == 1, "{} linear memories", used.memories);
            peaks.push(used.peak as f64 / 1024.0);
        }
        report.row(
            name,
            what,
            "KiB",
            Summary::of(peaks),
            Some(Target::at_most(1024.0, "<= 1 MiB")),
        );
    }
    sim.reset();
    Ok(())
}

fn guest_message(m: heymarket_sms::message::Message) -> guest::Message {
    guest::Message {
        inbox_id: m.inbox_id,
        creator_id: m.creator_id,
        phone_number: m.phone_number,
        targets: m.targets,
        chat_id: m.chat_id,
        list_id: m.list_id,
        text: m.text,
        media_url: m.media_url,
        template_id: m.template_id,
        local_id: m.local_id,
        activity_id: m.activity_id,
        private: m.private,
        author: m.author,
        survey_id: m.survey_id,
    }
}
