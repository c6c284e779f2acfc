//! Components from real toolchains (wit-component, wit-bindgen) load,
//! link, instantiate and round-trip every value type on both engines, with
//! identical results.

use std::sync::{Arc, Mutex};

use engine_abi::abi::Val;
use engine_abi::engine::Engine;
use engine_abi::types::{FuncType, Type};
use engine_abi::{Component, Linker, Store};

use crate::{block_on, fixture, interp, jit};

#[derive(Default)]
struct HostLog {
    lines: Arc<Mutex<Vec<String>>>,
}

fn abi_linker() -> Linker<HostLog> {
    let mut linker = Linker::new();
    linker.define_func(
        "cohost:test/host",
        "log",
        FuncType::new([("msg", Type::String)], None),
        |log: &mut HostLog, args| {
            let Val::String(s) = &args[0] else {
                unreachable!()
            };
            log.lines.lock().unwrap().push(s.clone());
            Ok(None)
        },
    );
    linker.define_func(
        "cohost:test/host",
        "add",
        FuncType::new([("a", Type::U32), ("b", Type::U32)], Some(Type::U32)),
        |_, args| match (&args[0], &args[1]) {
            (Val::U32(a), Val::U32(b)) => Ok(Some(Val::U32(a.wrapping_add(*b)))),
            _ => unreachable!(),
        },
    );
    linker
}

/// Call `name` with `args` in a fresh instance of the ABI guest.
async fn call<E: Engine>(
    engine: &E,
    component: &Component<E>,
    name: &str,
    args: &[Val],
) -> Result<Option<Val>, String> {
    let mut store = Store::new(engine, HostLog::default());
    let instance = abi_linker()
        .instantiate(&mut store, component)
        .await
        .map_err(|e| e.to_string())?;
    let func = instance
        .func(&store, name)
        .ok_or_else(|| format!("no export {name}"))?;
    func.call(&mut store, args).await.map_err(|e| e.to_string())
}

fn echo_cases() -> Vec<(&'static str, Val)> {
    let s = |x: &str| Val::String(x.to_string());
    vec![
        ("echo-bool", Val::Bool(true)),
        ("echo-s8", Val::S8(-128)),
        ("echo-u8", Val::U8(255)),
        ("echo-s16", Val::S16(-12345)),
        ("echo-u16", Val::U16(54321)),
        ("echo-s32", Val::S32(i32::MIN)),
        ("echo-u32", Val::U32(u32::MAX)),
        ("echo-s64", Val::S64(i64::MIN)),
        ("echo-u64", Val::U64(u64::MAX)),
        ("echo-f32", Val::F32(-1.5)),
        ("echo-f64", Val::F64(std::f64::consts::PI)),
        ("echo-char", Val::Char('🦀')),
        ("echo-string", s("hello, wörld ✨")),
        ("echo-string", s("")),
        ("echo-list-u8", Val::Bytes((0..=255).collect())),
        ("echo-list-string", Val::List(vec![s("a"), s(""), s("ccc")])),
        (
            "echo-record",
            Val::Record(vec![
                ("a".into(), Val::U8(1)),
                ("b".into(), Val::U64(1 << 40)),
                ("c".into(), s("see")),
                ("d".into(), Val::List(vec![Val::U32(1), Val::U32(2)])),
                ("e".into(), Val::Option(Some(Box::new(Val::F32(0.25))))),
                ("f".into(), Val::Bool(false)),
                ("g".into(), Val::Char('x')),
                ("h".into(), Val::S16(-2)),
            ]),
        ),
        (
            "echo-tuple",
            Val::Tuple(vec![Val::U8(7), s("t"), Val::F64(-0.0)]),
        ),
        (
            "echo-variant",
            Val::Variant("circle".into(), Some(Box::new(Val::F64(2.5)))),
        ),
        (
            "echo-variant",
            Val::Variant(
                "rect".into(),
                Some(Box::new(Val::Tuple(vec![Val::U32(3), Val::U32(4)]))),
            ),
        ),
        (
            "echo-variant",
            Val::Variant("named".into(), Some(Box::new(s("n")))),
        ),
        ("echo-variant", Val::Variant("empty".into(), None)),
        ("echo-enum", Val::Enum("blue".into())),
        ("echo-option", Val::Option(None)),
        ("echo-option", Val::Option(Some(Box::new(s("some"))))),
        ("echo-result", Val::Result(Ok(Some(Box::new(s("ok")))))),
        (
            "echo-result",
            Val::Result(Err(Some(Box::new(Val::U32(404))))),
        ),
        (
            "echo-flags",
            Val::Flags(vec!["flag0".into(), "flag17".into(), "flag31".into()]),
        ),
        ("echo-mid-flags", Val::Flags(vec!["m11".into()])),
        (
            "echo-small-flags",
            Val::Flags(vec!["read".into(), "exec".into()]),
        ),
    ]
}

async fn echo_all<E: Engine>(engine: E) -> Vec<Option<Val>> {
    let component = Component::new(&engine, &fixture("rust-abi.wasm")).unwrap();
    let mut out = Vec::new();
    for (name, val) in echo_cases() {
        let got = call(
            &engine,
            &component,
            &format!("cohost:test/echo#{name}"),
            std::slice::from_ref(&val),
        )
        .await
        .unwrap_or_else(|e| panic!("{name}({val:?}) on {}: {e}", engine.name()));
        assert_eq!(got.as_ref(), Some(&val), "{name} on {}", engine.name());
        out.push(got);
    }
    out
}

#[test]
fn rust_guest_echoes_every_value_type() {
    let a = block_on(echo_all(jit()));
    let b = block_on(echo_all(interp()));
    assert_eq!(a, b);
}

async fn params_in_memory<E: Engine>(engine: E) -> Option<Val> {
    let component = Component::new(&engine, &fixture("rust-abi.wasm")).unwrap();
    let args: Vec<Val> = (1..=20).map(Val::U32).collect();
    call(&engine, &component, "cohost:test/echo#many-params", &args)
        .await
        .unwrap()
}

#[test]
fn params_and_results_through_memory() {
    let a = block_on(params_in_memory(jit()));
    let expected = Val::Record(vec![
        ("sum".into(), Val::U64(210)),
        ("first".into(), Val::U32(1)),
        ("last".into(), Val::U32(20)),
        ("params".into(), Val::List((1..=20).map(Val::U32).collect())),
    ]);
    assert_eq!(a, Some(expected));
    assert_eq!(a, block_on(params_in_memory(interp())));
}

async fn host_imports<E: Engine>(engine: E) -> (Option<Val>, Vec<String>) {
    let component = Component::new(&engine, &fixture("rust-abi.wasm")).unwrap();
    let mut store = Store::new(&engine, HostLog::default());
    let lines = store.data().lines.clone();
    let instance = abi_linker()
        .instantiate(&mut store, &component)
        .await
        .unwrap();
    let f = instance.func(&store, "call-host").unwrap();
    let r = f
        .call(&mut store, &[Val::U32(40), Val::U32(2)])
        .await
        .unwrap();
    let lines = lines.lock().unwrap().clone();
    (r, lines)
}

#[test]
fn guest_calls_host_imports() {
    let (r, lines) = block_on(host_imports(jit()));
    assert_eq!(r, Some(Val::U32(42)));
    assert_eq!(lines, vec!["call-host 40 2".to_string()]);
    assert_eq!(block_on(host_imports(interp())), (r, lines));
}

async fn resources<E: Engine>(engine: E) -> Vec<Option<Val>> {
    let component = Component::new(&engine, &fixture("rust-abi.wasm")).unwrap();
    let mut store = Store::new(&engine, HostLog::default());
    let instance = abi_linker()
        .instantiate(&mut store, &component)
        .await
        .unwrap();
    let f = |name: &str| {
        instance
            .func(&store, &format!("cohost:test/echo#{name}"))
            .unwrap()
    };
    let (ctor, make, inc, sum, live) = (
        f("[constructor]counter"),
        f("[static]counter.make"),
        f("[method]counter.increment"),
        f("sum-counters"),
        f("live-counters"),
    );
    let mut seen = Vec::new();
    let Some(Val::Own(a)) = ctor.call(&mut store, &[Val::U32(10)]).await.unwrap() else {
        panic!("constructor returns an own handle")
    };
    let Some(Val::Own(b)) = make.call(&mut store, &[Val::U32(5)]).await.unwrap() else {
        panic!("make returns an own handle")
    };
    seen.push(live.call(&mut store, &[]).await.unwrap());
    seen.push(
        inc.call(&mut store, &[Val::Borrow(a.clone())])
            .await
            .unwrap(),
    );
    seen.push(
        inc.call(&mut store, &[Val::Borrow(a.clone())])
            .await
            .unwrap(),
    );
    seen.push(
        sum.call(
            &mut store,
            &[Val::Borrow(a.clone()), Val::Borrow(b.clone())],
        )
        .await
        .unwrap(),
    );
    instance.resource_drop(&mut store, a).unwrap();
    seen.push(live.call(&mut store, &[]).await.unwrap());
    instance.resource_drop(&mut store, b).unwrap();
    seen.push(live.call(&mut store, &[]).await.unwrap());
    seen
}

#[test]
fn guest_resources_own_borrow_and_destructors() {
    let a = block_on(resources(jit()));
    assert_eq!(a, [2, 11, 12, 17, 1, 0].map(|n| Some(Val::U32(n))).to_vec());
    assert_eq!(a, block_on(resources(interp())));
}

#[test]
fn missing_imports_are_named() {
    let engine = interp();
    let component = Component::new(&engine, &fixture("rust-abi.wasm")).unwrap();
    let err = Linker::<()>::new()
        .instantiate_pre(&component)
        .err()
        .unwrap();
    assert!(err.to_string().contains("cohost:test/host#"), "{err}");
    let mut linker = Linker::<()>::new();
    linker.define_func(
        "cohost:test/host",
        "log",
        FuncType::new([("msg", Type::U32)], None),
        |_, _| Ok(None),
    );
    linker.define_func(
        "cohost:test/host",
        "add",
        FuncType::new(Vec::<(String, Type)>::new(), None),
        |_, _| Ok(None),
    );
    let err = linker.instantiate_pre(&component).err().unwrap();
    assert!(err.to_string().contains("but the host provides"), "{err}");
}

#[test]
fn core_modules_are_not_components() {
    let engine = interp();
    let err = Component::new(&engine, &wat::parse_str("(module)").unwrap())
        .err()
        .unwrap();
    assert!(err.to_string().contains("core wasm module"), "{err}");
    let err = Component::new(&engine, b"not wasm at all").err().unwrap();
    assert!(err.to_string().contains("not a wasm component"), "{err}");
}

async fn instantiate_with_stubs<E: Engine>(engine: E, name: &str) -> Vec<(String, String)> {
    let component =
        Component::new(&engine, &fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let linker = crate::stub_linker(&component);
    let mut store = Store::new(&engine, ());
    let instance = linker
        .instantiate(&mut store, &component)
        .await
        .unwrap_or_else(|e| panic!("{name} on {}: {e}", engine.name()));
    let exports = component.exported_funcs();
    for (export, _) in &exports {
        assert!(instance.func(&store, export).is_some(), "{export}");
    }
    // Types as text: resource identities differ between two loads.
    exports
        .into_iter()
        .map(|(n, t)| (n, t.to_string()))
        .collect()
}

#[test]
fn wit_component_and_wit_bindgen_outputs_instantiate() {
    for name in [
        "hello.wasm",
        "echo.wasm",
        "rust-http.wasm",
        "rust-abi.wasm",
        "c-http.wasm",
    ] {
        let a = block_on(instantiate_with_stubs(jit(), name));
        let b = block_on(instantiate_with_stubs(interp(), name));
        assert_eq!(a, b);
        if name != "rust-abi.wasm" {
            let handle = a
                .iter()
                .find(|(n, _)| n == "wasi:http/incoming-handler@0.2.12#handle");
            assert!(
                handle.is_some(),
                "{name} exports the incoming handler: {a:?}"
            );
        }
    }
}

fn typed_linker() -> Linker<HostLog> {
    let mut linker = Linker::new();
    linker
        .define_typed(
            "cohost:test/host",
            "log",
            FuncType::new([("msg", Type::String)], None),
            |log: &mut HostLog, (msg,): (String,)| {
                log.lines.lock().unwrap().push(msg);
                Ok(())
            },
        )
        .unwrap();
    linker
        .define_typed(
            "cohost:test/host",
            "add",
            FuncType::new([("a", Type::U32), ("b", Type::U32)], Some(Type::U32)),
            |_, (a, b): (u32, u32)| Ok(a.wrapping_add(b)),
        )
        .unwrap();
    linker
}

async fn typed_host_imports<E: Engine>(engine: E) -> (Option<Val>, Vec<String>) {
    let component = Component::new(&engine, &fixture("rust-abi.wasm")).unwrap();
    let mut store = Store::new(&engine, HostLog::default());
    let lines = store.data().lines.clone();
    let instance = typed_linker()
        .instantiate(&mut store, &component)
        .await
        .unwrap();
    let f = instance.func(&store, "call-host").unwrap();
    let r = f
        .call(&mut store, &[Val::U32(7), Val::U32(u32::MAX)])
        .await
        .unwrap();
    let lines = lines.lock().unwrap().clone();
    (r, lines)
}

#[test]
fn typed_host_functions_match_dynamic_ones() {
    let typed = block_on(typed_host_imports(jit()));
    assert_eq!(
        typed,
        (Some(Val::U32(6)), vec![format!("call-host 7 {}", u32::MAX)])
    );
    assert_eq!(typed, block_on(typed_host_imports(interp())));
}

#[test]
fn typed_host_functions_are_checked_against_their_declared_type() {
    let mut linker = Linker::<()>::new();
    let err = linker
        .define_typed(
            "cohost:test/host",
            "add",
            FuncType::new([("a", Type::U32), ("b", Type::U32)], Some(Type::U32)),
            |_, (a,): (u64,)| Ok(a),
        )
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("its Rust types are tuple<u64> -> u64"),
        "{err}"
    );
}
