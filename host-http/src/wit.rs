//! The host's function types, straight from the vendored WIT.
//!
//! `wit/` (wasi:http@0.2.12 and its deps) is compiled into the binary with
//! `include_str!` and parsed once with wit-parser. Every function the host
//! registers gets the type the WIT gives it, converted to an engine-abi
//! [`Type`], with resources mapped to the host's [`ResourceType`]s. So the
//! types the host offers are exactly the WIT's, and a guest built against any
//! 0.2.x release binds to them (the linker matches interfaces by semver
//! track).
//!
//! What is registered:
//! - every function of every interface the `wasi:http/proxy` world imports,
//!   each from the table of implementations ([`crate::imports`]); a function
//!   without one is a bug (see the test `proxy_world_is_fully_implemented`);
//! - the other interfaces of `wasi:cli/imports` (environment, exit,
//!   terminals, filesystem, sockets…), which real toolchains import even for
//!   a proxy: implemented ones from the same table, the rest as functions
//!   that trap naming themselves, so such guests link and fail only if they
//!   really use them.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use engine_abi::Linker;
use engine_abi::abi::Val;
use engine_abi::engine::HostError;
use engine_abi::types::{
    Enum, Flags, FuncType, List, OptionType, Record, ResourceType, ResultType, Tuple, Type, Variant,
};
use wit_parser::{Handle, InterfaceId, Resolve, TypeDefKind, TypeId, WorldItem};

use crate::state::State;

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

/// A host function: the request's state and the lifted arguments in, the
/// result out.
pub type HostFn = fn(&mut State, &[Val]) -> Result<Option<Val>, HostError>;

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
pub struct WitResource {
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

    /// The resources and functions of the interfaces `world` imports.
    pub fn imports(&self, world: &str) -> (Vec<WitResource>, Vec<WitFunc>) {
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
                    resources.push(WitResource {
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

/// The implementations, by unversioned interface and function name.
pub type Impls = HashMap<(&'static str, &'static str), HostFn>;

/// Build the linker: every resource of both worlds with a destructor that
/// drops the host's table entry, and every function of both worlds.
pub fn linker(impls: &Impls) -> Linker<State> {
    let mut linker = Linker::new();
    let mut seen = std::collections::HashSet::new();
    for world in [PROXY_WORLD, EXTRA_WORLD] {
        let (resources, funcs) = wit().imports(world);
        for r in resources {
            if !seen.insert((r.interface.clone(), r.name.clone())) {
                continue;
            }
            let what: Arc<str> = format!("{}#{}", r.interface, r.name).into();
            linker.define_resource(
                &r.interface,
                &r.name,
                Some(Arc::new(move |s: &mut State, rep: u32| {
                    s.drop_resource(rep, &what)
                })),
            );
        }
        for f in funcs {
            if !seen.insert((f.interface.clone(), f.name.clone())) {
                continue;
            }
            let key = (unversioned(&f.interface), f.name.as_str());
            match impls.get(&key) {
                Some(&func) => linker.define_func(&f.interface, &f.name, f.ty, func),
                None => {
                    let what = format!("{}#{}", f.interface, f.name);
                    linker.define_func(&f.interface, &f.name, f.ty, move |_, _| {
                        Err(HostError::Trap(engine_abi::Trap::host(format!(
                            "{what} is not supported by cohost's wasi:http host"
                        ))))
                    })
                }
            }
        }
    }
    linker
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_world_is_fully_implemented() {
        let impls = crate::imports::table();
        let (_, funcs) = wit().imports(PROXY_WORLD);
        assert!(funcs.len() > 80, "only {} functions", funcs.len());
        let missing: Vec<String> = funcs
            .iter()
            .filter(|f| !impls.contains_key(&(unversioned(&f.interface), f.name.as_str())))
            .map(|f| format!("{}#{}", f.interface, f.name))
            .collect();
        assert!(missing.is_empty(), "not implemented: {missing:#?}");
    }

    #[test]
    fn every_implementation_is_a_wit_function() {
        let impls = crate::imports::table();
        let mut known = std::collections::HashSet::new();
        for world in [PROXY_WORLD, EXTRA_WORLD] {
            for f in wit().imports(world).1 {
                known.insert(format!("{}#{}", unversioned(&f.interface), f.name));
            }
        }
        for (i, n) in impls.keys() {
            assert!(
                known.contains(&format!("{i}#{n}")),
                "{i}#{n} is not in the WIT"
            );
        }
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
