//! Flattening a component into an instantiation plan.
//!
//! The planner walks the root component's definitions in order, keeping the
//! index spaces the binary refers to, and instantiates nested components
//! inline: what comes out is a flat list of core instantiations (in
//! dependency order) whose imports are resolved to earlier instances'
//! exports or to trampolines (lowered host imports, component-to-component
//! adapters, resource built-ins), plus the root's exports as lifted
//! functions. Running a plan per request is then a loop over that list.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use wasmparser::component_types::{
    ComponentAnyTypeId, ComponentDefinedType, ComponentDefinedTypeId, ComponentEntityType,
    ComponentFuncTypeId, ComponentValType, ResourceId,
};
use wasmparser::types::TypesRef;
use wasmparser::{
    CanonicalFunction, CanonicalOption, ComponentExternalKind, ComponentOuterAliasKind,
    ComponentTypeRef, ExternalKind, PrimitiveValType,
};

use super::parse::{AliasDef, ComponentDef, CoreInstanceDef, InstanceDef, Item, Parsed};
use crate::abi::StringEncoding;
use crate::error::{Error, Result};
use crate::types::{
    Enum, Flags, FuncType, List, OptionType, Record, ResourceType, ResultType, Tuple, Type, Variant,
};

/// A core item a core instantiation imports.
#[derive(Clone, Debug)]
pub(crate) enum CoreDef {
    /// Export `name` of the `instance`-th core instantiation of the plan.
    Export { instance: u32, name: Arc<str> },
    /// The `n`-th trampoline of the plan.
    Trampoline(u32),
}

/// One core instantiation: a module and its imports in the module's order.
pub(crate) struct CoreInstantiation {
    pub module: usize,
    pub imports: Vec<CoreDef>,
}

/// Canonical options of a `canon lift` or `canon lower`.
pub(crate) struct OptionsDef {
    pub memory: Option<CoreDef>,
    pub realloc: Option<CoreDef>,
    pub post_return: Option<CoreDef>,
    pub encoding: StringEncoding,
    /// The component instance whose handle tables apply.
    pub instance: u32,
}

/// A function a component lifted.
pub(crate) struct LiftedFunc {
    /// Index into [`PlanBody::callables`].
    pub core: u32,
    pub ty: FuncType,
    pub options: u32,
}

/// A component-level function.
#[derive(Clone)]
pub(crate) enum FuncDef {
    /// The `n`-th host import of the plan.
    Host(u32),
    /// A lifted core function.
    Lifted(Arc<LiftedFunc>),
}

/// A host-defined function the component imports.
pub(crate) struct HostImport {
    /// The interface it comes from, or `None` for a top-level import.
    pub instance: Option<String>,
    pub name: String,
    pub ty: FuncType,
}

/// What a core function made by `canon` does.
pub(crate) enum Trampoline {
    /// Call a host import.
    LowerHost { import: u32, options: u32 },
    /// Call another component's lifted function.
    Adapter {
        callee: Arc<LiftedFunc>,
        options: u32,
    },
    /// `resource.new`
    ResourceNew { ty: ResourceType, instance: u32 },
    /// `resource.rep`
    ResourceRep { ty: ResourceType, instance: u32 },
    /// `resource.drop`
    ResourceDrop { ty: ResourceType, instance: u32 },
}

impl Trampoline {
    /// The core signature of the trampoline.
    pub fn core_type(&self, plan: &PlanBody) -> crate::engine::CoreFuncType {
        use crate::engine::{CoreFuncType, CoreType::I32};
        match self {
            Trampoline::LowerHost { import, .. } => {
                crate::abi::lowered_core_type(&plan.imports[*import as usize].ty)
            }
            Trampoline::Adapter { callee, .. } => crate::abi::lowered_core_type(&callee.ty),
            Trampoline::ResourceNew { .. } | Trampoline::ResourceRep { .. } => {
                CoreFuncType::new([I32], [I32])
            }
            Trampoline::ResourceDrop { .. } => CoreFuncType::new([I32], []),
        }
    }
}

/// A resource type a component defines.
pub(crate) struct GuestResource {
    pub ty: ResourceType,
    pub instance: u32,
    /// Index into [`PlanBody::callables`].
    pub dtor: Option<u32>,
}

/// A component-level item.
#[derive(Clone)]
pub(crate) enum ItemDef<'a> {
    Func(FuncDef),
    Instance(Rc<Vec<(String, ItemDef<'a>)>>),
    /// A type; resources carry their identity.
    Type(Option<ResourceType>),
    Module(usize),
    Component(ComponentRef<'a>),
}

impl ItemDef<'_> {
    fn kind(&self) -> &'static str {
        match self {
            ItemDef::Func(_) => "function",
            ItemDef::Instance(_) => "instance",
            ItemDef::Type(_) => "type",
            ItemDef::Module(_) => "module",
            ItemDef::Component(_) => "component",
        }
    }
}

/// An export of the root component.
#[derive(Clone)]
pub(crate) enum ExportDef {
    Func(FuncDef),
    Instance(Arc<Vec<(String, ExportDef)>>),
    Type,
    /// A module or component definition: nothing a host can call.
    Other,
}

impl ExportDef {
    fn from_item(item: &ItemDef<'_>) -> ExportDef {
        match item {
            ItemDef::Func(f) => ExportDef::Func(f.clone()),
            ItemDef::Instance(items) => ExportDef::Instance(Arc::new(
                items
                    .iter()
                    .map(|(n, i)| (n.clone(), ExportDef::from_item(i)))
                    .collect(),
            )),
            ItemDef::Type(_) => ExportDef::Type,
            ItemDef::Module(_) | ItemDef::Component(_) => ExportDef::Other,
        }
    }
}

/// A component definition with the scope it was defined in, for outer
/// aliases.
#[derive(Clone)]
pub(crate) struct ComponentRef<'a> {
    def: &'a ComponentDef,
    scope: Rc<Scope<'a>>,
}

/// What a nested component can see of its enclosing components: their
/// modules, components and resource types as they were when it was defined.
struct Scope<'a> {
    modules: Vec<usize>,
    components: Vec<ComponentRef<'a>>,
    resources: HashMap<ResourceId, ResourceType>,
    parent: Option<Rc<Scope<'a>>>,
}

/// Everything a plan holds but its compiled modules.
#[derive(Default)]
pub(crate) struct PlanBody {
    pub instantiations: Vec<CoreInstantiation>,
    pub trampolines: Vec<Trampoline>,
    pub options: Vec<OptionsDef>,
    pub imports: Vec<HostImport>,
    /// Host resources the component imports: interface, name, type.
    pub imported_resources: Vec<(Option<String>, String, ResourceType)>,
    /// The names of the root component's instance imports (their
    /// functions and resources are listed in `imports` and
    /// `imported_resources`; an empty one needs nothing from the host, but
    /// must not name a function it defines).
    pub imported_instances: Vec<String>,
    pub guest_resources: Vec<GuestResource>,
    /// Core functions the runtime calls directly (lifted functions and
    /// destructors), resolved once per instantiation.
    pub callables: Vec<CoreDef>,
    pub exports: Vec<(String, ExportDef)>,
    pub component_instances: u32,
    /// The component instance that instantiated each one (`None`: the root).
    pub parents: Vec<Option<u32>>,
    /// Which options and callables can be resolved once the first `k` core
    /// instantiations have run, at index `k`: instantiation resolves each
    /// as soon as it can, so that a start function may call into component
    /// instances made before its own.
    pub resolvable_after: Vec<Vec<Resolvable>>,
}

/// An item of a runtime instance resolved during instantiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resolvable {
    /// [`PlanBody::options`]`[i]`.
    Options(u32),
    /// [`PlanBody::callables`]`[i]`.
    Callable(u32),
}

impl PlanBody {
    /// Fill [`PlanBody::resolvable_after`].
    fn order_resolution(&mut self) {
        // How many core instantiations must have run before `def` exists.
        let last = self.instantiations.len();
        let needs = |def: &CoreDef| match def {
            CoreDef::Export { instance, .. } => (*instance as usize + 1).min(last),
            CoreDef::Trampoline(_) => 0,
        };
        let mut after = vec![Vec::new(); self.instantiations.len() + 1];
        for (i, o) in self.options.iter().enumerate() {
            let k = [&o.memory, &o.realloc, &o.post_return]
                .into_iter()
                .flatten()
                .map(needs)
                .max()
                .unwrap_or(0);
            after[k].push(Resolvable::Options(i as u32));
        }
        for (i, d) in self.callables.iter().enumerate() {
            after[needs(d)].push(Resolvable::Callable(i as u32));
        }
        self.resolvable_after = after;
    }

    /// `instance` and the instances that (transitively) instantiated it.
    pub fn ancestors(&self, instance: u32) -> impl Iterator<Item = u32> + '_ {
        std::iter::successors(Some(instance), |i| self.parents[*i as usize])
    }

    /// The instances a call from `caller` (`None`: the host) into `callee`
    /// enters: the callee and its ancestors, less those the caller is
    /// already inside.
    pub fn entering_set(&self, caller: Option<u32>, callee: u32) -> Vec<u32> {
        let inside: Vec<u32> = caller
            .map(|c| self.ancestors(c).collect())
            .unwrap_or_default();
        self.ancestors(callee)
            .filter(|i| !inside.contains(i))
            .collect()
    }

    /// The guest resource `ty`, if a component defines it.
    pub fn guest_resource(&self, ty: &ResourceType) -> Option<&GuestResource> {
        self.guest_resources.iter().find(|r| &r.ty == ty)
    }
}

/// Plan the instantiation of `parsed`.
pub(crate) fn plan(parsed: &Parsed) -> Result<PlanBody> {
    let mut body = PlanBody::default();
    let root_scope = Rc::new(Scope {
        modules: Vec::new(),
        components: Vec::new(),
        resources: HashMap::new(),
        parent: None,
    });
    let exports = {
        let mut planner = Planner {
            body: &mut body,
            parsed,
        };
        planner.instantiate(&parsed.root, root_scope, None, None)?
    };
    check_root_exports(&exports, None)?;
    body.exports = exports
        .iter()
        .map(|(n, i)| (n.clone(), ExportDef::from_item(i)))
        .collect();
    body.order_resolution();
    Ok(body)
}

/// What no host can serve from the root component's exports (as wasmtime
/// rejects them, in its words): a component, or a function that is an
/// import given straight back (an import the host would implement for
/// itself), at the top level or in an exported instance (`within`).
fn check_root_exports(exports: &[(String, ItemDef<'_>)], within: Option<&str>) -> Result<()> {
    for (name, item) in exports {
        let path = match within {
            Some(i) => format!("{i}#{name}"),
            None => name.clone(),
        };
        match item {
            ItemDef::Component(_) => {
                return Err(Error::invalid(format!(
                    "exporting a component from the root component is not supported: \
                     export `{path}` is a component"
                )));
            }
            ItemDef::Func(FuncDef::Host(_)) => {
                return Err(Error::invalid(format!(
                    "component export `{path}` is a reexport of an imported function which is \
                     not implemented"
                )));
            }
            ItemDef::Instance(items) => check_root_exports(items, Some(&path))?,
            _ => {}
        }
    }
    Ok(())
}

struct Planner<'a, 'b> {
    body: &'b mut PlanBody,
    parsed: &'a Parsed,
}

/// The index spaces of one component instantiation.
struct Ctx<'a> {
    def: &'a ComponentDef,
    instance: u32,
    scope: Rc<Scope<'a>>,
    args: Option<HashMap<String, ItemDef<'a>>>,
    core_funcs: Vec<CoreDef>,
    core_memories: Vec<CoreDef>,
    core_tables: Vec<CoreDef>,
    core_globals: Vec<CoreDef>,
    core_instances: Vec<CoreInstanceRef>,
    core_modules: Vec<usize>,
    funcs: Vec<FuncDef>,
    func_types: Vec<Option<FuncType>>,
    instances: Vec<Rc<Vec<(String, ItemDef<'a>)>>>,
    components: Vec<ComponentRef<'a>>,
    type_count: u32,
    resources: HashMap<ResourceId, ResourceType>,
    type_cache: HashMap<ComponentDefinedTypeId, Type>,
}

enum CoreInstanceRef {
    Runtime(u32),
    Exports(Rc<HashMap<String, CoreDef>>),
}

fn kind_name(kind: ComponentExternalKind) -> &'static str {
    match kind {
        ComponentExternalKind::Module => "module",
        ComponentExternalKind::Func => "function",
        ComponentExternalKind::Value => "value",
        ComponentExternalKind::Type => "type",
        ComponentExternalKind::Instance => "instance",
        ComponentExternalKind::Component => "component",
    }
}

fn get<'x, T>(v: &'x [T], index: u32, what: &str) -> Result<&'x T> {
    v.get(index as usize)
        .ok_or_else(|| Error::invalid(format!("{what} index {index} out of bounds")))
}

impl<'a> Ctx<'a> {
    fn types(&self) -> TypesRef<'a> {
        self.def.types()
    }

    fn resource(&self, id: ResourceId) -> Result<ResourceType> {
        if let Some(r) = self.resources.get(&id) {
            return Ok(r.clone());
        }
        let mut scope = Some(&self.scope);
        while let Some(s) = scope {
            if let Some(r) = s.resources.get(&id) {
                return Ok(r.clone());
            }
            scope = s.parent.as_ref();
        }
        Err(Error::unsupported(
            "a resource type that is neither imported, defined nor aliased in this component",
        ))
    }

    fn resource_at(&self, type_index: u32) -> Result<ResourceType> {
        match self.types().component_any_type_at(type_index) {
            ComponentAnyTypeId::Resource(r) => self.resource(r.resource()),
            _ => Err(Error::invalid(format!(
                "type {type_index} is not a resource"
            ))),
        }
    }

    fn val_type(&mut self, ty: ComponentValType) -> Result<Type> {
        let id = match ty {
            ComponentValType::Primitive(p) => return primitive(p),
            ComponentValType::Type(id) => id,
        };
        if let Some(t) = self.type_cache.get(&id) {
            return Ok(t.clone());
        }
        let types = self.types();
        let t = match &types[id] {
            ComponentDefinedType::Primitive(p) => primitive(*p)?,
            ComponentDefinedType::Record(r) => {
                let mut fields = Vec::with_capacity(r.fields.len());
                for (name, ty) in r.fields.iter() {
                    fields.push((name.as_str().to_string(), self.val_type(*ty)?));
                }
                Type::Record(Record::new(fields))
            }
            ComponentDefinedType::Variant(v) => {
                let mut cases = Vec::with_capacity(v.cases.len());
                for (name, case) in v.cases.iter() {
                    let ty = case.ty.map(|t| self.val_type(t)).transpose()?;
                    cases.push((name.as_str().to_string(), ty));
                }
                Type::Variant(Variant::new(cases))
            }
            ComponentDefinedType::List { element, .. } => {
                Type::List(List::new(self.val_type(*element)?))
            }
            ComponentDefinedType::Tuple(t) => {
                let mut elems = Vec::with_capacity(t.types.len());
                for ty in t.types.iter() {
                    elems.push(self.val_type(*ty)?);
                }
                Type::Tuple(Tuple::new(elems))
            }
            ComponentDefinedType::Flags(names) => {
                Type::Flags(Flags::new(names.iter().map(|n| n.as_str().to_string())))
            }
            ComponentDefinedType::Enum(names) => {
                Type::Enum(Enum::new(names.iter().map(|n| n.as_str().to_string())))
            }
            ComponentDefinedType::Option { ty, .. } => {
                Type::Option(OptionType::new(self.val_type(*ty)?))
            }
            ComponentDefinedType::Result { ok, err, .. } => {
                let ok = ok.map(|t| self.val_type(t)).transpose()?;
                let err = err.map(|t| self.val_type(t)).transpose()?;
                Type::Result(ResultType::new(ok, err))
            }
            ComponentDefinedType::Own(r) => Type::Own(self.resource(r.resource())?),
            ComponentDefinedType::Borrow(r) => Type::Borrow(self.resource(r.resource())?),
            other => {
                let what = match other {
                    ComponentDefinedType::Map { .. } => "map types",
                    ComponentDefinedType::FixedLengthList { .. } => "fixed-length lists",
                    ComponentDefinedType::Future { .. } => "future types (component-model async)",
                    ComponentDefinedType::Stream { .. } => "stream types (component-model async)",
                    _ => "this component value type",
                };
                return Err(Error::unsupported(what));
            }
        };
        self.type_cache.insert(id, t.clone());
        Ok(t)
    }

    fn func_type(&mut self, id: ComponentFuncTypeId) -> Result<FuncType> {
        let types = self.types();
        let f = &types[id];
        if f.async_ {
            return Err(Error::unsupported(
                "async functions (component-model async)",
            ));
        }
        let mut params = Vec::with_capacity(f.params.len());
        for (name, ty) in f.params.iter() {
            params.push((name.as_str().to_string(), self.val_type(*ty)?));
        }
        let result = f.result.map(|t| self.val_type(t)).transpose()?;
        Ok(FuncType::new(params, result))
    }

    fn core_def(&self, kind: ExternalKind, index: u32) -> Result<CoreDef> {
        Ok(match kind {
            ExternalKind::Func | ExternalKind::FuncExact => {
                get(&self.core_funcs, index, "core function")?.clone()
            }
            ExternalKind::Memory => get(&self.core_memories, index, "core memory")?.clone(),
            ExternalKind::Table => get(&self.core_tables, index, "core table")?.clone(),
            ExternalKind::Global => get(&self.core_globals, index, "core global")?.clone(),
            ExternalKind::Tag => return Err(Error::unsupported("exception tags")),
        })
    }

    fn push_core(&mut self, kind: ExternalKind, def: CoreDef) -> Result<()> {
        match kind {
            ExternalKind::Func | ExternalKind::FuncExact => self.core_funcs.push(def),
            ExternalKind::Memory => self.core_memories.push(def),
            ExternalKind::Table => self.core_tables.push(def),
            ExternalKind::Global => self.core_globals.push(def),
            ExternalKind::Tag => return Err(Error::unsupported("exception tags")),
        }
        Ok(())
    }

    fn item(&self, kind: ComponentExternalKind, index: u32) -> Result<ItemDef<'a>> {
        Ok(match kind {
            ComponentExternalKind::Func => {
                ItemDef::Func(get(&self.funcs, index, "function")?.clone())
            }
            ComponentExternalKind::Instance => {
                ItemDef::Instance(get(&self.instances, index, "instance")?.clone())
            }
            ComponentExternalKind::Module => {
                ItemDef::Module(*get(&self.core_modules, index, "module")?)
            }
            ComponentExternalKind::Component => {
                ItemDef::Component(get(&self.components, index, "component")?.clone())
            }
            ComponentExternalKind::Type => {
                if index >= self.type_count {
                    return Err(Error::invalid(format!("type index {index} out of bounds")));
                }
                match self.types().component_any_type_at(index) {
                    ComponentAnyTypeId::Resource(r) => {
                        ItemDef::Type(Some(self.resource(r.resource())?))
                    }
                    _ => ItemDef::Type(None),
                }
            }
            ComponentExternalKind::Value => {
                return Err(Error::unsupported("component values"));
            }
        })
    }

    /// Add `item` to the index space of `kind`, as an import, alias or
    /// export does.
    fn push_item(&mut self, kind: ComponentExternalKind, item: ItemDef<'a>) -> Result<()> {
        match (kind, item) {
            (ComponentExternalKind::Func, ItemDef::Func(f)) => {
                let ty = match &f {
                    FuncDef::Lifted(l) => Some(l.ty.clone()),
                    FuncDef::Host(_) => None,
                };
                self.funcs.push(f);
                self.func_types.push(ty);
            }
            (ComponentExternalKind::Instance, ItemDef::Instance(i)) => self.instances.push(i),
            (ComponentExternalKind::Module, ItemDef::Module(m)) => self.core_modules.push(m),
            (ComponentExternalKind::Component, ItemDef::Component(c)) => self.components.push(c),
            (ComponentExternalKind::Type, ItemDef::Type(r)) => {
                let index = self.type_count;
                self.type_count += 1;
                if let (Some(r), ComponentAnyTypeId::Resource(id)) =
                    (r, self.types().component_any_type_at(index))
                {
                    self.resources.insert(id.resource(), r);
                }
            }
            (kind, item) => {
                return Err(Error::link(format!(
                    "expected a {}, found a {}",
                    kind_name(kind),
                    item.kind()
                )));
            }
        }
        Ok(())
    }

    fn options(&self, opts: &[CanonicalOption]) -> Result<OptionsDef> {
        let mut o = OptionsDef {
            memory: None,
            realloc: None,
            post_return: None,
            encoding: StringEncoding::Utf8,
            instance: self.instance,
        };
        for opt in opts {
            match *opt {
                CanonicalOption::UTF8 => o.encoding = StringEncoding::Utf8,
                CanonicalOption::UTF16 => o.encoding = StringEncoding::Utf16,
                CanonicalOption::CompactUTF16 => o.encoding = StringEncoding::CompactUtf16,
                CanonicalOption::Memory(m) => {
                    o.memory = Some(get(&self.core_memories, m, "core memory")?.clone())
                }
                CanonicalOption::Realloc(f) => {
                    o.realloc = Some(get(&self.core_funcs, f, "core function")?.clone())
                }
                CanonicalOption::PostReturn(f) => {
                    o.post_return = Some(get(&self.core_funcs, f, "core function")?.clone())
                }
                CanonicalOption::CoreType(_) => {}
                CanonicalOption::Async | CanonicalOption::Callback(_) => {
                    return Err(Error::unsupported("async canonical options"));
                }
                CanonicalOption::Gc => return Err(Error::unsupported("the gc canonical option")),
            }
        }
        Ok(o)
    }
}

fn primitive(p: PrimitiveValType) -> Result<Type> {
    Ok(match p {
        PrimitiveValType::Bool => Type::Bool,
        PrimitiveValType::S8 => Type::S8,
        PrimitiveValType::U8 => Type::U8,
        PrimitiveValType::S16 => Type::S16,
        PrimitiveValType::U16 => Type::U16,
        PrimitiveValType::S32 => Type::S32,
        PrimitiveValType::U32 => Type::U32,
        PrimitiveValType::S64 => Type::S64,
        PrimitiveValType::U64 => Type::U64,
        PrimitiveValType::F32 => Type::F32,
        PrimitiveValType::F64 => Type::F64,
        PrimitiveValType::Char => Type::Char,
        PrimitiveValType::String => Type::String,
        PrimitiveValType::ErrorContext => {
            return Err(Error::unsupported("error-context (component-model async)"));
        }
    })
}

impl<'a> Planner<'a, '_> {
    fn add_trampoline(&mut self, t: Trampoline) -> CoreDef {
        self.body.trampolines.push(t);
        CoreDef::Trampoline(self.body.trampolines.len() as u32 - 1)
    }

    fn add_callable(&mut self, def: CoreDef) -> u32 {
        self.body.callables.push(def);
        self.body.callables.len() as u32 - 1
    }

    fn add_options(&mut self, o: OptionsDef) -> u32 {
        self.body.options.push(o);
        self.body.options.len() as u32 - 1
    }

    /// Instantiate `def` (the root when `args` is `None`) and return its
    /// exports.
    fn instantiate(
        &mut self,
        def: &'a ComponentDef,
        scope: Rc<Scope<'a>>,
        args: Option<HashMap<String, ItemDef<'a>>>,
        parent: Option<u32>,
    ) -> Result<Vec<(String, ItemDef<'a>)>> {
        let instance = self.body.component_instances;
        self.body.component_instances += 1;
        self.body.parents.push(parent);
        let mut cx = Ctx {
            def,
            instance,
            scope,
            args,
            core_funcs: Vec::new(),
            core_memories: Vec::new(),
            core_tables: Vec::new(),
            core_globals: Vec::new(),
            core_instances: Vec::new(),
            core_modules: Vec::new(),
            funcs: Vec::new(),
            func_types: Vec::new(),
            instances: Vec::new(),
            components: Vec::new(),
            type_count: 0,
            resources: HashMap::new(),
            type_cache: HashMap::new(),
        };
        let mut exports = Vec::new();
        for item in &def.items {
            self.item(&mut cx, item, &mut exports)?;
        }
        Ok(exports)
    }

    fn item(
        &mut self,
        cx: &mut Ctx<'a>,
        item: &'a Item,
        exports: &mut Vec<(String, ItemDef<'a>)>,
    ) -> Result<()> {
        match item {
            Item::CoreModule(m) => cx.core_modules.push(*m),
            Item::Component(def) => {
                let scope = Rc::new(Scope {
                    modules: cx.core_modules.clone(),
                    components: cx.components.clone(),
                    resources: cx.resources.clone(),
                    parent: Some(cx.scope.clone()),
                });
                cx.components.push(ComponentRef { def, scope });
            }
            Item::CoreType => {}
            Item::Type { resource_dtor } => {
                let index = cx.type_count;
                cx.type_count += 1;
                if let Some(dtor) = resource_dtor {
                    let id = match cx.types().component_any_type_at(index) {
                        ComponentAnyTypeId::Resource(r) => r.resource(),
                        _ => return Err(Error::invalid("resource definition without a resource")),
                    };
                    let ty = ResourceType::fresh(format!("resource{index}"));
                    let dtor = dtor
                        .map(|f| get(&cx.core_funcs, f, "core function").cloned())
                        .transpose()?
                        .map(|d| self.add_callable(d));
                    self.body.guest_resources.push(GuestResource {
                        ty: ty.clone(),
                        instance: cx.instance,
                        dtor,
                    });
                    cx.resources.insert(id, ty);
                }
            }
            Item::CoreInstance(CoreInstanceDef::Instantiate { module, args }) => {
                let module = *get(&cx.core_modules, *module, "module")?;
                let mut by_name: HashMap<&str, &CoreInstanceRef> = HashMap::new();
                for (name, inst) in args {
                    by_name.insert(name, get(&cx.core_instances, *inst, "core instance")?);
                }
                let mut imports = Vec::new();
                for (m, n, _) in &self.parsed.modules[module].imports {
                    let inst = by_name.get(m.as_str()).ok_or_else(|| {
                        Error::link(format!("core module import `{m}` was not supplied"))
                    })?;
                    imports.push(match inst {
                        CoreInstanceRef::Runtime(i) => CoreDef::Export {
                            instance: *i,
                            name: n.as_str().into(),
                        },
                        CoreInstanceRef::Exports(map) => {
                            map.get(n.as_str()).cloned().ok_or_else(|| {
                                Error::link(format!(
                                    "core module import `{m}::{n}` was not supplied"
                                ))
                            })?
                        }
                    });
                }
                self.body
                    .instantiations
                    .push(super::plan::CoreInstantiation { module, imports });
                let idx = self.body.instantiations.len() as u32 - 1;
                cx.core_instances.push(CoreInstanceRef::Runtime(idx));
            }
            Item::CoreInstance(CoreInstanceDef::FromExports(list)) => {
                let mut map = HashMap::new();
                for (name, kind, index) in list {
                    map.insert(name.clone(), cx.core_def(*kind, *index)?);
                }
                cx.core_instances
                    .push(CoreInstanceRef::Exports(Rc::new(map)));
            }
            Item::Instance(InstanceDef::Instantiate { component, args }) => {
                let cref = get(&cx.components, *component, "component")?.clone();
                let mut map = HashMap::new();
                for (name, kind, index) in args {
                    map.insert(name.clone(), cx.item(*kind, *index)?);
                }
                let exports =
                    self.instantiate(cref.def, cref.scope.clone(), Some(map), Some(cx.instance))?;
                cx.instances.push(Rc::new(exports));
            }
            Item::Instance(InstanceDef::FromExports(list)) => {
                let mut items = Vec::new();
                for (name, kind, index) in list {
                    items.push((name.clone(), cx.item(*kind, *index)?));
                }
                cx.instances.push(Rc::new(items));
            }
            Item::Alias(AliasDef::InstanceExport {
                kind,
                instance,
                name,
            }) => {
                let inst = get(&cx.instances, *instance, "instance")?.clone();
                let item = inst
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, i)| i.clone())
                    .ok_or_else(|| Error::link(format!("instance has no export `{name}`")))?;
                cx.push_item(*kind, item)?;
            }
            Item::Alias(AliasDef::CoreInstanceExport {
                kind,
                instance,
                name,
            }) => {
                let def = match get(&cx.core_instances, *instance, "core instance")? {
                    CoreInstanceRef::Runtime(i) => CoreDef::Export {
                        instance: *i,
                        name: name.as_str().into(),
                    },
                    CoreInstanceRef::Exports(map) => map.get(name).cloned().ok_or_else(|| {
                        Error::link(format!("core instance has no export `{name}`"))
                    })?,
                };
                cx.push_core(*kind, def)?;
            }
            Item::Alias(AliasDef::Outer { kind, count, index }) => {
                // Count 0 names this component's own index spaces; 1 the
                // enclosing component's as this one was defined in it, and
                // so on out.
                let mut scope = &cx.scope;
                for _ in 1..*count {
                    scope = scope
                        .parent
                        .as_ref()
                        .ok_or_else(|| Error::invalid("outer alias count out of bounds"))?;
                }
                let own = *count == 0;
                match kind {
                    ComponentOuterAliasKind::CoreModule => {
                        let modules = if own {
                            &cx.core_modules
                        } else {
                            &scope.modules
                        };
                        let m = *get(modules, *index, "module")?;
                        cx.core_modules.push(m);
                    }
                    ComponentOuterAliasKind::Component => {
                        let components = if own {
                            &cx.components
                        } else {
                            &scope.components
                        };
                        let c = get(components, *index, "component")?.clone();
                        cx.components.push(c);
                    }
                    ComponentOuterAliasKind::Type => cx.type_count += 1,
                    ComponentOuterAliasKind::CoreType => {}
                }
            }
            Item::Canon(canon) => self.canon(cx, canon)?,
            Item::Import { name, ty } => self.import(cx, name, ty)?,
            Item::Export { name, kind, index } => {
                let item = cx.item(*kind, *index)?;
                exports.push((name.clone(), item.clone()));
                cx.push_item(*kind, item)?;
            }
        }
        Ok(())
    }

    fn canon(&mut self, cx: &mut Ctx<'a>, canon: &CanonicalFunction) -> Result<()> {
        match canon {
            CanonicalFunction::Lift {
                core_func_index,
                options,
                ..
            } => {
                let core = get(&cx.core_funcs, *core_func_index, "core function")?.clone();
                let index = cx.funcs.len() as u32;
                let ty = cx.func_type(cx.types().component_function_at(index))?;
                let options = cx.options(options)?;
                let options = self.add_options(options);
                let core = self.add_callable(core);
                let lifted = Arc::new(LiftedFunc {
                    core,
                    ty: ty.clone(),
                    options,
                });
                cx.funcs.push(FuncDef::Lifted(lifted));
                cx.func_types.push(Some(ty));
            }
            CanonicalFunction::Lower {
                func_index,
                options,
            } => {
                let func = get(&cx.funcs, *func_index, "function")?.clone();
                let options = cx.options(options)?;
                let options = self.add_options(options);
                let t = match func {
                    FuncDef::Host(import) => Trampoline::LowerHost { import, options },
                    FuncDef::Lifted(callee) => Trampoline::Adapter { callee, options },
                };
                let def = self.add_trampoline(t);
                cx.core_funcs.push(def);
            }
            CanonicalFunction::ResourceNew { resource } => {
                let ty = cx.resource_at(*resource)?;
                let def = self.add_trampoline(Trampoline::ResourceNew {
                    ty,
                    instance: cx.instance,
                });
                cx.core_funcs.push(def);
            }
            CanonicalFunction::ResourceRep { resource } => {
                let ty = cx.resource_at(*resource)?;
                let def = self.add_trampoline(Trampoline::ResourceRep {
                    ty,
                    instance: cx.instance,
                });
                cx.core_funcs.push(def);
            }
            CanonicalFunction::ResourceDrop { resource } => {
                let ty = cx.resource_at(*resource)?;
                let def = self.add_trampoline(Trampoline::ResourceDrop {
                    ty,
                    instance: cx.instance,
                });
                cx.core_funcs.push(def);
            }
            other => {
                let name = format!("{other:?}");
                let name = name.split([' ', '{', '(']).next().unwrap_or("?");
                return Err(Error::unsupported(format!(
                    "canonical built-in `{name}` (component-model async, threads or gc)"
                )));
            }
        }
        Ok(())
    }

    fn import(&mut self, cx: &mut Ctx<'a>, name: &str, ty: &ComponentTypeRef) -> Result<()> {
        let kind = ty.kind();
        if let Some(args) = &cx.args {
            // A nested component: its imports are its instantiation's args.
            let item = args.get(name).cloned().ok_or_else(|| {
                Error::link(format!("nested component import `{name}` was not supplied"))
            })?;
            if let (ComponentTypeRef::Instance(_), ItemDef::Instance(items)) = (ty, &item) {
                // Bind the resource types the import declares to the ones the
                // argument instance exports.
                if let Some(ComponentEntityType::Instance(id)) =
                    cx.types().component_item_for_import(name).map(|i| i.ty)
                {
                    let types = cx.types();
                    for (export, item_ty) in types[id].exports.iter() {
                        if let ComponentEntityType::Type {
                            referenced: ComponentAnyTypeId::Resource(r),
                            ..
                        } = item_ty.ty
                            && let Some((_, ItemDef::Type(Some(rt)))) =
                                items.iter().find(|(n, _)| n == export)
                        {
                            cx.resources.insert(r.resource(), rt.clone());
                        }
                    }
                }
            }
            return cx.push_item(kind, item);
        }
        // The root component: imports come from the host.
        match ty {
            ComponentTypeRef::Func(_) => {
                let index = cx.funcs.len() as u32;
                let fty = cx.func_type(cx.types().component_function_at(index))?;
                self.body.imports.push(HostImport {
                    instance: None,
                    name: name.to_string(),
                    ty: fty.clone(),
                });
                cx.funcs
                    .push(FuncDef::Host(self.body.imports.len() as u32 - 1));
                cx.func_types.push(Some(fty));
            }
            ComponentTypeRef::Type(_) => {
                let index = cx.type_count;
                cx.type_count += 1;
                if let ComponentAnyTypeId::Resource(r) = cx.types().component_any_type_at(index)
                    && cx.resource(r.resource()).is_err()
                {
                    let rt = ResourceType::host("", name);
                    self.body
                        .imported_resources
                        .push((None, name.to_string(), rt.clone()));
                    cx.resources.insert(r.resource(), rt);
                }
            }
            ComponentTypeRef::Instance(_) => {
                self.body.imported_instances.push(name.to_string());
                let types = cx.types();
                let Some(ComponentEntityType::Instance(id)) =
                    types.component_item_for_import(name).map(|i| i.ty)
                else {
                    return Err(Error::invalid(format!(
                        "import `{name}` is not an instance"
                    )));
                };
                let mut items = Vec::new();
                // Resources first: function types refer to them. A resource
                // exported as `(eq ...)` of one already known (`use
                // wasi:io/error.{error}` in `wasi:io/streams`) is that one,
                // not a new host resource.
                for (export, item) in types[id].exports.iter() {
                    if let ComponentEntityType::Type {
                        referenced: ComponentAnyTypeId::Resource(r),
                        ..
                    } = item.ty
                        && cx.resource(r.resource()).is_err()
                    {
                        let rt = ResourceType::host(name, export);
                        self.body.imported_resources.push((
                            Some(name.to_string()),
                            export.to_string(),
                            rt.clone(),
                        ));
                        cx.resources.insert(r.resource(), rt);
                    }
                }
                for (export, item) in types[id].exports.iter() {
                    let def = match item.ty {
                        ComponentEntityType::Func(fid) => {
                            let fty = cx.func_type(fid)?;
                            self.body.imports.push(HostImport {
                                instance: Some(name.to_string()),
                                name: export.to_string(),
                                ty: fty,
                            });
                            ItemDef::Func(FuncDef::Host(self.body.imports.len() as u32 - 1))
                        }
                        ComponentEntityType::Type { referenced, .. } => match referenced {
                            ComponentAnyTypeId::Resource(r) => {
                                ItemDef::Type(Some(cx.resource(r.resource())?))
                            }
                            _ => ItemDef::Type(None),
                        },
                        _ => {
                            return Err(Error::unsupported(format!(
                                "import `{name}` exports `{export}`, which is neither a function nor a type"
                            )));
                        }
                    };
                    items.push((export.to_string(), def));
                }
                cx.instances.push(Rc::new(items));
            }
            ComponentTypeRef::Component(_) => {
                return Err(Error::unsupported(format!(
                    "root-level component imports are not supported: import `{name}`: the host \
                     cannot supply a component"
                )));
            }
            ComponentTypeRef::Module(_) => {
                return Err(Error::unsupported(format!(
                    "import `{name}`: the host cannot supply a {}",
                    kind_name(kind)
                )));
            }
            ComponentTypeRef::Value(_) => {
                return Err(Error::unsupported(format!(
                    "import `{name}`: component values"
                )));
            }
        }
        Ok(())
    }
}
