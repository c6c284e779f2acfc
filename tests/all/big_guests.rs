//! The large guests real toolchains make, a JavaScript one
//! (componentize-js: SpiderMonkey) and a Python one (componentize-py:
//! CPython), served over HTTP on both engines.
//!
//! Each engine compiles each guest once. That one component is inspected
//! (its imports and exports; instantiated against trapping stubs, twice,
//! timed), then served by host-http's `Server` on 127.0.0.1 through a
//! [`Handler`] built from it ([`Handler::from_component`]). A plain
//! HTTP/1.1 client sends `GET /` twice and a ~100 KB `POST /` (echoed back)
//! on one keep-alive connection, then `GET /` and the `POST /` again on a
//! second connection; each request runs in a fresh instance. Then the same
//! again with instance reuse on: the Python guest serves them from reused
//! instances, the JavaScript one (StarlingMonkey answers one request per
//! instance) is refused reuse and still answers every request. Both
//! engines must answer alike (status, headers but `date`, body).
//!
//! They are not checked in (13-18 MB each): the tests run
//! `tests/fixtures/big/build.sh`, which builds them into `target/guests/`
//! when they are missing or older than their sources (about a minute, plus
//! a minute to install the tools into `target/guest-tools/` the first time;
//! the npm registry and PyPI must be reachable) and returns at once
//! otherwise. Set `COHOST_SKIP_BIG_GUESTS=1` to skip these tests.
//!
//! Run with `--nocapture` to see sizes, core-module counts and timings.
//! The server logs host warnings and errors (a trap, the guest's stderr)
//! to the test's output; `RUST_LOG=debug` (a level: `info`, `debug`,
//! `trace`; not a per-target filter) shows more.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use engine_abi::engine::Engine;
use engine_abi::{Component, ImportItem, Store};
use host_http::{Config, Handler, ServerConfig};

use crate::http::{Conn, Response, serve_handler};
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

/// What one guest must do.
struct Guest {
    /// The file in `target/guests/`.
    file: &'static str,
    /// The interfaces it imports, exactly.
    imports: &'static [&'static str],
    /// Its answer to `GET /` (as `text/plain`).
    greeting: &'static str,
    /// Whether its instances may serve several requests (StarlingMonkey's
    /// answer one fetch event each; cohost refuses to reuse them).
    reusable: bool,
}

/// Everything both engines must agree on: the exported functions and the
/// responses, in order.
struct Seen {
    exports: Vec<String>,
    responses: Vec<Response>,
}

/// Compile `guest` on `engine` (once), check and time it against trapping
/// stubs, then serve it over HTTP from the same component.
fn check_on<E: Engine>(engine: E, guest: &Guest, bytes: &[u8]) -> Seen {
    let what = format!("{} on {}", guest.file, engine.name());

    let t = Instant::now();
    let component =
        Component::new(&engine, bytes).unwrap_or_else(|e| panic!("Component::new({what}): {e:#}"));
    let compile = t.elapsed();

    let exports = block_on(inspect(
        &engine,
        &component,
        &what,
        bytes.len(),
        compile,
        guest,
    ));
    let mut responses = serve_and_request(&engine, &component, &what, guest, Config::default());
    // The same requests with instance reuse on: a guest that allows it
    // serves them from one instance, one that does not is refused reuse
    // and serves each from a fresh one; both answer alike.
    let reused = Config::default().max_instance_reuse_count(100);
    let what_reused = format!("{what}, instances reused");
    responses.extend(serve_and_request(
        &engine,
        &component,
        &what_reused,
        guest,
        reused,
    ));
    Seen { exports, responses }
}

/// Link `component` against stubs and instantiate it, twice; check its
/// exports and imports. Returns the exported functions, for comparison
/// between engines.
async fn inspect<E: Engine>(
    engine: &E,
    component: &Component<E>,
    what: &str,
    size: usize,
    compile: Duration,
    guest: &Guest,
) -> Vec<String> {
    let (modules, instantiations) = component.core_counts();
    let funcs = component
        .imports()
        .filter(|i| matches!(i, ImportItem::Func { .. }))
        .count();
    let resources = component.imports().count() - funcs;
    let interfaces = imported_interfaces(component);

    let linker = crate::stub_linker(component);
    let mut store = Store::new(engine, ());
    let t = Instant::now();
    let instance = linker
        .instantiate(&mut store, component)
        .await
        .unwrap_or_else(|e| panic!("instantiate({what}): {e:#}"));
    let first = t.elapsed();

    // A second instance in a fresh store: the per-request path.
    let mut store2 = Store::new(engine, ());
    let pre = linker
        .instantiate_pre(component)
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
        size as f64 / 1e6,
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

    let expected: BTreeSet<String> = guest.imports.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        interfaces,
        expected,
        "{what}: imported interfaces\n  unexpected: {:?}\n  missing: {:?}",
        interfaces.difference(&expected).collect::<Vec<_>>(),
        expected.difference(&interfaces).collect::<Vec<_>>(),
    );
    exports
}

/// ~100 KB of varied bytes (every byte value, no short period), the same
/// every run; not a multiple of the guests' write chunks.
fn post_body() -> Vec<u8> {
    let mut x: u32 = 0x2545_f491;
    (0..100_003)
        .map(|_| {
            // xorshift32
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

fn get(c: &mut Conn) -> Response {
    let r = c.request("GET", "/", None);
    assert!(r.complete, "GET /: the body was cut: {r:?}");
    r
}

fn post(c: &mut Conn, json: &[u8]) -> Response {
    c.send(
        "POST",
        "/",
        &[("content-type", "application/json")],
        Some(json),
    );
    let r = c.receive();
    assert!(
        r.complete,
        "POST /: the body was cut ({} bytes)",
        r.body.len()
    );
    r
}

/// Serve `component` through a [`Handler`] built from it, on a real
/// socket, and check `GET /` and an echoed `POST /`: three requests on one
/// keep-alive connection, then two on a second one. Returns the responses
/// (without `date`), for comparison between engines.
fn serve_and_request<E: Engine>(
    engine: &E,
    component: &Component<E>,
    what: &str,
    guest: &Guest,
    config: Config,
) -> Vec<Response> {
    let t = Instant::now();
    let reuse = config.max_instance_reuse_count > 1;
    let handler = Handler::from_component(engine, component, config)
        .unwrap_or_else(|e| panic!("Handler::from_component({what}): {e}"));
    let link = t.elapsed();
    if reuse {
        assert_eq!(
            handler.reuses_instances(),
            guest.reusable,
            "{what}: whether instances are reused"
        );
    }
    let server = serve_handler(handler, ServerConfig::default());

    let json = post_body();
    let check_get = |r: &Response, n: &str| {
        assert_eq!(r.status, 200, "{what}: {n} GET /: {}", r.text());
        assert_eq!(
            r.header("content-type"),
            Some("text/plain"),
            "{what}: {n} GET /: headers {:?}",
            r.headers
        );
        assert_eq!(r.text(), guest.greeting, "{what}: {n} GET /");
    };
    let check_post = |r: &Response, n: &str| {
        assert_eq!(r.status, 200, "{what}: {n} POST /: {}", r.text());
        assert_eq!(
            r.header("content-type"),
            Some("application/json"),
            "{what}: {n} POST /: headers {:?}",
            r.headers
        );
        assert_eq!(
            r.body.len(),
            json.len(),
            "{what}: {n} POST /: echoed length"
        );
        let first_difference = r.body.iter().zip(&json).position(|(a, b)| a != b);
        assert_eq!(
            first_difference, None,
            "{what}: {n} POST /: the echo differs at this byte"
        );
    };
    let timed = |f: &mut dyn FnMut() -> Response| {
        let t = Instant::now();
        let r = f();
        (r, t.elapsed())
    };

    let mut responses = Vec::new();
    let mut c = Conn::open(server.addr);
    let (r, first_get) = timed(&mut || get(&mut c));
    check_get(&r, "first");
    responses.push(r);
    let (r, second_get) = timed(&mut || get(&mut c));
    check_get(&r, "second (same connection)");
    responses.push(r);
    let (r, first_post) = timed(&mut || post(&mut c, &json));
    check_post(&r, "first (same connection)");
    responses.push(r);

    let mut c = Conn::open(server.addr);
    let (r, third_get) = timed(&mut || get(&mut c));
    check_get(&r, "third (second connection)");
    responses.push(r);
    let (r, second_post) = timed(&mut || post(&mut c, &json));
    check_post(&r, "second (second connection)");
    responses.push(r);
    drop(c);
    drop(server);

    eprintln!(
        "{what}: Handler::from_component {link:.2?}; over HTTP: first GET {first_get:.2?}, \
         then GET {second_get:.2?}, POST {:.0} KB {first_post:.2?}; \
         second connection: GET {third_get:.2?}, POST {second_post:.2?}",
        json.len() as f64 / 1e3,
    );
    for r in &mut responses {
        r.headers.retain(|(k, _)| k != "date");
    }
    eprintln!(
        "{what}: GET / -> {} {:?}; POST / -> {} {:?} (without date)",
        responses[0].status, responses[0].headers, responses[2].status, responses[2].headers,
    );
    responses
}

fn both_engines(guest: &Guest) {
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if skip() {
        return;
    }
    let bytes = big_guest(guest.file);
    let a = check_on(jit(), guest, &bytes);
    let b = check_on(interp(), guest, &bytes);
    assert_eq!(
        a.exports, b.exports,
        "{}: the engines see different exports",
        guest.file
    );
    assert_eq!(
        a.responses.len(),
        b.responses.len(),
        "{}: response counts",
        guest.file
    );
    for (i, (a, b)) in a.responses.iter().zip(&b.responses).enumerate() {
        assert_eq!(
            (a.status, &a.headers),
            (b.status, &b.headers),
            "{}: response {i}: jit (left) and interp (right) differ",
            guest.file
        );
        assert!(
            a.body == b.body,
            "{}: response {i}: jit and interp bodies differ ({} and {} bytes)",
            guest.file,
            a.body.len(),
            b.body.len()
        );
    }
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
fn js_guest_is_served_on_both_engines() {
    both_engines(&Guest {
        file: "js-hello.wasm",
        imports: JS_IMPORTS,
        greeting: "hello from js\n",
        reusable: false,
    });
}

#[test]
fn py_guest_is_served_on_both_engines() {
    both_engines(&Guest {
        file: "py-hello.wasm",
        imports: PY_IMPORTS,
        greeting: "hello from python\n",
        reusable: true,
    });
}
