//! The compiled component kept on disk, so a second start skips compilation.
//!
//! An entry is keyed by the wasm's SHA-256 and the engine's compatibility hash (which
//! covers the wasmtime version and every setting that changes the machine code), so a
//! new build of either never loads stale code.

use std::hash::{Hash, Hasher};
use std::path::Path;

use anyhow::Context as _;
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::LoadedFrom;

/// Loads the compiled `wasm` from `dir`, compiling and storing it on a miss.
pub fn load(engine: &Engine, wasm: &[u8], dir: &Path) -> anyhow::Result<(Component, LoadedFrom)> {
    let path = dir.join(format!("{}.cwasm", key(engine, wasm)));
    if path.exists() {
        // SAFETY: the file was written by `precompile_component` for an engine with the
        // same compatibility hash (it is in the name); a corrupt or foreign file is
        // caught by wasmtime's header checks and recompiled below.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => return Ok((component, LoadedFrom::Cache)),
            Err(_) => std::fs::remove_file(&path).ok(),
        };
    }
    let compiled = engine.precompile_component(wasm)?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    // Write then rename, so a concurrent start never reads half a file.
    let partial = dir.join(format!(".{}.{}", std::process::id(), key(engine, wasm)));
    std::fs::write(&partial, &compiled)
        .and_then(|()| std::fs::rename(&partial, &path))
        .with_context(|| format!("writing {}", path.display()))?;
    // SAFETY: these bytes were just produced by `precompile_component` on this engine.
    let component = unsafe { Component::deserialize(engine, &compiled)? };
    Ok((component, LoadedFrom::Compiled))
}

fn key(engine: &Engine, wasm: &[u8]) -> String {
    let mut hasher = std::hash::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let digest = Sha256::digest(wasm);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("{hex}-{:016x}", hasher.finish())
}
