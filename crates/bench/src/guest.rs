//! The component in an engine of the harness's own, set up as `heymarket-step` sets up
//! its own (same engine settings, same WASI and `wasi:http` linking), but with the
//! allocator chosen per measurement and a limiter that records how far linear memory
//! grows. Sends in the comparisons go through `heymarket_step::Step` itself.

use std::time::{Duration, Instant};

use wasmtime::component::{Component, InstancePre, Linker, ResourceTable};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, ResourceLimiter, Store,
};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

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

pub use exports::heymarket::sms::messages::Message;

/// `heymarket-step`'s defaults: 128 instances of at most 16 MiB each.
const MAX_INSTANCES: u32 = 128;
const MEMORY_LIMIT: usize = 16 << 20;

/// Which instance allocator an engine uses.
#[derive(Debug, Clone, Copy)]
pub enum Allocator {
    /// Slots reserved up front and reused, as `heymarket-step` runs.
    Pooling,
    /// Wasmtime's default: memory mapped and unmapped per instance.
    OnDemand,
}

/// An engine configured like `heymarket-step`'s, with the given allocator.
pub fn engine(allocator: Allocator) -> anyhow::Result<Engine> {
    let mut config = Config::new();
    config.epoch_interruption(true);
    if let Allocator::Pooling = allocator {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(MAX_INSTANCES)
            .total_core_instances(MAX_INSTANCES * 4)
            .total_memories(MAX_INSTANCES * 2)
            .total_tables(MAX_INSTANCES * 4)
            .max_memory_size(MEMORY_LIMIT);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    Ok(Engine::new(&config)?)
}

/// The component linked against WASI and `wasi:http`, ready to instantiate.
pub fn pre(engine: &Engine, component: &Component) -> anyhow::Result<InstancePre<State>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    Ok(linker.instantiate_pre(component)?)
}

/// What one call's store holds.
pub struct State {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    memory: MemoryWatch,
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
            hooks: wasmtime_wasi_http::default_hooks(),
        }
    }
}

/// Enforces the memory cap like `heymarket-step`'s limiter and records the largest
/// size any linear memory asked for, its initial size included.
#[derive(Default)]
struct MemoryWatch {
    peak: usize,
    memories: usize,
}

impl ResourceLimiter for MemoryWatch {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if current == 0 {
            self.memories += 1;
        }
        self.peak = self.peak.max(desired);
        Ok(desired <= MEMORY_LIMIT)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        _desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(true)
    }
}

/// A fresh store for one call, as `heymarket-step` makes one per call.
fn store(engine: &Engine, env: &[(String, String)]) -> Store<State> {
    let mut wasi = WasiCtx::builder();
    wasi.envs(env).allow_ip_name_lookup(true);
    let state = State {
        wasi: wasi.build(),
        http: WasiHttpCtx::new(),
        table: ResourceTable::new(),
        memory: MemoryWatch::default(),
    };
    let mut store = Store::new(engine, state);
    store.limiter(|state| &mut state.memory);
    store.set_epoch_deadline(u64::MAX);
    store
}

/// Per call: the time to make a store and instantiate (what a call waits for before
/// the guest runs), and the same plus dropping the store (what the call costs in all).
pub async fn instantiation(
    pre: &InstancePre<State>,
    env: &[(String, String)],
    runs: usize,
) -> anyhow::Result<(Vec<Duration>, Vec<Duration>)> {
    let mut ready = Vec::with_capacity(runs);
    let mut total = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let mut store = store(pre.engine(), env);
        pre.instantiate_async(&mut store).await?;
        ready.push(started.elapsed());
        drop(store);
        total.push(started.elapsed());
    }
    Ok((ready, total))
}

/// What one call's instance used.
#[derive(Debug, Clone, Copy)]
pub struct MemoryUse {
    /// The largest linear memory, in bytes.
    pub peak: usize,
    /// How many linear memories the instance created.
    pub memories: usize,
}

/// Sends `message` in a fresh instance and reports how far its memory grew.
pub async fn send_memory(
    pre: &InstancePre<State>,
    env: &[(String, String)],
    message: &Message,
) -> anyhow::Result<MemoryUse> {
    let mut store = store(pre.engine(), env);
    let sms = HeymarketSmsPre::new(pre.clone())?
        .instantiate_async(&mut store)
        .await?;
    let result = sms
        .heymarket_sms_messages()
        .call_send_message(&mut store, message)
        .await?;
    result.map_err(|e| anyhow::anyhow!("the send failed: {e:?}"))?;
    let watch = &store.data().memory;
    Ok(MemoryUse {
        peak: watch.peak,
        memories: watch.memories,
    })
}

/// Compiles `wasm` `runs` times; returns the times.
pub fn compile_times(engine: &Engine, wasm: &[u8], runs: usize) -> anyhow::Result<Vec<Duration>> {
    (0..runs)
        .map(|_| {
            let started = Instant::now();
            Component::new(engine, wasm)
                .map_err(|e| anyhow::anyhow!("compiling the component: {e:#}"))?;
            Ok(started.elapsed())
        })
        .collect()
}

/// Loads the precompiled `artifact` `runs` times; returns the times.
pub fn load_times(engine: &Engine, artifact: &[u8], runs: usize) -> anyhow::Result<Vec<Duration>> {
    (0..runs)
        .map(|_| {
            let started = Instant::now();
            // SAFETY: `artifact` was produced by `precompile_component` on this engine
            // in this process.
            unsafe { Component::deserialize(engine, artifact) }
                .map_err(|e| anyhow::anyhow!("loading the precompiled component: {e:#}"))?;
            Ok(started.elapsed())
        })
        .collect()
}
