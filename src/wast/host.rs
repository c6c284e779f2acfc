//! The host every component of a `.wast` script is linked against: the
//! imports component-model test suites written for wasmtime's runner
//! expect (its `link_component_spectest`), so that their scripts run here
//! unchanged.
//!
//! - `host-return-two: func() -> u32` at the top level, returning 2;
//! - an instance `host` with `return-three: func() -> u32` (3),
//!   `return-hi: func() -> string` ("hi"), and two resource types,
//!   `resource1` (whose destructor counts the drops and remembers the last
//!   rep dropped) and `resource2`, with `resource1`'s
//!   `[constructor]resource1(r: u32) -> own<resource1>` (a handle of rep
//!   `r`), `[static]resource1.assert(r: own<resource1>, rep: u32)` (traps
//!   unless `r`'s rep is `rep`), `[static]resource1.drops() -> u32`,
//!   `[static]resource1.last-drop() -> u32`,
//!   `[method]resource1.simple(self: borrow<resource1>, rep: u32)` (traps
//!   unless `self`'s rep is `rep`), `[method]resource1.take-borrow(self:
//!   borrow<resource1>, b: borrow<resource1>)` and
//!   `[method]resource1.take-own(self: borrow<resource1>, b:
//!   own<resource1>)`.
//!
//! Not here (yet) of what wasmtime's runner offers: a nested instance
//! (`host.nested.return-four`), a core module (`host.simple-module`),
//! `resource1-again` (a second name for `resource1`'s type), the async
//! functions, and the registration of a script's own component instances
//! as imports of later ones.
//!
//! The drop counters are shared by every store the runner makes, as in
//! wasmtime's runner, where one script's components share one host.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use engine_abi::Linker;
use engine_abi::abi::{Resource, Val};
use engine_abi::engine::HostError;
use engine_abi::error::Trap;
use engine_abi::types::{FuncType, Type};

/// The instance the suites' host functions and resources are in.
const HOST: &str = "host";

/// What `resource1`'s destructor has seen.
#[derive(Default)]
struct Drops {
    count: AtomicU32,
    last: AtomicU32,
}

/// A linker with the host environment above.
pub(super) fn linker() -> Linker<()> {
    let mut linker = Linker::new();
    let drops = Arc::new(Drops::default());
    let resource1 = linker.define_resource(
        HOST,
        "resource1",
        Some(Arc::new({
            let drops = drops.clone();
            move |_: &mut (), rep| {
                drops.count.fetch_add(1, Ordering::SeqCst);
                drops.last.store(rep, Ordering::SeqCst);
                Ok(())
            }
        })),
    );
    linker.define_resource(HOST, "resource2", None);
    let own = Type::Own(resource1.clone());
    let borrow = Type::Borrow(resource1.clone());

    linker.define_func(
        "",
        "host-return-two",
        FuncType::new(no_params(), Some(Type::U32)),
        |_, _| Ok(Some(Val::U32(2))),
    );
    linker.define_func(
        HOST,
        "return-three",
        FuncType::new(no_params(), Some(Type::U32)),
        |_, _| Ok(Some(Val::U32(3))),
    );
    linker.define_func(
        HOST,
        "return-hi",
        FuncType::new(no_params(), Some(Type::String)),
        |_, _| Ok(Some(Val::String("hi".into()))),
    );
    linker.define_func(
        HOST,
        "[constructor]resource1",
        FuncType::new([("r", Type::U32)], Some(own.clone())),
        move |_, args| {
            let rep = u32_arg(args, 0)?;
            Ok(Some(Val::Own(Resource {
                ty: resource1.clone(),
                rep,
            })))
        },
    );
    linker.define_func(
        HOST,
        "[static]resource1.assert",
        FuncType::new([("r", own.clone()), ("rep", Type::U32)], None),
        |_, args| {
            expect_rep(&args[0], u32_arg(args, 1)?)?;
            Ok(None)
        },
    );
    linker.define_func(
        HOST,
        "[static]resource1.drops",
        FuncType::new(no_params(), Some(Type::U32)),
        {
            let drops = drops.clone();
            move |_, _| Ok(Some(Val::U32(drops.count.load(Ordering::SeqCst))))
        },
    );
    linker.define_func(
        HOST,
        "[static]resource1.last-drop",
        FuncType::new(no_params(), Some(Type::U32)),
        move |_, _| Ok(Some(Val::U32(drops.last.load(Ordering::SeqCst)))),
    );
    linker.define_func(
        HOST,
        "[method]resource1.simple",
        FuncType::new([("self", borrow.clone()), ("rep", Type::U32)], None),
        |_, args| {
            expect_rep(&args[0], u32_arg(args, 1)?)?;
            Ok(None)
        },
    );
    linker.define_func(
        HOST,
        "[method]resource1.take-borrow",
        FuncType::new([("self", borrow.clone()), ("b", borrow.clone())], None),
        |_, _| Ok(None),
    );
    linker.define_func(
        HOST,
        "[method]resource1.take-own",
        FuncType::new([("self", borrow), ("b", own)], None),
        |_, _| Ok(None),
    );
    linker
}

fn no_params() -> [(&'static str, Type); 0] {
    []
}

fn u32_arg(args: &[Val], i: usize) -> Result<u32, HostError> {
    match args.get(i) {
        Some(Val::U32(v)) => Ok(*v),
        other => Err(Trap::host(format!("argument {i}: expected a u32, got {other:?}")).into()),
    }
}

/// Trap unless `handle` (an own or a borrow) has rep `rep`: the suites'
/// assertion that a handle reached the host as the resource it was made
/// for.
fn expect_rep(handle: &Val, rep: u32) -> Result<(), HostError> {
    let got = match handle {
        Val::Own(r) | Val::Borrow(r) => r.rep,
        other => {
            return Err(Trap::host(format!("expected a resource handle, got {other:?}")).into());
        }
    };
    if got != rep {
        return Err(Trap::host(format!(
            "host assertion failed: the resource's rep is {got}, expected {rep}"
        ))
        .into());
    }
    Ok(())
}
