//! Host calls that block inside component-to-component calls, through
//! engine-abi's API on both engines: a component instance calling another
//! through an adapter parks its call like any blocking host call, on one
//! thread, with many such calls in flight; what runs inside the adapter
//! (lowering with the caller's realloc, the callee's post-return) still
//! happens, in order, after the callee resumes.
//!
//! The HTTP-level counterpart, a composed middleware + handler served by
//! `cohost serve`, is in `composed.rs`.

use std::time::{Duration, Instant};

use engine_abi::abi::Val;
use engine_abi::engine::{Engine, HostError};
use engine_abi::error::Trap;
use engine_abi::types::{FuncType, Type};
use engine_abi::{Component, InstancePre, Linker, Store};

use crate::block_on;

/// `run(ms)` goes through two relays (each one component instance calling
/// the next through an adapter, adding 100 to the number) to `$inner`,
/// which calls the host's `wait(ms)`, adds 1 to what it returns, and gives
/// back the string `waited` from its own memory; its post-return counts
/// the calls it ended, which `returned` reports. The string is lowered by
/// each relay's realloc on the way back.
const CHAIN: &str = r#"
(component
  (import "host" (instance $host (export "wait" (func (param "ms" u32) (result u32)))))
  (alias export $host "wait" (func $wait))

  (component $inner
    (import "wait" (func $wait (param "ms" u32) (result u32)))
    (core func $wait (canon lower (func $wait)))
    (core module $m
      (import "host" "wait" (func $wait (param i32) (result i32)))
      (memory (export "memory") 1)
      (global $returned (mut i32) (i32.const 0))
      (data (i32.const 16) "waited")
      (func (export "run") (param $ms i32) (result i32)
        (i32.store (i32.const 0) (i32.add (call $wait (local.get $ms)) (i32.const 1)))
        (i32.store (i32.const 4) (i32.const 16))
        (i32.store (i32.const 8) (i32.const 6))
        (i32.const 0))
      (func (export "post-return") (param i32)
        (global.set $returned (i32.add (global.get $returned) (i32.const 1))))
      (func (export "returned") (result i32) (global.get $returned)))
    (core instance $m (instantiate $m (with "host" (instance (export "wait" (func $wait))))))
    (func (export "run") (param "ms" u32) (result (tuple u32 string))
      (canon lift (core func $m "run") (memory $m "memory")
        (post-return (func $m "post-return"))))
    (func (export "returned") (result u32) (canon lift (core func $m "returned"))))

  (component $relay
    (import "next" (func $next (param "ms" u32) (result (tuple u32 string))))
    (core module $mem
      (memory (export "memory") 1)
      (global $bump (mut i32) (i32.const 1024))
      (func (export "realloc") (param i32 i32 i32 i32) (result i32)
        (local $p i32)
        (local.set $p (global.get $bump))
        (global.set $bump (i32.add (global.get $bump) (local.get 3)))
        (local.get $p)))
    (core instance $mem (instantiate $mem))
    (core func $next (canon lower (func $next)
      (memory $mem "memory") (realloc (func $mem "realloc"))))
    (core module $m
      (import "mem" "memory" (memory 1))
      (import "next" "run" (func $next (param i32 i32)))
      (func (export "run") (param $ms i32) (result i32)
        (call $next (local.get $ms) (i32.const 0))
        (i32.store (i32.const 0) (i32.add (i32.load (i32.const 0)) (i32.const 100)))
        (i32.const 0)))
    (core instance $m (instantiate $m
      (with "mem" (instance (export "memory" (memory $mem "memory"))))
      (with "next" (instance (export "run" (func $next))))))
    (func (export "run") (param "ms" u32) (result (tuple u32 string))
      (canon lift (core func $m "run") (memory $mem "memory"))))

  (instance $inner (instantiate $inner (with "wait" (func $wait))))
  (instance $mid (instantiate $relay (with "next" (func $inner "run"))))
  (instance $top (instantiate $relay (with "next" (func $mid "run"))))
  (export "run" (func $top "run"))
  (export "returned" (func $inner "returned")))
"#;

/// A store's host side: when its current wait ends, and how many ran.
#[derive(Default)]
struct Waits {
    until: Option<Instant>,
    done: u32,
}

/// `host#wait(ms)`: suspends (on a timer, not a thread) until `ms` have
/// passed, then returns `2 * ms`. Run again after each suspension with the
/// same arguments, it finds its deadline in the store.
fn linker() -> Linker<Waits> {
    let mut linker = Linker::new();
    linker.define_func(
        "host",
        "wait",
        FuncType::new([("ms", Type::U32)], Some(Type::U32)),
        |waits: &mut Waits, args| {
            let Val::U32(ms) = args[0] else {
                unreachable!("typed by the linker")
            };
            let until = *waits
                .until
                .get_or_insert_with(|| Instant::now() + Duration::from_millis(ms.into()));
            if Instant::now() < until {
                return Err(HostError::Suspend(Box::pin(tokio::time::sleep_until(
                    until.into(),
                ))));
            }
            waits.until = None;
            waits.done += 1;
            Ok(Some(Val::U32(2 * ms)))
        },
    );
    linker
}

fn chain<E: Engine>(engine: &E) -> InstancePre<E, Waits> {
    let bytes = wat::parse_str(CHAIN).expect("the test component parses");
    let component = Component::new(engine, &bytes).expect("the component loads");
    linker()
        .instantiate_pre(&component)
        .expect("the component links")
}

/// `run(ms)` in a fresh store: its result, how long it took, how many
/// host waits ended and how many calls the inner post-return ended.
async fn run<E: Engine>(
    engine: E,
    pre: InstancePre<E, Waits>,
    ms: u32,
) -> (Val, Duration, u32, Val) {
    let mut store = Store::new(&engine, Waits::default());
    let instance = pre.instantiate(&mut store).await.expect("instantiates");
    let run = instance.func(&store, "run").expect("run is exported");
    let returned = instance
        .func(&store, "returned")
        .expect("returned is exported");
    let start = Instant::now();
    let result = run
        .call(&mut store, &[Val::U32(ms)])
        .await
        .expect("run returns")
        .expect("run has a result");
    let took = start.elapsed();
    let ended = returned
        .call(&mut store, &[])
        .await
        .expect("returned returns")
        .expect("returned has a result");
    (result, took, store.data().done, ended)
}

fn expected(ms: u32) -> Val {
    Val::Tuple(vec![
        Val::U32(2 * ms + 1 + 200),
        Val::String("waited".into()),
    ])
}

/// One call through two adapters parks in the host, resumes, and brings the
/// callee's result back through each caller's realloc; the callee's
/// post-return runs once.
fn a_host_call_blocks_through_two_adapters<E: Engine>(engine: E) {
    let pre = chain(&engine);
    let (result, took, waits, ended) = block_on(run(engine, pre, 30));
    assert_eq!(result, expected(30));
    assert!(took >= Duration::from_millis(30), "took {took:?}");
    assert_eq!(waits, 1);
    assert_eq!(ended, Val::U32(1));
}

/// 200 such calls on one thread, each waiting 300 ms: they wait at the
/// same time (one after another they would take 60 s).
fn many_blocked_adapters_at_once_share_one_thread<E: Engine>(engine: E) {
    const CALLS: u32 = 200;
    let pre = chain(&engine);
    let start = Instant::now();
    let results = block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..CALLS {
            tasks.spawn(run(engine.clone(), pre.clone(), 300 + i % 3));
        }
        let mut results = Vec::new();
        while let Some(r) = tasks.join_next().await {
            results.push(r.expect("the task ends"));
        }
        results
    });
    let took = start.elapsed();
    assert_eq!(results.len(), CALLS as usize);
    for (result, waited, waits, ended) in results {
        let Val::Tuple(fields) = &result else {
            panic!("not a tuple: {result:?}")
        };
        let Val::U32(n) = fields[0] else {
            panic!("not a u32: {:?}", fields[0])
        };
        assert_eq!(result, expected((n - 201) / 2));
        assert!(waited >= Duration::from_millis(300), "took {waited:?}");
        assert_eq!((waits, ended.clone()), (1, Val::U32(1)));
    }
    assert!(
        took < Duration::from_secs(15),
        "{CALLS} calls of 300 ms took {took:?}: they did not wait at the same time"
    );
}

/// A host function that traps once it resumes, inside the callee of two
/// adapters: the whole call ends in its trap, and the instance it left
/// half-way cannot be entered again.
fn a_trap_after_resuming_ends_the_whole_call<E: Engine>(engine: E) {
    let bytes = wat::parse_str(CHAIN).expect("the test component parses");
    let component = Component::new(&engine, &bytes).expect("the component loads");
    let mut linker = Linker::new();
    linker.define_func(
        "host",
        "wait",
        FuncType::new([("ms", Type::U32)], Some(Type::U32)),
        |waits: &mut Waits, _| {
            if waits.done == 0 {
                waits.done = 1;
                return Err(HostError::Suspend(Box::pin(tokio::time::sleep(
                    Duration::from_millis(10),
                ))));
            }
            Err(HostError::Trap(Trap::host("the wait failed")))
        },
    );
    let (first, second) = block_on(async {
        let mut store = Store::new(&engine, Waits::default());
        let instance = linker
            .instantiate(&mut store, &component)
            .await
            .expect("instantiates");
        let run = instance.func(&store, "run").expect("run is exported");
        let first = run.call(&mut store, &[Val::U32(5)]).await;
        let second = run.call(&mut store, &[Val::U32(5)]).await;
        (first, second)
    });
    let message = |r: engine_abi::Result<Option<Val>>| {
        let err = r.expect_err("the call traps");
        err.trap().expect("a trap").message().to_string()
    };
    assert_eq!(message(first), "the wait failed");
    assert!(
        message(second).starts_with("cannot enter component instance"),
        "the instance was entered again"
    );
}

/// The host's blocking `wait`, lowered and lifted straight back as an
/// export: the host's call lands in a host function with no guest frame
/// around it (wasmi then hands back the suspension as an error, not a
/// resumable call), and still parks and returns.
fn a_lowered_host_call_lifted_again_blocks<E: Engine>(engine: E) {
    const DIRECT: &str = r#"
(component
  (import "host" (instance $host (export "wait" (func (param "ms" u32) (result u32)))))
  (alias export $host "wait" (func $wait))
  (core func $wait (canon lower (func $wait)))
  (func (export "wait") (param "ms" u32) (result u32) (canon lift (core func $wait))))
"#;
    let bytes = wat::parse_str(DIRECT).expect("the test component parses");
    let component = Component::new(&engine, &bytes).expect("the component loads");
    let (result, took, waits) = block_on(async {
        let mut store = Store::new(&engine, Waits::default());
        let instance = linker()
            .instantiate(&mut store, &component)
            .await
            .expect("instantiates");
        let wait = instance.func(&store, "wait").expect("wait is exported");
        let start = Instant::now();
        let result = wait.call(&mut store, &[Val::U32(20)]).await;
        (result, start.elapsed(), store.data().done)
    });
    assert_eq!(result.expect("wait returns"), Some(Val::U32(40)));
    assert!(took >= Duration::from_millis(20), "took {took:?}");
    assert_eq!(waits, 1);
}

both_engines!(
    a_host_call_blocks_through_two_adapters,
    many_blocked_adapters_at_once_share_one_thread,
    a_trap_after_resuming_ends_the_whole_call,
    a_lowered_host_call_lifted_again_blocks,
);
