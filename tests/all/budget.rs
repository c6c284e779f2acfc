//! Every guest call runs under the request's time budget, on both engines:
//! hostile components (in WAT, below) whose realloc, start function,
//! post-return, resource destructor or callee component never returns trap
//! at the deadline with the message of a guest that ran out of time, and,
//! four at once on a 2-worker server, hold up no other request on it.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use engine_abi::abi::Val;
use engine_abi::engine::{Engine, StoreLimits};
use engine_abi::{Component, ImportItem, Linker, Store};
use host_http::{Config, Handler, Server, ServerConfig};

use crate::http::get;
use crate::{block_on, fixture, interp, jit};

/// The time budget of the hostile requests.
const BUDGET: Duration = Duration::from_secs(1);
/// How long after its budget a hostile request may end.
const SLACK: Duration = Duration::from_millis(500);
/// How many hostile requests run at once: twice the server's workers.
const AT_ONCE: usize = 4;
/// How fast an ordinary request is answered while they run.
const ORDINARY: Duration = Duration::from_millis(100);

/// A hostile component: core instance `$main` exports `handle` (two `i32`
/// parameters) and the guest misbehaves somewhere on the way. `$pwq` is a
/// host function returning `option<string>` (lowered with a retptr, as
/// `(param i32 i32)`), whose result the host lowers with the guest's
/// realloc.
struct Hostile {
    name: &'static str,
    body: &'static str,
    /// Canonical options of `handle`'s lift.
    lift_options: &'static str,
}

/// A core instance `$libc` with a memory and a realloc that spins, and a
/// `handle` that asks for the request's path: the host calls the realloc
/// from inside a host function.
const SPINNING_REALLOC: Hostile = Hostile {
    name: "realloc",
    body: r#"
  (core module $libc
    (memory (export "memory") 1)
    (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
      (loop $spin (br $spin))
      unreachable))
  (core instance $libc (instantiate $libc))
  (core func $pwq (canon lower (func $pwq)
    (memory $libc "memory") (realloc (func $libc "cabi_realloc"))))
  (core module $main
    (import "host" "path-with-query" (func $pwq (param i32 i32)))
    (func (export "handle") (param i32 i32)
      (call $pwq (local.get 0) (i32.const 256))))
  (core instance $main (instantiate $main
    (with "host" (instance (export "path-with-query" (func $pwq))))))"#,
    lift_options: "",
};

/// A module whose start function spins: it runs at instantiation.
const SPINNING_START: Hostile = Hostile {
    name: "start function",
    body: r#"
  (core module $main
    (func $spin (loop $spin (br $spin)))
    (start $spin)
    (func (export "handle") (param i32 i32)))
  (core instance $main (instantiate $main))"#,
    lift_options: "",
};

/// `handle` returns at once; its post-return spins.
const SPINNING_POST_RETURN: Hostile = Hostile {
    name: "post-return",
    body: r#"
  (core module $main
    (func (export "handle") (param i32 i32))
    (func (export "post-return") (loop $spin (br $spin))))
  (core instance $main (instantiate $main))"#,
    lift_options: r#"(post-return (func $main "post-return"))"#,
};

/// The component defines a resource whose destructor spins, and `handle`
/// makes one and drops it.
const SPINNING_DESTRUCTOR: Hostile = Hostile {
    name: "resource destructor",
    body: r#"
  (core module $dtor
    (func (export "dtor") (param i32) (loop $spin (br $spin))))
  (core instance $dtor (instantiate $dtor))
  (type $thing (resource (rep i32) (dtor (func $dtor "dtor"))))
  (core func $new (canon resource.new $thing))
  (core func $drop (canon resource.drop $thing))
  (core module $main
    (import "thing" "new" (func $new (param i32) (result i32)))
    (import "thing" "drop" (func $drop (param i32)))
    (func (export "handle") (param i32 i32)
      (call $drop (call $new (i32.const 7)))))
  (core instance $main (instantiate $main
    (with "thing" (instance (export "new" (func $new)) (export "drop" (func $drop))))))"#,
    lift_options: "",
};

/// `handle` calls a function of a nested component, which spins: a
/// component-to-component call.
const SPINNING_CALLEE: Hostile = Hostile {
    name: "component-to-component call",
    body: r#"
  (component $callee
    (core module $m (func (export "spin") (loop $spin (br $spin))))
    (core instance $m (instantiate $m))
    (func (export "spin") (canon lift (core func $m "spin"))))
  (instance $callee (instantiate $callee))
  (alias export $callee "spin" (func $spin))
  (core func $spin (canon lower (func $spin)))
  (core module $main
    (import "callee" "spin" (func $spin))
    (func (export "handle") (param i32 i32) (call $spin)))
  (core instance $main (instantiate $main
    (with "callee" (instance (export "spin" (func $spin))))))"#,
    lift_options: "",
};

const HOSTILE: [Hostile; 5] = [
    SPINNING_REALLOC,
    SPINNING_START,
    SPINNING_POST_RETURN,
    SPINNING_DESTRUCTOR,
    SPINNING_CALLEE,
];

/// Which imports and which `handle` a hostile component has around its
/// body.
#[derive(Clone, Copy)]
pub(crate) enum World {
    /// A wasi:http proxy: `$pwq` is `incoming-request.path-with-query`.
    Proxy,
    /// A component for engine-abi's API: `$pwq` is the top-level import
    /// `host#path-with-query` taking a `u32`, and `handle` takes two.
    Plain,
}

/// The component of `body` in `world`, `handle` lifted with
/// `lift_options`.
pub(crate) fn component(world: World, body: &str, lift_options: &str) -> Vec<u8> {
    let (imports, params) = match world {
        World::Proxy => (
            r#"
  (import "wasi:http/types@0.2.12" (instance $types
    (export "incoming-request" (type $ir (sub resource)))
    (export "response-outparam" (type (sub resource)))
    (export "[method]incoming-request.path-with-query"
      (func (param "self" (borrow $ir)) (result (option string))))))
  (alias export $types "incoming-request" (type $ir))
  (alias export $types "response-outparam" (type $ro))
  (alias export $types "[method]incoming-request.path-with-query" (func $pwq))"#,
            r#"(param "request" (own $ir)) (param "response-out" (own $ro))"#,
        ),
        World::Plain => (
            r#"
  (import "host" (instance $host
    (export "path-with-query" (func (param "self" u32) (result (option string))))))
  (alias export $host "path-with-query" (func $pwq))"#,
            r#"(param "request" u32) (param "response-out" u32)"#,
        ),
    };
    let wat = format!(
        r#"(component {imports}
  {body}
  (func $handle {params} (canon lift (core func $main "handle") {lift_options}))
  (instance $h (export "handle" (func $handle)))
  (export "wasi:http/incoming-handler@0.2.12" (instance $h)))"#
    );
    wat::parse_str(&wat).unwrap_or_else(|e| panic!("test component: {e}\n{wat}"))
}

/// A linker for [`World::Plain`]: `host#path-with-query` answers `/`.
pub(crate) fn plain_linker<E: Engine>(component: &Component<E>) -> Linker<()> {
    let mut linker = Linker::new();
    for import in component.imports() {
        if let ImportItem::Func { name, ty, .. } = import {
            linker.define_func("host", name, ty.clone(), |_, _| {
                Ok(Some(Val::Option(Some(Box::new(Val::String("/".into()))))))
            });
        }
    }
    linker
}

/// Run `handle` of the [`World::Plain`] component `bytes` in a store with
/// `limits`: the trap message, or `None` if it returned.
pub(crate) async fn run_plain<E: Engine>(
    engine: &E,
    bytes: &[u8],
    limits: StoreLimits,
) -> Option<String> {
    let component = Component::new(engine, bytes).expect("the component loads");
    let linker = plain_linker(&component);
    let mut store = Store::with_limits(engine, (), limits);
    let outcome = async {
        let instance = linker.instantiate(&mut store, &component).await?;
        let func = instance
            .func(&store, "wasi:http/incoming-handler@0.2.12#handle")
            .expect("handle is exported");
        func.call(&mut store, &[Val::U32(0), Val::U32(0)]).await
    }
    .await;
    match outcome {
        Ok(_) => None,
        Err(e) => Some(match e.trap() {
            Some(t) => t.message().to_string(),
            None => format!("not a trap: {e}"),
        }),
    }
}

/// Through engine-abi's API on a current-thread runtime (where nothing can
/// move off the executor, so a nested call only slices and checks the
/// deadline), each hostile guest traps at its deadline with the message
/// of a guest that ran out of time.
fn trap_at_the_deadline<E: Engine>(engine: E) {
    let limits = StoreLimits {
        time_budget: Some(Duration::from_millis(300)),
        ..StoreLimits::default()
    };
    for hostile in HOSTILE {
        let bytes = component(World::Plain, hostile.body, hostile.lift_options);
        let start = Instant::now();
        let trap = block_on(run_plain(&engine, &bytes, limits));
        let elapsed = start.elapsed();
        assert_eq!(
            trap.as_deref(),
            Some("guest ran out of its time budget"),
            "{} on {}",
            hostile.name,
            engine.name()
        );
        assert!(
            elapsed >= Duration::from_millis(300) && elapsed < Duration::from_millis(300) + SLACK,
            "{} on {}: {elapsed:?}",
            hostile.name,
            engine.name()
        );
    }
}

/// A multi-thread runtime with two workers (as `cohost serve` on two
/// cores) serving two components at once: the hostile one with a
/// [`BUDGET`], and `hello.wasm`.
struct TwoServers {
    hostile: SocketAddr,
    ordinary: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for TwoServers {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve_two<E: Engine>(engine: &E, hostile: &[u8]) -> TwoServers {
    let hostile = Handler::new(engine, hostile, Config::default().timeout(Some(BUDGET)))
        .expect("the hostile component links");
    let ordinary =
        Handler::new(engine, &fixture("hello.wasm"), Config::default()).expect("hello.wasm loads");
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        rt.block_on(async move {
            let any = "127.0.0.1:0".parse().unwrap();
            let hostile = Server::bind(any, hostile, ServerConfig::default())
                .await
                .unwrap();
            let ordinary = Server::bind(any, ordinary, ServerConfig::default())
                .await
                .unwrap();
            addr_tx
                .send((hostile.local_addr(), ordinary.local_addr()))
                .unwrap();
            let (stop_ordinary, stopped_ordinary) = tokio::sync::oneshot::channel::<()>();
            let ordinary = tokio::spawn(ordinary.run_until(async {
                let _ = stopped_ordinary.await;
            }));
            hostile
                .run_until(async {
                    let _ = stopped.await;
                })
                .await
                .expect("the hostile server runs");
            let _ = stop_ordinary.send(());
            ordinary
                .await
                .expect("the ordinary server's task")
                .expect("the ordinary server runs");
        });
    });
    let (hostile, ordinary) = addr_rx.recv().expect("the servers start");
    TwoServers {
        hostile,
        ordinary,
        stop: Some(stop),
        thread: Some(thread),
    }
}

/// [`AT_ONCE`] requests to each hostile component end with a 500 within
/// the budget (plus [`SLACK`]), while requests to `hello.wasm`, served by
/// the same workers, are answered within [`ORDINARY`].
fn hostile_requests_hold_up_no_other<E: Engine>(engine: E) {
    for hostile in HOSTILE {
        let what = format!("{} on {}", hostile.name, engine.name());
        let servers = serve_two(
            &engine,
            &component(World::Proxy, hostile.body, hostile.lift_options),
        );
        assert_eq!(get(servers.ordinary, "/").status, 200, "{what}");
        let addr = servers.hostile;
        let hostile_requests: Vec<_> = (0..AT_ONCE)
            .map(|_| {
                std::thread::spawn(move || {
                    let start = Instant::now();
                    let status = get(addr, "/a/long/path").status;
                    (status, start.elapsed())
                })
            })
            .collect();
        // Past the point where every hostile request spins, and until they
        // end.
        std::thread::sleep(Duration::from_millis(200));
        let mut ordinary = Vec::new();
        while ordinary.len() < 5 {
            let start = Instant::now();
            let status = get(servers.ordinary, "/").status;
            ordinary.push((status, start.elapsed()));
            std::thread::sleep(Duration::from_millis(100));
        }
        for (status, elapsed) in ordinary {
            assert_eq!(status, 200, "{what}");
            assert!(
                elapsed < ORDINARY,
                "{what}: an ordinary request took {elapsed:?}"
            );
        }
        for request in hostile_requests {
            let (status, elapsed) = request.join().unwrap();
            assert_eq!(status, 500, "{what}");
            assert!(elapsed < BUDGET + SLACK, "{what}: {elapsed:?}");
        }
    }
}

both_engines!(trap_at_the_deadline, hostile_requests_hold_up_no_other);

/// An ordinary component in the [`World::Plain`] world runs as before:
/// its realloc and post-return are called, and return.
#[test]
fn well_behaved_nested_calls_still_return() {
    const BODY: &str = r#"
  (core module $libc
    (memory (export "memory") 1)
    (global $calls (mut i32) (i32.const 0))
    (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
      (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
      (i32.const 1024))
    (func (export "calls") (result i32) (global.get $calls)))
  (core instance $libc (instantiate $libc))
  (core func $pwq (canon lower (func $pwq)
    (memory $libc "memory") (realloc (func $libc "cabi_realloc"))))
  (core module $main
    (import "host" "path-with-query" (func $pwq (param i32 i32)))
    (import "libc" "calls" (func $calls (result i32)))
    (import "libc" "memory" (memory 1))
    (func $start)
    (start $start)
    (func (export "handle") (param i32 i32)
      (call $pwq (local.get 0) (i32.const 256))
      ;; The path is "/": one realloc, and the string it holds.
      (if (i32.ne (call $calls) (i32.const 1)) (then unreachable))
      (if (i32.ne (i32.load8_u (i32.const 1024)) (i32.const 47)) (then unreachable)))
    (func (export "post-return")))
  (core instance $main (instantiate $main
    (with "host" (instance (export "path-with-query" (func $pwq))))
    (with "libc" (instance
      (export "calls" (func $libc "calls"))
      (export "memory" (memory $libc "memory"))))))"#;
    let bytes = component(
        World::Plain,
        BODY,
        r#"(post-return (func $main "post-return"))"#,
    );
    let limits = StoreLimits {
        time_budget: Some(Duration::from_secs(30)),
        ..StoreLimits::default()
    };
    assert_eq!(block_on(run_plain(&jit(), &bytes, limits)), None);
    assert_eq!(block_on(run_plain(&interp(), &bytes, limits)), None);
}

/// A post-return (awaited, so it yields between slices) still cannot let
/// a host function suspend: the host function asking to traps.
#[test]
fn a_host_function_cannot_block_in_a_post_return() {
    const BODY: &str = r#"
  (core module $libc
    (memory (export "memory") 1)
    (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) (i32.const 1024)))
  (core instance $libc (instantiate $libc))
  (core func $pwq (canon lower (func $pwq)
    (memory $libc "memory") (realloc (func $libc "cabi_realloc"))))
  (core module $main
    (import "host" "path-with-query" (func $pwq (param i32 i32)))
    (func (export "handle") (param i32 i32))
    (func (export "post-return") (call $pwq (i32.const 0) (i32.const 256))))
  (core instance $main (instantiate $main
    (with "host" (instance (export "path-with-query" (func $pwq))))))"#;
    let bytes = component(
        World::Plain,
        BODY,
        r#"(post-return (func $main "post-return"))"#,
    );
    let mut nested = engine_abi::engine::Nesting::default();
    nested.enter().unwrap();
    let expected = nested.may_suspend().unwrap_err();
    for trap in [
        block_on(run_blocking(&jit(), &bytes)),
        block_on(run_blocking(&interp(), &bytes)),
    ] {
        assert_eq!(trap.as_deref(), Some(expected.message()));
    }
}

/// As [`run_plain`], with a `host#path-with-query` that asks to suspend.
async fn run_blocking<E: Engine>(engine: &E, bytes: &[u8]) -> Option<String> {
    let component = Component::new(engine, bytes).expect("the component loads");
    let mut linker = Linker::new();
    for import in component.imports() {
        if let ImportItem::Func { name, ty, .. } = import {
            linker.define_func("host", name, ty.clone(), |_, _| {
                Err(engine_abi::engine::HostError::Suspend(Box::pin(
                    tokio::task::yield_now(),
                )))
            });
        }
    }
    let mut store = Store::new(engine, ());
    let instance = linker.instantiate(&mut store, &component).await.unwrap();
    let func = instance
        .func(&store, "wasi:http/incoming-handler@0.2.12#handle")
        .unwrap();
    // Were the suspension allowed, the host function would suspend again
    // each time it runs: time out rather than hang.
    let call = func.call(&mut store, &[Val::U32(0), Val::U32(0)]);
    let outcome = tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .expect("the call ends");
    outcome
        .err()
        .map(|e| e.trap().map_or(e.to_string(), |t| t.message().to_string()))
}
