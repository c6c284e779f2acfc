//! cohost's integration tests, as one test binary.

/// `both_engines!(a, b)`: tests `jit_engine::a`, `interp_engine::a`, … that
/// call `a(crate::jit())` and `a(crate::interp())`.
macro_rules! both_engines {
    ($($name:ident),* $(,)?) => {
        mod jit_engine {
            $(#[test] fn $name() { super::$name(crate::jit()) })*
        }
        mod interp_engine {
            $(#[test] fn $name() { super::$name(crate::interp()) })*
        }
    };
}

mod allocations;
mod bad_input;
mod big_guests;
mod budget;
mod cli;
mod components;
mod composed;
mod composition;
mod differential;
mod engines;
mod hostile;
mod http;
mod lift;
mod limits;
mod lower;
#[cfg(target_os = "linux")]
mod no_jit;
mod reference;
mod reuse;
mod roundtrip;
mod stack;
mod wast;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;

/// The system allocator, counting the allocations each thread makes (see
/// `allocations.rs`).
pub struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to `System`; the count is a
// thread-local `Cell` with a const initialiser, which never allocates.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: the caller's contract is `System`'s.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// How many allocations (and reallocations) this thread has made.
pub fn allocations_on_this_thread() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

/// How many cases a proptest runs: `default`, short enough for CI, unless
/// `COHOST_FUZZ_CASES` asks for more (or fewer), for a long fuzzing run.
/// (proptest's own `PROPTEST_CASES` does not override an explicit count.)
pub fn fuzz_cases(default: u32) -> u32 {
    match std::env::var("COHOST_FUZZ_CASES") {
        Ok(n) => n
            .parse()
            .unwrap_or_else(|_| panic!("COHOST_FUZZ_CASES={n:?} is not a number of cases")),
        Err(_) => default,
    }
}

/// Run the fuzz target `check` on [`fuzz_cases`]`(default)` values of
/// `strategy` (regressions saved beside `source_file`, the caller's
/// `file!()`), panicking with the shrunk case on a failure; returns how
/// many cases `check` called a success (`Ok(true)`), and how many ran.
pub fn run_fuzz_target<S: proptest::strategy::Strategy>(
    default: u32,
    source_file: &'static str,
    strategy: S,
    check: impl Fn(S::Value) -> Result<bool, proptest::test_runner::TestCaseError>,
) -> (u32, u32) {
    let config = proptest::test_runner::Config {
        cases: fuzz_cases(default),
        source_file: Some(source_file),
        ..proptest::test_runner::Config::default()
    };
    let succeeded = Cell::new(0u32);
    let ran = Cell::new(0u32);
    proptest::test_runner::TestRunner::new(config)
        .run(&strategy, |case| {
            let ok = check(case)?;
            ran.set(ran.get() + 1);
            succeeded.set(succeeded.get() + u32::from(ok));
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    (succeeded.get(), ran.get())
}

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

/// The core module `wat` (its WASI imports by their canonical names) made
/// into a component of `wasi:http/proxy@{version}`, whose WIT is in `dir`:
/// what `wasm-tools component embed` + `component new` do.
pub fn proxy_component(wat: &str, dir: &std::path::Path, version: &str) -> Vec<u8> {
    let mut resolve = wit_parser::Resolve::default();
    let (pkg, _) = resolve.push_dir(dir).unwrap();
    let world = resolve
        .select_world(&[pkg], Some(&format!("wasi:http/proxy@{version}")))
        .unwrap();
    let mut core = wat::parse_str(wat).unwrap();
    wit_component::embed_component_metadata(
        &mut core,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
    )
    .unwrap();
    wit_component::ComponentEncoder::default()
        .module(&core)
        .unwrap()
        .validate(true)
        .encode()
        .unwrap()
}

/// The bytes of `tests/fixtures/NAME`.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A linker that satisfies every import of `component` with a function
/// that traps when called, naming itself: enough to instantiate any guest.
pub fn stub_linker<E: engine_abi::engine::Engine>(
    component: &engine_abi::Component<E>,
) -> engine_abi::Linker<()> {
    let mut linker = engine_abi::Linker::new();
    for import in component.imports() {
        match import {
            engine_abi::ImportItem::Resource {
                interface, name, ..
            } => {
                linker.define_resource(interface.unwrap_or(""), name, None);
            }
            engine_abi::ImportItem::Func {
                interface,
                name,
                ty,
            } => {
                let what = format!("{}#{name}", interface.unwrap_or(""));
                linker.define_func(interface.unwrap_or(""), name, ty.clone(), move |_, _| {
                    Err(engine_abi::Trap::host(format!("stub import {what} called")).into())
                });
            }
        }
    }
    linker
}
