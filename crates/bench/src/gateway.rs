//! 6: the component as an HTTP service under `wasmtime serve` (its gateway mode),
//! against posting to the simulator directly.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use heymarket_simulator::Simulator;

use crate::report::Report;
use crate::stats::Summary;
use crate::{CALLERS, Runs, SECRET_ID, SECRET_KEY, Sender, native_message, sends_per_second};

/// The token the gateway is started with and the client presents.
const TOKEN: &str = "bench-gateway-token";
/// How long `wasmtime serve` may take to compile the component and listen.
const START_LIMIT: Duration = Duration::from_secs(120);
/// Any one request to the gateway.
const REQUEST_LIMIT: Duration = Duration::from_secs(30);

/// A client of the gateway's `POST /v1/message/send`, keeping its connections alive
/// as a service calling a local sidecar would.
pub struct Gateway {
    client: reqwest::Client,
    url: String,
    body: String,
}

impl Gateway {
    fn new(addr: &str) -> Gateway {
        Gateway {
            client: reqwest::Client::builder()
                .timeout(REQUEST_LIMIT)
                .build()
                .expect("a plain-HTTP client"),
            url: format!("http://{addr}/v1/message/send"),
            body: serde_json::to_string(&native_message()).expect("a message renders"),
        }
    }

    /// Posts the message; the gateway picks the `local_id`.
    pub async fn send(&self) -> anyhow::Result<()> {
        let response = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {TOKEN}"))
            .body(self.body.clone())
            .send()
            .await?;
        let status = response.status();
        let bytes = response.bytes().await?;
        if status != 200 {
            bail!(
                "gateway: HTTP {status}: {}",
                String::from_utf8_lossy(&bytes)
            );
        }
        let answer: serde_json::Value = serde_json::from_slice(&bytes)?;
        answer["id"]
            .as_u64()
            .context("gateway answer without an id")?;
        Ok(())
    }
}

/// The wasmtime CLI: `HEYMARKET_WASMTIME` (set by `scripts/tools`), else the copy
/// `scripts/tools` installs, else `wasmtime` on the `PATH`.
fn wasmtime_cli() -> PathBuf {
    if let Some(path) = std::env::var_os("HEYMARKET_WASMTIME") {
        return path.into();
    }
    let cache = std::env::var_os("HEYMARKET_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/heymarket-sms")));
    cache
        .map(|c| c.join("wasmtime-48.0.8/bin/wasmtime"))
        .filter(|p| p.exists())
        .unwrap_or_else(|| "wasmtime".into())
}

/// Starts `wasmtime serve`, measures sends through it beside direct native sends, and
/// stops it. Says so in the report, and measures nothing, when the component has no
/// gateway or the CLI is missing.
pub async fn measure(
    report: &mut Report,
    sim: &Simulator,
    wasm: &Path,
    native: &Sender,
    runs: &Runs,
) -> anyhow::Result<()> {
    let base_url = &sim.base_url();
    report.section("6. Gateway: `wasmtime serve` against posting to the simulator directly");
    let bytes = std::fs::read(wasm)?;
    if !contains(&bytes, b"wasi:http/incoming-handler") {
        report.note("not measured: this build of the component exports no incoming-handler");
        return Ok(());
    }
    let cli = wasmtime_cli();
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut command = tokio::process::Command::new(&cli);
    command.args(["serve", "-S", "cli", "--addr", &addr]);
    for (name, value) in [
        ("HEYMARKET_BASE_URL", base_url.as_str()),
        ("HEYMARKET_SECRET_ID", SECRET_ID),
        ("HEYMARKET_SECRET_KEY", SECRET_KEY),
        ("HEYMARKET_GATEWAY_TOKEN", TOKEN),
    ] {
        command.args(["--env", &format!("{name}={value}")]);
    }
    let mut server = match command
        .arg(wasm)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            report.note(&format!("not measured: cannot run {}: {e}", cli.display()));
            return Ok(());
        }
    };
    let result = serve_measure(report, sim, &addr, native, runs, &mut server).await;
    server.kill().await.ok();
    result
}

async fn serve_measure(
    report: &mut Report,
    sim: &Simulator,
    addr: &str,
    native: &Sender,
    runs: &Runs,
    server: &mut tokio::process::Child,
) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let health = format!("http://{addr}/healthz");
    let started = Instant::now();
    loop {
        if let Some(status) = server.try_wait()? {
            bail!("wasmtime serve exited ({status}) before it listened on {addr}");
        }
        if let Ok(response) = client.get(&health).send().await
            && response.status().is_success()
        {
            break;
        }
        if started.elapsed() > START_LIMIT {
            bail!("wasmtime serve did not answer on {addr} within {START_LIMIT:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    report.note(&format!(
        "wasmtime serve answered /healthz {:.0} ms after it was started",
        started.elapsed().as_secs_f64() * 1e3
    ));

    let gateway = Sender::Gateway(Arc::new(Gateway::new(addr)));
    let clients = [&gateway, native];
    let mut times = [Vec::new(), Vec::new()];
    for round in 0..runs.warmup + runs.sends {
        for k in 0..2 {
            let i = (round + k) % 2;
            let t = Instant::now();
            clients[i].send().await?;
            if round >= runs.warmup {
                times[i].push(t.elapsed());
            }
        }
    }
    sim.reset();
    let [through, direct] = times.map(|t| Summary::of_micros(&t).scaled(1e-3));
    report.row(
        "gateway.send",
        "one send through wasmtime serve",
        "ms",
        through,
        None,
    );
    report.row(
        "gateway.direct",
        "one send posted directly (native, new conn.)",
        "ms",
        direct,
        None,
    );
    report.ratio(
        "gateway.ratio",
        "wasmtime serve / direct",
        through,
        direct,
        None,
    );
    for callers in CALLERS {
        let mut rates = [Vec::new(), Vec::new()];
        for run in 0..runs.throughput_runs {
            for k in 0..2 {
                let i = (run + k) % 2;
                rates[i].push(sends_per_second(clients[i], callers, runs.throughput_window).await?);
                sim.reset();
            }
        }
        let ratios: Vec<f64> = rates[0].iter().zip(&rates[1]).map(|(g, d)| g / d).collect();
        let [through, direct] = rates.map(Summary::of);
        report.row(
            &format!("gateway.throughput.{callers}"),
            &format!("N={callers} through wasmtime serve"),
            "sends/s",
            through,
            None,
        );
        report.row(
            &format!("gateway.throughput.{callers}.direct"),
            &format!("N={callers} direct (native, new conn.)"),
            "sends/s",
            direct,
            None,
        );
        report.row(
            &format!("gateway.throughput.{callers}.ratio"),
            &format!("N={callers} wasmtime serve / direct"),
            "x",
            Summary::of(ratios),
            None,
        );
    }
    Ok(())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
