//! Loads the component with the user's settings, or with the embedded simulator when
//! there are no credentials to use.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use heymarket_simulator::{Config, Simulator};
use heymarket_step::{ConfigError, LoadedFrom, Step, StepConfig};

use super::Global;
use super::report::Failure;

/// Variables the tool itself reads; the component has no use for them.
const HOST_ONLY: [&str; 3] = [
    "HEYMARKET_SMS_WASM",
    "HEYMARKET_CACHE",
    "HEYMARKET_WASMTIME",
];
/// Any of these means the user has credentials of their own.
const CREDENTIALS: [&str; 3] = [
    "HEYMARKET_API_KEY",
    "HEYMARKET_SECRET_ID",
    "HEYMARKET_SECRET_KEY",
];

/// A loaded step, and the simulator it talks to when it runs on one.
pub struct Host {
    pub step: Arc<Step>,
    /// Kept alive for as long as the step may send to it.
    pub simulator: Option<Simulator>,
}

impl Host {
    /// Says on stderr, after the work is done, that the simulator took the messages.
    pub fn finish(&self) {
        if self.simulator.is_some() {
            eprintln!(
                "heymarket-step: nothing left this machine: the embedded simulator answered \
                 instead of Heymarket"
            );
        }
    }
}

/// The `HEYMARKET_*` variables of this process, minus the tool's own.
fn component_env() -> Result<Vec<(String, String)>, Failure> {
    let mut env = Vec::new();
    for (name, value) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        if !name.starts_with("HEYMARKET_") || HOST_ONLY.contains(&name) {
            continue;
        }
        // The value is never printed: it may be a secret.
        let value = value
            .into_string()
            .map_err(|_| Failure::configuration(format!("{name} is not valid UTF-8")))?;
        env.push((name.to_owned(), value));
    }
    env.sort();
    Ok(env)
}

/// Where compiled components are kept unless `--cache-dir` or `--no-cache` says otherwise.
fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("HEYMARKET_CACHE")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("heymarket-sms"))
        })
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/heymarket-sms"))
        })?;
    Some(base.join("compiled"))
}

/// Loads the component. `network` is false for previews, which never need credentials
/// and so never start the simulator.
pub fn open(global: &Global, network: bool, max_instances: u32) -> Result<Host, Failure> {
    let mut env = component_env()?;
    if let Some(url) = &global.base_url {
        env.retain(|(name, _)| name != "HEYMARKET_BASE_URL");
        env.push(("HEYMARKET_BASE_URL".into(), url.clone()));
    }
    let has_credentials = env.iter().any(|(n, _)| CREDENTIALS.contains(&n.as_str()));
    let has_target = env.iter().any(|(n, _)| n == "HEYMARKET_BASE_URL");

    let mut simulator = None;
    if network && !has_credentials && !has_target {
        let sim = Simulator::start(Config::default())
            .map_err(|e| Failure::internal(format!("starting the embedded simulator: {e}")))?;
        eprintln!(
            "heymarket-step: no credentials in the environment and no --base-url: sending to \
             the embedded Heymarket simulator at {} (nothing leaves this machine)",
            sim.base_url()
        );
        env.push((
            "HEYMARKET_API_KEY".into(),
            Config::default().api_keys[0].clone(),
        ));
        env.push(("HEYMARKET_BASE_URL".into(), sim.base_url()));
        simulator = Some(sim);
    }

    let wasm = match &global.component {
        Some(path) => path.clone(),
        None => heymarket_step::component_wasm()
            .map_err(|e| Failure::internal(format!("finding the component: {e:#}")))?,
    };
    let cache_dir = match (&global.cache_dir, global.no_cache) {
        (_, true) => None,
        (Some(dir), false) => Some(dir.clone()),
        (None, false) => default_cache_dir(),
    };
    let config = StepConfig {
        env,
        allowed_authorities: global.allow_host.clone(),
        cache_dir: cache_dir.clone(),
        max_instances,
        ..StepConfig::default()
    };
    let started = Instant::now();
    let step = Step::load(&wasm, config).map_err(|e| match e.downcast_ref::<ConfigError>() {
        Some(config) => Failure::configuration(config.to_string()),
        None => Failure::internal(format!("loading {}: {e:#}", wasm.display())),
    })?;
    if global.verbose {
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        match (step.loaded_from(), &cache_dir) {
            (LoadedFrom::Cache, Some(dir)) => eprintln!(
                "heymarket-step: loaded the compiled component from the cache in {} ({ms:.1} ms)",
                dir.display()
            ),
            (_, Some(dir)) => eprintln!(
                "heymarket-step: compiled {} in {ms:.1} ms and cached it in {}",
                wasm.display(),
                dir.display()
            ),
            (_, None) => eprintln!(
                "heymarket-step: compiled {} in {ms:.1} ms (no cache)",
                wasm.display()
            ),
        }
    }
    Ok(Host {
        step: Arc::new(step),
        simulator,
    })
}
