//! Random component types and values round-trip through a guest on both
//! engines: the host lowers a value into the guest's memory, the guest
//! passes it to a host import (lifted, then lowered back), and returns it
//! (lifted again), in each of the three string encodings.

use proptest::prelude::*;

use engine_abi::abi::{StringEncoding, Val};
use engine_abi::engine::{CoreType, Engine};
use engine_abi::types::{
    Enum, Flags, FuncType, List, MAX_FLAT_PARAMS, MAX_FLAT_RESULTS, OptionType, Record, ResultType,
    Tuple, Type, Variant,
};
use engine_abi::{Component, Linker, Store};

use crate::{block_on, interp, jit};

/// A random component type without resources (every other kind, nested up
/// to three deep; enums with one- and two-byte discriminants).
pub(crate) fn arb_type() -> impl Strategy<Value = Type> {
    let leaf = prop_oneof![
        Just(Type::Bool),
        Just(Type::S8),
        Just(Type::U8),
        Just(Type::S16),
        Just(Type::U16),
        Just(Type::S32),
        Just(Type::U32),
        Just(Type::S64),
        Just(Type::U64),
        Just(Type::F32),
        Just(Type::F64),
        Just(Type::Char),
        Just(Type::String),
        (1..40usize).prop_map(|n| Type::Enum(Enum::new((0..n).map(|i| format!("e{i}"))))),
        // Past 256 cases, a two-byte discriminant.
        (257..300usize).prop_map(|n| Type::Enum(Enum::new((0..n).map(|i| format!("e{i}"))))),
        (1..=32usize).prop_map(|n| Type::Flags(Flags::new((0..n).map(|i| format!("f{i}"))))),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            inner.clone().prop_map(|t| Type::List(List::new(t))),
            prop::collection::vec(inner.clone(), 1..6).prop_map(|ts| Type::Record(Record::new(
                ts.into_iter()
                    .enumerate()
                    .map(|(i, t)| (format!("r{i}"), t))
            ))),
            prop::collection::vec(inner.clone(), 1..6).prop_map(|ts| Type::Tuple(Tuple::new(ts))),
            prop::collection::vec(prop::option::of(inner.clone()), 1..6).prop_map(|cs| {
                Type::Variant(Variant::new(
                    cs.into_iter()
                        .enumerate()
                        .map(|(i, t)| (format!("c{i}"), t)),
                ))
            }),
            inner.clone().prop_map(|t| Type::Option(OptionType::new(t))),
            (prop::option::of(inner.clone()), prop::option::of(inner))
                .prop_map(|(ok, err)| Type::Result(ResultType::new(ok, err))),
        ]
    })
}

/// A random value of `ty`.
pub(crate) fn arb_val(ty: &Type) -> BoxedStrategy<Val> {
    match ty {
        Type::Bool => any::<bool>().prop_map(Val::Bool).boxed(),
        Type::S8 => any::<i8>().prop_map(Val::S8).boxed(),
        Type::U8 => any::<u8>().prop_map(Val::U8).boxed(),
        Type::S16 => any::<i16>().prop_map(Val::S16).boxed(),
        Type::U16 => any::<u16>().prop_map(Val::U16).boxed(),
        Type::S32 => any::<i32>().prop_map(Val::S32).boxed(),
        Type::U32 => any::<u32>().prop_map(Val::U32).boxed(),
        Type::S64 => any::<i64>().prop_map(Val::S64).boxed(),
        Type::U64 => any::<u64>().prop_map(Val::U64).boxed(),
        Type::F32 => any::<u32>()
            .prop_map(|b| Val::F32(f32::from_bits(b)))
            .boxed(),
        Type::F64 => any::<u64>()
            .prop_map(|b| Val::F64(f64::from_bits(b)))
            .boxed(),
        Type::Char => any::<char>().prop_map(Val::Char).boxed(),
        Type::String => ".{0,12}".prop_map(Val::String).boxed(),
        Type::List(l) if *l.elem() == Type::U8 => prop::collection::vec(any::<u8>(), 0..64)
            .prop_map(Val::Bytes)
            .boxed(),
        Type::List(l) => prop::collection::vec(arb_val(l.elem()), 0..4)
            .prop_map(Val::List)
            .boxed(),
        Type::Record(r) => {
            let names: Vec<String> = r.fields().iter().map(|(n, _)| n.to_string()).collect();
            r.fields()
                .iter()
                .map(|(_, t)| arb_val(t))
                .collect::<Vec<_>>()
                .prop_map(move |vs| Val::Record(names.iter().cloned().zip(vs).collect()))
                .boxed()
        }
        Type::Tuple(t) => t
            .types()
            .iter()
            .map(arb_val)
            .collect::<Vec<_>>()
            .prop_map(Val::Tuple)
            .boxed(),
        Type::Variant(v) => {
            let cases: Vec<BoxedStrategy<Val>> = v
                .cases()
                .iter()
                .map(|(n, t)| {
                    let n = n.to_string();
                    match t {
                        Some(t) => arb_val(t)
                            .prop_map(move |p| Val::Variant(n.clone(), Some(Box::new(p))))
                            .boxed(),
                        None => Just(Val::Variant(n, None)).boxed(),
                    }
                })
                .collect();
            prop::strategy::Union::new(cases).boxed()
        }
        Type::Enum(e) => prop::sample::select(e.names().to_vec())
            .prop_map(|n| Val::Enum(n.to_string()))
            .boxed(),
        Type::Option(o) => prop::option::of(arb_val(o.some()))
            .prop_map(|v| Val::Option(v.map(Box::new)))
            .boxed(),
        Type::Result(r) => {
            let side = |t: Option<&Type>| match t {
                Some(t) => arb_val(t).prop_map(|v| Some(Box::new(v))).boxed(),
                None => Just(None).boxed(),
            };
            prop_oneof![
                side(r.ok()).prop_map(|v| Val::Result(Ok(v))),
                side(r.err()).prop_map(|v| Val::Result(Err(v))),
            ]
            .boxed()
        }
        Type::Flags(f) => prop::sample::subsequence(f.names().to_vec(), 0..=f.names().len())
            .prop_map(|ns| Val::Flags(ns.into_iter().map(|n| n.to_string()).collect()))
            .boxed(),
        Type::Own(_) | Type::Borrow(_) => unreachable!("no resources in random types"),
    }
}

/// The value a round trip must give back: NaNs come back canonical.
pub(crate) fn canonical(v: &Val) -> Val {
    let b = |v: &Val| Box::new(canonical(v));
    match v {
        Val::F32(f) if f.is_nan() => Val::F32(f32::from_bits(0x7fc0_0000)),
        Val::F64(f) if f.is_nan() => Val::F64(f64::from_bits(0x7ff8_0000_0000_0000)),
        Val::List(vs) => Val::List(vs.iter().map(canonical).collect()),
        Val::Record(fs) => Val::Record(fs.iter().map(|(n, v)| (n.clone(), canonical(v))).collect()),
        Val::Tuple(vs) => Val::Tuple(vs.iter().map(canonical).collect()),
        Val::Variant(n, p) => Val::Variant(n.clone(), p.as_deref().map(b)),
        Val::Option(p) => Val::Option(p.as_deref().map(b)),
        Val::Result(Ok(p)) => Val::Result(Ok(p.as_deref().map(b))),
        Val::Result(Err(p)) => Val::Result(Err(p.as_deref().map(b))),
        other => other.clone(),
    }
}

/// Bit-exact equality (so NaN payloads and -0.0 count).
pub(crate) fn same(a: &Val, b: &Val) -> bool {
    format!("{a:?}") == format!("{b:?}")
        && match (a, b) {
            (Val::F32(x), Val::F32(y)) => x.to_bits() == y.to_bits(),
            (Val::F64(x), Val::F64(y)) => x.to_bits() == y.to_bits(),
            _ => true,
        }
}

/// `ty` in the component text format. Records, variants, enums and flags
/// must be named to appear in an import or export, so each becomes a type
/// definition `$dN` imported as `(import "tN" (type $tN (eq $dN)))`, its
/// text collected in `defs`.
pub(crate) fn wat_type(ty: &Type, defs: &mut Vec<String>) -> String {
    let opt =
        |t: Option<&Type>, defs: &mut Vec<String>| t.map(|t| wat_type(t, defs)).unwrap_or_default();
    let nominal = match ty {
        Type::List(l) => return format!("(list {})", wat_type(l.elem(), defs)),
        Type::Tuple(t) => {
            let ts: Vec<String> = t.types().iter().map(|t| wat_type(t, defs)).collect();
            return format!("(tuple {})", ts.join(" "));
        }
        Type::Option(o) => return format!("(option {})", wat_type(o.some(), defs)),
        Type::Result(r) => {
            let ok = opt(r.ok(), defs);
            let err = r
                .err()
                .map(|e| format!("(error {})", wat_type(e, defs)))
                .unwrap_or_default();
            return format!("(result {ok} {err})");
        }
        Type::Record(r) => {
            let fields: Vec<String> = r
                .fields()
                .iter()
                .map(|(n, t)| format!("(field \"{n}\" {})", wat_type(t, defs)))
                .collect();
            format!("(record {})", fields.join(" "))
        }
        Type::Variant(v) => {
            let cases: Vec<String> = v
                .cases()
                .iter()
                .map(|(n, t)| format!("(case \"{n}\" {})", opt(t.as_ref(), defs)))
                .collect();
            format!("(variant {})", cases.join(" "))
        }
        Type::Enum(e) => {
            let names: Vec<String> = e.names().iter().map(|n| format!("\"{n}\"")).collect();
            format!("(enum {})", names.join(" "))
        }
        Type::Flags(f) => {
            let names: Vec<String> = f.names().iter().map(|n| format!("\"{n}\"")).collect();
            format!("(flags {})", names.join(" "))
        }
        prim => return prim.to_string(),
    };
    let index = match defs.iter().position(|d| *d == nominal) {
        Some(i) => i,
        None => {
            defs.push(nominal);
            defs.len() - 1
        }
    };
    format!("$t{index}")
}

/// Core types in the text format, space-separated.
pub(crate) fn core(ts: &[CoreType]) -> String {
    ts.iter()
        .map(|t| format!("{t:?}").to_lowercase())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A core function `head` (`$name`, or `(export "realloc")`) with
/// `cabi_realloc`'s signature: a bump allocator over the global `$bump`
/// that keeps a block it is asked to shrink, copies one it grows, and grows
/// memory as needed.
pub(crate) fn bump_realloc(head: &str) -> String {
    format!(
        r#"(func {head} (param $old i32) (param $old_size i32) (param $align i32) (param $size i32) (result i32)
      (local $p i32)
      (if (i32.and (i32.ne (local.get $old) (i32.const 0)) (i32.le_u (local.get $size) (local.get $old_size)))
        (then (return (local.get $old))))
      (local.set $p (i32.and (i32.add (global.get $bump) (i32.sub (local.get $align) (i32.const 1)))
                             (i32.sub (i32.const 0) (local.get $align))))
      (global.set $bump (i32.add (local.get $p) (local.get $size)))
      (if (i32.gt_u (global.get $bump) (i32.mul (memory.size) (i32.const 65536)))
        (then (if (i32.eq (memory.grow (i32.add (i32.shr_u (local.get $size) (i32.const 16)) (i32.const 1))) (i32.const -1))
          (then unreachable))))
      (if (i32.ne (local.get $old) (i32.const 0))
        (then (memory.copy (local.get $p) (local.get $old) (local.get $old_size))))
      (local.get $p))"#
    )
}

/// A component whose export `echo: func(x: T) -> T` passes `x` to its
/// import `id` and returns what that gives back.
fn echo_component(ty: &Type, encoding: StringEncoding) -> String {
    let mut defs = Vec::new();
    let t = wat_type(ty, &mut defs);
    let type_imports: String = defs
        .iter()
        .enumerate()
        .map(|(i, d)| format!("  (type $d{i} {d})\n  (import \"t{i}\" (type $t{i} (eq $d{i})))\n"))
        .collect();
    let flat = ty.flat();
    let params_in_memory = flat.len() > MAX_FLAT_PARAMS;
    let result_in_memory = flat.len() > MAX_FLAT_RESULTS;
    let params: Vec<CoreType> = if params_in_memory {
        vec![CoreType::I32]
    } else {
        flat.to_vec()
    };
    let lift_results = if result_in_memory {
        vec![CoreType::I32]
    } else {
        flat.to_vec()
    };
    let mut lower_params = params.clone();
    if result_in_memory {
        lower_params.push(CoreType::I32);
    }
    let lower_results = if result_in_memory {
        vec![]
    } else {
        flat.to_vec()
    };
    let gets: String = (0..params.len())
        .map(|i| format!("(local.get {i}) "))
        .collect();
    let body = if result_in_memory {
        format!(
            "(local.set $ret (call $realloc (i32.const 0) (i32.const 0) (i32.const {}) (i32.const {})))
             {gets} (local.get $ret) (call $id) (local.get $ret)",
            ty.align(),
            ty.size()
        )
    } else {
        format!("{gets} (call $id)")
    };
    let enc = encoding_option(encoding);
    format!(
        r#"(component
{type_imports}  (import "id" (func $id (param "x" {t}) (result {t})))
  (core module $mem
    (memory (export "memory") 1)
    (global $bump (mut i32) (i32.const 16))
    {realloc})
  (core instance $mi (instantiate $mem))
  (alias core export $mi "memory" (core memory $memory))
  (alias core export $mi "realloc" (core func $realloc))
  (core func $id_lowered (canon lower (func $id) (memory $memory) (realloc $realloc) {enc}))
  (core module $main
    (import "host" "id" (func $id (param {lp}) (result {lr})))
    (import "host" "realloc" (func $realloc (param i32 i32 i32 i32) (result i32)))
    (func (export "echo") (param {p}) (result {r}) (local $ret i32)
      {body}))
  (core instance $main (instantiate $main
    (with "host" (instance (export "id" (func $id_lowered)) (export "realloc" (func $realloc))))))
  (func (export "echo") (param "x" {t}) (result {t})
    (canon lift (core func $main "echo") (memory $memory) (realloc $realloc) {enc}))
)"#,
        realloc = bump_realloc(r#"(export "realloc")"#),
        lp = core(&lower_params),
        lr = core(&lower_results),
        p = core(&params),
        r = core(&lift_results),
    )
}

async fn round_trip<E: Engine>(
    engine: E,
    wasm: &[u8],
    ty: &Type,
    val: &Val,
) -> Result<Option<Val>, String> {
    let component = Component::new(&engine, wasm).map_err(|e| e.to_string())?;
    let mut linker = Linker::<()>::new();
    linker.define_func(
        "",
        "id",
        FuncType::new([("x", ty.clone())], Some(ty.clone())),
        |_, args| Ok(Some(args[0].clone())),
    );
    let mut store = Store::new(&engine, ());
    let instance = linker
        .instantiate(&mut store, &component)
        .await
        .map_err(|e| e.to_string())?;
    let echo = instance.func(&store, "echo").ok_or("no echo export")?;
    echo.call(&mut store, std::slice::from_ref(val))
        .await
        .map_err(|e| e.to_string())
}

/// The canonical option that names `encoding`.
pub(crate) fn encoding_option(encoding: StringEncoding) -> &'static str {
    match encoding {
        StringEncoding::Utf8 => "string-encoding=utf8",
        StringEncoding::Utf16 => "string-encoding=utf16",
        StringEncoding::CompactUtf16 => "string-encoding=latin1+utf16",
    }
}

/// One of the three string encodings.
pub(crate) fn arb_encoding() -> impl Strategy<Value = StringEncoding> {
    prop_oneof![
        Just(StringEncoding::Utf8),
        Just(StringEncoding::Utf16),
        Just(StringEncoding::CompactUtf16)
    ]
}

fn arb_case() -> impl Strategy<Value = (Type, Val, StringEncoding)> {
    arb_type().prop_flat_map(|ty| (Just(ty.clone()), arb_val(&ty), arb_encoding()))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: crate::fuzz_cases(96), .. ProptestConfig::default() })]

    #[test]
    fn values_round_trip_through_a_guest_on_both_engines((ty, val, encoding) in arb_case()) {
        let text = echo_component(&ty, encoding);
        let wasm = wat::parse_str(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        let expected = canonical(&val);
        let a = block_on(round_trip(jit(), &wasm, &ty, &val));
        let b = block_on(round_trip(interp(), &wasm, &ty, &val));
        let a = a.map_err(|e| TestCaseError::fail(format!("jit: {e}\n{text}")))?;
        let b = b.map_err(|e| TestCaseError::fail(format!("interp: {e}\n{text}")))?;
        prop_assert!(a.as_ref().is_some_and(|a| same(a, &expected)), "jit gave {:?} for {:?}", a, expected);
        prop_assert!(b.as_ref().is_some_and(|b| same(b, &expected)), "interp gave {:?} for {:?}", b, expected);
    }
}
