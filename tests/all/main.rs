//! cohost's integration tests, as one test binary.

mod components;
mod engines;

use std::future::Future;

/// The JIT engine.
pub fn jit() -> backend_wasmtime::WasmtimeEngine {
    backend_wasmtime::WasmtimeEngine::new().expect("wasmtime starts")
}

/// The interpreter.
pub fn interp() -> backend_wasmi::WasmiEngine {
    backend_wasmi::WasmiEngine::new()
}

/// Run `f` to completion on a fresh current-thread runtime, as a request
/// task would run.
pub fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(f)
}

/// The bytes of `tests/fixtures/NAME`.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
