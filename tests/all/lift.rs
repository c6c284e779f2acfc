//! Lifting every value type from arbitrary guest data, differentially: a
//! guest export `f: func() -> tuple<T, u32>` returns a pointer into a
//! random memory image (mostly plausible words, some hostile ones), or a
//! guest calls a host import `g: func(x: T)` with random flat arguments
//! (pointing into such an image), and cohost on jit, cohost on interp and
//! wasmtime's own component model must all lift the same value, or all
//! trap (the two cohost engines with the same message), never panic.

use std::sync::OnceLock;

use proptest::prelude::*;

use engine_abi::abi::{StringEncoding, UTF16_TAG, Val};
use engine_abi::engine::{CoreType, CoreVal, Engine};
use engine_abi::types::{FuncType, MAX_FLAT_PARAMS, Tuple, Type};
use engine_abi::{Component, Linker, Store};
use wasmtime::component::Val as WVal;

use crate::roundtrip::{arb_encoding, arb_type, canonical, encoding_option, same, wat_type};
use crate::{block_on, interp, jit};

/// The memory image, in 32-bit words, at address 0 of the guest's memory
/// (the rest of its one page is zeros).
const IMAGE_WORDS: u32 = 64;

/// A word of the memory image: mostly what valid data is made of (small
/// numbers for discriminants, bools and lengths, aligned pointers into the
/// image), with some of everything lifting must reject or handle.
fn arb_word() -> impl Strategy<Value = u32> {
    // Bytes strings are made of: ASCII, a two-byte UTF-8 sequence, bytes
    // that are never valid UTF-8, and (little-endian) halves of UTF-16
    // units: 'A', a high and a low surrogate.
    let text_byte = prop::sample::select(vec![
        b'a', b'Z', b'0', 0x00, 0xc3, 0xa9, 0xff, 0x80, 0xed, 0xa0, 0x41, 0xd8, 0xdc, 0x3d,
    ]);
    prop_oneof![
        10 => 0..4u32,
        6 => (0..IMAGE_WORDS / 2).prop_map(|i| i * 8),
        3 => 0..16u32,
        3 => any::<u32>(),
        2 => [text_byte.clone(), text_byte.clone(), text_byte.clone(), text_byte]
            .prop_map(u32::from_le_bytes),
        1 => (0..IMAGE_WORDS * 4).prop_map(|p| p | 1),
        1 => (0..IMAGE_WORDS * 4).prop_map(|p| p | 2),
        1 => prop_oneof![65_520..65_540u32, Just(0x8000_0000), Just(u32::MAX - 3)],
        1 => prop_oneof![0xd800..0xe000u32, 0x11_0000..0x11_0004u32],
        1 => (0..16u32).prop_map(|n| n | UTF16_TAG),
        1 => prop_oneof![Just(0x7fc0_0001u32), Just(u32::MAX), Just(0x7ff8_0000)],
    ]
}

/// The pointer `f` returns: mostly aligned and inside the image, sometimes
/// misaligned, near or past the end of memory, or anything.
fn arb_retptr() -> impl Strategy<Value = u32> {
    prop_oneof![
        12 => (0..IMAGE_WORDS / 2).prop_map(|i| i * 8),
        1 => (0..IMAGE_WORDS * 4).prop_map(|p| p | 1),
        1 => (0..IMAGE_WORDS).prop_map(|p| 4 * p + 2),
        1 => 65_536 - 256..65_536 + 8u32,
        1 => any::<u32>(),
    ]
}

/// `bytes` as a string of the text format.
pub(crate) fn data_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("\\{b:02x}")).collect()
}

/// The type definitions `wat_type` collected, each exported as `tN` to
/// give it a name (what exported functions' types need).
pub(crate) fn type_exports(defs: &[String]) -> String {
    defs.iter()
        .enumerate()
        .map(|(i, d)| format!("  (type $d{i} {d})\n  (export $t{i} \"t{i}\" (type $d{i}))\n"))
        .collect()
}

/// A component whose export `f: func() -> tuple<T, u32>` returns `retptr`
/// into a memory initialised with `image`.
fn lifting_component(ty: &Type, encoding: StringEncoding, image: &[u8], retptr: u32) -> String {
    let mut defs = Vec::new();
    let t = wat_type(ty, &mut defs);
    format!(
        r#"(component
{types}  (core module $m
    (memory (export "memory") 1)
    (data (i32.const 0) "{data}")
    (func (export "f") (result i32) (i32.const {retptr})))
  (core instance $i (instantiate $m))
  (alias core export $i "memory" (core memory $memory))
  (func (export "f") (result (tuple {t} u32))
    (canon lift (core func $i "f") (memory $memory) {enc}))
)"#,
        types = type_exports(&defs),
        data = data_string(image),
        retptr = retptr as i32,
        enc = encoding_option(encoding),
    )
}

/// Call `f` of `wasm` with `args` on a cohost engine.
pub(crate) async fn call_cohost<E: Engine>(
    engine: E,
    wasm: &[u8],
    args: &[Val],
) -> Result<Option<Val>, String> {
    let component = Component::new(&engine, wasm).map_err(|e| format!("load: {e}"))?;
    let mut store = Store::new(&engine, ());
    let instance = Linker::<()>::new()
        .instantiate(&mut store, &component)
        .await
        .map_err(|e| format!("instantiate: {e}"))?;
    let f = instance.func(&store, "f").ok_or("no export f")?;
    f.call(&mut store, args).await.map_err(|e| e.to_string())
}

/// One wasmtime engine for every case (its default configuration).
fn wasmtime_engine() -> &'static wasmtime::Engine {
    static ENGINE: OnceLock<wasmtime::Engine> = OnceLock::new();
    ENGINE.get_or_init(wasmtime::Engine::default)
}

/// Call `f` of `wasm` with `args` on wasmtime's component model; `Err` is
/// a trap (or any other failure of the call, with its whole chain).
pub(crate) fn call_wasmtime(wasm: &[u8], args: &[Val]) -> Result<Val, String> {
    let engine = wasmtime_engine();
    let component = wasmtime::component::Component::new(engine, wasm)
        .unwrap_or_else(|e| panic!("wasmtime rejects a valid component: {e:?}"));
    let linker = wasmtime::component::Linker::<()>::new(engine);
    let mut store = wasmtime::Store::new(engine, ());
    let instance = linker
        .instantiate(&mut store, &component)
        .unwrap_or_else(|e| panic!("wasmtime cannot instantiate: {e:?}"));
    let f = instance.get_func(&mut store, "f").expect("export f");
    let args: Vec<WVal> = args.iter().map(to_wasmtime).collect();
    let mut results = [WVal::Bool(false)];
    f.call(&mut store, &args, &mut results)
        .map_err(|e| format!("{e:?}"))?;
    Ok(from_wasmtime(&results[0]))
}

/// A wasmtime value as ours.
pub(crate) fn from_wasmtime(v: &WVal) -> Val {
    let b = |v: &WVal| Box::new(from_wasmtime(v));
    match v {
        WVal::Bool(x) => Val::Bool(*x),
        WVal::S8(x) => Val::S8(*x),
        WVal::U8(x) => Val::U8(*x),
        WVal::S16(x) => Val::S16(*x),
        WVal::U16(x) => Val::U16(*x),
        WVal::S32(x) => Val::S32(*x),
        WVal::U32(x) => Val::U32(*x),
        WVal::S64(x) => Val::S64(*x),
        WVal::U64(x) => Val::U64(*x),
        WVal::Float32(x) => Val::F32(*x),
        WVal::Float64(x) => Val::F64(*x),
        WVal::Char(x) => Val::Char(*x),
        WVal::String(x) => Val::String(x.clone()),
        WVal::List(vs) => Val::List(vs.iter().map(from_wasmtime).collect()),
        WVal::Record(fs) => Val::Record(
            fs.iter()
                .map(|(n, v)| (n.clone(), from_wasmtime(v)))
                .collect(),
        ),
        WVal::Tuple(vs) => Val::Tuple(vs.iter().map(from_wasmtime).collect()),
        WVal::Variant(n, p) => Val::Variant(n.clone(), p.as_deref().map(b)),
        WVal::Enum(n) => Val::Enum(n.clone()),
        WVal::Option(p) => Val::Option(p.as_deref().map(b)),
        WVal::Result(Ok(p)) => Val::Result(Ok(p.as_deref().map(b))),
        WVal::Result(Err(p)) => Val::Result(Err(p.as_deref().map(b))),
        WVal::Flags(ns) => Val::Flags(ns.clone()),
        other => panic!("no {other:?} in random types"),
    }
}

/// Our value as wasmtime's.
pub(crate) fn to_wasmtime(v: &Val) -> WVal {
    let b = |v: &Val| Box::new(to_wasmtime(v));
    match v {
        Val::Bool(x) => WVal::Bool(*x),
        Val::S8(x) => WVal::S8(*x),
        Val::U8(x) => WVal::U8(*x),
        Val::S16(x) => WVal::S16(*x),
        Val::U16(x) => WVal::U16(*x),
        Val::S32(x) => WVal::S32(*x),
        Val::U32(x) => WVal::U32(*x),
        Val::S64(x) => WVal::S64(*x),
        Val::U64(x) => WVal::U64(*x),
        Val::F32(x) => WVal::Float32(*x),
        Val::F64(x) => WVal::Float64(*x),
        Val::Char(x) => WVal::Char(*x),
        Val::String(x) => WVal::String(x.clone()),
        Val::Bytes(bs) => WVal::List(bs.iter().map(|&b| WVal::U8(b)).collect()),
        Val::List(vs) => WVal::List(vs.iter().map(to_wasmtime).collect()),
        Val::Record(fs) => WVal::Record(
            fs.iter()
                .map(|(n, v)| (n.clone(), to_wasmtime(v)))
                .collect(),
        ),
        Val::Tuple(vs) => WVal::Tuple(vs.iter().map(to_wasmtime).collect()),
        Val::Variant(n, p) => WVal::Variant(n.clone(), p.as_deref().map(b)),
        Val::Enum(n) => WVal::Enum(n.clone()),
        Val::Option(p) => WVal::Option(p.as_deref().map(b)),
        Val::Result(Ok(p)) => WVal::Result(Ok(p.as_deref().map(b))),
        Val::Result(Err(p)) => WVal::Result(Err(p.as_deref().map(b))),
        Val::Flags(ns) => WVal::Flags(ns.clone()),
        Val::Own(_) | Val::Borrow(_) => panic!("no resources in random types"),
    }
}

/// `v` with every `list<u8>` as a list of `u8`s and every NaN canonical,
/// so that values from either host compare with [`same`].
pub(crate) fn normal(v: &Val) -> Val {
    let b = |v: &Val| Box::new(normal(v));
    match canonical(v) {
        Val::Bytes(bs) => Val::List(bs.into_iter().map(Val::U8).collect()),
        Val::List(vs) => Val::List(vs.iter().map(normal).collect()),
        Val::Record(fs) => Val::Record(fs.iter().map(|(n, v)| (n.clone(), normal(v))).collect()),
        Val::Tuple(vs) => Val::Tuple(vs.iter().map(normal).collect()),
        Val::Variant(n, p) => Val::Variant(n, p.as_deref().map(b)),
        Val::Option(p) => Val::Option(p.as_deref().map(b)),
        Val::Result(Ok(p)) => Val::Result(Ok(p.as_deref().map(b))),
        Val::Result(Err(p)) => Val::Result(Err(p.as_deref().map(b))),
        other => other,
    }
}

fn arb_lift_case() -> impl Strategy<Value = (Type, StringEncoding, Vec<u8>, u32)> {
    (
        arb_type(),
        arb_encoding(),
        prop::collection::vec(arb_word(), IMAGE_WORDS as usize),
        arb_retptr(),
    )
        .prop_map(|(ty, encoding, words, retptr)| {
            let image = words.iter().flat_map(|w| w.to_le_bytes()).collect();
            (ty, encoding, image, retptr)
        })
}

/// Lift from the memory `image` at `retptr` on all three hosts and check
/// they agree. Returns whether the value lifted (for the tests' statistics).
fn check_lift(
    ty: &Type,
    encoding: StringEncoding,
    image: &[u8],
    retptr: u32,
) -> Result<bool, TestCaseError> {
    let result = Type::Tuple(Tuple::new([ty.clone(), Type::U32]));
    let text = lifting_component(ty, encoding, image, retptr);
    let wasm = wat::parse_str(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
    let a = block_on(call_cohost(jit(), &wasm, &[]));
    let b = block_on(call_cohost(interp(), &wasm, &[]));
    let w = call_wasmtime(&wasm, &[]);
    let context = || format!("type {result}, {encoding:?}, retptr {retptr:#x}\n{text}");
    match (&a, &b) {
        (Ok(Some(x)), Ok(Some(y))) => {
            prop_assert!(same(x, y), "jit gave {x:?}, interp {y:?}\n{}", context());
            x.typecheck(&result)
                .map_err(|e| TestCaseError::fail(format!("lifted {x:?} is not a {result}: {e}")))?;
        }
        (Err(x), Err(y)) => prop_assert_eq!(x, y, "different traps\n{}", context()),
        _ => prop_assert!(false, "jit gave {a:?}, interp {b:?}\n{}", context()),
    }
    match (&a, &w) {
        (Ok(Some(x)), Ok(y)) => prop_assert!(
            same(&normal(x), &normal(y)),
            "cohost gave {x:?}, wasmtime {y:?}\n{}",
            context()
        ),
        (Err(_), Err(_)) => {}
        _ => prop_assert!(false, "cohost gave {a:?}, wasmtime {w:?}\n{}", context()),
    }
    Ok(a.is_ok())
}

#[test]
fn lift_random_memory_agrees_with_wasmtime() {
    let (lifted, ran) = crate::run_fuzz_target(
        512,
        file!(),
        arb_lift_case(),
        |(ty, encoding, image, retptr)| check_lift(&ty, encoding, &image, retptr),
    );
    // The images are biased so that both outcomes are common: a run where
    // nearly everything traps (or nothing does) tests little.
    eprintln!("lift: {lifted} of {ran} random memories lifted");
    assert!(
        ran < 20 || (lifted >= ran / 5 && ran - lifted >= ran / 5),
        "{lifted} of {ran} random memories lifted"
    );
}

/// Random flat core arguments of the core types `flat`: the words of a
/// memory image for `i32`s (so lengths, pointers and discriminants are
/// plausible, or not), and for the other types their bits.
fn arb_flat(flat: &[CoreType]) -> BoxedStrategy<Vec<CoreVal>> {
    flat.iter()
        .map(|t| match t {
            CoreType::I32 => arb_word().prop_map(|w| CoreVal::I32(w as i32)).boxed(),
            CoreType::F32 => arb_word().prop_map(CoreVal::F32).boxed(),
            CoreType::I64 => prop_oneof![
                3 => arb_word().prop_map(|w| CoreVal::I64(w.into())),
                1 => any::<i64>().prop_map(CoreVal::I64),
            ]
            .boxed(),
            CoreType::F64 => prop_oneof![
                Just(CoreVal::F64(0x7ff8_0000_0000_0001)),
                any::<f64>().prop_map(|f| CoreVal::F64(f.to_bits())),
                any::<u64>().prop_map(CoreVal::F64),
            ]
            .boxed(),
        })
        .collect::<Vec<_>>()
        .boxed()
}

/// A core constant instruction for `v`.
fn core_const(v: &CoreVal) -> String {
    match *v {
        CoreVal::I32(x) => format!("(i32.const {x})"),
        CoreVal::I64(x) => format!("(i64.const {x})"),
        CoreVal::F32(b) => format!("(f32.reinterpret_i32 (i32.const {}))", b as i32),
        CoreVal::F64(b) => format!("(f64.reinterpret_i64 (i64.const {}))", b as i64),
    }
}

/// A component whose export `run: func()` calls its import `g: func(x: T)`
/// with the core arguments `args`, flat (or, if T's flat form is too long
/// for parameters, a pointer into the memory `image`).
fn calling_component(
    ty: &Type,
    encoding: StringEncoding,
    image: &[u8],
    args: &[CoreVal],
) -> String {
    let mut defs = Vec::new();
    let t = wat_type(ty, &mut defs);
    let types: Vec<CoreType> = args.iter().map(CoreVal::ty).collect();
    let consts: String = args.iter().map(core_const).collect();
    format!(
        r#"(component
{types_imports}  (import "g" (func $g (param "x" {t})))
  (core module $mem
    (memory (export "memory") 1)
    (data (i32.const 0) "{data}"))
  (core instance $mi (instantiate $mem))
  (alias core export $mi "memory" (core memory $memory))
  (core func $g_lowered (canon lower (func $g) (memory $memory) {enc}))
  (core module $main
    (import "host" "g" (func $g (param {params})))
    (func (export "run") {consts} (call $g)))
  (core instance $main (instantiate $main (with "host" (instance (export "g" (func $g_lowered))))))
  (func (export "run") (canon lift (core func $main "run")))
)"#,
        types_imports = type_imports(&defs),
        data = data_string(image),
        enc = encoding_option(encoding),
        params = crate::roundtrip::core(&types),
    )
}

/// The type definitions `wat_type` collected, each imported as `tN` to
/// give it a name (what imported functions' types need).
fn type_imports(defs: &[String]) -> String {
    defs.iter()
        .enumerate()
        .map(|(i, d)| format!("  (type $d{i} {d})\n  (import \"t{i}\" (type $t{i} (eq $d{i})))\n"))
        .collect()
}

/// Run `run` of `wasm` on a cohost engine; the argument `g` received.
async fn lifted_by_cohost<E: Engine>(engine: E, wasm: &[u8], ty: &Type) -> Result<Val, String> {
    let component = Component::new(&engine, wasm).map_err(|e| format!("load: {e}"))?;
    let got = std::sync::Arc::new(std::sync::Mutex::new(None));
    let mut linker = Linker::<()>::new();
    let put = got.clone();
    linker.define_func(
        "",
        "g",
        FuncType::new([("x", ty.clone())], None),
        move |_, args| {
            *put.lock().unwrap() = Some(args[0].clone());
            Ok(None)
        },
    );
    let mut store = Store::new(&engine, ());
    let instance = linker
        .instantiate(&mut store, &component)
        .await
        .map_err(|e| format!("instantiate: {e}"))?;
    let run = instance.func(&store, "run").ok_or("no export run")?;
    run.call(&mut store, &[]).await.map_err(|e| e.to_string())?;
    let got = got.lock().unwrap().take();
    got.ok_or_else(|| "g was not called".to_string())
}

/// Run `run` of `wasm` on wasmtime; the argument `g` received.
fn lifted_by_wasmtime(wasm: &[u8]) -> Result<Val, String> {
    let engine = wasmtime_engine();
    let component = wasmtime::component::Component::new(engine, wasm)
        .unwrap_or_else(|e| panic!("wasmtime rejects a valid component: {e:?}"));
    let mut linker = wasmtime::component::Linker::<Option<WVal>>::new(engine);
    linker
        .root()
        .func_new("g", |mut store, _, args, _| {
            *store.data_mut() = Some(args[0].clone());
            Ok(())
        })
        .unwrap();
    let mut store = wasmtime::Store::new(engine, None);
    let instance = linker
        .instantiate(&mut store, &component)
        .unwrap_or_else(|e| panic!("wasmtime cannot instantiate: {e:?}"));
    let run = instance.get_func(&mut store, "run").expect("export run");
    run.call(&mut store, &[], &mut [])
        .map_err(|e| format!("{e:?}"))?;
    let got = store.data_mut().take();
    Ok(from_wasmtime(&got.expect("g was called")))
}

fn arb_flat_case() -> impl Strategy<Value = (Type, StringEncoding, Vec<u8>, Vec<CoreVal>)> {
    (
        arb_type(),
        arb_encoding(),
        prop::collection::vec(arb_word(), IMAGE_WORDS as usize),
    )
        .prop_flat_map(|(ty, encoding, words)| {
            let flat = ty.flat();
            let args = if flat.len() > MAX_FLAT_PARAMS {
                arb_retptr()
                    .prop_map(|p| vec![CoreVal::I32(p as i32)])
                    .boxed()
            } else {
                arb_flat(flat)
            };
            let image = words.iter().flat_map(|w| w.to_le_bytes()).collect();
            (Just(ty), Just(encoding), Just(image), args)
        })
}

/// Lift `g`'s argument from the core `args` (and the memory `image`) on
/// all three hosts and check they agree. Returns whether it lifted.
fn check_lift_flat(
    ty: &Type,
    encoding: StringEncoding,
    image: &[u8],
    args: &[CoreVal],
) -> Result<bool, TestCaseError> {
    let text = calling_component(ty, encoding, image, args);
    let wasm = wat::parse_str(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
    let a = block_on(lifted_by_cohost(jit(), &wasm, ty));
    let b = block_on(lifted_by_cohost(interp(), &wasm, ty));
    let w = lifted_by_wasmtime(&wasm);
    let context = || format!("type {ty}, {encoding:?}, args {args:x?}\n{text}");
    match (&a, &b) {
        (Ok(x), Ok(y)) => {
            prop_assert!(same(x, y), "jit gave {x:?}, interp {y:?}\n{}", context());
            x.typecheck(ty)
                .map_err(|e| TestCaseError::fail(format!("lifted {x:?} is not a {ty}: {e}")))?;
        }
        (Err(x), Err(y)) => prop_assert_eq!(x, y, "different traps\n{}", context()),
        _ => prop_assert!(false, "jit gave {a:?}, interp {b:?}\n{}", context()),
    }
    match (&a, &w) {
        (Ok(x), Ok(y)) => prop_assert!(
            same(&normal(x), &normal(y)),
            "cohost gave {x:?}, wasmtime {y:?}\n{}",
            context()
        ),
        (Err(_), Err(_)) => {}
        _ => prop_assert!(false, "cohost gave {a:?}, wasmtime {w:?}\n{}", context()),
    }
    Ok(a.is_ok())
}

#[test]
fn lift_random_flat_arguments_agrees_with_wasmtime() {
    let (lifted, ran) = crate::run_fuzz_target(
        512,
        file!(),
        arb_flat_case(),
        |(ty, encoding, image, args)| check_lift_flat(&ty, encoding, &image, &args),
    );
    eprintln!("lift: {lifted} of {ran} random flat arguments lifted");
    assert!(
        ran < 20 || (lifted >= ran / 5 && ran - lifted >= ran / 5),
        "{lifted} of {ran} random flat arguments lifted"
    );
}
