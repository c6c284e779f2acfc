//! Lowering into a hostile guest, differentially: the host calls a guest
//! export `f: func(x: T) -> u32` with a random value of a type T that needs
//! allocation (strings, lists), and the guest's `realloc` returns what a
//! random table says: honest fresh blocks mostly, but also misaligned,
//! out-of-bounds, overlapping and stale pointers. cohost on jit and on
//! interp must both trap with the same message or both succeed, never
//! panic; `f` returns a hash of its core arguments and of all of its
//! memory, so success means the same bytes were written in the same
//! places. wasmtime's component model must agree on trap or success and on
//! the hash.

use proptest::prelude::*;

use engine_abi::abi::{StringEncoding, Val};
use engine_abi::engine::CoreType;
use engine_abi::types::{List, MAX_FLAT_PARAMS, Type};

use crate::lift::{call_cohost, call_wasmtime, type_exports};
use crate::roundtrip::{
    arb_encoding, arb_type, arb_val, bump_realloc, canonical, encoding_option, wat_type,
};
use crate::{block_on, interp, jit};

/// How many `realloc` calls the table decides; later ones are honest.
const TABLE_LEN: usize = 24;
/// Where the table is in memory.
const TABLE_AT: u32 = 0x10;
/// Where honest allocations begin.
const HEAP_AT: u32 = 0x100;

/// Table entries that are not returned as they are: an honest allocation;
/// one a byte past it; the block `realloc` was asked to resize (or 0).
const FRESH: u32 = 0xffff_ff00;
const FRESH_PLUS_ONE: u32 = 0xffff_ff01;
const OLD: u32 = 0xffff_ff02;

fn arb_entry() -> impl Strategy<Value = u32> {
    prop_oneof![
        3 => Just(FRESH),
        1 => Just(FRESH_PLUS_ONE),
        1 => Just(OLD),
        // Over the table, the heap, what was just written.
        1 => (0..HEAP_AT / 4 + 64).prop_map(|i| 4 * i),
        1 => 65_536 - 16..65_536 + 4u32,
        1 => any::<u32>(),
    ]
}

/// A table of entries; a quarter of the time an honest one.
fn arb_table() -> impl Strategy<Value = Vec<u32>> {
    prop_oneof![
        1 => Just(vec![FRESH; TABLE_LEN]),
        3 => prop::collection::vec(arb_entry(), TABLE_LEN),
    ]
}

/// Whether lowering a `ty` calls `realloc`.
fn allocates(ty: &Type) -> bool {
    match ty {
        Type::String | Type::List(_) => true,
        Type::Record(r) => r.fields().iter().any(|(_, t)| allocates(t)),
        Type::Tuple(t) => t.types().iter().any(allocates),
        Type::Variant(v) => v.cases().iter().flat_map(|(_, t)| t).any(allocates),
        Type::Option(o) => allocates(o.some()),
        Type::Result(r) => r.ok().into_iter().chain(r.err()).any(allocates),
        _ => false,
    }
}

/// A component whose `realloc` follows `table` and whose export
/// `f: func(x: T) -> u32` hashes its core arguments and its memory.
fn lowering_component(ty: &Type, encoding: StringEncoding, table: &[u32]) -> String {
    let mut defs = Vec::new();
    let t = wat_type(ty, &mut defs);
    let flat = ty.flat();
    let params: Vec<CoreType> = if flat.len() > MAX_FLAT_PARAMS {
        vec![CoreType::I32]
    } else {
        flat.to_vec()
    };
    let mix = |x: String| {
        format!(
            "(local.set $h (i32.mul (i32.xor (local.get $h) {x}) (i32.const 16777619)))\n      "
        )
    };
    let mut hash_params = String::new();
    for (i, p) in params.iter().enumerate() {
        let i64_halves = |x: &str| {
            mix(format!("(i32.wrap_i64 {x})"))
                + &mix(format!("(i32.wrap_i64 (i64.shr_u {x} (i64.const 32)))"))
        };
        hash_params += &match p {
            CoreType::I32 => mix(format!("(local.get {i})")),
            CoreType::F32 => mix(format!("(i32.reinterpret_f32 (local.get {i}))")),
            CoreType::I64 => i64_halves(&format!("(local.get {i})")),
            CoreType::F64 => i64_halves(&format!("(i64.reinterpret_f64 (local.get {i}))")),
        };
    }
    let table: Vec<u8> = table.iter().flat_map(|e| e.to_le_bytes()).collect();
    format!(
        r#"(component
{types}  (core module $m
    (memory (export "memory") 1)
    (data (i32.const {TABLE_AT}) "{table}")
    (global $next (mut i32) (i32.const 0))
    (global $bump (mut i32) (i32.const {HEAP_AT}))
    ;; An honest allocator: shrinking keeps the block, growing copies it.
    {fresh}
    (func (export "realloc") (param $old i32) (param $old_size i32) (param $align i32) (param $size i32) (result i32)
      (local $e i32)
      (local.set $e (i32.const {FRESH}))
      (if (i32.lt_u (global.get $next) (i32.const {TABLE_LEN}))
        (then (local.set $e (i32.load (i32.add (i32.const {TABLE_AT}) (i32.shl (global.get $next) (i32.const 2)))))))
      (global.set $next (i32.add (global.get $next) (i32.const 1)))
      (if (i32.eq (local.get $e) (i32.const {FRESH}))
        (then (return (call $fresh (local.get $old) (local.get $old_size) (local.get $align) (local.get $size)))))
      (if (i32.eq (local.get $e) (i32.const {FRESH_PLUS_ONE}))
        (then (return (i32.add (i32.const 1) (call $fresh (local.get $old) (local.get $old_size) (local.get $align) (local.get $size))))))
      (if (i32.eq (local.get $e) (i32.const {OLD}))
        (then (return (local.get $old))))
      (local.get $e))
    (func (export "f") (param {params}) (result i32) (local $h i32) (local $i i32)
      (local.set $h (i32.const 0x811c9dc5))
      {hash_params}{calls}(block $done (loop $words
        (br_if $done (i32.ge_u (local.get $i) (i32.mul (memory.size) (i32.const 65536))))
        {word}(local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $words)))
      (local.get $h)))
  (core instance $i (instantiate $m))
  (alias core export $i "memory" (core memory $memory))
  (alias core export $i "realloc" (core func $realloc))
  (func (export "f") (param "x" {t}) (result u32)
    (canon lift (core func $i "f") (memory $memory) (realloc $realloc) {enc}))
)"#,
        fresh = bump_realloc("$fresh"),
        types = type_exports(&defs),
        table = crate::lift::data_string(&table),
        FRESH = FRESH as i32,
        FRESH_PLUS_ONE = FRESH_PLUS_ONE as i32,
        OLD = OLD as i32,
        params = crate::roundtrip::core(&params),
        calls = mix("(global.get $next)".to_string()),
        word = mix("(i32.load (local.get $i))".to_string()),
        enc = encoding_option(encoding),
    )
}

fn arb_lower_case() -> impl Strategy<Value = (Type, Val, StringEncoding, Vec<u32>)> {
    arb_type()
        .prop_map(|ty| {
            if allocates(&ty) {
                ty
            } else {
                Type::List(List::new(ty))
            }
        })
        .prop_flat_map(|ty| {
            let val = arb_val(&ty).prop_map(|v| canonical(&v));
            (Just(ty), val, arb_encoding(), arb_table())
        })
}

/// Lower `val` through the realloc `table` on all three hosts and check
/// they agree. Returns whether the call succeeded.
fn check_lower(
    ty: &Type,
    val: &Val,
    encoding: StringEncoding,
    table: &[u32],
) -> Result<bool, TestCaseError> {
    let text = lowering_component(ty, encoding, table);
    let wasm = wat::parse_str(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
    let args = std::slice::from_ref(val);
    let a = block_on(call_cohost(jit(), &wasm, args));
    let b = block_on(call_cohost(interp(), &wasm, args));
    let w = call_wasmtime(&wasm, args);
    let context = || format!("type {ty}, {encoding:?}, value {val:?}, table {table:x?}\n{text}");
    prop_assert_eq!(&a, &b, "jit and interp differ\n{}", context());
    match (&a, &w) {
        // Both follow the spec's order of `realloc` calls and writes, so
        // even a lying `realloc` leaves the same bytes behind.
        (Ok(Some(x)), Ok(y)) => {
            prop_assert!(x == y, "cohost hashed {x:?}, wasmtime {y:?}\n{}", context())
        }
        (Err(_), Err(_)) => {}
        _ => prop_assert!(false, "cohost gave {a:?}, wasmtime {w:?}\n{}", context()),
    }
    Ok(a.is_ok())
}

#[test]
fn lower_into_hostile_realloc_agrees_with_wasmtime() {
    let (ok, ran) = crate::run_fuzz_target(
        512,
        file!(),
        arb_lower_case(),
        |(ty, val, encoding, table)| check_lower(&ty, &val, encoding, &table),
    );
    eprintln!("lower: {ok} of {ran} calls into a hostile realloc succeeded");
    assert!(
        ran < 20 || (ok >= ran / 5 && ran - ok >= ran / 10),
        "{ok} of {ran} calls into a hostile realloc succeeded"
    );
}
