//! cohost's core-engine trait on wasmtime's **core** API (Cranelift JIT).
//!
//! Host functions are defined as async wasmtime functions: the guest runs on
//! a fiber, and a host function that asks to suspend parks that fiber while
//! the request's task awaits readiness, then runs again.
//!
//! ```
//! use engine_abi::engine::Engine;
//! let engine = backend_wasmtime::WasmtimeEngine::new().unwrap();
//! let module = engine.compile(b"\0asm\x01\0\0\0").unwrap();
//! # let _ = module;
//! ```

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use engine_abi::engine::{
    Caller, CoreFuncType, CoreType, CoreVal, Engine, Extern, HostError, HostFunc, StoreLimits,
};
use engine_abi::error::{Error, Trap, WasmTrap};

/// The wasmtime engine: a JIT, for hosts that may map executable memory.
#[derive(Clone)]
pub struct WasmtimeEngine {
    engine: wasmtime::Engine,
}

impl WasmtimeEngine {
    /// An engine with cohost's defaults: Cranelift at speed, the wasm
    /// features that real component toolchains emit.
    pub fn new() -> Result<Self, Error> {
        let mut config = wasmtime::Config::new();
        config
            .wasm_multi_memory(true)
            .wasm_extended_const(true)
            .wasm_tail_call(true)
            .epoch_interruption(true)
            .cranelift_opt_level(wasmtime::OptLevel::Speed);
        let engine = wasmtime::Engine::new(&config)
            .map_err(|e| Error::engine(format!("cannot start wasmtime: {e}")))?;
        // One ticker per engine: each tick ends a guest's time slice. It
        // stops when the engine is dropped.
        let weak = engine.weak();
        std::thread::Builder::new()
            .name("cohost-epoch".into())
            .spawn(move || {
                while let Some(engine) = weak.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(TIME_SLICE);
                }
            })
            .map_err(|e| Error::engine(format!("cannot start the epoch ticker: {e}")))?;
        Ok(WasmtimeEngine { engine })
    }
}

/// How long a guest runs before it yields to the executor.
pub const TIME_SLICE: std::time::Duration = std::time::Duration::from_millis(10);

/// What a cohost store keeps beside the host's data.
pub struct StoreData<T> {
    data: T,
    limits: wasmtime::StoreLimits,
    deadline: Option<std::time::Instant>,
    /// How many nested (non-suspending) calls are running: a host function
    /// asking to suspend inside one traps instead.
    nested: u32,
}

/// Wraps a [`Trap`] raised by a host function so it survives the trip
/// through wasmtime's error type.
#[derive(Debug)]
struct HostTrap(Trap);

impl std::fmt::Display for HostTrap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for HostTrap {}

fn to_trap(err: wasmtime::Error) -> Trap {
    if let Some(HostTrap(t)) = err.downcast_ref::<HostTrap>() {
        return t.clone();
    }
    if let Some(code) = err.downcast_ref::<wasmtime::Trap>() {
        use wasmtime::Trap as T;
        let code = match code {
            T::UnreachableCodeReached => WasmTrap::Unreachable,
            T::MemoryOutOfBounds => WasmTrap::MemoryOutOfBounds,
            T::TableOutOfBounds => WasmTrap::TableOutOfBounds,
            T::IndirectCallToNull => WasmTrap::IndirectCallToNull,
            T::BadSignature => WasmTrap::BadSignature,
            T::IntegerOverflow => WasmTrap::IntegerOverflow,
            T::IntegerDivisionByZero => WasmTrap::IntegerDivisionByZero,
            T::BadConversionToInteger => WasmTrap::BadConversionToInteger,
            T::StackOverflow => WasmTrap::StackOverflow,
            T::OutOfFuel | T::Interrupt => WasmTrap::OutOfTime,
            other => return Trap::new(engine_abi::error::TrapKind::Wasm, other.to_string()),
        };
        return Trap::wasm(code);
    }
    Trap::host(format!("{err:#}"))
}

fn to_error(err: wasmtime::Error) -> Error {
    if err.is::<HostTrap>() || err.is::<wasmtime::Trap>() {
        return Error::from(to_trap(err));
    }
    Error::engine(format!("{err:#}"))
}

fn val_type(ty: CoreType) -> wasmtime::ValType {
    match ty {
        CoreType::I32 => wasmtime::ValType::I32,
        CoreType::I64 => wasmtime::ValType::I64,
        CoreType::F32 => wasmtime::ValType::F32,
        CoreType::F64 => wasmtime::ValType::F64,
    }
}

fn to_val(v: CoreVal) -> wasmtime::Val {
    match v {
        CoreVal::I32(v) => wasmtime::Val::I32(v),
        CoreVal::I64(v) => wasmtime::Val::I64(v),
        CoreVal::F32(v) => wasmtime::Val::F32(v),
        CoreVal::F64(v) => wasmtime::Val::F64(v),
    }
}

fn from_val(v: &wasmtime::Val) -> Result<CoreVal, Trap> {
    Ok(match *v {
        wasmtime::Val::I32(v) => CoreVal::I32(v),
        wasmtime::Val::I64(v) => CoreVal::I64(v),
        wasmtime::Val::F32(v) => CoreVal::F32(v),
        wasmtime::Val::F64(v) => CoreVal::F64(v),
        _ => {
            return Err(Trap::host(
                "a reference or vector value cannot cross the component boundary",
            ));
        }
    })
}

fn from_extern(e: wasmtime::Extern) -> Option<Extern<WasmtimeEngine>> {
    Some(match e {
        wasmtime::Extern::Func(f) => Extern::Func(f),
        wasmtime::Extern::Memory(m) => Extern::Memory(m),
        wasmtime::Extern::Table(t) => Extern::Table(t),
        wasmtime::Extern::Global(g) => Extern::Global(g),
        _ => return None,
    })
}

fn to_extern(e: Extern<WasmtimeEngine>) -> wasmtime::Extern {
    match e {
        Extern::Func(f) => f.into(),
        Extern::Memory(m) => m.into(),
        Extern::Table(t) => t.into(),
        Extern::Global(g) => g.into(),
    }
}

/// Drive `func.call_async` to completion from synchronous code.
///
/// Only used for calls that cannot suspend (realloc, post-return,
/// destructors, nested component calls): `nested` is raised so that a host
/// function asking to suspend traps, and no epoch or fuel yield is set up,
/// so the future is ready on its first poll. A `Pending` can therefore only
/// be a yield that is ready again at once, and polling again is correct.
fn call_in_place<T: Send + 'static>(
    mut store: impl wasmtime::AsContextMut<Data = StoreData<T>>,
    cx: &mut Context<'_>,
    func: wasmtime::Func,
    args: &[CoreVal],
    results: &mut [CoreVal],
) -> Result<(), Trap> {
    let args: Vec<wasmtime::Val> = args.iter().copied().map(to_val).collect();
    let mut outs = vec![wasmtime::Val::I32(0); results.len()];
    store.as_context_mut().data_mut().nested += 1;
    let outcome = {
        let mut fut = pin!(func.call_async(&mut store, &args, &mut outs));
        loop {
            if let Poll::Ready(r) = fut.as_mut().poll(cx) {
                break r;
            }
        }
    };
    store.as_context_mut().data_mut().nested -= 1;
    outcome.map_err(to_trap)?;
    for (slot, v) in results.iter_mut().zip(&outs) {
        *slot = from_val(v)?;
    }
    Ok(())
}

/// [`Caller`] inside a wasmtime host function.
struct HostCaller<'a, 'b, 'c, T: Send + 'static> {
    caller: &'a mut wasmtime::Caller<'b, StoreData<T>>,
    cx: &'a mut Context<'c>,
}

impl<T: Send + 'static> Caller<WasmtimeEngine, T> for HostCaller<'_, '_, '_, T> {
    fn data(&self) -> &T {
        &self.caller.data().data
    }
    fn data_mut(&mut self) -> &mut T {
        &mut self.caller.data_mut().data
    }
    fn memory_and_data(&mut self, memory: wasmtime::Memory) -> (&mut [u8], &mut T) {
        let (bytes, data) = memory.data_and_store_mut(&mut *self.caller);
        (bytes, &mut data.data)
    }
    fn call(
        &mut self,
        func: wasmtime::Func,
        args: &[CoreVal],
        results: &mut [CoreVal],
    ) -> Result<(), Trap> {
        call_in_place(&mut *self.caller, self.cx, func, args, results)
    }
}

impl Engine for WasmtimeEngine {
    type Module = wasmtime::Module;
    type Store<T: Send + 'static> = wasmtime::Store<StoreData<T>>;
    type Instance = wasmtime::Instance;
    type Func = wasmtime::Func;
    type Memory = wasmtime::Memory;
    type Table = wasmtime::Table;
    type Global = wasmtime::Global;

    fn name(&self) -> &'static str {
        "jit"
    }

    fn compile(&self, wasm: &[u8]) -> Result<Self::Module, Error> {
        wasmtime::Module::new(&self.engine, wasm)
            .map_err(|e| Error::invalid(format!("core module failed to compile: {e:#}")))
    }

    fn new_store<T: Send + 'static>(&self, data: T, limits: StoreLimits) -> Self::Store<T> {
        let deadline = limits.deadline_from_now();
        let limits = wasmtime::StoreLimitsBuilder::new()
            .memory_size(limits.max_memory_bytes)
            .table_elements(limits.max_table_elements)
            .instances(limits.max_instances)
            .memories(limits.max_instances)
            .tables(limits.max_instances)
            .build();
        let mut store = wasmtime::Store::new(
            &self.engine,
            StoreData {
                data,
                limits,
                deadline,
                nested: 0,
            },
        );
        store.limiter(|d| &mut d.limits);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|cx| {
            let data = cx.data();
            if data
                .deadline
                .is_some_and(|d| std::time::Instant::now() >= d)
            {
                return Ok(wasmtime::UpdateDeadline::Interrupt);
            }
            // A nested call is driven from synchronous code: it keeps going
            // (bounded by the deadline) instead of yielding.
            if data.nested > 0 {
                Ok(wasmtime::UpdateDeadline::Continue(1))
            } else {
                Ok(wasmtime::UpdateDeadline::YieldCustom(
                    1,
                    Box::pin(tokio::task::yield_now()),
                ))
            }
        });
        store
    }

    fn data<T: Send + 'static>(store: &Self::Store<T>) -> &T {
        &store.data().data
    }

    fn data_mut<T: Send + 'static>(store: &mut Self::Store<T>) -> &mut T {
        &mut store.data_mut().data
    }

    fn host_func<T: Send + 'static>(
        store: &mut Self::Store<T>,
        ty: &CoreFuncType,
        func: HostFunc<Self, T>,
    ) -> Self::Func {
        let wt_ty = wasmtime::FuncType::new(
            store.engine(),
            ty.params.iter().copied().map(val_type),
            ty.results.iter().copied().map(val_type),
        );
        wasmtime::Func::new_async(store, wt_ty, move |mut caller, params, results| {
            let func = func.clone();
            Box::new(async move {
                let args = params.iter().map(from_val).collect::<Result<Vec<_>, _>>();
                let args = args.map_err(|t| wasmtime::Error::new(HostTrap(t)))?;
                let mut outs: Vec<CoreVal> = results.iter().map(|_| CoreVal::I32(0)).collect();
                loop {
                    let outcome = std::future::poll_fn(|cx| {
                        let mut host = HostCaller {
                            caller: &mut caller,
                            cx,
                        };
                        Poll::Ready(func(&mut host, &args, &mut outs))
                    })
                    .await;
                    match outcome {
                        Ok(()) => break,
                        Err(HostError::Trap(t)) => return Err(wasmtime::Error::new(HostTrap(t))),
                        Err(HostError::Suspend(ready)) => {
                            if caller.data().nested > 0 {
                                return Err(wasmtime::Error::new(HostTrap(Trap::host(
                                    "a host function cannot block inside a realloc, \
                                     post-return, destructor or component-to-component call",
                                ))));
                            }
                            ready.await;
                        }
                    }
                }
                for (slot, v) in results.iter_mut().zip(outs) {
                    *slot = to_val(v);
                }
                Ok(())
            })
        })
    }

    async fn instantiate<'a, T: Send + 'static>(
        store: &'a mut Self::Store<T>,
        module: &'a Self::Module,
        imports: &'a [Extern<Self>],
    ) -> Result<Self::Instance, Error> {
        let imports: Vec<wasmtime::Extern> = imports.iter().copied().map(to_extern).collect();
        wasmtime::Instance::new_async(store, module, &imports)
            .await
            .map_err(to_error)
    }

    fn export<T: Send + 'static>(
        store: &mut Self::Store<T>,
        instance: Self::Instance,
        name: &str,
    ) -> Option<Extern<Self>> {
        instance.get_export(store, name).and_then(from_extern)
    }

    fn func_type<T: Send + 'static>(store: &Self::Store<T>, func: Self::Func) -> CoreFuncType {
        let ty = func.ty(store);
        let conv = |t: wasmtime::ValType| match t {
            wasmtime::ValType::I64 => CoreType::I64,
            wasmtime::ValType::F32 => CoreType::F32,
            wasmtime::ValType::F64 => CoreType::F64,
            _ => CoreType::I32,
        };
        CoreFuncType::new(
            ty.params().map(conv).collect::<Vec<_>>(),
            ty.results().map(conv).collect::<Vec<_>>(),
        )
    }

    async fn call<'a, T: Send + 'static>(
        store: &'a mut Self::Store<T>,
        func: Self::Func,
        args: &'a [CoreVal],
        results: &'a mut [CoreVal],
    ) -> Result<(), Trap> {
        let wargs: Vec<wasmtime::Val> = args.iter().copied().map(to_val).collect();
        let mut outs = vec![wasmtime::Val::I32(0); results.len()];
        func.call_async(&mut *store, &wargs, &mut outs)
            .await
            .map_err(to_trap)?;
        for (slot, v) in results.iter_mut().zip(&outs) {
            *slot = from_val(v)?;
        }
        Ok(())
    }

    fn call_nested<T: Send + 'static>(
        store: &mut Self::Store<T>,
        func: Self::Func,
        args: &[CoreVal],
        results: &mut [CoreVal],
    ) -> Result<(), Trap> {
        let mut cx = Context::from_waker(Waker::noop());
        call_in_place(store, &mut cx, func, args, results)
    }

    fn memory_and_data<T: Send + 'static>(
        store: &mut Self::Store<T>,
        memory: Self::Memory,
    ) -> (&mut [u8], &mut T) {
        let (bytes, data) = memory.data_and_store_mut(store);
        (bytes, &mut data.data)
    }
}
