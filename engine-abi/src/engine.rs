//! The core-engine trait: what a component host needs from a core-wasm
//! engine, and nothing more.
//!
//! A backend compiles core modules, makes stores, defines host functions,
//! instantiates modules against resolved imports, reads exports, calls
//! functions and hands out linear memory. No engine type leaks through:
//! handles are associated types of [`Engine`], values are [`CoreVal`].
//!
//! Host functions are written once, synchronously, as [`HostFunc`]. One may
//! return [`HostError::Suspend`] with a future: the backend then parks the
//! guest (wasmtime: the call's fiber; wasmi: a resumable call), awaits the
//! future, and runs the host function again with the same arguments. So a
//! blocking WASI call parks a task, never a thread. One may also hand its
//! engine a guest call to make once it returns ([`Caller::call_then`]), a
//! call that may suspend in turn: that is how a component-to-component
//! call blocks.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::error::{Error, Trap};

/// A core wasm value type at the boundary between host and guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CoreType {
    /// `i32`
    I32,
    /// `i64`
    I64,
    /// `f32`
    F32,
    /// `f64`
    F64,
}

/// A core wasm value. Floats are kept as bits so NaN payloads survive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CoreVal {
    /// An `i32`.
    I32(i32),
    /// An `i64`.
    I64(i64),
    /// The bits of an `f32`.
    F32(u32),
    /// The bits of an `f64`.
    F64(u64),
}

impl CoreVal {
    /// The zero value of `ty`.
    pub fn zero(ty: CoreType) -> CoreVal {
        match ty {
            CoreType::I32 => CoreVal::I32(0),
            CoreType::I64 => CoreVal::I64(0),
            CoreType::F32 => CoreVal::F32(0),
            CoreType::F64 => CoreVal::F64(0),
        }
    }

    /// The type of this value.
    pub fn ty(&self) -> CoreType {
        match self {
            CoreVal::I32(_) => CoreType::I32,
            CoreVal::I64(_) => CoreType::I64,
            CoreVal::F32(_) => CoreType::F32,
            CoreVal::F64(_) => CoreType::F64,
        }
    }

    /// This value as an `i32`, or a trap naming what was found instead.
    pub fn i32(&self) -> Result<i32, Trap> {
        match *self {
            CoreVal::I32(v) => Ok(v),
            other => Err(Trap::abi(format!("expected an i32, found {other:?}"))),
        }
    }

    /// This value as an `i64`, or a trap.
    pub fn i64(&self) -> Result<i64, Trap> {
        match *self {
            CoreVal::I64(v) => Ok(v),
            other => Err(Trap::abi(format!("expected an i64, found {other:?}"))),
        }
    }

    /// This value as `f32` bits, or a trap.
    pub fn f32_bits(&self) -> Result<u32, Trap> {
        match *self {
            CoreVal::F32(v) => Ok(v),
            other => Err(Trap::abi(format!("expected an f32, found {other:?}"))),
        }
    }

    /// This value as `f64` bits, or a trap.
    pub fn f64_bits(&self) -> Result<u64, Trap> {
        match *self {
            CoreVal::F64(v) => Ok(v),
            other => Err(Trap::abi(format!("expected an f64, found {other:?}"))),
        }
    }
}

/// The signature of a core function.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct CoreFuncType {
    /// Parameter types.
    pub params: Vec<CoreType>,
    /// Result types.
    pub results: Vec<CoreType>,
}

impl CoreFuncType {
    /// A signature from parameter and result types.
    pub fn new(params: impl Into<Vec<CoreType>>, results: impl Into<Vec<CoreType>>) -> Self {
        CoreFuncType {
            params: params.into(),
            results: results.into(),
        }
    }
}

impl fmt::Display for CoreFuncType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "(func (param")?;
        for p in &self.params {
            write!(f, " {}", format!("{p:?}").to_lowercase())?;
        }
        write!(f, ") (result")?;
        for r in &self.results {
            write!(f, " {}", format!("{r:?}").to_lowercase())?;
        }
        write!(f, "))")
    }
}

/// A future a suspended host function waits on before it is run again.
pub type Readiness = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// How a host function can fail.
pub enum HostError {
    /// End the guest's call with this trap.
    Trap(Trap),
    /// Park the guest until the future resolves, then run the host function
    /// again with the same arguments. The future must not borrow the store.
    Suspend(Readiness),
    /// Make the guest call the host function handed to
    /// [`Caller::call_then`], then finish with what its continuation
    /// makes of the results. Only [`Caller::call_then`] makes this.
    Call,
}

impl From<Trap> for HostError {
    fn from(trap: Trap) -> Self {
        HostError::Trap(trap)
    }
}

impl fmt::Debug for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostError::Trap(t) => write!(f, "HostError::Trap({t:?})"),
            HostError::Suspend(_) => write!(f, "HostError::Suspend(..)"),
            HostError::Call => write!(f, "HostError::Call"),
        }
    }
}

/// What a host function can do with its store while the guest waits.
///
/// Used as `&mut dyn Caller<E, T>`, so it is the same inside a host
/// function and outside any call (see [`StoreCaller`]).
pub trait Caller<E: Engine, T> {
    /// The store's data.
    fn data(&self) -> &T;
    /// The store's data, mutably.
    fn data_mut(&mut self) -> &mut T;
    /// The bytes of `memory` and the store's data, both mutably.
    fn memory_and_data(&mut self, memory: E::Memory) -> (&mut [u8], &mut T);
    /// Call a guest function that must finish without suspending (a
    /// realloc, a post-return, a destructor). A host function that asks to
    /// suspend inside it traps. It runs under the store's deadline, as
    /// [`Engine::call_nested`] says.
    fn call(
        &mut self,
        func: E::Func,
        args: &[CoreVal],
        results: &mut [CoreVal],
    ) -> Result<(), Trap>;

    /// Hand the engine `call` to make once the running host function
    /// returns, which must return the [`HostError::Call`] this gives back.
    ///
    /// Unlike [`Caller::call`], the guest function may suspend: the engine
    /// makes it as it makes the store's outermost call (wasmtime: awaited
    /// on the caller's fiber; wasmi: a resumable call of its own while the
    /// caller's is parked), so a host function it calls can block without
    /// holding a thread. Then [`GuestCall::then`] runs with its results and
    /// writes the host function's. Inside a call that cannot suspend (a
    /// realloc, a post-return, a destructor), the engine makes it in place,
    /// as [`GuestCall::run_nested`] does.
    fn call_then(&mut self, call: GuestCall<E, T>) -> HostError;
}

/// What a host function does with a guest call's results: given the
/// store, the call's core results and the host function's results to
/// write.
pub type Continuation<E, T> =
    Box<dyn FnOnce(&mut dyn Caller<E, T>, &[CoreVal], &mut [CoreVal]) -> Result<(), Trap> + Send>;

/// A guest call a host function hands to its engine: see
/// [`Caller::call_then`].
pub struct GuestCall<E: Engine, T> {
    /// The guest function.
    pub func: E::Func,
    /// Its arguments.
    pub args: Vec<CoreVal>,
    /// How many results it returns.
    pub results: usize,
    /// What to do with them.
    pub then: Continuation<E, T>,
}

impl<E: Engine, T> GuestCall<E, T> {
    /// Make the call in place, as a nested call that cannot suspend, and
    /// run its continuation into `results`: what an engine does with a
    /// call handed to it inside a call that cannot suspend.
    pub fn run_nested(
        self,
        caller: &mut dyn Caller<E, T>,
        results: &mut [CoreVal],
    ) -> Result<(), Trap> {
        let mut outs = CoreVals::zeros(self.results);
        caller.call(self.func, &self.args, &mut outs)?;
        (self.then)(caller, &outs, results)
    }
}

/// The trap of a host function that returned [`HostError::Call`] without
/// handing its engine a call: a host bug.
pub fn call_without_guest_call() -> Trap {
    Trap::host("host bug: a host function asked for a guest call it did not hand over")
}

/// A host function, written once for every engine.
pub type HostFunc<E, T> = Arc<
    dyn Fn(&mut dyn Caller<E, T>, &[CoreVal], &mut [CoreVal]) -> Result<(), HostError>
        + Send
        + Sync,
>;

/// A host function to define once, for every store of an engine: see
/// [`Engine::define_funcs`].
pub struct HostFuncDef<E: Engine, T> {
    /// Its core signature.
    pub ty: CoreFuncType,
    /// Its body.
    pub func: HostFunc<E, T>,
    /// Whether it may return [`HostError::Suspend`]. If not, an engine may
    /// run it as a plain synchronous call (wasmtime: no future, no
    /// allocation per call); if it suspends anyway, the guest traps.
    pub may_suspend: bool,
}

/// A small buffer of values that lives on the stack when it fits: the
/// backends use it for a host call's arguments and results (as
/// [`CoreVals`] and as their engine's own values), so a call with a few
/// scalars allocates nothing.
pub struct SmallVals<V> {
    inline: [V; SMALL_VALS],
    heap: Vec<V>,
    len: usize,
}

/// How many values a [`SmallVals`] holds without allocating: the canonical
/// ABI passes at most 16 flat parameters (plus a return pointer) to a
/// lowered import, and returns at most one.
pub const SMALL_VALS: usize = 18;

/// Core values of a host call: see [`SmallVals`].
pub type CoreVals = SmallVals<CoreVal>;

impl<V: Clone> SmallVals<V> {
    /// `n` copies of `zero`.
    pub fn filled(n: usize, zero: V) -> Self {
        let heap = if n > SMALL_VALS {
            vec![zero.clone(); n]
        } else {
            Vec::new()
        };
        SmallVals {
            inline: std::array::from_fn(|_| zero.clone()),
            heap,
            len: n,
        }
    }

    /// The `n` values of `iter` (at most `n` are taken; `zero` fills the
    /// rest); fails with the first error `iter` yields.
    pub fn try_collect<Err>(
        n: usize,
        zero: V,
        iter: impl Iterator<Item = Result<V, Err>>,
    ) -> Result<Self, Err> {
        let mut vals = Self::filled(n, zero);
        for (slot, v) in vals.iter_mut().zip(iter) {
            *slot = v?;
        }
        Ok(vals)
    }
}

impl CoreVals {
    /// `n` zeros.
    pub fn zeros(n: usize) -> CoreVals {
        SmallVals::filled(n, CoreVal::I32(0))
    }
}

impl<V> std::ops::Deref for SmallVals<V> {
    type Target = [V];
    fn deref(&self) -> &[V] {
        if self.len > SMALL_VALS {
            &self.heap
        } else {
            &self.inline[..self.len]
        }
    }
}

impl<V> std::ops::DerefMut for SmallVals<V> {
    fn deref_mut(&mut self) -> &mut [V] {
        if self.len > SMALL_VALS {
            &mut self.heap
        } else {
            &mut self.inline[..self.len]
        }
    }
}

/// How deep a store is in calls that must finish without suspending (a
/// realloc, a post-return, a destructor, and whatever runs inside one),
/// which every backend keeps in its store: a host function that asks to
/// suspend inside one traps, with [`Nesting::may_suspend`]'s message.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Nesting(u32);

impl Nesting {
    /// How many nested calls may run inside one another. Each one is a
    /// host function calling back into the guest, so each costs native
    /// stack (the interpreter's and the host's frames) or a fiber stack
    /// (wasmtime); a guest can nest without end (a realloc that calls an
    /// import whose result needs its realloc, a destructor that drops a
    /// resource it just made), which would overflow the host's stack. Real
    /// guests nest a few deep (an adapter, then a realloc).
    pub const MAX_DEPTH: u32 = 32;

    /// A nested call starts; a trap if [`Nesting::MAX_DEPTH`] are running
    /// already (the call must then not run, and [`Nesting::leave`] must
    /// not be called for it).
    pub fn enter(&mut self) -> Result<(), Trap> {
        if self.0 >= Self::MAX_DEPTH {
            return Err(nested_too_deep());
        }
        self.0 += 1;
        Ok(())
    }

    /// The nested call [`Nesting::enter`] started has ended.
    pub fn leave(&mut self) {
        self.0 = self.0.saturating_sub(1);
    }

    /// Whether a nested call is running.
    pub fn is_nested(&self) -> bool {
        self.0 > 0
    }

    /// Whether a host function may suspend now: a trap if a nested call is
    /// running.
    pub fn may_suspend(&self) -> Result<(), Trap> {
        if self.is_nested() {
            return Err(Trap::host(
                "a host function cannot block inside a realloc, post-return or destructor",
            ));
        }
        Ok(())
    }
}

/// The trap of a guest that nests calls through the host more than
/// [`Nesting::MAX_DEPTH`] deep: a stack overflow as the guest sees it, so
/// its message starts as a core wasm one does, then says which stack.
pub fn nested_too_deep() -> Trap {
    Trap::new(
        crate::error::TrapKind::Wasm,
        format!(
            "{}: guest calls through the host nested more than {} deep",
            crate::error::WasmTrap::StackOverflow.message(),
            Nesting::MAX_DEPTH
        ),
    )
}

/// The trap of a host function declared never to suspend
/// ([`HostFuncDef::may_suspend`] false) that asked to: a host bug.
pub fn suspended_though_declared_not_to() -> Trap {
    Trap::host("host bug: a host function declared never to block asked to")
}

/// A store-bound item: what a core module imports and exports.
pub enum Extern<E: Engine> {
    /// A function.
    Func(E::Func),
    /// A linear memory.
    Memory(E::Memory),
    /// A table.
    Table(E::Table),
    /// A global.
    Global(E::Global),
}

impl<E: Engine> Clone for Extern<E> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<E: Engine> Copy for Extern<E> {}

impl<E: Engine> fmt::Debug for Extern<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Extern::Func(_) => "func",
            Extern::Memory(_) => "memory",
            Extern::Table(_) => "table",
            Extern::Global(_) => "global",
        })
    }
}

/// Limits a store enforces on what its guest may grow and how long it may
/// run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreLimits {
    /// Wall-clock time the guest may compute, counted from the store's
    /// creation (a request's start); `None`: unlimited. Every guest call
    /// of the store counts against it: instantiation and start functions,
    /// the export, and what runs inside or after it (reallocs,
    /// post-returns, destructors, component-to-component calls; see
    /// [`Engine::call_nested`] and [`Caller::call_then`]). Guests run in slices
    /// (wasmtime: epoch ticks, wasmi: fuel) and yield to the executor between
    /// slices, so a busy guest never starves the others on its thread; past
    /// the deadline, the call traps with [`WasmTrap::OutOfTime`].
    ///
    /// [`WasmTrap::OutOfTime`]: crate::error::WasmTrap::OutOfTime
    pub time_budget: Option<std::time::Duration>,
    /// Largest size of one linear memory, in bytes.
    pub max_memory_bytes: usize,
    /// Largest number of elements of one table.
    pub max_table_elements: usize,
    /// Most instances, memories and tables one store may create.
    pub max_instances: usize,
}

impl StoreLimits {
    /// The default memory limit: 256 MiB.
    pub const DEFAULT_MAX_MEMORY_BYTES: usize = 256 << 20;
    /// The default table limit.
    pub const DEFAULT_MAX_TABLE_ELEMENTS: usize = 1 << 20;
    /// The default count of instances, memories and tables.
    pub const DEFAULT_MAX_INSTANCES: usize = 1_000;

    /// When a store created now must stop its guest: now plus the time
    /// budget (`None`: never).
    pub fn deadline_from_now(&self) -> Option<std::time::Instant> {
        self.time_budget.map(|b| std::time::Instant::now() + b)
    }
}

impl Default for StoreLimits {
    fn default() -> Self {
        StoreLimits {
            time_budget: None,
            max_memory_bytes: Self::DEFAULT_MAX_MEMORY_BYTES,
            max_table_elements: Self::DEFAULT_MAX_TABLE_ELEMENTS,
            max_instances: Self::DEFAULT_MAX_INSTANCES,
        }
    }
}

/// What one store allocates at most: sizes an engine's instance pool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Footprint {
    /// Core instances.
    pub instances: u32,
    /// Linear memories defined (not imported) by those instances.
    pub memories: u32,
    /// Tables defined by those instances.
    pub tables: u32,
    /// The most memories one core module defines.
    pub memories_per_module: u32,
    /// The most tables one core module defines.
    pub tables_per_module: u32,
    /// The largest initial size of one table.
    pub table_elements: u64,
}

/// An instance pool: memories, tables, instances and stacks allocated once,
/// when the engine starts, and reused by every store. Stores then cost no
/// `mmap`/`munmap`, and memories start from copy-on-write images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolConfig {
    /// Stores alive at once (requests in flight).
    pub max_stores: u32,
    /// What each store allocates (see `Component::footprint`).
    pub per_store: Footprint,
    /// Largest size of one linear memory, in bytes.
    pub max_memory_bytes: usize,
    /// Largest number of elements of one table.
    pub max_table_elements: usize,
}

impl PoolConfig {
    /// Fibers (native stacks) each store may use at once: its call, and the
    /// nested calls a host function makes (a realloc, a destructor, a
    /// component-to-component call and what that one calls).
    pub const STACKS_PER_STORE: u32 = 4;
}

/// What a compile cache did: see [`Engine::cache_stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Modules loaded from the cache.
    pub hits: usize,
    /// Modules compiled, because the cache had no usable entry for them
    /// (none yet, or one that was stale or corrupt, which is ignored).
    pub misses: usize,
}

/// How to build an engine. A backend uses what applies to it: the
/// interpreter allocates on demand and compiles nothing, so it ignores the
/// pool and the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    /// Preallocate an instance pool (`None`: allocate per store).
    pub pool: Option<PoolConfig>,
    /// Keep compiled code in this directory, keyed by the module's bytes
    /// and the engine's configuration, so a restart does not recompile
    /// (`None`: no cache).
    pub cache_dir: Option<std::path::PathBuf>,
    /// How much stack one guest call may use, in bytes, on every engine:
    /// recursion past it traps with [`WasmTrap::StackOverflow`] (never a
    /// host stack overflow). wasmtime counts the native stack its compiled
    /// code uses; the interpreter keeps its own stacks on the heap and is
    /// given a value stack of this size and as many call frames as
    /// wasmtime's smallest frames fit in it, so that one guest recurses
    /// about as deep on both (see each backend's docs). With the default,
    /// a small recursive function goes about 16 000 deep on each.
    ///
    /// [`WasmTrap::StackOverflow`]: crate::error::WasmTrap::StackOverflow
    pub max_wasm_stack: usize,
}

impl EngineConfig {
    /// The default stack of a guest call: wasmtime's default, 512 KiB.
    pub const DEFAULT_MAX_WASM_STACK: usize = 512 << 10;
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            pool: None,
            cache_dir: None,
            max_wasm_stack: Self::DEFAULT_MAX_WASM_STACK,
        }
    }
}

/// A core-wasm engine.
///
/// Handles (`Func`, `Memory`, …) are plain `Copy` values owned by a store;
/// using one with another store is a bug the backend may report by panicking,
/// as both engines do, so the component layer never mixes stores.
pub trait Engine: Clone + Send + Sync + 'static {
    /// A compiled core module, shareable between stores.
    type Module: Clone + Send + Sync + 'static;
    /// A store holding instances and the host's data `T`.
    type Store<T: Send + 'static>: Send + 'static;
    /// An instance in a store.
    type Instance: Copy + Send + Sync + 'static;
    /// A function in a store.
    type Func: Copy + Send + Sync + 'static;
    /// A linear memory in a store.
    type Memory: Copy + Send + Sync + 'static;
    /// A table in a store.
    type Table: Copy + Send + Sync + 'static;
    /// A global in a store.
    type Global: Copy + Send + Sync + 'static;

    /// A short name for logs: `jit` or `interp`.
    fn name(&self) -> &'static str;

    /// How many modules this engine loaded from its compile cache and how
    /// many it compiled (and stored there) since it started; `None` when it
    /// has no cache.
    fn cache_stats(&self) -> Option<CacheStats> {
        None
    }

    /// Compile (or, for an interpreter, validate and translate) a module.
    fn compile(&self, wasm: &[u8]) -> Result<Self::Module, Error>;

    /// A fresh store owning `data`.
    fn new_store<T: Send + 'static>(&self, data: T, limits: StoreLimits) -> Self::Store<T>;

    /// Restart the store's time budget for the calls that follow: the
    /// deadline becomes now + `budget` (`None`: no deadline). A store that
    /// serves requests one after another (instance reuse) gives each
    /// request the whole budget.
    fn set_time_budget<T: Send + 'static>(
        store: &mut Self::Store<T>,
        budget: Option<std::time::Duration>,
    );

    /// Whether the store's [`StoreLimits`] refused a memory or table
    /// growth since the store was made: a guest that got `-1` from
    /// `memory.grow` may carry on, but its instance is not one to reuse.
    fn limit_hit<T: Send + 'static>(store: &Self::Store<T>) -> bool;

    /// The store's data.
    fn data<T: Send + 'static>(store: &Self::Store<T>) -> &T;

    /// The store's data, mutably.
    fn data_mut<T: Send + 'static>(store: &mut Self::Store<T>) -> &mut T;

    /// Drop the store (its instances, memories and host functions) and
    /// keep its data.
    fn into_data<T: Send + 'static>(store: Self::Store<T>) -> T;

    /// Define `func` in `store` with signature `ty`.
    ///
    /// This costs a type registration and an allocation per store; for
    /// functions every store needs, [`Engine::define_funcs`] once and
    /// [`Engine::instantiate_funcs`] per store is the fast path.
    fn host_func<T: Send + 'static>(
        store: &mut Self::Store<T>,
        ty: &CoreFuncType,
        func: HostFunc<Self, T>,
    ) -> Self::Func;

    /// Host functions defined once for every store of this engine (the
    /// pre-link step), with their types registered and their closures
    /// shared, so that a store pays only for a handle to each.
    type FuncDefs<T: Send + 'static>: Send + Sync + 'static;

    /// Define `funcs` once, for many stores.
    fn define_funcs<T: Send + 'static>(
        &self,
        funcs: Vec<HostFuncDef<Self, T>>,
    ) -> Result<Self::FuncDefs<T>, Error>;

    /// Handles in `store` to every function of `defs`, in the order they
    /// were defined, appended to `out`.
    fn instantiate_funcs<T: Send + 'static>(
        store: &mut Self::Store<T>,
        defs: &Self::FuncDefs<T>,
        out: &mut Vec<Self::Func>,
    ) -> Result<(), Error>;

    /// Instantiate `module` with `imports` given in the module's import order.
    /// Runs the module's start function, if any.
    fn instantiate<'a, T: Send + 'static>(
        store: &'a mut Self::Store<T>,
        module: &'a Self::Module,
        imports: &'a [Extern<Self>],
    ) -> impl Future<Output = Result<Self::Instance, Error>> + Send + 'a;

    /// The export `name` of `instance`.
    fn export<T: Send + 'static>(
        store: &mut Self::Store<T>,
        instance: Self::Instance,
        name: &str,
    ) -> Option<Extern<Self>>;

    /// The signature of `func`.
    fn func_type<T: Send + 'static>(store: &Self::Store<T>, func: Self::Func) -> CoreFuncType;

    /// Call `func`, suspending whenever one of its host functions asks to.
    fn call<'a, T: Send + 'static>(
        store: &'a mut Self::Store<T>,
        func: Self::Func,
        args: &'a [CoreVal],
        results: &'a mut [CoreVal],
    ) -> impl Future<Output = Result<(), Trap>> + Send + 'a;

    /// Call `func` from host code outside any guest call, as a call that
    /// must finish without suspending (a post-return): it runs in time
    /// slices and yields to the executor between them, as [`Engine::call`]
    /// does, and traps at the store's deadline; a host function that asks
    /// to suspend inside it traps, as in [`Engine::call_nested`].
    fn call_unsuspending<'a, T: Send + 'static>(
        store: &'a mut Self::Store<T>,
        func: Self::Func,
        args: &'a [CoreVal],
        results: &'a mut [CoreVal],
    ) -> impl Future<Output = Result<(), Trap>> + Send + 'a;

    /// Call `func` to completion without suspending, as [`Caller::call`]
    /// (from a host function, or from host code that cannot await).
    ///
    /// Such a call cannot yield to the executor: it is synchronous code
    /// that must return the guest's results. It runs in time slices all
    /// the same, checks the store's deadline between them (and traps with
    /// [`WasmTrap::OutOfTime`] past it), and once it has used up a whole
    /// slice, moves off the executor (`tokio::task::block_in_place`, on a
    /// multi-thread runtime), so that a guest that spins in it holds up
    /// only its own request. Nested calls may be [`Nesting::MAX_DEPTH`]
    /// deep.
    ///
    /// [`WasmTrap::OutOfTime`]: crate::error::WasmTrap::OutOfTime
    fn call_nested<T: Send + 'static>(
        store: &mut Self::Store<T>,
        func: Self::Func,
        args: &[CoreVal],
        results: &mut [CoreVal],
    ) -> Result<(), Trap>;

    /// The bytes of `memory` and the store's data.
    fn memory_and_data<T: Send + 'static>(
        store: &mut Self::Store<T>,
        memory: Self::Memory,
    ) -> (&mut [u8], &mut T);
}

/// A [`Caller`] over a whole store, for host code running between calls
/// (lowering arguments, lifting results, running destructors).
pub struct StoreCaller<'a, E: Engine, T: Send + 'static>(pub &'a mut E::Store<T>);

impl<E: Engine, T: Send + 'static> Caller<E, T> for StoreCaller<'_, E, T> {
    fn data(&self) -> &T {
        E::data(self.0)
    }
    fn data_mut(&mut self) -> &mut T {
        E::data_mut(self.0)
    }
    fn memory_and_data(&mut self, memory: E::Memory) -> (&mut [u8], &mut T) {
        E::memory_and_data(self.0, memory)
    }
    fn call(
        &mut self,
        func: E::Func,
        args: &[CoreVal],
        results: &mut [CoreVal],
    ) -> Result<(), Trap> {
        E::call_nested(self.0, func, args, results)
    }
    /// Outside any guest call there is no host function to return into,
    /// so no call to hand on: that is a host bug.
    fn call_then(&mut self, _: GuestCall<E, T>) -> HostError {
        HostError::Trap(Trap::host(
            "host bug: a guest call was handed on outside a host function",
        ))
    }
}
