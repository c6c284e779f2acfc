//! Host calls on the typed path allocate nothing per call: a guest calls a
//! typed host import taking and returning scalars 20 000 times, and the
//! calling thread allocates (almost) no more than for one call, on both
//! engines. "Almost": a guest that computes yields to the executor once per
//! time slice (2 ms), and on the JIT each yield boxes a small future; a
//! per-call allocation would show as 20 000 more. Counted by the test
//! binary's global allocator ([`crate::CountingAllocator`]), per thread, so
//! other tests running at the same time do not count.
//!
//! Also here, the other side of the pre-link step that makes this possible:
//! one pre-linked component instantiated twice in one store.

use engine_abi::abi::Val;
use engine_abi::engine::Engine;
use engine_abi::types::{FuncType, Type};
use engine_abi::{Component, Linker, Store};

use crate::{allocations_on_this_thread, block_on, interp, jit};

const GUEST: &str = r#"
(component
  (import "cohost:test/host" (instance $h
    (export "add" (func (param "a" u32) (param "b" u32) (result u32)))))
  (alias export $h "add" (func $add))
  (core func $add_lowered (canon lower (func $add)))
  (core module $m
    (import "h" "add" (func $add (param i32 i32) (result i32)))
    (func (export "run") (param $n i32) (result i32)
      (local $acc i32)
      (block $done
        (loop $next
          (br_if $done (i32.eqz (local.get $n)))
          (local.set $acc (call $add (local.get $acc) (local.get $n)))
          (local.set $n (i32.sub (local.get $n) (i32.const 1)))
          (br $next)))
      (local.get $acc)))
  (core instance $hi (export "add" (func $add_lowered)))
  (core instance $i (instantiate $m (with "h" (instance $hi))))
  (func (export "run") (param "n" u32) (result u32) (canon lift (core func $i "run")))
)
"#;

/// Allocations made by one call of `run(n)` (after a first call, which
/// may translate or resolve lazily), its result, and how long it took.
async fn allocations_of_a_call<E: Engine>(engine: E, n: u32) -> (u64, u32, std::time::Duration) {
    let component = Component::new(&engine, &wat::parse_str(GUEST).unwrap()).unwrap();
    let mut linker = Linker::<()>::new();
    linker
        .define_typed(
            "cohost:test/host",
            "add",
            FuncType::new([("a", Type::U32), ("b", Type::U32)], Some(Type::U32)),
            |_, (a, b): (u32, u32)| Ok(a.wrapping_add(b)),
        )
        .unwrap();
    linker
        .set_may_suspend("cohost:test/host", "add", false)
        .unwrap();
    let mut store = Store::new(&engine, ());
    let instance = linker.instantiate(&mut store, &component).await.unwrap();
    let run = instance.func(&store, "run").unwrap();
    run.call(&mut store, &[Val::U32(3)]).await.unwrap();
    let before = allocations_on_this_thread();
    let started = std::time::Instant::now();
    let result = run.call(&mut store, &[Val::U32(n)]).await.unwrap();
    let took = started.elapsed();
    let count = allocations_on_this_thread() - before;
    let Some(Val::U32(sum)) = result else {
        panic!("run returned {result:?}");
    };
    (count, sum, took)
}

fn check<E: Engine + Clone>(engine: E) {
    let name = engine.name();
    let (one, sum, _) = block_on(allocations_of_a_call(engine.clone(), 1));
    assert_eq!(sum, 1);
    const CALLS: u32 = 20_000;
    let (many, sum, took) = block_on(allocations_of_a_call(engine, CALLS));
    assert_eq!(sum, CALLS.wrapping_mul(CALLS + 1) / 2);
    // A yield per time slice (no shorter than a millisecond on either
    // engine) may allocate; a host call may not.
    let yields = took.as_millis() as u64 + 1;
    assert!(
        many.saturating_sub(one) < u64::from(CALLS / 1000) + yields,
        "{name}: {CALLS} host calls allocated {many} times in {took:?}, one call {one} times"
    );
}

#[test]
fn typed_scalar_host_calls_allocate_nothing_on_jit() {
    check(jit());
}

#[test]
fn typed_scalar_host_calls_allocate_nothing_on_interp() {
    check(interp());
}

/// The counter itself counts: a `Vec` allocates once.
#[test]
fn the_counter_counts() {
    let before = allocations_on_this_thread();
    let v: Vec<u8> = std::hint::black_box(Vec::with_capacity(64));
    assert_eq!(allocations_on_this_thread() - before, 1);
    drop(v);
}

/// Two instances of one pre-linked component in one store: the first uses
/// the pre's shared trampolines, the second gets its own (they find their
/// instance by the pre, so only one instance per store may share them);
/// each calls the host through its own and gets its own answers.
async fn two_instances_in_one_store<E: Engine>(engine: E) -> (Option<Val>, Option<Val>) {
    let component = Component::new(&engine, &wat::parse_str(GUEST).unwrap()).unwrap();
    let mut linker = Linker::<()>::new();
    linker
        .define_typed(
            "cohost:test/host",
            "add",
            FuncType::new([("a", Type::U32), ("b", Type::U32)], Some(Type::U32)),
            |_, (a, b): (u32, u32)| Ok(a.wrapping_add(b)),
        )
        .unwrap();
    let pre = linker.instantiate_pre(&component).unwrap();
    let mut store = Store::new(&engine, ());
    let first = pre.instantiate(&mut store).await.unwrap();
    let second = pre.instantiate(&mut store).await.unwrap();
    let a = first.func(&store, "run").unwrap();
    let b = second.func(&store, "run").unwrap();
    let b_result = b.call(&mut store, &[Val::U32(4)]).await.unwrap();
    let a_result = a.call(&mut store, &[Val::U32(3)]).await.unwrap();
    (a_result, b_result)
}

#[test]
fn one_pre_instantiated_twice_in_a_store() {
    let expected = (Some(Val::U32(6)), Some(Val::U32(10)));
    assert_eq!(block_on(two_instances_in_one_store(jit())), expected);
    assert_eq!(block_on(two_instances_in_one_store(interp())), expected);
}
