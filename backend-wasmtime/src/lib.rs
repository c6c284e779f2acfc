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
    CacheStats, Caller, CoreFuncType, CoreType, CoreVal, CoreVals, Engine, EngineConfig, Extern,
    GuestCall, HostError, HostFunc, HostFuncDef, Nesting, PoolConfig, Readiness, SmallVals,
    StoreLimits,
};
use engine_abi::error::{Error, Trap, WasmTrap};

/// The wasmtime engine: a JIT, for hosts that may map executable memory.
#[derive(Clone)]
pub struct WasmtimeEngine {
    engine: wasmtime::Engine,
    cache: Option<wasmtime::Cache>,
}

impl WasmtimeEngine {
    /// An engine with cohost's defaults: Cranelift at speed, the wasm
    /// features that real component toolchains emit, instances allocated
    /// per store, no compile cache.
    pub fn new() -> Result<Self, Error> {
        Self::with_config(&EngineConfig::default())
    }

    /// An engine with an instance pool and a compile cache if `config`
    /// asks for them, and `config.max_wasm_stack` of stack per guest call
    /// (wasmtime's `max_wasm_stack`; each call's fiber stack is that plus
    /// [`HOST_STACK_BYTES`] for the host functions it calls).
    ///
    /// The pool reserves virtual memory for every memory it may hand out
    /// (about 4 GiB each, so that compiled code needs no bounds checks);
    /// where the address space is too small for that, this fails, and the
    /// caller may retry without a pool.
    pub fn with_config(config: &EngineConfig) -> Result<Self, Error> {
        let mut wt = wasmtime::Config::new();
        wt.wasm_multi_memory(true)
            .wasm_extended_const(true)
            .wasm_tail_call(true)
            .epoch_interruption(true)
            .max_wasm_stack(config.max_wasm_stack)
            .async_stack_size(config.max_wasm_stack.saturating_add(HOST_STACK_BYTES))
            .cranelift_opt_level(wasmtime::OptLevel::Speed);
        if let Some(pool) = &config.pool {
            wt.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pooling(pool)));
        }
        let mut cache = None;
        if let Some(dir) = &config.cache_dir {
            let dir = std::path::absolute(dir)
                .map_err(|e| Error::engine(format!("cache directory {}: {e}", dir.display())))?;
            let mut cache_config = wasmtime::CacheConfig::new();
            cache_config.with_directory(dir);
            let opened = wasmtime::Cache::new(cache_config)
                .map_err(|e| Error::engine(format!("cannot open the compile cache: {e:#}")))?;
            wt.cache(Some(opened.clone()));
            cache = Some(opened);
        }
        let engine = wasmtime::Engine::new(&wt)
            .map_err(|e| Error::engine(format!("cannot start wasmtime: {e:#}")))?;
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
        Ok(WasmtimeEngine { engine, cache })
    }
}

/// wasmtime's pooling allocator sized for `pool`: every store's instances,
/// memories, tables and fiber stacks, times the stores alive at once.
fn pooling(pool: &PoolConfig) -> wasmtime::PoolingAllocationConfig {
    let stores = pool.max_stores.max(1);
    let per = pool.per_store;
    let mut cfg = wasmtime::PoolingAllocationConfig::new();
    cfg.total_core_instances(stores.saturating_mul(per.instances.max(1)))
        .total_memories(stores.saturating_mul(per.memories.max(1)))
        .total_tables(stores.saturating_mul(per.tables.max(1)))
        .total_stacks(stores.saturating_mul(PoolConfig::STACKS_PER_STORE))
        .max_memories_per_module(per.memories_per_module.max(1))
        .max_tables_per_module(per.tables_per_module.max(1))
        .table_elements(
            pool.max_table_elements
                .max(usize::try_from(per.table_elements).unwrap_or(usize::MAX)),
        )
        .max_memory_size(pool.max_memory_bytes);
    cfg
}

/// How long a guest runs before it yields to the executor: short enough
/// that guests spinning at their time budget leave the rest of a worker
/// to the requests that wait on it (with 10 ms slices, two spinning guests
/// on a one-core server halved what the other routes of `benches/soak.sh`
/// served), about wasmi's slice (`FUEL_SLICE`: about a millisecond); a
/// yield costs a few microseconds.
pub const TIME_SLICE: std::time::Duration = std::time::Duration::from_millis(2);

/// [`wasmtime::StoreLimits`], remembering whether it ever said no.
struct Limiter {
    limits: wasmtime::StoreLimits,
    hit: bool,
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.limits.memory_growing(current, desired, maximum)?;
        self.hit |= !allowed;
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.limits.table_growing(current, desired, maximum)?;
        self.hit |= !allowed;
        Ok(allowed)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.hit = true;
        self.limits.memory_grow_failed(error)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
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

/// The part of a fiber stack left to the host functions a guest calls,
/// beyond `max_wasm_stack`: wasmtime's default (2 MiB fibers, 512 KiB of
/// them for wasm).
pub const HOST_STACK_BYTES: usize = 1536 << 10;

/// What a cohost store keeps beside the host's data.
pub struct StoreData<T> {
    data: T,
    limits: Limiter,
    deadline: Option<std::time::Instant>,
    /// How many nested (non-suspending) calls are running: a host function
    /// asking to suspend inside one traps instead.
    nested: Nesting,
    /// How many of them are driven in place, from synchronous code
    /// ([`call_in_place`]), where the epoch callback cannot yield to the
    /// executor.
    in_place: u32,
    /// The guest call the running host function handed on
    /// ([`Caller::call_then`]), until its [`call_host`] takes it.
    handed_on: Option<GuestCall<WasmtimeEngine, T>>,
}

fn out_of_time<T>(data: &StoreData<T>) -> bool {
    data.deadline
        .is_some_and(|d| std::time::Instant::now() >= d)
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
    if err.is::<wasmtime::PoolConcurrencyLimitError>() {
        return Error::busy(format!("{err:#}"));
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

/// Drive `func.call_async` to completion from synchronous code: a call
/// that cannot suspend (a realloc, post-return, destructor or nested
/// component call, see [`Engine::call_nested`]), made by a host function
/// on the guest's fiber or by host code between calls.
///
/// `nested` is raised, so that a host function asking to suspend traps,
/// and `in_place`, so that the epoch callback, at each tick, interrupts the
/// call past the deadline or else yields with a future that is ready again
/// at once: a `Pending` here is only that, and polling again is correct.
/// Such code cannot pass the yield on to the executor: wasmtime suspends a
/// fiber only from inside its own (crate-private) `block_on`, and refuses
/// a plain `Func::call` on a fiber. So once the call has lasted a whole
/// time slice (its second tick; the first may come at once), the rest runs
/// off the executor, where it holds up no other request.
fn call_in_place<T: Send + 'static>(
    mut store: impl wasmtime::AsContextMut<Data = StoreData<T>>,
    cx: &mut Context<'_>,
    func: wasmtime::Func,
    args: &[CoreVal],
    results: &mut [CoreVal],
) -> Result<(), Trap> {
    let args = vals_of(args);
    let mut outs = Vals::filled(results.len(), wasmtime::Val::I32(0));
    let mut context = store.as_context_mut();
    let data = context.data_mut();
    data.nested.enter()?;
    data.in_place += 1;
    let outcome = {
        let mut fut = pin!(func.call_async(&mut store, &args, &mut outs));
        let mut ticks = 0;
        loop {
            match fut.as_mut().poll(cx) {
                Poll::Ready(r) => break r,
                Poll::Pending if ticks == 0 => ticks += 1,
                Poll::Pending => {
                    break off_the_executor(|| {
                        loop {
                            if let Poll::Ready(r) = fut.as_mut().poll(cx) {
                                break r;
                            }
                        }
                    });
                }
            }
        }
    };
    let mut context = store.as_context_mut();
    let data = context.data_mut();
    data.in_place -= 1;
    data.nested.leave();
    outcome.map_err(to_trap)?;
    for (slot, v) in results.iter_mut().zip(outs.iter()) {
        *slot = from_val(v)?;
    }
    Ok(())
}

/// Run `f`, the rest of a nested call that has used up a time slice, so
/// that the executor's other tasks keep running meanwhile: on a
/// multi-thread tokio runtime, `block_in_place` hands this worker's queue
/// to another thread for as long as `f` runs. Elsewhere (a current-thread
/// runtime, where `block_in_place` would panic, or no runtime) `f` just
/// runs: the epoch callback still stops it at the deadline.
fn off_the_executor<R>(f: impl FnOnce() -> R) -> R {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// wasmtime values for a call, on the stack when there are few.
type Vals = SmallVals<wasmtime::Val>;

fn vals_of(vals: &[CoreVal]) -> Vals {
    let mut out = Vals::filled(vals.len(), wasmtime::Val::I32(0));
    for (slot, v) in out.iter_mut().zip(vals) {
        *slot = to_val(*v);
    }
    out
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
    fn call_then(&mut self, call: GuestCall<WasmtimeEngine, T>) -> HostError {
        self.caller.data_mut().handed_on = Some(call);
        HostError::Call
    }
}

/// Make the guest call the running host function handed on, in place (a
/// nested call that cannot suspend), writing the host function's results
/// into `outs`.
fn run_handed_on_in_place<T: Send + 'static>(
    host: &mut HostCaller<'_, '_, '_, T>,
    outs: &mut [CoreVal],
) -> Result<(), HostError> {
    let call = take_handed_on(host.caller)?;
    Ok(call.run_nested(host, outs)?)
}

/// The guest call a host function that returned [`HostError::Call`]
/// handed on, or the trap of one that handed none.
fn take_handed_on<T: Send + 'static>(
    caller: &mut wasmtime::Caller<'_, StoreData<T>>,
) -> Result<GuestCall<WasmtimeEngine, T>, Trap> {
    caller
        .data_mut()
        .handed_on
        .take()
        .ok_or_else(engine_abi::engine::call_without_guest_call)
}

/// Host functions defined once in a wasmtime [`Linker`](wasmtime::Linker)
/// (types registered, closures shared), named by their index.
pub struct FuncDefs<T: 'static> {
    linker: wasmtime::Linker<StoreData<T>>,
    names: Vec<String>,
}

fn func_type(engine: &wasmtime::Engine, ty: &CoreFuncType) -> wasmtime::FuncType {
    wasmtime::FuncType::new(
        engine,
        ty.params.iter().copied().map(val_type),
        ty.results.iter().copied().map(val_type),
    )
}

/// A future that is ready at once with `Ok(())`. It has no size, so boxing
/// it allocates nothing: a host call that finishes without suspending (the
/// common case) costs no allocation of ours.
struct Done;

impl Future for Done {
    type Output = wasmtime::Result<()>;
    fn poll(self: std::pin::Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(Ok(()))
    }
}

/// The body of a host function declared never to suspend: a plain call.
fn call_host_sync<T: Send + 'static>(
    func: &HostFunc<WasmtimeEngine, T>,
    mut caller: wasmtime::Caller<'_, StoreData<T>>,
    params: &[wasmtime::Val],
    results: &mut [wasmtime::Val],
) -> wasmtime::Result<()> {
    let args = CoreVals::try_collect(params.len(), CoreVal::I32(0), params.iter().map(from_val))
        .map_err(|t| wasmtime::Error::new(HostTrap(t)))?;
    let mut outs = CoreVals::zeros(results.len());
    let mut cx = Context::from_waker(Waker::noop());
    let mut host = HostCaller {
        caller: &mut caller,
        cx: &mut cx,
    };
    let outcome = match func(&mut host, &args, &mut outs) {
        // Declared never to suspend, so the call it hands on may not
        // either: it runs in place.
        Err(HostError::Call) => run_handed_on_in_place(&mut host, &mut outs),
        outcome => outcome,
    };
    match outcome {
        Ok(()) => {
            for (slot, v) in results.iter_mut().zip(outs.iter()) {
                *slot = to_val(*v);
            }
            Ok(())
        }
        Err(HostError::Trap(t)) => Err(wasmtime::Error::new(HostTrap(t))),
        Err(HostError::Suspend(_) | HostError::Call) => Err(wasmtime::Error::new(HostTrap(
            engine_abi::engine::suspended_though_declared_not_to(),
        ))),
    }
}

/// What a host function that did not finish at once waits for next.
enum Next<T: Send + 'static> {
    /// Readiness, then the host function runs again.
    Ready(Readiness),
    /// The guest call it handed on, then its continuation.
    Call(GuestCall<WasmtimeEngine, T>),
}

/// The body of every host function that may suspend: run `func` at once; only if it asks to
/// suspend, return a future that waits for readiness and runs it again.
fn call_host<'a, T: Send + 'static>(
    func: &HostFunc<WasmtimeEngine, T>,
    mut caller: wasmtime::Caller<'a, StoreData<T>>,
    params: &'a [wasmtime::Val],
    results: &'a mut [wasmtime::Val],
) -> Box<dyn Future<Output = wasmtime::Result<()>> + Send + 'a> {
    let args =
        match CoreVals::try_collect(params.len(), CoreVal::I32(0), params.iter().map(from_val)) {
            Ok(args) => args,
            Err(t) => return Box::new(std::future::ready(Err(wasmtime::Error::new(HostTrap(t))))),
        };
    let mut outs = CoreVals::zeros(results.len());
    // Nested calls a host function makes are driven in place (see
    // `call_in_place`): no waker is needed to drive them.
    let mut cx = Context::from_waker(Waker::noop());
    let mut host = HostCaller {
        caller: &mut caller,
        cx: &mut cx,
    };
    let first = match func(&mut host, &args, &mut outs) {
        // Inside a call that cannot suspend, the call handed on runs in
        // place, as any nested call does.
        Err(HostError::Call) if host.caller.data().nested.is_nested() => {
            run_handed_on_in_place(&mut host, &mut outs)
        }
        first => first,
    };
    let next = match first {
        Ok(()) => {
            for (slot, v) in results.iter_mut().zip(outs.iter()) {
                *slot = to_val(*v);
            }
            return Box::new(Done);
        }
        Err(HostError::Trap(t)) => {
            return Box::new(std::future::ready(Err(wasmtime::Error::new(HostTrap(t)))));
        }
        Err(HostError::Suspend(ready)) => match caller.data().nested.may_suspend() {
            Ok(()) => Next::Ready(ready),
            Err(t) => return Box::new(std::future::ready(Err(wasmtime::Error::new(HostTrap(t))))),
        },
        Err(HostError::Call) => match take_handed_on(&mut caller) {
            Ok(call) => Next::Call(call),
            Err(t) => return Box::new(std::future::ready(Err(wasmtime::Error::new(HostTrap(t))))),
        },
    };
    let func = func.clone();
    Box::new(async move {
        let mut next = next;
        loop {
            let outcome = match next {
                Next::Ready(ready) => {
                    ready.await;
                    // A readiness that is always ready, for a host function
                    // that suspends again, must not spin without giving the
                    // executor (and the request's timeout) a turn.
                    tokio::task::coop::consume_budget().await;
                    std::future::poll_fn(|cx| {
                        let mut host = HostCaller {
                            caller: &mut caller,
                            cx,
                        };
                        Poll::Ready(func(&mut host, &args, &mut outs))
                    })
                    .await
                }
                Next::Call(call) => {
                    // Awaited on this fiber: when a host function inside it
                    // suspends, so does the caller's fiber, and the request
                    // parks as it would for a host call of its own.
                    let wargs = vals_of(&call.args);
                    let mut wouts = Vals::filled(call.results, wasmtime::Val::I32(0));
                    call.func
                        .call_async(&mut caller, &wargs, &mut wouts)
                        .await?;
                    let core_results = CoreVals::try_collect(
                        wouts.len(),
                        CoreVal::I32(0),
                        wouts.iter().map(from_val),
                    )
                    .map_err(|t| wasmtime::Error::new(HostTrap(t)))?;
                    let mut then = Some(call.then);
                    std::future::poll_fn(|cx| {
                        let mut host = HostCaller {
                            caller: &mut caller,
                            cx,
                        };
                        let then = then.take().expect("polled once: it is ready at once");
                        Poll::Ready(then(&mut host, &core_results, &mut outs))
                    })
                    .await
                    .map_err(HostError::Trap)
                }
            };
            match outcome {
                Ok(()) => break,
                Err(HostError::Trap(t)) => return Err(wasmtime::Error::new(HostTrap(t))),
                Err(HostError::Suspend(ready)) => next = Next::Ready(ready),
                Err(HostError::Call) => {
                    next = Next::Call(
                        take_handed_on(&mut caller)
                            .map_err(|t| wasmtime::Error::new(HostTrap(t)))?,
                    )
                }
            }
        }
        for (slot, v) in results.iter_mut().zip(outs.iter()) {
            *slot = to_val(*v);
        }
        Ok(())
    })
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

    fn cache_stats(&self) -> Option<CacheStats> {
        let cache = self.cache.as_ref()?;
        Some(CacheStats {
            hits: cache.cache_hits(),
            misses: cache.cache_misses(),
        })
    }

    fn compile(&self, wasm: &[u8]) -> Result<Self::Module, Error> {
        wasmtime::Module::new(&self.engine, wasm).map_err(|e| {
            // What the OS refused (executable memory, address space) is not
            // the module's fault: an engine error, which `--engine auto`
            // answers by falling back to the interpreter.
            let os = e.chain().any(|c| c.is::<std::io::Error>())
                || format!("{e:#}").contains("unable to make memory executable");
            if os {
                Error::engine(format!("the jit could not publish compiled code: {e:#}"))
            } else {
                Error::invalid(format!("core module failed to compile: {e:#}"))
            }
        })
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
        let limits = Limiter { limits, hit: false };
        let mut store = wasmtime::Store::new(
            &self.engine,
            StoreData {
                data,
                limits,
                deadline,
                nested: Nesting::default(),
                in_place: 0,
                handed_on: None,
            },
        );
        store.limiter(|d| &mut d.limits);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|cx| {
            let data = cx.data();
            if out_of_time(data) {
                return Ok(wasmtime::UpdateDeadline::Interrupt);
            }
            // A nested call is driven in place (`call_in_place`): wasmtime's
            // own yield is ready again at once, and tells the driver that a
            // slice has passed.
            if data.in_place > 0 {
                Ok(wasmtime::UpdateDeadline::Yield(1))
            } else {
                Ok(wasmtime::UpdateDeadline::YieldCustom(
                    1,
                    Box::pin(tokio::task::yield_now()),
                ))
            }
        });
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
        let wt_ty = func_type(store.engine(), ty);
        wasmtime::Func::new_async(store, wt_ty, move |caller, params, results| {
            call_host(&func, caller, params, results)
        })
    }

    type FuncDefs<T: Send + 'static> = FuncDefs<T>;

    fn define_funcs<T: Send + 'static>(
        &self,
        funcs: Vec<HostFuncDef<Self, T>>,
    ) -> Result<FuncDefs<T>, Error> {
        let mut linker = wasmtime::Linker::new(&self.engine);
        let mut names = Vec::with_capacity(funcs.len());
        for (i, def) in funcs.into_iter().enumerate() {
            let name = i.to_string();
            let func = def.func;
            let ty = func_type(&self.engine, &def.ty);
            let defined = if def.may_suspend {
                linker.func_new_async("", &name, ty, move |caller, params, results| {
                    call_host(&func, caller, params, results)
                })
            } else {
                linker.func_new("", &name, ty, move |caller, params, results| {
                    call_host_sync(&func, caller, params, results)
                })
            };
            defined
                .map_err(|e| Error::engine(format!("cannot define host function {i}: {e:#}")))?;
            names.push(name);
        }
        Ok(FuncDefs { linker, names })
    }

    fn instantiate_funcs<T: Send + 'static>(
        store: &mut Self::Store<T>,
        defs: &FuncDefs<T>,
        out: &mut Vec<Self::Func>,
    ) -> Result<(), Error> {
        out.reserve(defs.names.len());
        for name in &defs.names {
            match defs.linker.get(&mut *store, "", name) {
                Ok(wasmtime::Extern::Func(f)) => out.push(f),
                Ok(_) => unreachable!("only functions are defined"),
                Err(e) => return Err(Error::engine(format!("{e:#}"))),
            }
        }
        Ok(())
    }

    async fn instantiate<'a, T: Send + 'static>(
        store: &'a mut Self::Store<T>,
        module: &'a Self::Module,
        imports: &'a [Extern<Self>],
    ) -> Result<Self::Instance, Error> {
        // A component instantiates its core modules one by one, each under
        // the request's deadline (a start function runs on the fiber, in
        // epoch slices, as any call).
        if out_of_time(store.data()) {
            return Err(Trap::wasm(WasmTrap::OutOfTime).into());
        }
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
        let wargs = vals_of(args);
        let mut outs = Vals::filled(results.len(), wasmtime::Val::I32(0));
        func.call_async(&mut *store, &wargs, &mut outs)
            .await
            .map_err(to_trap)?;
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
        // Nested, so that a host function asking to suspend traps; not
        // driven in place, so the epoch callback yields to the executor as
        // in `call`. Should the future be dropped half-way, the store it
        // marked goes with it.
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
