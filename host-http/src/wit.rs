//! The host's function types, straight from the vendored WIT, and the
//! [`Registry`] each interface's file registers its functions and
//! resources with.
//!
//! `wit/` (wasi:http@0.2.12 and its deps) is compiled into the binary with
//! `include_str!` and parsed once with wit-parser. Every function the host
//! registers gets the type the WIT gives it, converted to an engine-abi
//! [`Type`], with resources mapped to the host's [`ResourceType`]s. So the
//! types the host offers are exactly the WIT's, and a guest built against any
//! 0.2.x release binds to them (the linker matches interfaces by semver
//! track). A typed implementation ([`Registry::typed`]) is checked against
//! that type when it is registered: its Rust parameter and result types
//! must be the WIT's.
//!
//! What is registered (see [`crate::imports`]):
//! - every function of every interface the `wasi:http/proxy` world imports,
//!   by the file that implements its interface; a function without one is a
//!   bug (see the test `imports::tests::proxy_world_is_fully_implemented`);
//! - the other interfaces of `wasi:cli/imports` (environment, exit,
//!   terminals, filesystem, sockets…), which real toolchains import even for
//!   a proxy: implemented ones likewise, the rest as functions that trap
//!   naming themselves, so such guests link and fail only if they really
//!   use them.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock};

use engine_abi::abi::typed::HostResource;
use engine_abi::abi::{Lift, Lower, Val};
use engine_abi::engine::HostError;
use engine_abi::types::{
    Enum, Flags, FuncType, List, OptionType, Record, ResourceType, ResultType, Tuple, Type, Variant,
};
use engine_abi::{Linker, Trap};
use wit_parser::{Handle, InterfaceId, Resolve, TypeDefKind, TypeId, WorldItem};

use crate::state::State;
use crate::table::Entry;

/// The WIT files, in dependency order.
const SOURCES: &[(&str, &str)] = &[
    ("io.wit", include_str!("../../wit/deps/io.wit")),
    ("clocks.wit", include_str!("../../wit/deps/clocks.wit")),
    ("random.wit", include_str!("../../wit/deps/random.wit")),
    (
        "filesystem.wit",
        include_str!("../../wit/deps/filesystem.wit"),
    ),
    ("sockets.wit", include_str!("../../wit/deps/sockets.wit")),
    ("cli.wit", include_str!("../../wit/deps/cli.wit")),
    ("http.wit", include_str!("../../wit/deps/http.wit")),
];

/// The world whose imports the host implements in full.
pub const PROXY_WORLD: &str = "wasi:http/proxy@0.2.12";
/// The world whose other imports the host provides so that guests of real
/// toolchains link.
pub const EXTRA_WORLD: &str = "wasi:cli/imports@0.2.12";

/// The parsed WIT, once per process.
pub struct Wit {
    resolve: Resolve,
}

static WIT: LazyLock<Wit> = LazyLock::new(|| {
    let mut resolve = Resolve::default();
    for (path, text) in SOURCES {
        resolve
            .push_str(path, text)
            .unwrap_or_else(|e| panic!("vendored WIT {path} does not parse: {e:#}"));
    }
    Wit { resolve }
});

/// The parsed WIT.
pub fn wit() -> &'static Wit {
    &WIT
}

/// One function of an imported interface.
pub struct WitFunc {
    /// `wasi:http/types@0.2.12`
    pub interface: String,
    /// `[method]fields.append`
    pub name: String,
    /// Its type, with resources mapped to the host's.
    pub ty: FuncType,
}

/// One resource of an imported interface.
pub struct ResourceDecl {
    /// `wasi:http/types@0.2.12`
    pub interface: String,
    /// `fields`
    pub name: String,
}

impl Wit {
    fn world_interfaces(&self, world: &str) -> Vec<InterfaceId> {
        let id = self
            .resolve
            .select_world(&[], Some(world))
            .or_else(|_| {
                let pkgs: Vec<_> = self.resolve.packages.iter().map(|(id, _)| id).collect();
                self.resolve.select_world(&pkgs, Some(world))
            })
            .unwrap_or_else(|e| panic!("world {world}: {e:#}"));
        self.resolve.worlds[id]
            .imports
            .values()
            .filter_map(|item| match item {
                WorldItem::Interface { id, .. } => Some(*id),
                _ => None,
            })
            .collect()
    }

    /// The interfaces `world` imports, by full name.
    pub fn interfaces(&self, world: &str) -> Vec<String> {
        self.world_interfaces(world)
            .into_iter()
            .filter_map(|i| self.resolve.id_of(i))
            .collect()
    }

    /// The type named `name` in `interface` (unversioned), converted as
    /// function types are.
    #[cfg(test)]
    pub fn type_named(&self, interface: &str, name: &str) -> Option<Type> {
        let (_, iface) = self.resolve.interfaces.iter().find(|(id, _)| {
            self.resolve
                .id_of(*id)
                .is_some_and(|n| unversioned(&n) == interface)
        })?;
        let &id = iface.types.get(name)?;
        let mut conv = Converter {
            resolve: &self.resolve,
            cache: HashMap::new(),
        };
        Some(conv.ty(&wit_parser::Type::Id(id)))
    }

    /// The resources and functions of the interfaces `world` imports.
    pub fn imports(&self, world: &str) -> (Vec<ResourceDecl>, Vec<WitFunc>) {
        let mut resources = Vec::new();
        let mut funcs = Vec::new();
        let mut conv = Converter {
            resolve: &self.resolve,
            cache: HashMap::new(),
        };
        for iface in self.world_interfaces(world) {
            let Some(iname) = self.resolve.id_of(iface) else {
                continue;
            };
            let i = &self.resolve.interfaces[iface];
            for (name, &ty) in &i.types {
                if matches!(self.resolve.types[ty].kind, TypeDefKind::Resource) {
                    resources.push(ResourceDecl {
                        interface: iname.clone(),
                        name: name.clone(),
                    });
                }
            }
            for f in i.functions.values() {
                let params: Vec<(String, Type)> = f
                    .params
                    .iter()
                    .map(|p| (p.name.clone(), conv.ty(&p.ty)))
                    .collect();
                let result = f.result.as_ref().map(|t| conv.ty(t));
                funcs.push(WitFunc {
                    interface: iname.clone(),
                    name: f.name.clone(),
                    ty: FuncType::new(params, result),
                });
            }
        }
        (resources, funcs)
    }
}

struct Converter<'a> {
    resolve: &'a Resolve,
    cache: HashMap<TypeId, Type>,
}

impl Converter<'_> {
    fn ty(&mut self, t: &wit_parser::Type) -> Type {
        use wit_parser::Type as W;
        match t {
            W::Bool => Type::Bool,
            W::U8 => Type::U8,
            W::U16 => Type::U16,
            W::U32 => Type::U32,
            W::U64 => Type::U64,
            W::S8 => Type::S8,
            W::S16 => Type::S16,
            W::S32 => Type::S32,
            W::S64 => Type::S64,
            W::F32 => Type::F32,
            W::F64 => Type::F64,
            W::Char => Type::Char,
            W::String => Type::String,
            W::ErrorContext => panic!("error-context is not in the wasi:http 0.2 WIT"),
            W::Id(id) => {
                if let Some(t) = self.cache.get(id) {
                    return t.clone();
                }
                let t = self.def(*id);
                self.cache.insert(*id, t.clone());
                t
            }
        }
    }

    /// The host resource type of resource `id` (following `use` aliases).
    fn resource(&self, mut id: TypeId) -> ResourceType {
        loop {
            let def = &self.resolve.types[id];
            match &def.kind {
                TypeDefKind::Type(wit_parser::Type::Id(next)) => id = *next,
                TypeDefKind::Resource => {
                    let iface = match def.owner {
                        wit_parser::TypeOwner::Interface(i) => {
                            self.resolve.id_of(i).unwrap_or_default()
                        }
                        _ => String::new(),
                    };
                    let name = def.name.as_deref().unwrap_or("");
                    return ResourceType::host(&iface, name);
                }
                other => panic!("handle to a non-resource {}", other.as_str()),
            }
        }
    }

    fn def(&mut self, id: TypeId) -> Type {
        let kind = self.resolve.types[id].kind.clone();
        match kind {
            TypeDefKind::Type(t) => self.ty(&t),
            TypeDefKind::Record(r) => Type::Record(Record::new(
                r.fields
                    .iter()
                    .map(|f| (f.name.clone(), self.ty(&f.ty)))
                    .collect::<Vec<_>>(),
            )),
            TypeDefKind::Tuple(t) => Type::Tuple(Tuple::new(
                t.types.iter().map(|t| self.ty(t)).collect::<Vec<_>>(),
            )),
            TypeDefKind::Variant(v) => Type::Variant(Variant::new(
                v.cases
                    .iter()
                    .map(|c| (c.name.clone(), c.ty.as_ref().map(|t| self.ty(t))))
                    .collect::<Vec<_>>(),
            )),
            TypeDefKind::Enum(e) => Type::Enum(Enum::new(
                e.cases.iter().map(|c| c.name.clone()).collect::<Vec<_>>(),
            )),
            TypeDefKind::Flags(f) => Type::Flags(Flags::new(
                f.flags.iter().map(|c| c.name.clone()).collect::<Vec<_>>(),
            )),
            TypeDefKind::Option(t) => Type::Option(OptionType::new(self.ty(&t))),
            TypeDefKind::Result(r) => Type::Result(ResultType::new(
                r.ok.as_ref().map(|t| self.ty(t)),
                r.err.as_ref().map(|t| self.ty(t)),
            )),
            TypeDefKind::List(t) => Type::List(List::new(self.ty(&t))),
            TypeDefKind::Handle(Handle::Own(r)) => Type::Own(self.resource(r)),
            TypeDefKind::Handle(Handle::Borrow(r)) => Type::Borrow(self.resource(r)),
            TypeDefKind::Resource => panic!("a bare resource type used as a value"),
            other => panic!("WIT type {} is not in wasi:http 0.2", other.as_str()),
        }
    }
}

/// The interface name without its version: `wasi:http/types`.
pub fn unversioned(interface: &str) -> &str {
    interface.split_once('@').map_or(interface, |(b, _)| b)
}

/// A host resource type one of the host's files implements: an entry of
/// the request's table, with typed handles, which [`Registry::resource`]
/// defines with a destructor that drops the entry. Implemented with
/// `wit_resource!`.
pub trait WitResource: Entry + HostResource {
    /// The versioned interface that defines the resource,
    /// `wasi:http/types@0.2.12` (its name is [`Entry::NAME`]).
    const INTERFACE: &'static str;
}

/// `(unversioned interface, name)`, e.g. `("wasi:http/types", "[method]fields.get")`.
pub type Key = (String, String);

/// Where each interface's file registers its functions and resources, with
/// the types the WIT gives them.
pub struct Registry<'l> {
    linker: &'l mut Linker<State>,
    /// Every function of both worlds: its versioned interface and type.
    funcs: HashMap<Key, (String, FuncType)>,
    /// Every resource of both worlds: its versioned interface.
    resources: HashMap<Key, String>,
    defined_funcs: HashSet<Key>,
    defined_resources: HashSet<Key>,
    problems: Vec<String>,
}

/// What a [`Registry`] registered, and what went wrong (a host bug: the
/// tests check there is nothing).
#[derive(Debug, Default)]
pub struct Report {
    /// The implemented functions, by unversioned interface and name.
    pub funcs: HashSet<Key>,
    /// The resources the host's files own, by unversioned interface and name.
    pub resources: HashSet<Key>,
    /// Implementations of functions the WIT does not have, typed ones whose
    /// Rust types are not the WIT's, functions registered twice.
    pub problems: Vec<String>,
}

/// The key of `name` of `interface` (versioned or not).
pub fn key(interface: &str, name: &str) -> Key {
    (unversioned(interface).to_string(), name.to_string())
}

impl<'l> Registry<'l> {
    /// A registry defining into `linker` the functions and resources of
    /// both worlds of `wit`.
    pub fn new(linker: &'l mut Linker<State>, wit: &Wit) -> Registry<'l> {
        let mut funcs = HashMap::new();
        let mut resources = HashMap::new();
        for world in [PROXY_WORLD, EXTRA_WORLD] {
            let (rs, fs) = wit.imports(world);
            for r in rs {
                resources
                    .entry(key(&r.interface, &r.name))
                    .or_insert(r.interface);
            }
            for f in fs {
                funcs
                    .entry(key(&f.interface, &f.name))
                    .or_insert((f.interface, f.ty));
            }
        }
        Registry {
            linker,
            funcs,
            resources,
            defined_funcs: HashSet::new(),
            defined_resources: HashSet::new(),
            problems: Vec::new(),
        }
    }

    /// The versioned interface and type of WIT function `name` of
    /// `interface` (unversioned), marking it defined; `None` (and a
    /// problem) if the WIT has no such function or it was defined already.
    fn claim(&mut self, interface: &str, name: &str) -> Option<(String, FuncType)> {
        let k = key(interface, name);
        let Some(found) = self.funcs.get(&k).cloned() else {
            self.problems
                .push(format!("{interface}#{name} is not a function of the WIT"));
            return None;
        };
        if !self.defined_funcs.insert(k) {
            self.problems
                .push(format!("{interface}#{name} is registered twice"));
            return None;
        }
        Some(found)
    }

    /// Implement `name` of `interface` with Rust types: `P` is the tuple of
    /// its parameters, `R` its result (`()` for none), lifted and lowered
    /// by the typed ABI with no [`Val`] in between. It never suspends, so
    /// engines call it as a plain function ([`Linker::set_may_suspend`]);
    /// one that may is registered with [`Registry::blocking`].
    pub fn typed<P, R>(
        &mut self,
        interface: &str,
        name: &str,
        func: impl Fn(&mut State, P) -> Result<R, HostError> + Send + Sync + 'static,
    ) where
        P: Lift + 'static,
        R: Lower + 'static,
    {
        self.define_typed(interface, name, false, func);
    }

    /// As [`Registry::typed`], for a function that may ask to suspend the
    /// guest until something is ready ([`HostError::Suspend`]): `poll`,
    /// `pollable.block`, the `blocking-*` stream methods.
    pub fn blocking<P, R>(
        &mut self,
        interface: &str,
        name: &str,
        func: impl Fn(&mut State, P) -> Result<R, HostError> + Send + Sync + 'static,
    ) where
        P: Lift + 'static,
        R: Lower + 'static,
    {
        self.define_typed(interface, name, true, func);
    }

    fn define_typed<P, R>(
        &mut self,
        interface: &str,
        name: &str,
        may_suspend: bool,
        func: impl Fn(&mut State, P) -> Result<R, HostError> + Send + Sync + 'static,
    ) where
        P: Lift + 'static,
        R: Lower + 'static,
    {
        let Some((versioned, ty)) = self.claim(interface, name) else {
            return;
        };
        let defined = self.linker.define_typed(&versioned, name, ty.clone(), func);
        if defined.is_ok() && !may_suspend {
            // Defined just above, so this cannot fail.
            let _ = self.linker.set_may_suspend(&versioned, name, false);
        }
        if let Err(e) = defined {
            // A host bug the tests catch; should one ship, the function
            // traps saying so rather than the host refusing to start.
            self.problems.push(e.to_string());
            let what = format!("{versioned}#{name}");
            self.linker.define_func(&versioned, name, ty, move |_, _| {
                Err(HostError::Trap(Trap::host(format!(
                    "host bug: {what} is implemented with the wrong Rust types"
                ))))
            });
        }
    }

    /// Implement `name` of `interface` with the dynamic ABI: the lifted
    /// arguments as [`Val`]s in, the result (if the type has one) out.
    pub fn dynamic(
        &mut self,
        interface: &str,
        name: &str,
        func: impl Fn(&mut State, &[Val]) -> Result<Option<Val>, HostError> + Send + Sync + 'static,
    ) {
        if let Some((versioned, ty)) = self.claim(interface, name) {
            self.linker.define_func(&versioned, name, ty, func);
        }
    }

    /// Define resource `T`, with a destructor that removes it from the
    /// request's table (its `Drop` then releases what it holds).
    pub fn resource<T: WitResource>(&mut self) {
        let k = key(T::INTERFACE, T::NAME);
        if !self.resources.contains_key(&k) {
            self.problems.push(format!(
                "{}#{} is not a resource of the WIT",
                T::INTERFACE,
                T::NAME
            ));
            return;
        }
        if !self.defined_resources.insert(k) {
            self.problems
                .push(format!("{}#{} is registered twice", T::INTERFACE, T::NAME));
            return;
        }
        self.linker.define_resource(
            T::INTERFACE,
            T::NAME,
            Some(Arc::new(|s: &mut State, rep: u32| {
                if s.table.remove::<T>(rep)?.is_none() {
                    tracing::debug!(request = s.id, "drop of a missing {} {rep}", T::NAME);
                }
                Ok(())
            })),
        );
    }

    /// Define what no file implements: functions that trap naming
    /// themselves, and resources whose destructor drops whatever the table
    /// holds at their rep. Then say what was registered.
    pub fn finish(self) -> Report {
        let Registry {
            linker,
            funcs,
            resources,
            defined_funcs,
            defined_resources,
            problems,
        } = self;
        for (k, (versioned, ty)) in &funcs {
            if defined_funcs.contains(k) {
                continue;
            }
            let what = format!("{versioned}#{}", k.1);
            linker.define_func(versioned, &k.1, ty.clone(), move |_, _| {
                Err(HostError::Trap(Trap::host(format!(
                    "{what} is not supported by cohost's wasi:http host"
                ))))
            });
        }
        for (k, versioned) in &resources {
            if defined_resources.contains(k) {
                continue;
            }
            let what: Arc<str> = format!("{versioned}#{}", k.1).into();
            linker.define_resource(
                versioned,
                &k.1,
                Some(Arc::new(move |s: &mut State, rep: u32| {
                    if !s.table.remove_any(rep)? {
                        tracing::debug!(request = s.id, "drop of a missing {what} {rep}");
                    }
                    Ok(())
                })),
            );
        }
        Report {
            funcs: defined_funcs,
            resources: defined_resources,
            problems,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_reports_host_bugs() {
        let mut linker = Linker::new();
        let mut r = Registry::new(&mut linker, wit());
        r.typed("wasi:io/poll", "[method]pollable.ready", |_, (): ()| {
            Ok(true)
        });
        r.typed("wasi:io/poll", "no-such-function", |_, (): ()| Ok(()));
        r.dynamic("wasi:clocks/monotonic-clock", "now", |_, _| Ok(None));
        r.dynamic("wasi:clocks/monotonic-clock", "now", |_, _| Ok(None));
        let report = r.finish();
        assert_eq!(report.problems.len(), 3, "{:#?}", report.problems);
        assert!(report.problems[0].contains("pollable.ready"));
        assert!(report.problems[1].contains("no-such-function"));
        assert!(report.problems[2].contains("twice"));
    }

    #[test]
    fn types_come_from_the_wit() {
        let (_, funcs) = wit().imports(PROXY_WORLD);
        let append = funcs
            .iter()
            .find(|f| f.name == "[method]fields.append")
            .unwrap();
        assert_eq!(
            append.ty.to_string(),
            "func(self: borrow<fields>, name: string, value: list<u8>) -> result<_, variant { invalid-syntax, forbidden, immutable }>"
        );
    }
}
