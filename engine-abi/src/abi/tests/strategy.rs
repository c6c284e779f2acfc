//! proptest strategies: random component types (depth-limited) and random
//! values of a given type.

use std::sync::LazyLock;

use proptest::collection::vec;
use proptest::prelude::*;

use crate::abi::{Resource, StringEncoding, Val};
use crate::types::{
    Enum, Flags, List, OptionType, Record, ResourceType, ResultType, Tuple, Type, Variant,
};

/// Two resource types, so handles of both kinds appear.
pub static RESOURCES: LazyLock<[ResourceType; 2]> =
    LazyLock::new(|| [ResourceType::fresh("r0"), ResourceType::fresh("r1")]);

/// Any of the three string encodings.
pub fn encoding() -> impl Strategy<Value = StringEncoding> {
    prop_oneof![
        Just(StringEncoding::Utf8),
        Just(StringEncoding::Utf16),
        Just(StringEncoding::CompactUtf16),
    ]
}

fn names(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

/// A type without nesting. `empty_flags` allows `flags {}`, which the spec
/// no longer does and whose alignment wit-parser computes differently.
fn leaf(empty_flags: bool) -> impl Strategy<Value = Type> {
    let min_flags = usize::from(!empty_flags);
    prop_oneof![
        3 => prop_oneof![
            Just(Type::Bool),
            Just(Type::S8),
            Just(Type::U8),
            Just(Type::S16),
            Just(Type::U16),
            Just(Type::S32),
            Just(Type::U32),
            Just(Type::S64),
            Just(Type::U64),
            Just(Type::F32),
            Just(Type::F64),
            Just(Type::Char),
            Just(Type::String),
        ],
        1 => prop_oneof![
            4 => 1usize..6,
            1 => Just(256usize),
            1 => Just(257usize),
        ]
        .prop_map(|n| Type::Enum(Enum::new(names("e", n)))),
        1 => prop_oneof![min_flags..10usize, 10..20usize, 30..70usize]
            .prop_map(|n| Type::Flags(Flags::new(names("f", n)))),
        1 => (0..2usize, any::<bool>()).prop_map(|(i, own)| {
            let r = RESOURCES[i].clone();
            if own { Type::Own(r) } else { Type::Borrow(r) }
        }),
    ]
}

/// A random type, nested at most three deep.
pub fn ty(empty_flags: bool) -> impl Strategy<Value = Type> {
    leaf(empty_flags).prop_recursive(3, 32, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(|t| Type::List(List::new(t))),
            vec(inner.clone(), 0..5)
                .prop_map(|ts| Type::Record(Record::new(names("r", ts.len()).into_iter().zip(ts)))),
            vec(inner.clone(), 0..5).prop_map(|ts| Type::Tuple(Tuple::new(ts))),
            vec(proptest::option::of(inner.clone()), 1..5).prop_map(|ts| {
                Type::Variant(Variant::new(names("c", ts.len()).into_iter().zip(ts)))
            }),
            inner.clone().prop_map(|t| Type::Option(OptionType::new(t))),
            (
                proptest::option::of(inner.clone()),
                proptest::option::of(inner)
            )
                .prop_map(|(ok, err)| Type::Result(ResultType::new(ok, err))),
        ]
    })
}

/// An `f32` whose bits are random half the time (so NaNs of every payload
/// appear), special values otherwise.
fn f32_bits() -> impl Strategy<Value = f32> {
    prop_oneof![
        any::<u32>().prop_map(f32::from_bits),
        Just(f32::NAN),
        Just(-0.0f32),
        Just(f32::INFINITY),
        Just(f32::from_bits(0xffc0_0001)),
    ]
}

fn f64_bits() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<u64>().prop_map(f64::from_bits),
        Just(f64::NAN),
        Just(-0.0f64),
        Just(f64::from_bits(0xfff0_0000_0000_0001)),
    ]
}

/// Strings of ASCII, of latin-1 and of any Unicode, to take each path of
/// the encoders.
pub fn string() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{0,12}",
        "[\\x00-\\xff]{0,12}",
        any::<String>(),
        "[a-zé€😀]{0,12}",
    ]
}

/// A random value of type `ty`.
pub fn val(ty: &Type) -> BoxedStrategy<Val> {
    match ty {
        Type::Bool => any::<bool>().prop_map(Val::Bool).boxed(),
        Type::S8 => any::<i8>().prop_map(Val::S8).boxed(),
        Type::U8 => any::<u8>().prop_map(Val::U8).boxed(),
        Type::S16 => any::<i16>().prop_map(Val::S16).boxed(),
        Type::U16 => any::<u16>().prop_map(Val::U16).boxed(),
        Type::S32 => any::<i32>().prop_map(Val::S32).boxed(),
        Type::U32 => any::<u32>().prop_map(Val::U32).boxed(),
        Type::S64 => any::<i64>().prop_map(Val::S64).boxed(),
        Type::U64 => any::<u64>().prop_map(Val::U64).boxed(),
        Type::F32 => f32_bits().prop_map(Val::F32).boxed(),
        Type::F64 => f64_bits().prop_map(Val::F64).boxed(),
        Type::Char => any::<char>().prop_map(Val::Char).boxed(),
        Type::String => string().prop_map(Val::String).boxed(),
        Type::List(l) if *l.elem() == Type::U8 => prop_oneof![
            vec(any::<u8>(), 0..20).prop_map(Val::Bytes),
            vec(any::<u8>().prop_map(Val::U8), 0..20).prop_map(Val::List),
        ]
        .boxed(),
        Type::List(l) => vec(val(l.elem()), 0..4).prop_map(Val::List).boxed(),
        Type::Record(r) => {
            let names: Vec<String> = r.fields().iter().map(|(n, _)| n.to_string()).collect();
            let vals: Vec<_> = r.fields().iter().map(|(_, t)| val(t)).collect();
            vals.prop_map(move |vs| Val::Record(names.iter().cloned().zip(vs).collect()))
                .boxed()
        }
        Type::Tuple(t) => {
            let vals: Vec<_> = t.types().iter().map(val).collect();
            vals.prop_map(Val::Tuple).boxed()
        }
        Type::Variant(v) => {
            let cases: Vec<_> = v
                .cases()
                .iter()
                .map(|(n, t)| {
                    let n = n.to_string();
                    match t {
                        Some(t) => val(t)
                            .prop_map(move |v| Val::Variant(n.clone(), Some(Box::new(v))))
                            .boxed(),
                        None => Just(Val::Variant(n, None)).boxed(),
                    }
                })
                .collect();
            proptest::strategy::Union::new(cases).boxed()
        }
        Type::Enum(e) => {
            let names: Vec<String> = e.names().iter().map(|n| n.to_string()).collect();
            proptest::sample::select(names).prop_map(Val::Enum).boxed()
        }
        Type::Option(o) => proptest::option::of(val(o.some()))
            .prop_map(|v| Val::Option(v.map(Box::new)))
            .boxed(),
        Type::Result(r) => {
            let side = |t: Option<&Type>| match t {
                Some(t) => val(t).prop_map(|v| Some(Box::new(v))).boxed(),
                None => Just(None).boxed(),
            };
            prop_oneof![
                side(r.ok()).prop_map(|v| Val::Result(Ok(v))),
                side(r.err()).prop_map(|v| Val::Result(Err(v))),
            ]
            .boxed()
        }
        Type::Flags(f) => {
            let names: Vec<String> = f.names().iter().map(|n| n.to_string()).collect();
            vec(any::<bool>(), names.len())
                .prop_map(move |set| {
                    Val::Flags(
                        names
                            .iter()
                            .zip(set)
                            .filter(|(_, s)| *s)
                            .map(|(n, _)| n.clone())
                            .collect(),
                    )
                })
                .boxed()
        }
        Type::Own(rt) => {
            let rt = rt.clone();
            any::<u32>()
                .prop_map(move |rep| {
                    Val::Own(Resource {
                        ty: rt.clone(),
                        rep,
                    })
                })
                .boxed()
        }
        Type::Borrow(rt) => {
            let rt = rt.clone();
            any::<u32>()
                .prop_map(move |rep| {
                    Val::Borrow(Resource {
                        ty: rt.clone(),
                        rep,
                    })
                })
                .boxed()
        }
    }
}

/// A random type and a random value of it.
pub fn typed_val() -> impl Strategy<Value = (Type, Val)> {
    ty(true).prop_flat_map(|t| {
        let v = val(&t);
        (Just(t), v)
    })
}
