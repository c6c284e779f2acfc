//! Layouts and flattenings checked against wit-parser: each random type is
//! rebuilt as wit-parser `TypeDef`s in a `Resolve`, then `SizeAlign::fill`
//! gives size and alignment, `Resolve::push_flat` the flat types and
//! `Resolve::wasm_signature` the core signatures of functions.

use proptest::collection::vec;
use proptest::prelude::*;
use wit_parser::abi::{AbiVariant, FlatTypes, WasmType};
use wit_parser::{
    Case, EnumCase, Field, Flag, Function, FunctionKind, Handle, Param, Resolve, Result_,
    SizeAlign, TypeDef, TypeDefKind, TypeId, TypeOwner,
};

use super::strategy::ty;
use crate::abi::{lifted_core_type, lowered_core_type};
use crate::engine::{CoreFuncType, CoreType};
use crate::types::{FuncType, Type};

/// Builds wit-parser types in a `Resolve`.
struct Wit {
    resolve: Resolve,
    resource: Option<TypeId>,
}

impl Wit {
    fn new() -> Wit {
        Wit {
            resolve: Resolve::default(),
            resource: None,
        }
    }

    fn def(&mut self, kind: TypeDefKind) -> TypeId {
        self.resolve.types.alloc(TypeDef {
            name: None,
            kind,
            owner: TypeOwner::None,
            docs: Default::default(),
            stability: Default::default(),
            span: Default::default(),
            external_id: None,
        })
    }

    fn ty(&mut self, ty: &Type) -> wit_parser::Type {
        use wit_parser::Type as W;
        let kind = match ty {
            Type::Bool => return W::Bool,
            Type::S8 => return W::S8,
            Type::U8 => return W::U8,
            Type::S16 => return W::S16,
            Type::U16 => return W::U16,
            Type::S32 => return W::S32,
            Type::U32 => return W::U32,
            Type::S64 => return W::S64,
            Type::U64 => return W::U64,
            Type::F32 => return W::F32,
            Type::F64 => return W::F64,
            Type::Char => return W::Char,
            Type::String => return W::String,
            Type::List(l) => TypeDefKind::List(self.ty(l.elem())),
            Type::Record(r) => TypeDefKind::Record(wit_parser::Record {
                fields: r
                    .fields()
                    .iter()
                    .map(|(n, t)| Field {
                        name: n.to_string(),
                        ty: self.ty(t),
                        docs: Default::default(),
                        span: Default::default(),
                    })
                    .collect(),
            }),
            Type::Tuple(t) => TypeDefKind::Tuple(wit_parser::Tuple {
                types: t.types().iter().map(|t| self.ty(t)).collect(),
            }),
            Type::Variant(v) => TypeDefKind::Variant(wit_parser::Variant {
                cases: v
                    .cases()
                    .iter()
                    .map(|(n, t)| Case {
                        name: n.to_string(),
                        ty: t.as_ref().map(|t| self.ty(t)),
                        docs: Default::default(),
                        span: Default::default(),
                    })
                    .collect(),
            }),
            Type::Enum(e) => TypeDefKind::Enum(wit_parser::Enum {
                cases: e
                    .names()
                    .iter()
                    .map(|n| EnumCase {
                        name: n.to_string(),
                        docs: Default::default(),
                        span: Default::default(),
                    })
                    .collect(),
            }),
            Type::Option(o) => TypeDefKind::Option(self.ty(o.some())),
            Type::Result(r) => TypeDefKind::Result(Result_ {
                ok: r.ok().map(|t| self.ty(t)),
                err: r.err().map(|t| self.ty(t)),
            }),
            Type::Flags(f) => TypeDefKind::Flags(wit_parser::Flags {
                flags: f
                    .names()
                    .iter()
                    .map(|n| Flag {
                        name: n.to_string(),
                        docs: Default::default(),
                        span: Default::default(),
                    })
                    .collect(),
            }),
            Type::Own(_) | Type::Borrow(_) => {
                let resource = match self.resource {
                    Some(id) => id,
                    None => {
                        let id = self.def(TypeDefKind::Resource);
                        *self.resource.insert(id)
                    }
                };
                TypeDefKind::Handle(match ty {
                    Type::Own(_) => Handle::Own(resource),
                    _ => Handle::Borrow(resource),
                })
            }
        };
        W::Id(self.def(kind))
    }

    fn flat(&self, ty: &wit_parser::Type) -> Vec<CoreType> {
        let mut storage = [WasmType::I32; 1024];
        let mut flat = FlatTypes::new(&mut storage);
        assert!(self.resolve.push_flat(ty, &mut flat));
        flat.to_vec().into_iter().map(core).collect()
    }
}

fn core(t: WasmType) -> CoreType {
    match t {
        WasmType::I32 | WasmType::Pointer | WasmType::Length => CoreType::I32,
        WasmType::I64 | WasmType::PointerOrI64 => CoreType::I64,
        WasmType::F32 => CoreType::F32,
        WasmType::F64 => CoreType::F64,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn layouts_match_wit_parser(t in ty(false)) {
        let mut wit = Wit::new();
        let w = wit.ty(&t);
        let mut sizes = SizeAlign::default();
        sizes.fill(&wit.resolve);
        prop_assert_eq!(t.size() as usize, sizes.size(&w).size_wasm32(), "size of {}", t);
        prop_assert_eq!(t.align() as usize, sizes.align(&w).align_wasm32(), "align of {}", t);
        prop_assert_eq!(t.flat(), &wit.flat(&w)[..], "flattening of {}", t);
    }

    #[test]
    fn core_signatures_match_wit_parser(
        params in vec(ty(false), 0..20),
        result in proptest::option::of(ty(false)),
    ) {
        let ft = FuncType::new(params.iter().enumerate().map(|(i, t)| (format!("p{i}"), t.clone())), result.clone());
        let mut wit = Wit::new();
        let func = Function {
            name: "f".into(),
            kind: FunctionKind::Freestanding,
            params: params
                .iter()
                .enumerate()
                .map(|(i, t)| Param { name: format!("p{i}"), ty: wit.ty(t), span: Default::default() })
                .collect(),
            result: result.as_ref().map(|t| wit.ty(t)),
            docs: Default::default(),
            stability: Default::default(),
            span: Default::default(),
            external_id: None,
        };
        let sig = |v| {
            let s = wit.resolve.wasm_signature(v, &func);
            CoreFuncType::new(
                s.params.into_iter().map(core).collect::<Vec<_>>(),
                s.results.into_iter().map(core).collect::<Vec<_>>(),
            )
        };
        prop_assert_eq!(lowered_core_type(&ft), sig(AbiVariant::GuestImport), "lowered {}", ft);
        prop_assert_eq!(lifted_core_type(&ft), sig(AbiVariant::GuestExport), "lifted {}", ft);
    }
}
