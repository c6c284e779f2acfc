//! Stack parity: one `max_wasm_stack` (`EngineConfig`) on both engines, so
//! that the same guest recurses about as deep on each; deeper recursion
//! traps on both with one message, also inside a nested call (a realloc),
//! and calls nested through the host are bounded too: never a host stack
//! overflow.

use engine_abi::engine::{Engine, EngineConfig, Extern, StoreLimits};
use engine_abi::error::{TrapKind, WasmTrap};

use crate::budget::{World, component, run_plain};
use crate::{block_on, interp, jit};

/// `rec(n)` recurses `n` deep, with a small frame.
const THIN: &str = r#"(module
  (func $rec (export "rec") (param $n i32) (result i32)
    (if (result i32) (i32.eqz (local.get $n))
      (then (i32.const 0))
      (else (i32.add (i32.const 1)
        (call $rec (i32.sub (local.get $n) (i32.const 1))))))))"#;

/// `rec(n)` recurses `n` deep, with `locals` 64-bit locals live across
/// each call (a frame of a few hundred bytes on either engine): loaded
/// from memory, so a compiler cannot compute them after the call instead.
fn fat(locals: usize) -> String {
    let decls: String = (0..locals).map(|i| format!("(local $l{i} i64)")).collect();
    let sets: String = (0..locals)
        .map(|i| {
            format!(
                "(local.set $l{i} (i64.add (i64.load (i32.const {})) (i64.extend_i32_u (local.get $n))))",
                i * 8
            )
        })
        .collect();
    let sum = (0..locals).fold("(i64.const 0)".to_string(), |acc, i| {
        format!("(i64.add {acc} (local.get $l{i}))")
    });
    format!(
        r#"(module
  (memory 1)
  (func $rec (export "rec") (param $n i32) (result i32) {decls}
    {sets}
    (if (result i32) (i32.eqz (local.get $n))
      (then (i32.const 0))
      (else (i32.add (i32.const 1) (i32.add
        (call $rec (i32.sub (local.get $n) (i32.const 1)))
        ;; 0, as the sum is small, but not to a compiler.
        (i32.wrap_i64 (i64.shr_u {sum} (i64.const 62)))))))))"#
    )
}

/// The deepest `rec(n)` of `wat` that returns on `engine`; every deeper
/// one traps with the message of a stack overflow.
fn deepest<E: Engine>(engine: &E, wat: &str) -> u32 {
    let module = engine.compile(&wat::parse_str(wat).unwrap()).unwrap();
    block_on(async {
        let mut store = engine.new_store((), StoreLimits::default());
        let instance = E::instantiate(&mut store, &module, &[]).await.unwrap();
        let Some(Extern::Func(rec)) = E::export(&mut store, instance, "rec") else {
            panic!("no rec export")
        };
        let (mut works, mut traps) = (0u32, 1u32 << 22);
        while traps - works > 1 {
            let n = works + (traps - works) / 2;
            let mut out = [engine_abi::engine::CoreVal::I32(0)];
            match E::call(
                &mut store,
                rec,
                &[engine_abi::engine::CoreVal::I32(n as i32)],
                &mut out,
            )
            .await
            {
                Ok(()) => {
                    assert_eq!(out[0], engine_abi::engine::CoreVal::I32(n as i32));
                    works = n;
                }
                Err(t) => {
                    assert_eq!(
                        (t.kind(), t.message()),
                        (TrapKind::Wasm, WasmTrap::StackOverflow.message()),
                        "{} at depth {n}",
                        engine.name()
                    );
                    traps = n;
                }
            }
        }
        works
    })
}

/// How far apart two depths may be and still be "about the same": the
/// engines' frames differ (wasmtime's by what Cranelift spills, wasmi's
/// by its registers), but not by more than this.
const PARITY: f64 = 1.5;

fn assert_about_the_same(what: &str, jit: u32, interp: u32) {
    let ratio = f64::from(jit) / f64::from(interp);
    eprintln!("{what}: jit {jit}, interp {interp} deep (ratio {ratio:.2})");
    assert!(
        (1.0 / PARITY..=PARITY).contains(&ratio),
        "{what}: jit recurses {jit} deep, interp {interp}"
    );
}

#[test]
fn the_same_guest_recurses_about_as_deep_on_both_engines() {
    let (jit, interp) = (jit(), interp());
    assert_about_the_same("thin frames", deepest(&jit, THIN), deepest(&interp, THIN));
    let fat = fat(24);
    assert_about_the_same("fat frames", deepest(&jit, &fat), deepest(&interp, &fat));
}

#[test]
fn max_wasm_stack_sets_the_depth_on_both_engines() {
    let small = EngineConfig {
        max_wasm_stack: EngineConfig::DEFAULT_MAX_WASM_STACK / 8,
        ..EngineConfig::default()
    };
    let small_jit = backend_wasmtime::WasmtimeEngine::with_config(&small).unwrap();
    let small_interp = backend_wasmi::WasmiEngine::with_config(&small);
    let jit_depth = deepest(&small_jit, THIN);
    let interp_depth = deepest(&small_interp, THIN);
    assert_about_the_same("thin frames, 64 KiB", jit_depth, interp_depth);
    for (name, small, default) in [
        ("jit", jit_depth, deepest(&jit(), THIN)),
        ("interp", interp_depth, deepest(&interp(), THIN)),
    ] {
        let ratio = f64::from(default) / f64::from(small);
        assert!(
            (6.0..=10.0).contains(&ratio),
            "{name}: {default} deep with 512 KiB, {small} with 64 KiB"
        );
    }
}

/// A realloc that recurses without end, called by the host inside a host
/// function: a stack overflow trap, the same on both engines.
const RECURSING_REALLOC: &str = r#"
  (core module $libc
    (memory (export "memory") 1)
    (func $realloc (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
      (call $realloc (local.get 0) (local.get 1) (local.get 2) (local.get 3))))
  (core instance $libc (instantiate $libc))
  (core func $pwq (canon lower (func $pwq)
    (memory $libc "memory") (realloc (func $libc "cabi_realloc"))))
  (core module $main
    (import "host" "path-with-query" (func $pwq (param i32 i32)))
    (func (export "handle") (param i32 i32)
      (call $pwq (local.get 0) (i32.const 256))))
  (core instance $main (instantiate $main
    (with "host" (instance (export "path-with-query" (func $pwq))))))"#;

/// A realloc that asks the host for the path again, whose result needs the
/// realloc, and so on: calls nested through the host without end. (The
/// realloc reaches the lowered import through a table that `$main` fills.)
const REALLOC_CALLING_THE_HOST: &str = r#"
  (core module $libc
    (type $pwq (func (param i32 i32)))
    (table (export "table") 1 funcref)
    (memory (export "memory") 1)
    (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
      (call_indirect (type $pwq) (i32.const 0) (i32.const 256) (i32.const 0))
      (i32.const 1024)))
  (core instance $libc (instantiate $libc))
  (core func $pwq (canon lower (func $pwq)
    (memory $libc "memory") (realloc (func $libc "cabi_realloc"))))
  (core module $main
    (import "host" "path-with-query" (func $pwq (param i32 i32)))
    (import "libc" "table" (table 1 funcref))
    (elem (i32.const 0) func $pwq)
    (func (export "handle") (param i32 i32)
      (call $pwq (local.get 0) (i32.const 256))))
  (core instance $main (instantiate $main
    (with "host" (instance (export "path-with-query" (func $pwq))))
    (with "libc" (instance (export "table" (table $libc "table"))))))"#;

#[test]
fn deep_recursion_in_a_realloc_traps_on_both_engines() {
    let bytes = component(World::Plain, RECURSING_REALLOC, "");
    let limits = StoreLimits {
        time_budget: Some(std::time::Duration::from_secs(30)),
        ..StoreLimits::default()
    };
    for trap in [
        block_on(run_plain(&jit(), &bytes, limits)),
        block_on(run_plain(&interp(), &bytes, limits)),
    ] {
        assert_eq!(trap.as_deref(), Some(WasmTrap::StackOverflow.message()));
    }
}

#[test]
fn calls_nested_through_the_host_are_bounded_on_both_engines() {
    let bytes = component(World::Plain, REALLOC_CALLING_THE_HOST, "");
    let limits = StoreLimits {
        time_budget: Some(std::time::Duration::from_secs(30)),
        ..StoreLimits::default()
    };
    let expected = engine_abi::engine::nested_too_deep();
    for trap in [
        block_on(run_plain(&jit(), &bytes, limits)),
        block_on(run_plain(&interp(), &bytes, limits)),
    ] {
        assert_eq!(trap.as_deref(), Some(expected.message()));
        assert!(
            expected
                .message()
                .starts_with(WasmTrap::StackOverflow.message())
        );
    }
}
