//! Link settings for the component.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // The toolchain gives a wasm module 1 MiB of stack, which alone would put every
    // instance's linear memory over 1 MiB. The deepest call chain is the JSON reader
    // (src/json.rs) skipping a hostile answer, one small frame per level up to its
    // nesting limit of 128; tests/component.rs sends such answers. See BENCHMARKS.md.
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        println!("cargo:rustc-link-arg-cdylib=-zstack-size=262144");
    }
}
