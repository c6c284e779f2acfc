//! Components: loading, linking against the host, instantiating, calling.
//!
//! ```text
//! Component::new(&engine, bytes)        parse + validate + plan + compile, once
//! Linker::new() + define_func/resource  the host's functions and resources
//! linker.instantiate_pre(&component)    type-check imports, resolve them, once
//! pre.instantiate(&mut store).await     per request: a fresh instance
//! instance.func(&store, "iface#name")   a lifted export
//! func.call(&mut store, &args).await    lower, call, lift, post-return
//! ```

mod parse;
mod plan;
mod resources;
mod runtime;

use std::collections::HashMap;
use std::sync::Arc;

use crate::abi::Val;
use crate::engine::{
    Caller, CoreVal, Engine, Extern, Footprint, HostError, HostFunc, HostFuncDef, StoreLimits,
};
use crate::error::{Error, Result, Trap};
use crate::names::{semver_compatible, semver_track};
use crate::types::{FuncType, ResourceType};
use plan::{CoreDef, ExportDef, FuncDef, LiftedFunc, PlanBody};
use runtime::{ResolvedOptions, RuntimeInstance};

pub use parse::Producer;
pub use resources::MAX_HANDLES;
pub use runtime::{HostCall, StoreData};

/// A compiled component: its plan and core modules, shareable between
/// stores and threads.
pub struct Component<E: Engine> {
    inner: Arc<ComponentInner<E>>,
}

impl<E: Engine> Clone for Component<E> {
    fn clone(&self) -> Self {
        Component {
            inner: self.inner.clone(),
        }
    }
}

pub(crate) struct ComponentInner<E: Engine> {
    engine: E,
    modules: Vec<E::Module>,
    plan: PlanBody,
    footprint: Footprint,
    producers: Vec<Producer>,
}

/// An import of a component: a function or a resource type the host must
/// provide.
#[derive(Debug, Clone)]
pub enum ImportItem<'a> {
    /// A function `name` of `interface` (`None`: imported at top level).
    Func {
        /// The interface, e.g. `wasi:http/types@0.2.12`.
        interface: Option<&'a str>,
        /// The function's name, e.g. `[method]fields.append`.
        name: &'a str,
        /// Its type.
        ty: &'a FuncType,
    },
    /// A resource type.
    Resource {
        /// The interface.
        interface: Option<&'a str>,
        /// The resource's name.
        name: &'a str,
        /// Its identity.
        ty: &'a ResourceType,
    },
}

impl<E: Engine> Component<E> {
    /// Validate, plan and compile a component.
    ///
    /// Every core module is compiled here, once; instantiating is then only
    /// a matter of running the plan.
    pub fn new(engine: &E, bytes: &[u8]) -> Result<Self> {
        let parsed = parse::parse(bytes)?;
        let plan = plan::plan(&parsed)?;
        let mut modules = Vec::with_capacity(parsed.modules.len());
        for (i, m) in parsed.modules.iter().enumerate() {
            let module = engine
                .compile(&bytes[m.range.clone()])
                .map_err(|e| e.context(format_args!("core module {i}")))?;
            modules.push(module);
        }
        Ok(Component {
            inner: Arc::new(ComponentInner {
                engine: engine.clone(),
                modules,
                footprint: footprint(&parsed.modules, &plan),
                plan,
                producers: parsed.producers,
            }),
        })
    }

    /// What made the component, from its `producers` section (e.g.
    /// `processed-by` `ComponentizeJS` `0.23.0`): empty when it has none.
    pub fn producers(&self) -> &[Producer] {
        &self.inner.producers
    }

    /// The functions and resources this component imports.
    pub fn imports(&self) -> impl Iterator<Item = ImportItem<'_>> {
        let plan = &self.inner.plan;
        let resources = plan
            .imported_resources
            .iter()
            .map(|(i, n, t)| ImportItem::Resource {
                interface: i.as_deref(),
                name: n,
                ty: t,
            });
        let funcs = plan.imports.iter().map(|i| ImportItem::Func {
            interface: i.instance.as_deref(),
            name: &i.name,
            ty: &i.ty,
        });
        resources.chain(funcs)
    }

    /// The exported functions, as `name` or `interface#name`, with types.
    pub fn exported_funcs(&self) -> Vec<(String, FuncType)> {
        let mut out = Vec::new();
        for (name, item) in &self.inner.plan.exports {
            match item {
                ExportDef::Func(FuncDef::Lifted(l)) => out.push((name.clone(), l.ty.clone())),
                ExportDef::Instance(items) => {
                    for (n, i) in items.iter() {
                        if let ExportDef::Func(FuncDef::Lifted(l)) = i {
                            out.push((format!("{name}#{n}"), l.ty.clone()));
                        }
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// What one instance of this component allocates.
    pub fn footprint(&self) -> Footprint {
        self.inner.footprint
    }

    /// How many core modules and core instances the component has.
    pub fn core_counts(&self) -> (usize, usize) {
        (
            self.inner.modules.len(),
            self.inner.plan.instantiations.len(),
        )
    }
}

/// What one instance of `bytes` (a component) allocates, read without
/// compiling it: to size an engine's instance pool before compiling.
pub fn footprint_of(bytes: &[u8]) -> Result<Footprint> {
    let parsed = parse::parse(bytes)?;
    let plan = plan::plan(&parsed)?;
    Ok(footprint(&parsed.modules, &plan))
}

fn footprint(modules: &[parse::ModuleDef], plan: &PlanBody) -> Footprint {
    let mut f = Footprint {
        instances: plan.instantiations.len() as u32,
        ..Footprint::default()
    };
    for inst in &plan.instantiations {
        let m = modules[inst.module].footprint;
        f.memories += m.memories;
        f.tables += m.tables;
        f.memories_per_module = f.memories_per_module.max(m.memories);
        f.tables_per_module = f.tables_per_module.max(m.tables);
        f.table_elements = f.table_elements.max(m.table_elements);
    }
    f
}

/// A dynamically typed host function: the store's data and the lifted
/// arguments in, the result (if the type has one) out.
pub type DynHostFn<D> = Arc<dyn Fn(&mut D, &[Val]) -> Result<Option<Val>, HostError> + Send + Sync>;

/// A host resource's destructor: runs when the guest drops its last owned
/// handle, with the resource's representation. It may trap, as wasi's
/// "dropping a parent before its children traps" asks.
pub type HostDtor<D> = Arc<dyn Fn(&mut D, u32) -> Result<(), Trap> + Send + Sync>;

/// A typed host function, as [`Linker::define_typed`] wraps it: lifts its
/// arguments straight from core values into Rust types and lowers its
/// result the same way, with no [`Val`] in between.
pub type TypedHostFn<D> = Arc<
    dyn Fn(&mut dyn HostCall<D>, &[CoreVal], &mut Vec<CoreVal>) -> Result<(), HostError>
        + Send
        + Sync,
>;

/// How a host function is implemented.
pub(crate) enum HostImpl<D> {
    Dynamic(DynHostFn<D>),
    Typed(TypedHostFn<D>),
}

impl<D> Clone for HostImpl<D> {
    fn clone(&self) -> Self {
        match self {
            HostImpl::Dynamic(f) => HostImpl::Dynamic(f.clone()),
            HostImpl::Typed(f) => HostImpl::Typed(f.clone()),
        }
    }
}

struct LinkerFunc<D> {
    ty: FuncType,
    func: HostImpl<D>,
    /// Whether it may return [`HostError::Suspend`]. A function that never
    /// does runs as a plain synchronous call on every engine, the cheapest
    /// kind (on wasmtime an async host function costs an allocation per
    /// call).
    may_suspend: bool,
}

/// The host's side of linking: the functions and resource types it provides,
/// by interface and name.
pub struct Linker<D> {
    funcs: HashMap<(String, String), LinkerFunc<D>>,
    resources: HashMap<ResourceType, Option<HostDtor<D>>>,
}

impl<D> Default for Linker<D> {
    fn default() -> Self {
        Linker {
            funcs: HashMap::new(),
            resources: HashMap::new(),
        }
    }
}

impl<D: Send + 'static> Linker<D> {
    /// An empty linker.
    pub fn new() -> Self {
        Self::default()
    }

    /// Define resource `name` of `interface` (`""` for a top-level import),
    /// with an optional destructor, and return its type for use in function
    /// types.
    pub fn define_resource(
        &mut self,
        interface: &str,
        name: &str,
        dtor: Option<HostDtor<D>>,
    ) -> ResourceType {
        let ty = ResourceType::host(interface, name);
        self.resources.insert(ty.clone(), dtor);
        ty
    }

    /// Define function `name` of `interface` (`""` for a top-level import).
    /// Guests importing any semver-compatible version of `interface` bind to
    /// it.
    pub fn define_func(
        &mut self,
        interface: &str,
        name: &str,
        ty: FuncType,
        func: impl Fn(&mut D, &[Val]) -> Result<Option<Val>, HostError> + Send + Sync + 'static,
    ) {
        self.funcs.insert(
            (semver_track(interface), name.to_string()),
            LinkerFunc {
                ty,
                func: HostImpl::Dynamic(Arc::new(func)),
                may_suspend: true,
            },
        );
    }

    /// Declare whether the function `name` of `interface`, already defined,
    /// may ask to suspend ([`HostError::Suspend`]); every function may until
    /// told otherwise. One declared never to suspend is called the cheapest
    /// way the engine has; if it asks to suspend anyway, the guest traps.
    pub fn set_may_suspend(&mut self, interface: &str, name: &str, may: bool) -> Result<()> {
        let key = (semver_track(interface), name.to_string());
        match self.funcs.get_mut(&key) {
            Some(f) => {
                f.may_suspend = may;
                Ok(())
            }
            None => Err(Error::link(format!(
                "`{}` is not defined",
                qualified(Some(interface), name)
            ))),
        }
    }

    /// Define function `name` of `interface` with Rust types: `P` is the
    /// tuple of its parameters, `R` its result (`()` for none). Values move
    /// between guest memory and Rust without boxing. `ty` (typically from
    /// WIT) names the parameters; it must agree with `P` and `R`.
    pub fn define_typed<P, R>(
        &mut self,
        interface: &str,
        name: &str,
        ty: FuncType,
        func: impl Fn(&mut D, P) -> Result<R, HostError> + Send + Sync + 'static,
    ) -> Result<()>
    where
        P: crate::abi::Lift + 'static,
        R: crate::abi::Lower + 'static,
    {
        let params = crate::types::Type::Tuple(ty.params_tuple().clone());
        let result_ok = match ty.result() {
            None => R::ty() == crate::types::Type::Tuple(crate::types::Tuple::new([])),
            Some(t) => R::ty() == *t,
        };
        if P::ty() != params || !result_ok {
            return Err(Error::type_mismatch(format!(
                "host function `{}` is declared {ty}, but its Rust types are {} -> {}",
                qualified(Some(interface), name),
                P::ty(),
                R::ty()
            )));
        }
        let typed: TypedHostFn<D> = Arc::new(move |cx, args, out| {
            let params: P = crate::abi::typed::lift_args(cx, args)?;
            let result = func(cx.data(), params)?;
            let retptr = crate::abi::typed::retptr::<R>(args)?;
            crate::abi::typed::lower_result(cx, &result, retptr, out)?;
            Ok(())
        });
        self.funcs.insert(
            (semver_track(interface), name.to_string()),
            LinkerFunc {
                ty,
                func: HostImpl::Typed(typed),
                may_suspend: true,
            },
        );
        Ok(())
    }

    /// Check `component`'s imports against this linker and resolve them,
    /// once, for fast instantiation.
    pub fn instantiate_pre<E: Engine>(
        &self,
        component: &Component<E>,
    ) -> Result<InstancePre<E, D>> {
        let plan = &component.inner.plan;
        for (interface, name, ty) in &plan.imported_resources {
            if !self.resources.contains_key(ty) {
                return Err(self.unsatisfied(interface.as_deref(), name, "resource"));
            }
        }
        for name in &plan.imported_instances {
            if let Some(found) = self.provides(None, name)
                && found != "instance"
            {
                return Err(self.unsatisfied(None, name, "instance"));
            }
        }
        let mut host_funcs = Vec::with_capacity(plan.imports.len());
        let mut may_suspend = Vec::with_capacity(plan.imports.len());
        for import in &plan.imports {
            let key = (
                semver_track(import.instance.as_deref().unwrap_or("")),
                import.name.clone(),
            );
            let what = qualified(import.instance.as_deref(), &import.name);
            let Some(def) = self.funcs.get(&key) else {
                return Err(self.unsatisfied(import.instance.as_deref(), &import.name, "function"));
            };
            if !def.ty.same_signature(&import.ty) {
                return Err(Error::link(format!(
                    "component imports `{what}` as {}, but the host provides {}",
                    import.ty, def.ty
                )));
            }
            host_funcs.push(def.func.clone());
            may_suspend.push(def.may_suspend);
        }
        let host_dtors = self
            .resources
            .iter()
            .filter_map(|(t, d)| Some((t.clone(), d.clone()?)))
            .collect();
        // The pre-link step: every trampoline is defined once, for every
        // store, and finds its instance through the store's data.
        let id = NEXT_PRE_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let defs = plan
            .trampolines
            .iter()
            .enumerate()
            .map(|(t, trampoline)| HostFuncDef {
                ty: trampoline.core_type(plan),
                func: trampoline_func::<E, D>(move |data| runtime::instance_of(data, id), t),
                // Resource built-ins never suspend; a host import may, and
                // so may a component-to-component call (it hands its engine
                // the callee's call, see `runtime::adapter`).
                may_suspend: match trampoline {
                    plan::Trampoline::LowerHost { import, .. } => may_suspend[*import as usize],
                    plan::Trampoline::Adapter { .. } => true,
                    _ => false,
                },
            })
            .collect();
        let funcs = component.inner.engine.define_funcs(defs)?;
        Ok(InstancePre {
            inner: Arc::new(InstancePreInner {
                id,
                component: component.clone(),
                plan: PlanRef(component.inner.clone()),
                host_funcs,
                host_dtors,
                funcs,
            }),
        })
    }

    /// Instantiate `component` in `store`: [`Linker::instantiate_pre`] then
    /// [`InstancePre::instantiate`].
    pub async fn instantiate<E: Engine>(
        &self,
        store: &mut Store<E, D>,
        component: &Component<E>,
    ) -> Result<Instance> {
        self.instantiate_pre(component)?.instantiate(store).await
    }
}

impl<D: Send + 'static> Linker<D> {
    /// What this linker defines as `name` of `interface` (`None`: at the
    /// top level), in the words of wasmtime's link errors: `func`,
    /// `resource` or (a top-level name under which functions or resources
    /// are defined) `instance`.
    fn provides(&self, interface: Option<&str>, name: &str) -> Option<&'static str> {
        let track = semver_track(interface.unwrap_or(""));
        if self.funcs.contains_key(&(track.clone(), name.to_string())) {
            return Some("func");
        }
        if self
            .resources
            .contains_key(&ResourceType::host(interface.unwrap_or(""), name))
        {
            return Some("resource");
        }
        let as_interface = semver_track(name);
        let is_instance = interface.is_none()
            && (self.funcs.keys().any(|(i, _)| *i == as_interface)
                || self
                    .resources
                    .keys()
                    .any(|t| t.host_interface() == Some(&as_interface)));
        is_instance.then_some("instance")
    }

    /// The link error of an import `name` of `interface`, wanted as a
    /// `wanted` (`function`, `resource`, `instance`), that this linker
    /// does not define as one: the words component-model test suites
    /// expect, `was not found` or `expected resource found func`.
    fn unsatisfied(&self, interface: Option<&str>, name: &str, wanted: &str) -> Error {
        let what = qualified(interface, name);
        match self.provides(interface, name) {
            Some(found) => Error::link(format!(
                "component import `{what}`: expected {wanted} found {found}: the host defines \
                 `{what}` as a {}",
                match found {
                    "func" => "function",
                    other => other,
                }
            )),
            None => Error::link(format!(
                "component import `{what}` was not found: the host does not provide this {wanted}"
            )),
        }
    }
}

fn qualified(interface: Option<&str>, name: &str) -> String {
    match interface {
        Some(i) => format!("{i}#{name}"),
        None => name.to_string(),
    }
}

/// The plan of a component, kept alive by its instances.
pub(crate) struct PlanRef<E: Engine>(Arc<ComponentInner<E>>);

impl<E: Engine> std::ops::Deref for PlanRef<E> {
    type Target = PlanBody;
    fn deref(&self) -> &PlanBody {
        &self.0.plan
    }
}

/// A component linked against a host, ready to instantiate many times.
pub struct InstancePre<E: Engine, D: Send + 'static> {
    inner: Arc<InstancePreInner<E, D>>,
}

impl<E: Engine, D: Send + 'static> Clone for InstancePre<E, D> {
    fn clone(&self) -> Self {
        InstancePre {
            inner: self.inner.clone(),
        }
    }
}

static NEXT_PRE_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The host function of trampoline `t`, finding its runtime instance in the
/// store's data with `rt`.
fn trampoline_func<E: Engine, D: Send + 'static>(
    rt: impl Fn(&StoreData<E, D>) -> std::result::Result<usize, Trap> + Send + Sync + 'static,
    t: usize,
) -> HostFunc<E, StoreData<E, D>> {
    Arc::new(
        move |caller: &mut dyn Caller<E, StoreData<E, D>>,
              args: &[CoreVal],
              results: &mut [CoreVal]| {
            let rt = rt(caller.data())?;
            runtime::run_trampoline(caller, rt, t, args, results)
        },
    )
}

pub(crate) struct InstancePreInner<E: Engine, D: Send + 'static> {
    /// Tells this pre's instances apart in a store.
    pub(crate) id: u64,
    component: Component<E>,
    pub(crate) plan: PlanRef<E>,
    pub(crate) host_funcs: Vec<HostImpl<D>>,
    pub(crate) host_dtors: HashMap<ResourceType, HostDtor<D>>,
    /// The plan's trampolines, defined once.
    funcs: E::FuncDefs<StoreData<E, D>>,
}

impl<E: Engine, D: Send + 'static> InstancePre<E, D> {
    /// The component this was made from.
    pub fn component(&self) -> &Component<E> {
        &self.inner.component
    }

    /// Instantiate in `store`: the per-request path.
    pub async fn instantiate(&self, store: &mut Store<E, D>) -> Result<Instance> {
        let pre = &self.inner;
        let plan = &pre.plan;
        let rt = E::data(&store.inner).instances.len();
        // The shared trampolines find their instance by this pre's id, so a
        // second instance of the same pre in one store gets its own (the
        // slow path: one host function per trampoline, made here).
        let shared = !E::data(&store.inner)
            .instances
            .iter()
            .any(|i| i.pre.id == pre.id);
        E::data_mut(&mut store.inner)
            .instances
            .push(RuntimeInstance {
                pre: pre.clone(),
                shared_funcs: shared,
                core_instances: Vec::with_capacity(plan.instantiations.len()),
                trampolines: Vec::with_capacity(plan.trampolines.len()),
                options: Vec::new(),
                callables: Vec::new(),
                tables: vec![Default::default(); plan.component_instances as usize],
                scopes: Vec::new(),
                entered: vec![false; plan.component_instances as usize],
                poisoned: false,
            });
        let mut trampolines = Vec::with_capacity(plan.trampolines.len());
        if shared {
            E::instantiate_funcs(&mut store.inner, &pre.funcs, &mut trampolines)?;
        } else {
            for (t, trampoline) in plan.trampolines.iter().enumerate() {
                let ty = trampoline.core_type(plan);
                let func = trampoline_func::<E, D>(move |_| Ok(rt), t);
                trampolines.push(E::host_func(&mut store.inner, &ty, func));
            }
        }
        E::data_mut(&mut store.inner).instances[rt].trampolines = trampolines;
        {
            let inst = &mut E::data_mut(&mut store.inner).instances[rt];
            inst.options = vec![None; plan.options.len()];
            inst.callables = vec![None; plan.callables.len()];
        }
        // Each option and callable is resolved as soon as the core
        // instances it names exist, so that a start function can call into
        // a component instance made before it (and lower with its own
        // memory and realloc).
        store.resolve_items(rt, plan, &plan.resolvable_after[0])?;
        let mut imports = Vec::new();
        for (k, inst) in plan.instantiations.iter().enumerate() {
            imports.clear();
            for def in &inst.imports {
                imports.push(store.resolve(rt, def)?);
            }
            let module = &pre.component.inner.modules[inst.module];
            let instance = E::instantiate(&mut store.inner, module, &imports).await?;
            E::data_mut(&mut store.inner).instances[rt]
                .core_instances
                .push(instance);
            store.resolve_items(rt, plan, &plan.resolvable_after[k + 1])?;
        }
        Ok(Instance {
            rt,
            store_id: store.id,
        })
    }
}

/// A store: the per-request world of a component instance, owning the
/// embedder's data `D`.
pub struct Store<E: Engine, D: Send + 'static> {
    inner: E::Store<StoreData<E, D>>,
    id: u64,
}

static NEXT_STORE_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl<E: Engine, D: Send + 'static> Store<E, D> {
    /// A store with the default [`StoreLimits`].
    pub fn new(engine: &E, data: D) -> Self {
        Self::with_limits(engine, data, StoreLimits::default())
    }

    /// A store with `limits`.
    pub fn with_limits(engine: &E, data: D, limits: StoreLimits) -> Self {
        let data = StoreData {
            data,
            instances: Vec::new(),
            results: Vec::new(),
        };
        Store {
            inner: engine.new_store(data, limits),
            id: NEXT_STORE_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// The embedder's data.
    pub fn data(&self) -> &D {
        &E::data(&self.inner).data
    }

    /// The embedder's data, mutably.
    pub fn data_mut(&mut self) -> &mut D {
        &mut E::data_mut(&mut self.inner).data
    }

    /// Drop the store, with every instance in it, and keep the embedder's
    /// data: to try again in a fresh store after a failed instantiation
    /// (which may leave a half-made instance behind).
    pub fn into_data(self) -> D {
        E::into_data(self.inner).data
    }

    /// Restart the time budget (see [`Engine::set_time_budget`]): for a
    /// store whose instance serves another call after the last one.
    pub fn set_time_budget(&mut self, budget: Option<std::time::Duration>) {
        E::set_time_budget(&mut self.inner, budget);
    }

    /// Whether a memory or table limit refused growth in this store (see
    /// [`Engine::limit_hit`]).
    pub fn limit_hit(&self) -> bool {
        E::limit_hit(&self.inner)
    }

    /// The engine store, for engine-specific settings.
    pub fn engine_store(&mut self) -> &mut E::Store<StoreData<E, D>> {
        &mut self.inner
    }

    fn resolve(&mut self, rt: usize, def: &CoreDef) -> Result<Extern<E>> {
        let inst = &E::data(&self.inner).instances[rt];
        match def {
            CoreDef::Trampoline(t) => Ok(Extern::Func(inst.trampolines[*t as usize])),
            CoreDef::Export { instance, name } => {
                let Some(&core) = inst.core_instances.get(*instance as usize) else {
                    return Err(Error::link(format!(
                        "core instance {instance} used before it was instantiated"
                    )));
                };
                E::export(&mut self.inner, core, name)
                    .ok_or_else(|| Error::link(format!("core instance has no export `{name}`")))
            }
        }
    }

    /// Resolve `items` of runtime instance `rt`, whose core instances now
    /// exist.
    fn resolve_items(
        &mut self,
        rt: usize,
        plan: &plan::PlanBody,
        items: &[plan::Resolvable],
    ) -> Result<()> {
        for item in items {
            match *item {
                plan::Resolvable::Options(i) => {
                    let o = &plan.options[i as usize];
                    let memory = match &o.memory {
                        Some(d) => match self.resolve(rt, d)? {
                            Extern::Memory(m) => Some(m),
                            _ => {
                                return Err(Error::link(
                                    "canonical option `memory` is not a memory",
                                ));
                            }
                        },
                        None => None,
                    };
                    let realloc = o
                        .realloc
                        .as_ref()
                        .map(|d| self.resolve_func(rt, d))
                        .transpose()?;
                    let post_return = o
                        .post_return
                        .as_ref()
                        .map(|d| self.resolve_func(rt, d))
                        .transpose()?;
                    E::data_mut(&mut self.inner).instances[rt].options[i as usize] =
                        Some(ResolvedOptions {
                            memory,
                            realloc,
                            post_return,
                            encoding: o.encoding,
                            instance: o.instance,
                        });
                }
                plan::Resolvable::Callable(i) => {
                    let f = self.resolve_func(rt, &plan.callables[i as usize])?;
                    E::data_mut(&mut self.inner).instances[rt].callables[i as usize] = Some(f);
                }
            }
        }
        Ok(())
    }

    fn resolve_func(&mut self, rt: usize, def: &CoreDef) -> Result<E::Func> {
        match self.resolve(rt, def)? {
            Extern::Func(f) => Ok(f),
            other => Err(Error::link(format!(
                "expected a core function, found a {other:?}"
            ))),
        }
    }
}

/// An instantiated component in a store.
#[derive(Debug, Clone, Copy)]
pub struct Instance {
    rt: usize,
    store_id: u64,
}

impl Instance {
    /// The exported function `name`: a top-level export, or
    /// `interface#name` for a function of an exported instance (the
    /// interface matched semver-compatibly).
    pub fn func<E: Engine, D: Send + 'static>(
        &self,
        store: &Store<E, D>,
        name: &str,
    ) -> Option<Func> {
        if store.id != self.store_id {
            return None;
        }
        let plan = &E::data(&store.inner).instances[self.rt].pre.plan;
        let lifted = match name.split_once('#') {
            None => plan.exports.iter().find(|(n, _)| n == name).map(|(_, e)| e),
            Some((iface, f)) => {
                let items = plan.exports.iter().find(|(n, _)| n == iface).or_else(|| {
                    plan.exports
                        .iter()
                        .find(|(n, _)| semver_compatible(n, iface))
                });
                match items {
                    Some((_, ExportDef::Instance(items))) => {
                        items.iter().find(|(n, _)| n == f).map(|(_, e)| e)
                    }
                    _ => None,
                }
            }
        };
        match lifted? {
            ExportDef::Func(FuncDef::Lifted(l)) => Some(Func {
                rt: self.rt,
                store_id: self.store_id,
                lifted: l.clone(),
            }),
            _ => None,
        }
    }
}

impl Instance {
    /// Whether any component instance of this instance still holds a
    /// handle (own or borrow) to a host resource: after a call returned,
    /// that is a resource the call's caller handed in or created, kept
    /// beyond it.
    pub fn holds_host_resources<E: Engine, D: Send + 'static>(&self, store: &Store<E, D>) -> bool {
        store.id == self.store_id
            && E::data(&store.inner).instances[self.rt]
                .tables
                .iter()
                .any(|t| t.holds_host_resources())
    }

    /// Drop an owned resource the host received from this instance, running
    /// its destructor if it has one (a host resource's destructor, or the
    /// defining component's).
    pub fn resource_drop<E: Engine, D: Send + 'static>(
        &self,
        store: &mut Store<E, D>,
        resource: crate::abi::Resource,
    ) -> Result<()> {
        if store.id != self.store_id {
            return Err(Error::type_mismatch("resource dropped with another store"));
        }
        let pre = E::data(&store.inner).instances[self.rt].pre.clone();
        if resource.ty.is_host() {
            if let Some(dtor) = pre.host_dtors.get(&resource.ty) {
                dtor(store.data_mut(), resource.rep)?;
            }
            return Ok(());
        }
        let Some(guest) = pre.plan.guest_resource(&resource.ty) else {
            return Err(Error::type_mismatch(format!(
                "resource {:?} does not belong to this instance",
                resource.ty
            )));
        };
        if let Some(dtor) = guest.dtor {
            let f = E::data(&store.inner).instances[self.rt].callable(dtor)?;
            E::call_nested(
                &mut store.inner,
                f,
                &[CoreVal::I32(resource.rep as i32)],
                &mut [],
            )?;
        }
        Ok(())
    }
}

/// A lifted function of an instance.
#[derive(Clone)]
pub struct Func {
    rt: usize,
    store_id: u64,
    lifted: Arc<LiftedFunc>,
}

impl Func {
    /// The function's type.
    pub fn ty(&self) -> &FuncType {
        &self.lifted.ty
    }

    /// Call the function with `args`; a guest trap is an [`Error`] whose
    /// [`Error::trap`] says what happened.
    pub async fn call<E: Engine, D: Send + 'static>(
        &self,
        store: &mut Store<E, D>,
        args: &[Val],
    ) -> Result<Option<Val>> {
        if store.id != self.store_id {
            return Err(Error::type_mismatch("function called with another store"));
        }
        runtime::call_lifted::<E, D>(&mut store.inner, self.rt, &self.lifted, args).await
    }
}
