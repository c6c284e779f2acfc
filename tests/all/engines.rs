//! The core-engine trait on both backends: host functions that suspend park
//! their call, not the thread, so many calls interleave on one thread.

use std::sync::{Arc, Mutex};

use engine_abi::engine::{
    CoreFuncType, CoreType, CoreVal, Engine, Extern, HostError, HostFunc, StoreLimits,
};
use engine_abi::error::TrapKind;

use crate::{block_on, interp, jit};

const GUEST: &str = r#"
(module
  (import "host" "wait" (func $wait (param i32) (result i32)))
  (func (export "run") (param $steps i32) (result i32)
    (local $i i32) (local $acc i32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $steps)))
        (local.set $acc (i32.add (local.get $acc) (call $wait (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
    (local.get $acc))
  (func (export "boom") unreachable))
"#;

struct Task {
    id: u32,
    suspended: bool,
    log: Arc<Mutex<Vec<u32>>>,
}

const TASKS: u32 = 40;
const STEPS: i32 = 25;

/// `GUEST` instantiated in `store` with `wait` (`i32 -> i32`) as its one
/// import.
async fn instantiate_guest<E: Engine, T: Send + 'static>(
    store: &mut E::Store<T>,
    module: &E::Module,
    wait: HostFunc<E, T>,
) -> E::Instance {
    let ty = CoreFuncType::new([CoreType::I32], [CoreType::I32]);
    let wait = E::host_func(store, &ty, wait);
    E::instantiate(store, module, &[Extern::Func(wait)])
        .await
        .unwrap()
}

/// The exported function `name` of `instance`.
fn export_func<E: Engine, T: Send + 'static>(
    store: &mut E::Store<T>,
    instance: E::Instance,
    name: &str,
) -> E::Func {
    match E::export(store, instance, name) {
        Some(Extern::Func(f)) => f,
        _ => panic!("no {name} export"),
    }
}

async fn run_task<E: Engine>(
    engine: E,
    module: E::Module,
    id: u32,
    log: Arc<Mutex<Vec<u32>>>,
) -> i32 {
    let mut store = engine.new_store(
        Task {
            id,
            suspended: false,
            log,
        },
        StoreLimits::default(),
    );
    let wait: HostFunc<E, Task> = Arc::new(|caller, args, results| {
        let task = caller.data_mut();
        // Every call first suspends until the executor polls us again,
        // then, run a second time, completes.
        if !task.suspended {
            task.suspended = true;
            return Err(HostError::Suspend(Box::pin(tokio::task::yield_now())));
        }
        task.suspended = false;
        task.log.lock().unwrap().push(task.id);
        results[0] = CoreVal::I32(args[0].i32()? * 2);
        Ok(())
    });
    let instance = instantiate_guest::<E, _>(&mut store, &module, wait).await;
    let run = export_func::<E, _>(&mut store, instance, "run");
    let mut out = [CoreVal::I32(0)];
    E::call(&mut store, run, &[CoreVal::I32(STEPS)], &mut out)
        .await
        .unwrap();
    out[0].i32().unwrap()
}

async fn interleave<E: Engine>(engine: E) {
    let module = engine.compile(&wat::parse_str(GUEST).unwrap()).unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut set = tokio::task::JoinSet::new();
    for id in 0..TASKS {
        set.spawn(run_task(engine.clone(), module.clone(), id, log.clone()));
    }
    let expected: i32 = (0..STEPS).map(|i| i * 2).sum();
    while let Some(r) = set.join_next().await {
        assert_eq!(r.unwrap(), expected);
    }
    let log = log.lock().unwrap();
    assert_eq!(log.len(), (TASKS as usize) * STEPS as usize);
    // Had any call blocked the thread, its steps would be contiguous; with
    // suspension every task's first step happens before any task's last.
    let first_round: std::collections::HashSet<u32> =
        log[..TASKS as usize].iter().copied().collect();
    assert_eq!(
        first_round.len(),
        TASKS as usize,
        "calls did not interleave: {:?}",
        &log[..TASKS as usize]
    );
}

/// A host function that asks to suspend on every run, with a readiness
/// that is always ready: the call must still let the executor run other
/// tasks (here the timeout around it), not spin forever on the thread.
async fn always_suspending<E: Engine>(engine: E) -> bool {
    let module = engine.compile(&wat::parse_str(GUEST).unwrap()).unwrap();
    let mut store = engine.new_store((), StoreLimits::default());
    let wait: HostFunc<E, ()> =
        Arc::new(|_, _, _| Err(HostError::Suspend(Box::pin(std::future::ready(())))));
    let instance = instantiate_guest::<E, _>(&mut store, &module, wait).await;
    let run = export_func::<E, _>(&mut store, instance, "run");
    let mut out = [CoreVal::I32(0)];
    let call = E::call(&mut store, run, &[CoreVal::I32(1)], &mut out);
    tokio::time::timeout(std::time::Duration::from_millis(200), call)
        .await
        .is_err()
}

#[test]
fn a_host_function_that_always_suspends_does_not_hold_the_thread() {
    // On a watchdog thread: without the fix the call never returns.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send((
            block_on(always_suspending(jit())),
            block_on(always_suspending(interp())),
        ));
    });
    let timed_out = rx
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("the call held its thread: the timeout never fired");
    assert_eq!(timed_out, (true, true), "(jit, interp) timed out");
}

#[test]
fn suspending_calls_interleave_on_one_thread() {
    block_on(interleave(jit()));
    block_on(interleave(interp()));
}

async fn traps<E: Engine>(engine: E) {
    let module = engine.compile(&wat::parse_str(GUEST).unwrap()).unwrap();
    let mut store = engine.new_store((), StoreLimits::default());
    let wait: HostFunc<E, ()> =
        Arc::new(|_, _, _| Err(HostError::Trap(engine_abi::Trap::host("host says no"))));
    let instance = instantiate_guest::<E, _>(&mut store, &module, wait).await;
    let boom = export_func::<E, _>(&mut store, instance, "boom");
    let err = E::call(&mut store, boom, &[], &mut []).await.unwrap_err();
    assert_eq!(err.kind(), TrapKind::Wasm);
    assert_eq!(err.message(), "wasm `unreachable` instruction executed");
    let run = export_func::<E, _>(&mut store, instance, "run");
    let err = E::call(&mut store, run, &[CoreVal::I32(1)], &mut [CoreVal::I32(0)])
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind(), err.message()),
        (TrapKind::Host, "host says no")
    );
}

#[test]
fn traps_are_the_same_on_both_engines() {
    block_on(traps(jit()));
    block_on(traps(interp()));
}

async fn busy_guest<E: Engine>(engine: E) {
    let module = engine
        .compile(&wat::parse_str(r#"(module (func (export "spin") (loop $l (br $l))))"#).unwrap())
        .unwrap();
    let limits = StoreLimits {
        time_budget: Some(std::time::Duration::from_millis(300)),
        ..StoreLimits::default()
    };
    let ticks = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let ticker = {
        let ticks = ticks.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                ticks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        })
    };
    let start = std::time::Instant::now();
    let mut store = engine.new_store((), limits);
    let instance = E::instantiate(&mut store, &module, &[]).await.unwrap();
    let Some(Extern::Func(spin)) = E::export(&mut store, instance, "spin") else {
        panic!()
    };
    let err = E::call(&mut store, spin, &[], &mut []).await.unwrap_err();
    let elapsed = start.elapsed();
    ticker.abort();
    assert_eq!(err.kind(), TrapKind::Timeout, "{err}");
    assert_eq!(err.message(), "guest ran out of its time budget");
    assert!(
        elapsed >= std::time::Duration::from_millis(300),
        "{elapsed:?}"
    );
    assert!(elapsed < std::time::Duration::from_secs(10), "{elapsed:?}");
    // The spinning guest yielded between slices: the other task on this
    // thread kept running (had it not, the ticker would not have run at all
    // until the call ended). How often depends on the machine's load, so
    // only more than one tick is required.
    let ticks = ticks.load(std::sync::atomic::Ordering::Relaxed);
    assert!(ticks >= 2, "only {ticks} ticks while the guest spun");
}

#[test]
fn a_busy_guest_yields_and_is_stopped_at_its_deadline() {
    block_on(busy_guest(interp()));
    block_on(busy_guest(jit()));
}

/// One instruction that costs more fuel than a time slice holds (a 100 MiB
/// `memory.fill`: wasmi charges a unit per 64 bytes, 1.6M in all, where a
/// slice is 1M) still completes: the interpreter resumes it with the fuel
/// it needs, instead of running out again on every resume until the
/// deadline.
async fn one_big_instruction<E: Engine>(engine: E) {
    let module = engine
        .compile(
            &wat::parse_str(
                r#"(module
                     (memory 1700)
                     (func (export "fill") (result i32)
                       (memory.fill (i32.const 0) (i32.const 7) (i32.const 104857600))
                       (i32.load8_u (i32.const 104857599))))"#,
            )
            .unwrap(),
        )
        .unwrap();
    let limits = StoreLimits {
        time_budget: Some(std::time::Duration::from_secs(5)),
        ..StoreLimits::default()
    };
    let mut store = engine.new_store((), limits);
    let instance = E::instantiate(&mut store, &module, &[]).await.unwrap();
    let Some(Extern::Func(fill)) = E::export(&mut store, instance, "fill") else {
        panic!()
    };
    let mut out = [CoreVal::I32(0)];
    E::call(&mut store, fill, &[], &mut out)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", engine.name()));
    assert!(matches!(out[0], CoreVal::I32(7)), "{:?}", out[0]);
}

#[test]
fn an_instruction_bigger_than_a_time_slice_completes() {
    block_on(one_big_instruction(interp()));
    block_on(one_big_instruction(jit()));
}
