//! Runs the `heymarket-sms` component in an embedded wasmtime: the embedding an
//! automation platform would copy.
//!
//! One [`Step`] compiles (or loads from the on-disk cache) the component once and
//! pre-links it; every call then gets a fresh store and instance, so nothing leaks from
//! one send to the next. The guest is sandboxed: it may reach only the hosts it is
//! allowed, its memory is capped, each call has a wall-clock limit, and it sees only
//! the `HEYMARKET_*` variables it is given.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, bail};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

mod cache;
mod pool;

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "heymarket-sms",
    exports: { default: async },
    with: {
        "wasi:http": wasmtime_wasi_http::p2::bindings::http,
        "wasi:io": wasmtime_wasi::p2::bindings::io,
        "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
        "wasi:random": wasmtime_wasi::p2::bindings::random,
        "wasi:cli": wasmtime_wasi::p2::bindings::cli,
    },
});

pub use exports::heymarket::sms::messages::{
    ApiError, Encoding, FieldError, Message, MessagePreview, PermanentFailure, SendError,
    SentMessage, TransientFailure,
};

/// How long one epoch tick lasts; call limits are counted in ticks.
const EPOCH_TICK: Duration = Duration::from_millis(10);
/// How much of each pooled linear memory stays mapped between calls: above the
/// component's measured peak of 320 KiB, with room for a larger message. The price is
/// resident memory: every slot that has run a call keeps what it used, about 320 KiB,
/// so a step that once ran `max_instances` calls at once holds that many (40 MiB at the
/// default 128) until it is dropped.
const KEEP_RESIDENT: usize = 1 << 20;
/// The most the guest may print on stdout or stderr in one call; the rest is dropped.
const MAX_GUEST_OUTPUT: usize = 64 * 1024;

/// How a [`Step`] runs the component.
#[derive(Clone)]
pub struct StepConfig {
    /// The `HEYMARKET_*` variables the guest sees; any other name is refused.
    pub env: Vec<(String, String)>,
    /// The `host[:port]` authorities the guest may send requests to. When empty, the
    /// authority of `HEYMARKET_BASE_URL` (or Heymarket's own) is the only one allowed.
    pub allowed_authorities: Vec<String>,
    /// The most linear memory one instance may grow to.
    pub memory_limit: usize,
    /// The longest one call may run, waits included.
    pub call_limit: Duration,
    /// Where compiled components are kept between runs; `None` compiles every time.
    pub cache_dir: Option<PathBuf>,
    /// How many instances may live at once (the pooling allocator's slots).
    pub max_instances: u32,
}

impl Default for StepConfig {
    fn default() -> Self {
        StepConfig {
            env: Vec::new(),
            allowed_authorities: Vec::new(),
            memory_limit: 16 << 20,
            call_limit: Duration::from_secs(150),
            cache_dir: None,
            max_instances: 128,
        }
    }
}

impl std::fmt::Debug for StepConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.env.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("StepConfig")
            .field("env", &names)
            .field("allowed_authorities", &self.allowed_authorities)
            .field("memory_limit", &self.memory_limit)
            .field("call_limit", &self.call_limit)
            .field("cache_dir", &self.cache_dir)
            .field("max_instances", &self.max_instances)
            .finish()
    }
}

/// A failure of the host or the sandbox rather than a `send-error`: the guest trapped,
/// ran out of time or memory. The guest's output is attached for diagnosis.
#[derive(Debug)]
pub struct CallError {
    /// What went wrong, e.g. that the call ran past its limit.
    pub reason: String,
    /// What the guest printed on stdout and stderr during the call (bounded).
    pub guest_output: String,
}

/// A [`StepConfig`] that cannot work: a variable outside `HEYMARKET_*`, or a base URL
/// without a usable host. [`Step::load`] fails with this (inside its `anyhow::Error`)
/// so that callers can tell a configuration problem from a broken component.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the component failed: {}", self.reason)?;
        if !self.guest_output.is_empty() {
            write!(f, "\nguest output:\n{}", self.guest_output)?;
        }
        Ok(())
    }
}

impl std::error::Error for CallError {}

/// The stable name of an error's case, as `transient.rate-limited`: the same names the
/// component and the gateway use.
pub fn error_kind(error: &SendError) -> &'static str {
    match error {
        SendError::Permanent(p) => match p {
            PermanentFailure::InvalidMessage(_) => "permanent.invalid-message",
            PermanentFailure::Configuration(_) => "permanent.configuration",
            PermanentFailure::Unauthorized(_) => "permanent.unauthorized",
            PermanentFailure::Forbidden(_) => "permanent.forbidden",
            PermanentFailure::Rejected(_) => "permanent.rejected",
        },
        SendError::Transient(t) => match t {
            TransientFailure::RateLimited(_) => "transient.rate-limited",
            TransientFailure::Server(_) => "transient.server",
            TransientFailure::Timeout(_) => "transient.timeout",
            TransientFailure::Connection(_) => "transient.connection",
            TransientFailure::InvalidResponse(_) => "transient.invalid-response",
        },
        SendError::ExecutionFailed => "execution-failed",
    }
}

/// One readable line for `error`: what happened and Heymarket's own message. Carries no
/// secret: the component redacts credentials from everything it returns.
pub fn describe(error: &SendError) -> String {
    let api = |what: &str, e: &ApiError| {
        if e.message.is_empty() {
            format!("{what} (HTTP {})", e.status)
        } else {
            format!("{what} (HTTP {}): {}", e.status, e.message)
        }
    };
    match error {
        SendError::Permanent(p) => match p {
            PermanentFailure::InvalidMessage(errors) => {
                let fields: Vec<String> = errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.reason))
                    .collect();
                format!("the message is invalid: {}", fields.join("; "))
            }
            PermanentFailure::Configuration(text) => format!("configuration: {text}"),
            PermanentFailure::Unauthorized(e) => api("Heymarket refused the credentials", e),
            PermanentFailure::Forbidden(e) => api("Heymarket denied access", e),
            PermanentFailure::Rejected(e) => api("Heymarket rejected the message", e),
        },
        SendError::Transient(t) => match t {
            TransientFailure::RateLimited(e) => api("rate limited on every attempt", e),
            TransientFailure::Server(e) => api("Heymarket failed on every attempt", e),
            TransientFailure::Timeout(text) => format!("timed out: {text}"),
            TransientFailure::Connection(text) => format!("could not reach Heymarket: {text}"),
            TransientFailure::InvalidResponse(e) => {
                api("Heymarket's answer is not the documented shape", e)
            }
        },
        SendError::ExecutionFailed => "the engine failed to run the step".to_string(),
    }
}

/// Heymarket's `X-Request-Id` for `error`, when the failure came from an answer.
pub fn request_id(error: &SendError) -> Option<&str> {
    api_error(error).and_then(|e| e.request_id.as_deref())
}

/// The HTTP answer behind `error`, when there was one.
pub fn api_error(error: &SendError) -> Option<&ApiError> {
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

/// Where the compiled component came from, for start-up reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadedFrom {
    /// Compiled from the `.wasm` during this load.
    Compiled,
    /// Read, already compiled, from the cache directory.
    Cache,
}

/// The component, compiled and linked once, ready for many calls.
pub struct Step {
    pre: HeymarketSmsPre<State>,
    config: StepConfig,
    allowed: Arc<Vec<String>>,
    loaded_from: LoadedFrom,
    pool: pool::Pool,
    _ticker: Ticker,
}

impl Step {
    /// Loads the component at `wasm` under `config`.
    pub fn load(wasm: &Path, config: StepConfig) -> anyhow::Result<Step> {
        for (name, _) in &config.env {
            if !name.starts_with("HEYMARKET_") {
                return Err(ConfigError(format!(
                    "only HEYMARKET_* variables are passed to the component, not {name}"
                ))
                .into());
            }
        }
        let allowed = if config.allowed_authorities.is_empty() {
            vec![base_authority(&config.env).map_err(ConfigError)?]
        } else {
            config.allowed_authorities.clone()
        };

        let engine = engine(&config)?;
        let bytes = std::fs::read(wasm).with_context(|| format!("reading {}", wasm.display()))?;
        let (component, loaded_from) = match &config.cache_dir {
            Some(dir) => cache::load(&engine, &bytes, dir)?,
            None => (Component::new(&engine, &bytes)?, LoadedFrom::Compiled),
        };

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        let pre = HeymarketSmsPre::new(linker.instantiate_pre(&component)?)?;
        Ok(Step {
            pre,
            config,
            allowed: Arc::new(allowed),
            loaded_from,
            pool: pool::Pool::default(),
            _ticker: Ticker::start(engine),
        })
    }

    /// Whether this step compiled the component or found it in the cache.
    pub fn loaded_from(&self) -> LoadedFrom {
        self.loaded_from
    }

    /// How many connections the guest's requests have needed so far: calls share
    /// keep-alive connections to the allowed hosts.
    pub fn connections_opened(&self) -> u64 {
        self.pool.connections_opened()
    }

    /// Calls `send-message`.
    pub async fn send(
        &self,
        message: &Message,
    ) -> Result<Result<SentMessage, SendError>, CallError> {
        self.call(async |sms, store| {
            sms.heymarket_sms_messages()
                .call_send_message(store, message)
                .await
        })
        .await
    }

    /// Calls `preview-message`.
    pub async fn preview(
        &self,
        message: &Message,
    ) -> Result<Result<MessagePreview, SendError>, CallError> {
        self.call(async |sms, store| {
            sms.heymarket_sms_messages()
                .call_preview_message(store, message)
                .await
        })
        .await
    }

    async fn call<R>(
        &self,
        f: impl AsyncFnOnce(&HeymarketSms, &mut Store<State>) -> wasmtime::Result<R>,
    ) -> Result<R, CallError> {
        let output = MemoryOutputPipe::new(MAX_GUEST_OUTPUT);
        let mut wasi = WasiCtx::builder();
        wasi.envs(&self.config.env)
            .stdout(output.clone())
            .stderr(output.clone())
            .allow_ip_name_lookup(true);
        let state = State {
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks: AllowList {
                allowed: self.allowed.clone(),
                denied: Arc::default(),
                pool: self.pool.clone(),
            },
            limits: StoreLimitsBuilder::new()
                .memory_size(self.config.memory_limit)
                .build(),
        };
        let mut store = Store::new(self.pre.engine(), state);
        store.limiter(|state| &mut state.limits);
        let ticks = self.config.call_limit.as_millis() / EPOCH_TICK.as_millis();
        store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX).max(1));
        store.epoch_deadline_trap();

        let result = async {
            let sms = self.pre.instantiate_async(&mut store).await?;
            f(&sms, &mut store).await
        }
        .await;
        result.map_err(|e| {
            let reason = match e.downcast_ref::<wasmtime::Trap>() {
                Some(wasmtime::Trap::Interrupt) => format!(
                    "the call ran longer than its limit of {} ms",
                    self.config.call_limit.as_millis()
                ),
                _ => format!("{e:#}"),
            };
            CallError {
                reason,
                guest_output: String::from_utf8_lossy(&output.contents()).into_owned(),
            }
        })
    }
}

/// The authority of `HEYMARKET_BASE_URL`, or of Heymarket's API when unset.
fn base_authority(env: &[(String, String)]) -> Result<String, String> {
    let url = env
        .iter()
        .find(|(k, _)| k == "HEYMARKET_BASE_URL")
        .map_or("https://api.heymarket.com", |(_, v)| v.as_str());
    let uri: http::Uri = url.parse().map_err(|_| {
        format!(
            "HEYMARKET_BASE_URL is not a URL: {:?}",
            without_userinfo(url)
        )
    })?;
    let authority = uri.authority().ok_or_else(|| {
        format!(
            "HEYMARKET_BASE_URL has no host: {:?}",
            without_userinfo(url)
        )
    })?;
    Ok(with_default_port(authority, uri.scheme_str()))
}

/// `url` with any `user:password@` replaced: a credential pasted into the URL must not
/// come back in an error.
fn without_userinfo(url: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    match url[start..end].rfind('@') {
        Some(at) => format!("{}[redacted]{}", &url[..start], &url[start + at..]),
        None => url.to_owned(),
    }
}

/// `host:port` with the scheme's default port made explicit, so `host` and `host:443`
/// compare equal.
fn with_default_port(authority: &http::uri::Authority, scheme: Option<&str>) -> String {
    let port = authority
        .port_u16()
        .unwrap_or(if scheme == Some("http") { 80 } else { 443 });
    format!("{}:{port}", authority.host().to_ascii_lowercase())
}

fn engine(config: &StepConfig) -> anyhow::Result<Engine> {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(config.max_instances)
        .total_core_instances(config.max_instances * 4)
        .total_memories(config.max_instances * 2)
        .total_tables(config.max_instances * 4)
        .max_memory_size(config.memory_limit)
        // A call's instance touches about 320 KiB of linear memory (BENCHMARKS.md).
        // Resetting a slot with `memset` rather than `madvise` spares the next call
        // its page faults and every other thread a TLB shootdown.
        .linear_memory_keep_resident(KEEP_RESIDENT)
        .table_keep_resident(64 << 10);
    let mut wasm = Config::new();
    wasm.epoch_interruption(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    #[cfg(feature = "perfmap")]
    wasm.profiler(wasmtime::ProfilingStrategy::PerfMap);
    Ok(Engine::new(&wasm)?)
}

/// Advances the engine's epoch so that call limits are enforced; stops on drop.
struct Ticker {
    stop: Arc<Mutex<bool>>,
}

impl Ticker {
    fn start(engine: Engine) -> Ticker {
        let stop = Arc::new(Mutex::new(false));
        let flag = stop.clone();
        std::thread::spawn(move || {
            while !*flag.lock().unwrap_or_else(|e| e.into_inner()) {
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            }
        });
        Ticker { stop }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        *self.stop.lock().unwrap_or_else(|e| e.into_inner()) = true;
    }
}

struct State {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: AllowList,
    limits: StoreLimits,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for State {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// Refuses every outgoing request to an authority that is not allowed, before any
/// connection is made.
struct AllowList {
    allowed: Arc<Vec<String>>,
    denied: Arc<Mutex<Vec<String>>>,
    pool: pool::Pool,
}

type SendFuture = Box<
    dyn Future<
            Output = wasmtime_wasi_http::Result<(
                http::Response<wasmtime_wasi_http::WasiBody>,
                Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
            )>,
        > + Send,
>;

impl WasiHttpHooks for AllowList {
    fn send_request(
        &mut self,
        request: http::Request<wasmtime_wasi_http::WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        fut: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> SendFuture {
        let uri = request.uri();
        let target = uri
            .authority()
            .map(|a| with_default_port(a, uri.scheme_str()));
        let allowed = target
            .as_ref()
            .is_some_and(|t| self.allowed.iter().any(|a| a.eq_ignore_ascii_case(t)));
        if !allowed {
            let target = target.unwrap_or_default();
            self.denied
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(target);
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        let _ = fut;
        let pool = self.pool.clone();
        Box::new(async move { pool.send(request, options).await })
    }
}

/// The built component: `HEYMARKET_SMS_WASM` when set, else this workspace's release
/// build. Cargo is asked every time (`cargo build --release --target wasm32-wasip2`), so
/// a stale build is never used; when the build is fresh that costs a few hundred
/// milliseconds, which an installed tool avoids by setting `HEYMARKET_SMS_WASM`. The
/// `wasm32-wasip2` target is added through rustup first when it is missing, so a fresh
/// machine with only rustup and cargo gets there on its own.
pub fn component_wasm() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("HEYMARKET_SMS_WASM") {
        return Ok(PathBuf::from(path));
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let wasm = target.join("wasm32-wasip2/release/heymarket_sms.wasm");
    ensure_wasm_target();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    // Cargo decides freshness itself; a no-op build takes a fraction of a second.
    let status = std::process::Command::new(cargo)
        .current_dir(&root)
        .args(["build", "--quiet", "--release", "--target", "wasm32-wasip2"])
        .args(["-p", "heymarket-sms"])
        .status()
        .context("running cargo to build the component")?;
    if !status.success() {
        bail!("building the component failed ({status})");
    }
    Ok(wasm)
}

/// Adds the `wasm32-wasip2` target when rustup manages the toolchain and lacks it. Without
/// rustup nothing is done, and cargo's own error names the missing target.
fn ensure_wasm_target() {
    let installed = std::process::Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    let Ok(output) = installed else { return };
    let listed = String::from_utf8_lossy(&output.stdout);
    if output.status.success() && !listed.lines().any(|t| t.trim() == "wasm32-wasip2") {
        eprintln!("adding the wasm32-wasip2 target with rustup (once)");
        let _ = std::process::Command::new("rustup")
            .args(["target", "add", "wasm32-wasip2"])
            .status();
    }
}
