//! The large guests real toolchains make, a JavaScript one
//! (componentize-js: SpiderMonkey) and a Python one (componentize-py:
//! CPython), load, link against trapping stubs and instantiate on both
//! engines.
//!
//! They are not checked in (13-18 MB each): the tests run
//! `tests/fixtures/big/build.sh`, which builds them into `target/guests/`
//! when they are missing or older than their sources (about a minute, plus
//! a minute to install the tools into `target/guest-tools/` the first time;
//! the npm registry and PyPI must be reachable) and returns at once
//! otherwise. Set `COHOST_SKIP_BIG_GUESTS=1` to skip these tests.
//!
//! Run with `--nocapture` to see sizes, core-module counts and timings.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use engine_abi::engine::Engine;
use engine_abi::{Component, ImportItem, Store};

use crate::{block_on, interp, jit};

/// The incoming handler every guest exports (the JS guest exports it at
/// 0.2.10; lookups are semver-compatible).
const HANDLE: &str = "wasi:http/incoming-handler@0.2.12#handle";

/// Serialises the tests here: building runs once, and each compile of a
/// 13-18 MB guest has the machine to itself, so the timings mean something.
static LOCK: Mutex<()> = Mutex::new(());

fn guests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/guests")
}

fn skip() -> bool {
    if std::env::var_os("COHOST_SKIP_BIG_GUESTS").is_some() {
        eprintln!("big guests: skipped (COHOST_SKIP_BIG_GUESTS is set)");
        return true;
    }
    false
}

/// The bytes of `target/guests/NAME`. The first call in this process runs
/// the build script, which returns at once when every output is newer than
/// its sources (and otherwise rebuilds what is stale or missing). Call with
/// `LOCK` held.
fn big_guest(name: &str) -> Vec<u8> {
    static BUILT: AtomicBool = AtomicBool::new(false);
    let dir = guests_dir();
    if !BUILT.load(Ordering::Relaxed) {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let started = Instant::now();
        let out = Command::new("bash")
            .arg(root.join("tests/fixtures/big/build.sh"))
            .current_dir(root)
            .env("COHOST_GUESTS_OUT", &dir)
            .output()
            .expect("run bash tests/fixtures/big/build.sh");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "tests/fixtures/big/build.sh failed ({}):\n{}{stderr}\n\
             (COHOST_SKIP_BIG_GUESTS=1 skips these tests)",
            out.status,
            String::from_utf8_lossy(&out.stdout),
        );
        eprint!("{stderr}");
        eprintln!("big guests: build script took {:.1?}", started.elapsed());
        BUILT.store(true, Ordering::Relaxed);
    }
    let path = dir.join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The interfaces a component imports (every one that has a function or a
/// resource), as `namespace:package/interface@version`.
fn imported_interfaces<E: Engine>(component: &Component<E>) -> BTreeSet<String> {
    component
        .imports()
        .map(|i| match i {
            ImportItem::Func { interface, .. } | ImportItem::Resource { interface, .. } => {
                interface.unwrap_or("<top level>").to_string()
            }
        })
        .collect()
}

/// Load, link against stubs and instantiate `name` on `engine`; check its
/// exports and imports. Returns the exported functions, for comparison
/// between engines.
async fn load_and_instantiate<E: Engine>(
    engine: E,
    name: &str,
    expected_imports: &[&str],
) -> Vec<String> {
    let bytes = big_guest(name);
    let what = format!("{name} on {}", engine.name());

    let t = Instant::now();
    let component =
        Component::new(&engine, &bytes).unwrap_or_else(|e| panic!("Component::new({what}): {e:#}"));
    let compile = t.elapsed();

    let (modules, instantiations) = component.core_counts();
    let funcs = component
        .imports()
        .filter(|i| matches!(i, ImportItem::Func { .. }))
        .count();
    let resources = component.imports().count() - funcs;
    let interfaces = imported_interfaces(&component);

    let linker = crate::stub_linker(&component);
    let mut store = Store::new(&engine, ());
    let t = Instant::now();
    let instance = linker
        .instantiate(&mut store, &component)
        .await
        .unwrap_or_else(|e| panic!("instantiate({what}): {e:#}"));
    let first = t.elapsed();

    // A second instance in a fresh store: the per-request path.
    let mut store2 = Store::new(&engine, ());
    let pre = linker
        .instantiate_pre(&component)
        .unwrap_or_else(|e| panic!("instantiate_pre({what}): {e:#}"));
    let t = Instant::now();
    let instance2 = pre
        .instantiate(&mut store2)
        .await
        .unwrap_or_else(|e| panic!("second instantiate({what}): {e:#}"));
    let second = t.elapsed();

    eprintln!(
        "{what}: {:.1} MB, {modules} core modules, {instantiations} core instantiations, \
         {funcs} imported functions + {resources} resources from {} interfaces; \
         Component::new {compile:.2?}, instantiate {first:.2?} (again, fresh store: {second:.2?})",
        bytes.len() as f64 / 1e6,
        interfaces.len(),
    );

    assert!(
        instance.func(&store, HANDLE).is_some(),
        "{what}: no export {HANDLE}"
    );
    assert!(
        instance2.func(&store2, HANDLE).is_some(),
        "{what}: no export {HANDLE} (second instance)"
    );
    let exports: Vec<String> = component
        .exported_funcs()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert!(
        exports
            .iter()
            .any(|n| n.starts_with("wasi:http/incoming-handler@0.2.") && n.ends_with("#handle")),
        "{what}: exported functions {exports:?}"
    );

    let expected: BTreeSet<String> = expected_imports.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        interfaces,
        expected,
        "{what}: imported interfaces\n  unexpected: {:?}\n  missing: {:?}",
        interfaces.difference(&expected).collect::<Vec<_>>(),
        expected.difference(&interfaces).collect::<Vec<_>>(),
    );
    exports
}

fn both_engines(name: &str, expected_imports: &[&str]) {
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if skip() {
        return;
    }
    let a = block_on(load_and_instantiate(jit(), name, expected_imports));
    let b = block_on(load_and_instantiate(interp(), name, expected_imports));
    assert_eq!(a, b, "{name}: the engines see different exports");
}

/// componentize-js 0.23.0 binds wasi:http@0.2.10 (the build script renames
/// the vendored WIT); the rest of WASI comes from StarlingMonkey at 0.2.12.
const JS_IMPORTS: &[&str] = &[
    "wasi:cli/stderr@0.2.12",
    "wasi:cli/stdin@0.2.12",
    "wasi:cli/stdout@0.2.12",
    "wasi:cli/terminal-input@0.2.12",
    "wasi:cli/terminal-output@0.2.12",
    "wasi:cli/terminal-stderr@0.2.12",
    "wasi:cli/terminal-stdin@0.2.12",
    "wasi:cli/terminal-stdout@0.2.12",
    "wasi:clocks/monotonic-clock@0.2.12",
    "wasi:clocks/wall-clock@0.2.12",
    "wasi:filesystem/preopens@0.2.12",
    "wasi:filesystem/types@0.2.12",
    "wasi:http/outgoing-handler@0.2.10",
    "wasi:http/types@0.2.10",
    "wasi:io/error@0.2.12",
    "wasi:io/poll@0.2.12",
    "wasi:io/streams@0.2.12",
    "wasi:random/random@0.2.12",
];

/// componentize-py 0.25.1: the proxy world at 0.2.12, plus what its
/// wasi-libc pulls in beyond it at 0.2.9 (environment, exit, terminals,
/// filesystem, sockets).
const PY_IMPORTS: &[&str] = &[
    "wasi:cli/environment@0.2.9",
    "wasi:cli/exit@0.2.9",
    "wasi:cli/stderr@0.2.12",
    "wasi:cli/stdin@0.2.12",
    "wasi:cli/stdout@0.2.12",
    "wasi:cli/terminal-input@0.2.9",
    "wasi:cli/terminal-output@0.2.9",
    "wasi:cli/terminal-stderr@0.2.9",
    "wasi:cli/terminal-stdin@0.2.9",
    "wasi:cli/terminal-stdout@0.2.9",
    "wasi:clocks/monotonic-clock@0.2.12",
    "wasi:clocks/wall-clock@0.2.12",
    "wasi:filesystem/preopens@0.2.9",
    "wasi:filesystem/types@0.2.9",
    "wasi:http/outgoing-handler@0.2.12",
    "wasi:http/types@0.2.12",
    "wasi:io/error@0.2.12",
    "wasi:io/poll@0.2.12",
    "wasi:io/streams@0.2.12",
    "wasi:random/random@0.2.12",
    "wasi:sockets/instance-network@0.2.9",
    "wasi:sockets/ip-name-lookup@0.2.9",
    "wasi:sockets/network@0.2.9",
    "wasi:sockets/tcp-create-socket@0.2.9",
    "wasi:sockets/tcp@0.2.9",
    "wasi:sockets/udp-create-socket@0.2.9",
    "wasi:sockets/udp@0.2.9",
];

#[test]
fn js_guest_instantiates_on_both_engines() {
    both_engines("js-hello.wasm", JS_IMPORTS);
}

#[test]
fn py_guest_instantiates_on_both_engines() {
    both_engines("py-hello.wasm", PY_IMPORTS);
}
