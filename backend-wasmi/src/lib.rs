//! cohost's core-engine trait on the wasmi interpreter: no code generator,
//! no executable memory, for platforms where a JIT is forbidden.
//!
//! Guest calls are wasmi resumable calls. A host function that asks to
//! suspend leaves its readiness future and arguments in the store and
//! returns a marker error; the call surfaces as a resumable state, the
//! backend awaits readiness, runs the host function again, and resumes the
//! guest with its results.
//!
//! Every call runs on fuel, one time slice at a time, under the store's
//! deadline: the export yields to the executor between slices, and so do
//! start functions (made exports at compile time, see `start.rs`) and
//! post-returns; calls nested in a host function (a realloc, a destructor,
//! a component-to-component call) check the deadline between slices and,
//! once they have used a whole one, move off the executor.
//!
//! ```
//! use engine_abi::engine::Engine;
//! let engine = backend_wasmi::WasmiEngine::new();
//! let module = engine.compile(b"\0asm\x01\0\0\0").unwrap();
//! # let _ = module;
//! ```

mod start;

use std::sync::Arc;

use engine_abi::engine::{
    Caller, CoreFuncType, CoreType, CoreVal, CoreVals, Engine, EngineConfig, Extern, GuestCall,
    HostError, HostFunc, HostFuncDef, Nesting, Readiness, SmallVals, StoreLimits,
};
use engine_abi::error::{Error, Trap, TrapKind, WasmTrap};
use wasmi::ResumableCall;

/// The wasmi engine: an interpreter.
#[derive(Clone)]
pub struct WasmiEngine {
    engine: wasmi::Engine,
}

impl Default for WasmiEngine {
    fn default() -> Self {
        Self::new()
    }
}

impl WasmiEngine {
    /// An engine with cohost's defaults: lazy translation (wasmi's default),
    /// the wasm features real component toolchains emit, and
    /// [`EngineConfig::DEFAULT_MAX_WASM_STACK`] of stack per call.
    pub fn new() -> Self {
        Self::with_config(&EngineConfig::default())
    }

    /// An engine whose guest calls may use `config.max_wasm_stack` bytes
    /// of stack (the only setting of [`EngineConfig`] an interpreter has a
    /// use for).
    ///
    /// wasmi keeps a call's stack on the heap, as a value stack (locals and
    /// temporaries, in bytes) and a stack of call frames; recursion past
    /// either traps with "call stack exhausted", and never grows the
    /// host's stack. The value stack gets `max_wasm_stack` bytes, which
    /// wasmtime's frames of functions with many locals use up about as
    /// fast; the frames get as many as wasmtime's smallest frames
    /// ([`WASMTIME_MIN_FRAME_BYTES`]) fit in it: so a guest recurses about
    /// as deep on both engines (measured in `tests/all/stack.rs`).
    ///
    /// Translating a function lazily costs no fuel: wasmi 2.0 cannot resume
    /// a call that runs out of fuel while translating a callee (or its root
    /// function) and fails it with an out-of-fuel error instead (upstream
    /// wasmi-labs/wasmi#2032). Big guests (SpiderMonkey, CPython) have
    /// functions whose translation costs a good part of a time slice, so
    /// their first requests failed at random points. Translation time still
    /// counts against the deadline, checked between slices.
    pub fn with_config(engine_config: &EngineConfig) -> Self {
        let mut config = wasmi::Config::default();
        config
            .wasm_multi_memory(true)
            .wasm_extended_const(true)
            .wasm_tail_call(true)
            .wasm_simd(true)
            .consume_fuel(true)
            .fuel_cost(wasmi::CustomFuelCosts {
                // wasmi's default for bulk memory and table operations.
                bytes_copied_per_fuel: 64,
                fuel_per_bytes_translated: 0,
                fuel_per_bytes_validated: 0,
            });
        let stack = engine_config.max_wasm_stack;
        // wasmi wants its initial value stack no bigger than the maximum.
        config
            .set_min_stack_height(stack.min(WASMI_MIN_STACK_HEIGHT))
            .set_max_stack_height(stack)
            .set_max_recursion_depth((stack / WASMTIME_MIN_FRAME_BYTES).max(1));
        WasmiEngine {
            engine: wasmi::Engine::new(&config),
        }
    }
}

/// The stack wasmtime's code uses for one call of a small function (a
/// return address, a frame pointer, a few spilled values), measured: how
/// many frames the interpreter allows per byte of `max_wasm_stack`.
pub const WASMTIME_MIN_FRAME_BYTES: usize = 32;

/// wasmi's default initial value stack, in bytes.
const WASMI_MIN_STACK_HEIGHT: usize = 1_000;

/// A compiled module, and the export its start function was moved to (see
/// `start.rs`).
#[derive(Clone)]
pub struct WasmiModule {
    module: wasmi::Module,
    start_export: Option<Arc<str>>,
}

/// What a host function that did not finish at once parked in the store,
/// for the guest's call to await before it resumes.
enum Pending<T: Send + 'static> {
    /// It asked to suspend: readiness, then it runs again with the same
    /// arguments.
    Ready {
        ready: Readiness,
        func: HostFunc<WasmiEngine, T>,
        args: Vec<CoreVal>,
    },
    /// It handed on a guest call ([`Caller::call_then`]): the call, then
    /// its continuation.
    Call(GuestCall<WasmiEngine, T>),
}

/// Fuel of one time slice: after it a guest yields to the executor (about a
/// millisecond of interpretation).
pub const FUEL_SLICE: u64 = 1_000_000;

/// [`wasmi::StoreLimits`], remembering whether it ever said no.
struct Limiter {
    limits: wasmi::StoreLimits,
    hit: bool,
}

impl wasmi::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> Result<bool, wasmi_core::LimiterError> {
        let allowed = self.limits.memory_growing(current, desired, maximum)?;
        self.hit |= !allowed;
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> Result<bool, wasmi_core::LimiterError> {
        let allowed = self.limits.table_growing(current, desired, maximum)?;
        self.hit |= !allowed;
        Ok(allowed)
    }

    fn memory_grow_failed(
        &mut self,
        error: &wasmi::errors::MemoryError,
    ) -> Result<(), wasmi_core::LimiterError> {
        self.hit = true;
        self.limits.memory_grow_failed(error)
    }

    fn table_grow_failed(
        &mut self,
        error: &wasmi::errors::TableError,
    ) -> Result<(), wasmi_core::LimiterError> {
        self.hit = true;
        self.limits.table_grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

/// What a cohost store keeps beside the host's data.
pub struct StoreData<T: Send + 'static> {
    data: T,
    limits: Limiter,
    deadline: Option<std::time::Instant>,
    pending: Option<Pending<T>>,
    /// The guest call the running host function handed on, until
    /// [`run_host`] parks it.
    handed_on: Option<GuestCall<WasmiEngine, T>>,
    /// How many nested (non-resumable) calls are running.
    nested: Nesting,
}

/// The marker a suspending host function returns through wasmi.
#[derive(Debug)]
struct Suspended;

impl std::fmt::Display for Suspended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("host function suspended")
    }
}

impl wasmi::errors::HostError for Suspended {}

/// A [`Trap`] raised by a host function, carried through wasmi.
#[derive(Debug)]
struct HostTrap(Trap);

impl std::fmt::Display for HostTrap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.0, f)
    }
}

impl wasmi::errors::HostError for HostTrap {}

fn to_trap(err: &wasmi::Error) -> Trap {
    if let Some(HostTrap(t)) = err.downcast_ref::<HostTrap>() {
        return t.clone();
    }
    if let Some(code) = err.as_trap_code() {
        use wasmi::TrapCode as T;
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
            T::OutOfFuel => WasmTrap::OutOfTime,
            other => return Trap::new(TrapKind::Wasm, other.to_string()),
        };
        return Trap::wasm(code);
    }
    Trap::host(err.to_string())
}

fn to_error(err: wasmi::Error) -> Error {
    if err.downcast_ref::<HostTrap>().is_some() || err.as_trap_code().is_some() {
        return Error::from(to_trap(&err));
    }
    Error::engine(err.to_string())
}

fn val_type(ty: CoreType) -> wasmi::ValType {
    match ty {
        CoreType::I32 => wasmi::ValType::I32,
        CoreType::I64 => wasmi::ValType::I64,
        CoreType::F32 => wasmi::ValType::F32,
        CoreType::F64 => wasmi::ValType::F64,
    }
}

fn to_val(v: CoreVal) -> wasmi::Val {
    match v {
        CoreVal::I32(v) => wasmi::Val::I32(v),
        CoreVal::I64(v) => wasmi::Val::I64(v),
        CoreVal::F32(v) => wasmi::Val::F32(wasmi::F32::from_bits(v)),
        CoreVal::F64(v) => wasmi::Val::F64(wasmi::F64::from_bits(v)),
    }
}

fn from_val(v: &wasmi::Val) -> Result<CoreVal, Trap> {
    Ok(match *v {
        wasmi::Val::I32(v) => CoreVal::I32(v),
        wasmi::Val::I64(v) => CoreVal::I64(v),
        wasmi::Val::F32(v) => CoreVal::F32(v.to_bits()),
        wasmi::Val::F64(v) => CoreVal::F64(v.to_bits()),
        _ => {
            return Err(Trap::host(
                "a reference or vector value cannot cross the component boundary",
            ));
        }
    })
}

/// wasmi values for a call, on the stack when there are few.
type Vals = SmallVals<wasmi::Val>;

fn zeros(n: usize) -> Vals {
    Vals::filled(n, wasmi::Val::I32(0))
}

fn vals_of(vals: &[CoreVal]) -> Vals {
    let mut out = zeros(vals.len());
    for (slot, v) in out.iter_mut().zip(vals) {
        *slot = to_val(*v);
    }
    out
}

fn from_extern(e: wasmi::Extern) -> Extern<WasmiEngine> {
    match e {
        wasmi::Extern::Func(f) => Extern::Func(f),
        wasmi::Extern::Memory(m) => Extern::Memory(m),
        wasmi::Extern::Table(t) => Extern::Table(t),
        wasmi::Extern::Global(g) => Extern::Global(g),
    }
}

fn to_extern(e: Extern<WasmiEngine>) -> wasmi::Extern {
    match e {
        Extern::Func(f) => f.into(),
        Extern::Memory(m) => m.into(),
        Extern::Table(t) => t.into(),
        Extern::Global(g) => g.into(),
    }
}

fn out_of_time<T: Send + 'static>(data: &StoreData<T>) -> bool {
    data.deadline
        .is_some_and(|d| std::time::Instant::now() >= d)
}

/// A call that must finish without suspending: see
/// [`Engine::call_nested`].
fn call_nested<T: Send + 'static>(
    mut ctx: impl wasmi::AsContextMut<Data = StoreData<T>>,
    func: wasmi::Func,
    args: &[CoreVal],
    results: &mut [CoreVal],
) -> Result<(), Trap> {
    let args = vals_of(args);
    let mut outs = zeros(results.len());
    let mut ctx = ctx.as_context_mut();
    ctx.data_mut().nested.enter()?;
    // The nested call runs on fuel of its own; the caller's slice then
    // goes on where it was.
    let slice_left = ctx.get_fuel().unwrap_or(0);
    let outcome = run_nested(&mut ctx, func, &args, &mut outs);
    let _ = ctx.set_fuel(slice_left);
    ctx.data_mut().nested.leave();
    outcome?;
    for (slot, v) in results.iter_mut().zip(outs.iter()) {
        *slot = from_val(v)?;
    }
    Ok(())
}

/// Run a nested call in time slices, checking the deadline between them.
///
/// It cannot yield: it runs inside a host function (or host code that
/// cannot await), which must return the guest's results, and wasmi cannot
/// suspend a host function half-way. So once it has used up a whole slice
/// (a guest that spins here, as a hostile realloc does), the rest runs off
/// the executor, where it holds up no other request.
fn run_nested<T: Send + 'static>(
    ctx: &mut wasmi::StoreContextMut<'_, StoreData<T>>,
    func: wasmi::Func,
    args: &[wasmi::Val],
    outs: &mut [wasmi::Val],
) -> Result<(), Trap> {
    let _ = ctx.set_fuel(FUEL_SLICE);
    let first = func
        .call_resumable(&mut *ctx, args, outs)
        .map_err(|e| to_trap(&e))?;
    let mut invocation = match first {
        ResumableCall::Finished => return Ok(()),
        // A host function inside a nested call cannot suspend (its
        // `run_host` made that a trap), so any host error ends the call.
        ResumableCall::HostTrap(invocation) => return Err(to_trap(invocation.host_error())),
        ResumableCall::OutOfFuel(invocation) => invocation,
    };
    off_the_executor(move || {
        loop {
            if out_of_time(ctx.data()) {
                return Err(Trap::wasm(WasmTrap::OutOfTime));
            }
            // As in `call`: one operation may need more than a slice.
            let _ = ctx.set_fuel(FUEL_SLICE.max(invocation.required_fuel()));
            match invocation
                .resume(&mut *ctx, outs)
                .map_err(|e| to_trap(&e))?
            {
                ResumableCall::Finished => return Ok(()),
                ResumableCall::HostTrap(i) => return Err(to_trap(i.host_error())),
                ResumableCall::OutOfFuel(i) => invocation = i,
            }
        }
    })
}

/// Run `f`, the rest of a nested call that has used up a time slice, so
/// that the executor's other tasks keep running meanwhile: on a
/// multi-thread tokio runtime, `block_in_place` hands this worker's queue
/// to another thread for as long as `f` runs. Elsewhere (a current-thread
/// runtime, where `block_in_place` would panic, or no runtime) `f` just
/// runs: it is still bounded by the deadline it checks.
fn off_the_executor<R>(f: impl FnOnce() -> R) -> R {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// [`Caller`] over a wasmi context: a host function's caller, or the store
/// while a suspended call is being resumed.
struct WasmiCaller<C>(C);

macro_rules! wasmi_caller {
    ($ctx:ty) => {
        impl<T: Send + 'static> Caller<WasmiEngine, T> for WasmiCaller<$ctx> {
            fn data(&self) -> &T {
                &self.0.data().data
            }
            fn data_mut(&mut self) -> &mut T {
                &mut self.0.data_mut().data
            }
            fn memory_and_data(&mut self, memory: wasmi::Memory) -> (&mut [u8], &mut T) {
                let (bytes, data) = memory.data_and_store_mut(&mut *self.0);
                (bytes, &mut data.data)
            }
            fn call(
                &mut self,
                func: wasmi::Func,
                args: &[CoreVal],
                results: &mut [CoreVal],
            ) -> Result<(), Trap> {
                call_nested(&mut *self.0, func, args, results)
            }
            fn call_then(&mut self, call: GuestCall<WasmiEngine, T>) -> HostError {
                self.0.data_mut().handed_on = Some(call);
                HostError::Call
            }
        }
    };
}

/// The guest call a host function that returned [`HostError::Call`]
/// handed on, or the trap of one that handed none.
fn take_handed_on<T: Send + 'static>(
    data: &mut StoreData<T>,
) -> Result<GuestCall<WasmiEngine, T>, Trap> {
    data.handed_on
        .take()
        .ok_or_else(engine_abi::engine::call_without_guest_call)
}

wasmi_caller!(&mut wasmi::Caller<'_, StoreData<T>>);
wasmi_caller!(&mut wasmi::Store<StoreData<T>>);

/// Host functions defined once: their wasmi types built, their bodies
/// shared. wasmi has no public way to put a [`wasmi::Linker`]'s functions
/// in a store without instantiating through it, so each store gets a
/// [`wasmi::Func`] per function around the shared body.
pub struct FuncDefs<T: Send + 'static>(
    Vec<(CoreFuncType, wasmi::FuncType, HostFunc<WasmiEngine, T>)>,
);

fn func_type(ty: &CoreFuncType) -> wasmi::FuncType {
    wasmi::FuncType::new(
        ty.params.iter().copied().map(val_type),
        ty.results.iter().copied().map(val_type),
    )
}

/// Run host function `func` with `args`, returning its `n` results; if it
/// asks to suspend, park its readiness and arguments in the store and fail
/// with the marker that makes the guest's call resumable.
fn run_host<T: Send + 'static>(
    func: &HostFunc<WasmiEngine, T>,
    caller: &mut wasmi::Caller<'_, StoreData<T>>,
    args: &[CoreVal],
    n: usize,
) -> Result<CoreVals, wasmi::Error> {
    let mut outs = CoreVals::zeros(n);
    match func(&mut WasmiCaller(&mut *caller), args, &mut outs) {
        Ok(()) => Ok(outs),
        Err(HostError::Trap(t)) => Err(wasmi::Error::host(HostTrap(t))),
        Err(HostError::Suspend(ready)) => {
            let data = caller.data_mut();
            data.nested
                .may_suspend()
                .map_err(|t| wasmi::Error::host(HostTrap(t)))?;
            data.pending = Some(Pending::Ready {
                ready,
                func: func.clone(),
                args: args.to_vec(),
            });
            Err(wasmi::Error::host(Suspended))
        }
        Err(HostError::Call) => {
            let call =
                take_handed_on(caller.data_mut()).map_err(|t| wasmi::Error::host(HostTrap(t)))?;
            // Inside a call that cannot suspend, the call handed on runs in
            // place, as any nested call does.
            if caller.data().nested.is_nested() {
                call.run_nested(&mut WasmiCaller(&mut *caller), &mut outs)
                    .map_err(|t| wasmi::Error::host(HostTrap(t)))?;
                return Ok(outs);
            }
            caller.data_mut().pending = Some(Pending::Call(call));
            Err(wasmi::Error::host(Suspended))
        }
    }
}

/// Finish the host function that parked `pending`: await its readiness and
/// run it again, or make the guest call it handed on (a resumable call of
/// its own, which may suspend in turn, while the caller's stays parked) and
/// run its continuation; until it returns its `n` results.
fn finish_pending<T: Send + 'static>(
    store: &mut wasmi::Store<StoreData<T>>,
    mut pending: Pending<T>,
    n: usize,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Vec<CoreVal>, Trap>> + Send + '_>> {
    // Boxed: a guest call here is a `WasmiEngine::call`, which may park a
    // host function that comes back here.
    Box::pin(async move {
        let mut host_outs = vec![CoreVal::I32(0); n];
        loop {
            let outcome = match pending {
                Pending::Ready { ready, func, args } => {
                    ready.await;
                    // A host function whose readiness is always ready but
                    // that suspends again would otherwise spin here without
                    // ever giving the executor (and the request's timeout) a
                    // turn.
                    tokio::task::coop::consume_budget().await;
                    match func(&mut WasmiCaller(&mut *store), &args, &mut host_outs) {
                        Err(HostError::Suspend(ready)) => {
                            pending = Pending::Ready { ready, func, args };
                            continue;
                        }
                        outcome => outcome,
                    }
                }
                Pending::Call(call) => {
                    let mut outs = vec![CoreVal::I32(0); call.results];
                    WasmiEngine::call(store, call.func, &call.args, &mut outs).await?;
                    (call.then)(&mut WasmiCaller(&mut *store), &outs, &mut host_outs)
                        .map_err(HostError::Trap)
                }
            };
            match outcome {
                Ok(()) => return Ok(host_outs),
                Err(HostError::Trap(t)) => return Err(t),
                Err(HostError::Call) => pending = Pending::Call(take_handed_on(store.data_mut())?),
                Err(HostError::Suspend(_)) => {
                    unreachable!("a host function that suspends again is awaited above")
                }
            }
        }
    })
}

/// A wasmi function around `func` with signature `core`.
///
/// wasmi's dynamically typed host functions ([`wasmi::Func::new`]) clone a
/// buffer of parameters on every call, an allocation; its statically typed
/// ones ([`wasmi::Func::wrap`]) do not. So the signatures lowered imports
/// have (handles, pointers, lengths and 64-bit integers, up to a result)
/// get a statically typed wrapper each: every sequence of up to four
/// `i32`/`i64` parameters and up to ten `i32`s, returning nothing, an `i32`
/// or an `i64`. Anything else takes the dynamic path.
fn new_func<T: Send + 'static>(
    store: &mut wasmi::Store<StoreData<T>>,
    core: &CoreFuncType,
    ty: wasmi::FuncType,
    func: HostFunc<WasmiEngine, T>,
) -> wasmi::Func {
    if let Some(f) = wrap_static(store, core, &func) {
        return f;
    }
    wasmi::Func::new(store, ty, move |mut caller, params, results| {
        let args =
            CoreVals::try_collect(params.len(), CoreVal::I32(0), params.iter().map(from_val))
                .map_err(|t| wasmi::Error::host(HostTrap(t)))?;
        let outs = run_host(&func, &mut caller, &args, results.len())?;
        for (slot, v) in results.iter_mut().zip(outs.iter()) {
            *slot = to_val(*v);
        }
        Ok(())
    })
}

macro_rules! core_type {
    (i32) => {
        CoreType::I32
    };
    (i64) => {
        CoreType::I64
    };
}

macro_rules! core_val {
    (i32, $v:expr) => {
        CoreVal::I32($v)
    };
    (i64, $v:expr) => {
        CoreVal::I64($v)
    };
}

/// The statically typed wrappers of [`new_func`], one per listed parameter
/// sequence and per result (none, `i32`, `i64`).
macro_rules! wrap_static {
    ($store:ident, $core:ident, $func:ident; $([$($p:ident: $t:ident),*]),* $(,)?) => {
        match ($core.params.as_slice(), $core.results.as_slice()) {
            $(
                ([$(core_type!($t)),*], []) => {
                    let func = $func.clone();
                    Some(wasmi::Func::wrap(
                        $store,
                        move |mut caller: wasmi::Caller<'_, StoreData<T>>, $($p: $t),*|
                              -> Result<(), wasmi::Error> {
                            run_host(&func, &mut caller, &[$(core_val!($t, $p)),*], 0).map(drop)
                        },
                    ))
                }
                ([$(core_type!($t)),*], [CoreType::I32]) => {
                    let func = $func.clone();
                    Some(wasmi::Func::wrap(
                        $store,
                        move |mut caller: wasmi::Caller<'_, StoreData<T>>, $($p: $t),*|
                              -> Result<i32, wasmi::Error> {
                            let outs =
                                run_host(&func, &mut caller, &[$(core_val!($t, $p)),*], 1)?;
                            outs[0].i32().map_err(|t| wasmi::Error::host(HostTrap(t)))
                        },
                    ))
                }
                ([$(core_type!($t)),*], [CoreType::I64]) => {
                    let func = $func.clone();
                    Some(wasmi::Func::wrap(
                        $store,
                        move |mut caller: wasmi::Caller<'_, StoreData<T>>, $($p: $t),*|
                              -> Result<i64, wasmi::Error> {
                            let outs =
                                run_host(&func, &mut caller, &[$(core_val!($t, $p)),*], 1)?;
                            outs[0].i64().map_err(|t| wasmi::Error::host(HostTrap(t)))
                        },
                    ))
                }
            )*
            _ => None,
        }
    };
}

fn wrap_static<T: Send + 'static>(
    store: &mut wasmi::Store<StoreData<T>>,
    core: &CoreFuncType,
    func: &HostFunc<WasmiEngine, T>,
) -> Option<wasmi::Func> {
    wrap_static!(store, core, func;
        [],
        [a: i32], [a: i64],
        [a: i32, b: i32], [a: i32, b: i64], [a: i64, b: i32], [a: i64, b: i64],
        [a: i32, b: i32, c: i32], [a: i32, b: i32, c: i64], [a: i32, b: i64, c: i32],
        [a: i32, b: i64, c: i64], [a: i64, b: i32, c: i32], [a: i64, b: i32, c: i64],
        [a: i64, b: i64, c: i32], [a: i64, b: i64, c: i64],
        [a: i32, b: i32, c: i32, d: i32], [a: i32, b: i32, c: i32, d: i64],
        [a: i32, b: i32, c: i64, d: i32], [a: i32, b: i32, c: i64, d: i64],
        [a: i32, b: i64, c: i32, d: i32], [a: i32, b: i64, c: i32, d: i64],
        [a: i32, b: i64, c: i64, d: i32], [a: i32, b: i64, c: i64, d: i64],
        [a: i64, b: i32, c: i32, d: i32], [a: i64, b: i32, c: i32, d: i64],
        [a: i64, b: i32, c: i64, d: i32], [a: i64, b: i32, c: i64, d: i64],
        [a: i64, b: i64, c: i32, d: i32], [a: i64, b: i64, c: i32, d: i64],
        [a: i64, b: i64, c: i64, d: i32], [a: i64, b: i64, c: i64, d: i64],
        [a: i32, b: i32, c: i32, d: i32, e: i32],
        [a: i32, b: i32, c: i32, d: i32, e: i32, f: i32],
        [a: i32, b: i32, c: i32, d: i32, e: i32, f: i32, g: i32],
        [a: i32, b: i32, c: i32, d: i32, e: i32, f: i32, g: i32, h: i32],
        [a: i32, b: i32, c: i32, d: i32, e: i32, f: i32, g: i32, h: i32, i: i32],
        [a: i32, b: i32, c: i32, d: i32, e: i32, f: i32, g: i32, h: i32, i: i32, j: i32],
    )
}

impl Engine for WasmiEngine {
    type Module = WasmiModule;
    type Store<T: Send + 'static> = wasmi::Store<StoreData<T>>;
    type Instance = wasmi::Instance;
    type Func = wasmi::Func;
    type Memory = wasmi::Memory;
    type Table = wasmi::Table;
    type Global = wasmi::Global;

    fn name(&self) -> &'static str {
        "interp"
    }

    fn compile(&self, wasm: &[u8]) -> Result<Self::Module, Error> {
        let split = start::split_start(wasm);
        let bytes = split.as_ref().map_or(wasm, |s| &s.wasm[..]);
        let module = wasmi::Module::new(&self.engine, bytes)
            .map_err(|e| Error::invalid(format!("core module failed to compile: {e}")))?;
        Ok(WasmiModule {
            module,
            start_export: split.map(|s| Arc::from(s.start_export)),
        })
    }

    fn new_store<T: Send + 'static>(&self, data: T, limits: StoreLimits) -> Self::Store<T> {
        let deadline = limits.deadline_from_now();
        let limits = wasmi::StoreLimitsBuilder::new()
            .memory_size(limits.max_memory_bytes)
            .table_elements(limits.max_table_elements)
            .instances(limits.max_instances)
            .memories(limits.max_instances)
            .tables(limits.max_instances)
            .build();
        let limits = Limiter { limits, hit: false };
        let mut store = wasmi::Store::new(
            &self.engine,
            StoreData {
                data,
                limits,
                deadline,
                pending: None,
                handed_on: None,
                nested: Nesting::default(),
            },
        );
        store.limiter(|d| &mut d.limits);
        store
    }

    fn set_time_budget<T: Send + 'static>(
        store: &mut Self::Store<T>,
        budget: Option<std::time::Duration>,
    ) {
        store.data_mut().deadline = budget.map(|b| std::time::Instant::now() + b);
    }

    fn limit_hit<T: Send + 'static>(store: &Self::Store<T>) -> bool {
        store.data().limits.hit
    }

    fn data<T: Send + 'static>(store: &Self::Store<T>) -> &T {
        &store.data().data
    }

    fn data_mut<T: Send + 'static>(store: &mut Self::Store<T>) -> &mut T {
        &mut store.data_mut().data
    }

    fn into_data<T: Send + 'static>(store: Self::Store<T>) -> T {
        store.into_data().data
    }

    fn host_func<T: Send + 'static>(
        store: &mut Self::Store<T>,
        ty: &CoreFuncType,
        func: HostFunc<Self, T>,
    ) -> Self::Func {
        new_func(store, ty, func_type(ty), func)
    }

    type FuncDefs<T: Send + 'static> = FuncDefs<T>;

    fn define_funcs<T: Send + 'static>(
        &self,
        funcs: Vec<HostFuncDef<Self, T>>,
    ) -> Result<FuncDefs<T>, Error> {
        Ok(FuncDefs(
            funcs
                .into_iter()
                .map(|def| (def.ty.clone(), func_type(&def.ty), def.func))
                .collect(),
        ))
    }

    fn instantiate_funcs<T: Send + 'static>(
        store: &mut Self::Store<T>,
        defs: &FuncDefs<T>,
        out: &mut Vec<Self::Func>,
    ) -> Result<(), Error> {
        out.reserve(defs.0.len());
        for (ty, wasmi_ty, func) in &defs.0 {
            out.push(new_func(store, ty, wasmi_ty.clone(), func.clone()));
        }
        Ok(())
    }

    async fn instantiate<'a, T: Send + 'static>(
        store: &'a mut Self::Store<T>,
        module: &'a Self::Module,
        imports: &'a [Extern<Self>],
    ) -> Result<Self::Instance, Error> {
        // A component instantiates its core modules one by one, each under
        // the request's deadline.
        if out_of_time(store.data()) {
            return Err(Trap::wasm(WasmTrap::OutOfTime).into());
        }
        // wasmi lists a module's imports grouped by kind (functions, tables,
        // memories, globals), each group in module order, and matches the
        // externs it is given against that list: regroup ours the same way.
        let rank = |e: &Extern<Self>| match e {
            Extern::Func(_) => 0,
            Extern::Table(_) => 1,
            Extern::Memory(_) => 2,
            Extern::Global(_) => 3,
        };
        let mut ordered: Vec<Extern<Self>> = imports.to_vec();
        ordered.sort_by_key(rank);
        let imports: Vec<wasmi::Extern> = ordered.into_iter().map(to_extern).collect();
        // No guest code runs in `Instance::new`: the start function was
        // made an export (see `start.rs`), called next as any guest call.
        let instance =
            wasmi::Instance::new(&mut *store, &module.module, &imports).map_err(to_error)?;
        if let Some(name) = &module.start_export {
            let Some(start) = instance.get_func(&*store, name) else {
                return Err(Error::engine(format!(
                    "the start function's export `{name}` is missing"
                )));
            };
            Self::call(store, start, &[], &mut []).await?;
        }
        Ok(instance)
    }

    fn export<T: Send + 'static>(
        store: &mut Self::Store<T>,
        instance: Self::Instance,
        name: &str,
    ) -> Option<Extern<Self>> {
        instance.get_export(&*store, name).map(from_extern)
    }

    fn func_type<T: Send + 'static>(store: &Self::Store<T>, func: Self::Func) -> CoreFuncType {
        let ty = func.ty(store);
        let conv = |t: &wasmi::ValType| match t {
            wasmi::ValType::I64 => CoreType::I64,
            wasmi::ValType::F32 => CoreType::F32,
            wasmi::ValType::F64 => CoreType::F64,
            _ => CoreType::I32,
        };
        CoreFuncType::new(
            ty.params().iter().map(conv).collect::<Vec<_>>(),
            ty.results().iter().map(conv).collect::<Vec<_>>(),
        )
    }

    async fn call<'a, T: Send + 'static>(
        store: &'a mut Self::Store<T>,
        func: Self::Func,
        args: &'a [CoreVal],
        results: &'a mut [CoreVal],
    ) -> Result<(), Trap> {
        let wargs = vals_of(args);
        let mut outs = zeros(results.len());
        let _ = store.set_fuel(FUEL_SLICE);
        let mut state = match func.call_resumable(&mut *store, &wargs, &mut outs) {
            Ok(state) => state,
            // `func` is itself a host function (a start function or an
            // export that is an import, a lowered host call or an adapter,
            // given straight back): with no guest frame to resume, wasmi
            // hands back its error, not a resumable call. Finish what it
            // parked here; its results are the call's.
            Err(e) if e.downcast_ref::<Suspended>().is_some() => {
                let Some(pending) = store.data_mut().pending.take() else {
                    return Err(to_trap(&e));
                };
                let host_results = finish_pending(store, pending, results.len()).await?;
                results.copy_from_slice(&host_results);
                return Ok(());
            }
            Err(e) => return Err(to_trap(&e)),
        };
        loop {
            match state {
                ResumableCall::Finished => break,
                ResumableCall::HostTrap(invocation) => {
                    let Some(pending) = store.data_mut().pending.take() else {
                        return Err(to_trap(invocation.host_error()));
                    };
                    let n = invocation.host_func().ty(&*store).results().len();
                    let host_results = finish_pending(store, pending, n).await?;
                    let inputs: Vec<wasmi::Val> = host_results.into_iter().map(to_val).collect();
                    state = invocation
                        .resume(&mut *store, &inputs, &mut outs)
                        .map_err(|e| to_trap(&e))?;
                }
                ResumableCall::OutOfFuel(invocation) => {
                    if out_of_time(store.data()) {
                        return Err(Trap::wasm(WasmTrap::OutOfTime));
                    }
                    tokio::task::yield_now().await;
                    // One operation may need more than a slice (a 100 MB
                    // `memory.fill` costs 1.6M fuel): give it what it needs,
                    // or it would run out again, forever.
                    let _ = store.set_fuel(FUEL_SLICE.max(invocation.required_fuel()));
                    state = invocation
                        .resume(&mut *store, &mut outs)
                        .map_err(|e| to_trap(&e))?;
                }
            }
        }
        for (slot, v) in results.iter_mut().zip(outs.iter()) {
            *slot = from_val(v)?;
        }
        Ok(())
    }

    async fn call_unsuspending<'a, T: Send + 'static>(
        store: &'a mut Self::Store<T>,
        func: Self::Func,
        args: &'a [CoreVal],
        results: &'a mut [CoreVal],
    ) -> Result<(), Trap> {
        // Nesting makes a host function that asks to suspend trap (see
        // `run_host`); the call still yields between slices. Should the
        // future be dropped half-way, the store it marked goes with it.
        store.data_mut().nested.enter()?;
        let outcome = Self::call(store, func, args, results).await;
        store.data_mut().nested.leave();
        outcome
    }

    fn call_nested<T: Send + 'static>(
        store: &mut Self::Store<T>,
        func: Self::Func,
        args: &[CoreVal],
        results: &mut [CoreVal],
    ) -> Result<(), Trap> {
        call_nested(store, func, args, results)
    }

    fn memory_and_data<T: Send + 'static>(
        store: &mut Self::Store<T>,
        memory: Self::Memory,
    ) -> (&mut [u8], &mut T) {
        let (bytes, data) = memory.data_and_store_mut(store);
        (bytes, &mut data.data)
    }
}
