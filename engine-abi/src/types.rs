//! Component value types, each with its canonical-ABI layout computed once,
//! when the type is built.
//!
//! Primitive types are plain variants; compound types hold an `Arc` of their
//! definition and layout, so cloning a [`Type`] is cheap and a lift or lower
//! never recomputes a size, an alignment or a flattening.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::engine::CoreType;

/// At most this many flat values are passed as core parameters; more go
/// through linear memory.
pub const MAX_FLAT_PARAMS: usize = 16;
/// At most this many flat values are returned as core results; more go
/// through linear memory.
pub const MAX_FLAT_RESULTS: usize = 1;

/// The canonical-ABI layout of a type: its size and alignment in linear
/// memory and its flattening into core values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Size in bytes in linear memory.
    pub size: u32,
    /// Alignment in bytes in linear memory.
    pub align: u32,
    /// The core values the type flattens to.
    pub flat: Box<[CoreType]>,
}

impl Layout {
    fn scalar(size: u32, flat: CoreType) -> Layout {
        Layout {
            size,
            align: size,
            flat: Box::new([flat]),
        }
    }
}

/// Round `offset` up to a multiple of `align` (a power of two).
pub fn align_to(offset: u32, align: u32) -> u32 {
    debug_assert!(align.is_power_of_two());
    offset.div_ceil(align) * align
}

/// A component value type.
#[derive(Clone, PartialEq, Eq)]
pub enum Type {
    /// `bool`
    Bool,
    /// `s8`
    S8,
    /// `u8`
    U8,
    /// `s16`
    S16,
    /// `u16`
    U16,
    /// `s32`
    S32,
    /// `u32`
    U32,
    /// `s64`
    S64,
    /// `u64`
    U64,
    /// `f32`
    F32,
    /// `f64`
    F64,
    /// `char`
    Char,
    /// `string`
    String,
    /// `list<T>`
    List(List),
    /// `record { … }`
    Record(Record),
    /// `tuple<…>`
    Tuple(Tuple),
    /// `variant { … }`
    Variant(Variant),
    /// `enum { … }`
    Enum(Enum),
    /// `option<T>`
    Option(OptionType),
    /// `result<T, E>`
    Result(ResultType),
    /// `flags { … }`
    Flags(Flags),
    /// `own<R>`
    Own(ResourceType),
    /// `borrow<R>`
    Borrow(ResourceType),
}

impl Type {
    /// The layout of this type.
    pub fn layout(&self) -> &Layout {
        use std::sync::LazyLock;
        static PRIMS: LazyLock<[Layout; 6]> = LazyLock::new(|| {
            [
                Layout::scalar(1, CoreType::I32),
                Layout::scalar(2, CoreType::I32),
                Layout::scalar(4, CoreType::I32),
                Layout::scalar(8, CoreType::I64),
                Layout::scalar(4, CoreType::F32),
                Layout::scalar(8, CoreType::F64),
            ]
        });
        static PTR_LEN: LazyLock<Layout> = LazyLock::new(|| Layout {
            size: 8,
            align: 4,
            flat: Box::new([CoreType::I32, CoreType::I32]),
        });
        match self {
            Type::Bool | Type::S8 | Type::U8 => &PRIMS[0],
            Type::S16 | Type::U16 => &PRIMS[1],
            Type::S32 | Type::U32 | Type::Char | Type::Own(_) | Type::Borrow(_) => &PRIMS[2],
            Type::S64 | Type::U64 => &PRIMS[3],
            Type::F32 => &PRIMS[4],
            Type::F64 => &PRIMS[5],
            Type::String => &PTR_LEN,
            Type::List(t) => &t.0.layout,
            Type::Record(t) => &t.0.layout,
            Type::Tuple(t) => &t.0.layout,
            Type::Variant(t) => &t.0.layout,
            Type::Enum(t) => &t.0.layout,
            Type::Option(t) => &t.0.layout,
            Type::Result(t) => &t.0.layout,
            Type::Flags(t) => &t.0.layout,
        }
    }

    /// Size in linear memory.
    pub fn size(&self) -> u32 {
        self.layout().size
    }

    /// Alignment in linear memory.
    pub fn align(&self) -> u32 {
        self.layout().align
    }

    /// The core types this type flattens to.
    pub fn flat(&self) -> &[CoreType] {
        &self.layout().flat
    }

    /// Whether values of this type may hold a handle (so lifting has side
    /// effects on handle tables) or need a post-return cleanup.
    pub fn has_handles(&self) -> bool {
        match self {
            Type::Own(_) | Type::Borrow(_) => true,
            Type::List(l) => l.elem().has_handles(),
            Type::Record(r) => r.fields().iter().any(|(_, t)| t.has_handles()),
            Type::Tuple(t) => t.types().iter().any(Type::has_handles),
            Type::Variant(v) => v
                .cases()
                .iter()
                .any(|(_, t)| t.as_ref().is_some_and(Type::has_handles)),
            Type::Option(o) => o.some().has_handles(),
            Type::Result(r) => {
                r.ok().is_some_and(Type::has_handles) || r.err().is_some_and(Type::has_handles)
            }
            _ => false,
        }
    }
}

fn join(a: CoreType, b: CoreType) -> CoreType {
    use CoreType::*;
    match (a, b) {
        (a, b) if a == b => a,
        (I32, F32) | (F32, I32) => I32,
        _ => I64,
    }
}

fn record_layout<'a>(fields: impl Iterator<Item = &'a Type>) -> Layout {
    let mut size = 0;
    let mut align = 1;
    let mut flat = Vec::new();
    for t in fields {
        let l = t.layout();
        size = align_to(size, l.align) + l.size;
        align = align.max(l.align);
        flat.extend_from_slice(&l.flat);
    }
    Layout {
        size: align_to(size, align),
        align,
        flat: flat.into(),
    }
}

/// The size in bytes of the discriminant of a variant with `cases` cases.
pub fn discriminant_size(cases: usize) -> u32 {
    if cases <= 1 << 8 {
        1
    } else if cases <= 1 << 16 {
        2
    } else {
        4
    }
}

fn variant_layout<'a>(count: usize, cases: impl Iterator<Item = Option<&'a Type>>) -> Layout {
    let disc = discriminant_size(count);
    let mut max_size = 0;
    let mut max_align = disc;
    let mut payload: Vec<CoreType> = Vec::new();
    for t in cases.flatten() {
        let l = t.layout();
        max_size = max_size.max(l.size);
        max_align = max_align.max(l.align);
        for (i, &f) in l.flat.iter().enumerate() {
            match payload.get_mut(i) {
                Some(p) => *p = join(*p, f),
                None => payload.push(f),
            }
        }
    }
    let payload_offset = align_to(disc, max_align);
    let mut flat = vec![CoreType::I32];
    flat.extend(payload);
    Layout {
        size: align_to(payload_offset + max_size, max_align),
        align: max_align,
        flat: flat.into(),
    }
}

macro_rules! compound {
    ($(#[$doc:meta])* $name:ident, $inner:ident { $($field:ident : $ty:ty),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name(Arc<$inner>);

        struct $inner {
            $($field: $ty,)*
            layout: Layout,
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                Arc::ptr_eq(&self.0, &other.0) || ($(self.0.$field == other.0.$field)&&*)
            }
        }
        impl Eq for $name {}
    };
}

compound!(
    /// `list<T>`
    List, ListInner { elem: Type }
);
compound!(
    /// `record { name: T, … }`
    Record, RecordInner { fields: Box<[(Box<str>, Type)]> }
);
compound!(
    /// `tuple<T, …>`
    Tuple, TupleInner { types: Box<[Type]> }
);
compound!(
    /// `variant { name(T), name, … }`
    Variant, VariantInner { cases: Box<[(Box<str>, Option<Type>)]> }
);
compound!(
    /// `enum { name, … }`
    Enum, EnumInner { names: Box<[Box<str>]> }
);
compound!(
    /// `option<T>`
    OptionType, OptionInner { some: Type }
);
compound!(
    /// `result<T, E>`, each side optional
    ResultType, ResultInner { ok: Option<Type>, err: Option<Type> }
);
compound!(
    /// `flags { name, … }`
    Flags, FlagsInner { names: Box<[Box<str>]> }
);

impl List {
    /// `list<elem>`
    pub fn new(elem: Type) -> List {
        let layout = Layout {
            size: 8,
            align: 4,
            flat: Box::new([CoreType::I32, CoreType::I32]),
        };
        List(Arc::new(ListInner { elem, layout }))
    }
    /// The element type.
    pub fn elem(&self) -> &Type {
        &self.0.elem
    }
}

impl Record {
    /// A record with `fields`, in order.
    pub fn new(fields: impl IntoIterator<Item = (impl Into<Box<str>>, Type)>) -> Record {
        let fields: Box<[(Box<str>, Type)]> =
            fields.into_iter().map(|(n, t)| (n.into(), t)).collect();
        let layout = record_layout(fields.iter().map(|(_, t)| t));
        Record(Arc::new(RecordInner { fields, layout }))
    }
    /// The fields, in order.
    pub fn fields(&self) -> &[(Box<str>, Type)] {
        &self.0.fields
    }
}

impl Tuple {
    /// A tuple of `types`.
    pub fn new(types: impl IntoIterator<Item = Type>) -> Tuple {
        let types: Box<[Type]> = types.into_iter().collect();
        let layout = record_layout(types.iter());
        Tuple(Arc::new(TupleInner { types, layout }))
    }
    /// The element types.
    pub fn types(&self) -> &[Type] {
        &self.0.types
    }
}

impl Variant {
    /// A variant with `cases`, each with an optional payload.
    pub fn new(cases: impl IntoIterator<Item = (impl Into<Box<str>>, Option<Type>)>) -> Variant {
        let cases: Box<[(Box<str>, Option<Type>)]> =
            cases.into_iter().map(|(n, t)| (n.into(), t)).collect();
        let layout = variant_layout(cases.len(), cases.iter().map(|(_, t)| t.as_ref()));
        Variant(Arc::new(VariantInner { cases, layout }))
    }
    /// The cases, in order.
    pub fn cases(&self) -> &[(Box<str>, Option<Type>)] {
        &self.0.cases
    }
}

impl Enum {
    /// An enum of `names`.
    pub fn new(names: impl IntoIterator<Item = impl Into<Box<str>>>) -> Enum {
        let names: Box<[Box<str>]> = names.into_iter().map(Into::into).collect();
        let layout = variant_layout(names.len(), std::iter::empty());
        Enum(Arc::new(EnumInner { names, layout }))
    }
    /// The case names, in order.
    pub fn names(&self) -> &[Box<str>] {
        &self.0.names
    }
}

impl OptionType {
    /// `option<some>`
    pub fn new(some: Type) -> OptionType {
        let layout = variant_layout(2, [None, Some(&some)].into_iter());
        OptionType(Arc::new(OptionInner { some, layout }))
    }
    /// The payload type of `some`.
    pub fn some(&self) -> &Type {
        &self.0.some
    }
}

impl ResultType {
    /// `result<ok, err>`
    pub fn new(ok: Option<Type>, err: Option<Type>) -> ResultType {
        let layout = variant_layout(2, [ok.as_ref(), err.as_ref()].into_iter());
        ResultType(Arc::new(ResultInner { ok, err, layout }))
    }
    /// The `ok` payload type.
    pub fn ok(&self) -> Option<&Type> {
        self.0.ok.as_ref()
    }
    /// The `err` payload type.
    pub fn err(&self) -> Option<&Type> {
        self.0.err.as_ref()
    }
}

impl Flags {
    /// Flags named `names`.
    pub fn new(names: impl IntoIterator<Item = impl Into<Box<str>>>) -> Flags {
        let names: Box<[Box<str>]> = names.into_iter().map(Into::into).collect();
        let n = names.len();
        let layout = if n == 0 {
            Layout {
                size: 0,
                align: 1,
                flat: Box::new([]),
            }
        } else if n <= 8 {
            Layout::scalar(1, CoreType::I32)
        } else if n <= 16 {
            Layout::scalar(2, CoreType::I32)
        } else {
            let words = n.div_ceil(32);
            Layout {
                size: 4 * words as u32,
                align: 4,
                flat: vec![CoreType::I32; words].into(),
            }
        };
        Flags(Arc::new(FlagsInner { names, layout }))
    }
    /// The flag names, in bit order.
    pub fn names(&self) -> &[Box<str>] {
        &self.0.names
    }
}

/// The identity of a resource type.
///
/// A resource type a component defines gets a fresh id each time it is
/// created, so two handle types match only if their ids do: that is what
/// keeps a `fields` handle from passing as a `request`. A resource type the
/// host defines is named by its interface and name instead, with the
/// interface's version reduced to its semver track (`wasi:http/types@0.2`),
/// so a guest built against 0.2.0 and the host's 0.2.12 agree on it.
#[derive(Clone)]
pub struct ResourceType(Arc<ResourceInner>);

struct ResourceInner {
    kind: ResourceKind,
    name: Box<str>,
}

#[derive(PartialEq, Eq, Hash)]
enum ResourceKind {
    Host(Box<str>),
    Guest(u32),
}

static NEXT_RESOURCE_ID: AtomicU32 = AtomicU32::new(0);

impl ResourceType {
    /// A resource type distinct from every other, named `name` in messages.
    pub fn fresh(name: impl Into<Box<str>>) -> ResourceType {
        let id = NEXT_RESOURCE_ID.fetch_add(1, Ordering::Relaxed);
        ResourceType(Arc::new(ResourceInner {
            kind: ResourceKind::Guest(id),
            name: name.into(),
        }))
    }

    /// The host's resource `name` of `interface` (empty for a resource
    /// imported at a component's top level).
    pub fn host(interface: &str, name: &str) -> ResourceType {
        let key = format!("{}#{name}", crate::names::semver_track(interface));
        ResourceType(Arc::new(ResourceInner {
            kind: ResourceKind::Host(key.into()),
            name: name.into(),
        }))
    }

    /// Whether the host defines this resource type.
    pub fn is_host(&self) -> bool {
        matches!(self.0.kind, ResourceKind::Host(_))
    }

    /// The name given at creation.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// The interface of a host resource (semver-tracked, as
    /// [`crate::names::semver_track`] gives it; empty at the top level);
    /// `None` for a guest resource.
    pub fn host_interface(&self) -> Option<&str> {
        match &self.0.kind {
            ResourceKind::Host(key) => key.rsplit_once('#').map(|(i, _)| i),
            ResourceKind::Guest(_) => None,
        }
    }
}

impl PartialEq for ResourceType {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.kind == other.0.kind
    }
}
impl Eq for ResourceType {}
impl std::hash::Hash for ResourceType {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.kind.hash(state)
    }
}

impl fmt::Debug for ResourceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0.kind {
            ResourceKind::Host(key) => write!(f, "{key}"),
            ResourceKind::Guest(id) => write!(f, "{}#{id}", self.0.name),
        }
    }
}

impl fmt::Debug for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// WIT-like syntax, for error messages.
impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn list(f: &mut fmt::Formatter<'_>, items: impl Iterator<Item = String>) -> fmt::Result {
            let items: Vec<String> = items.collect();
            f.write_str(&items.join(", "))
        }
        match self {
            Type::Bool => f.write_str("bool"),
            Type::S8 => f.write_str("s8"),
            Type::U8 => f.write_str("u8"),
            Type::S16 => f.write_str("s16"),
            Type::U16 => f.write_str("u16"),
            Type::S32 => f.write_str("s32"),
            Type::U32 => f.write_str("u32"),
            Type::S64 => f.write_str("s64"),
            Type::U64 => f.write_str("u64"),
            Type::F32 => f.write_str("f32"),
            Type::F64 => f.write_str("f64"),
            Type::Char => f.write_str("char"),
            Type::String => f.write_str("string"),
            Type::List(l) => write!(f, "list<{}>", l.elem()),
            Type::Record(r) => {
                f.write_str("record { ")?;
                list(f, r.fields().iter().map(|(n, t)| format!("{n}: {t}")))?;
                f.write_str(" }")
            }
            Type::Tuple(t) => {
                f.write_str("tuple<")?;
                list(f, t.types().iter().map(|t| t.to_string()))?;
                f.write_str(">")
            }
            Type::Variant(v) => {
                f.write_str("variant { ")?;
                list(
                    f,
                    v.cases().iter().map(|(n, t)| match t {
                        Some(t) => format!("{n}({t})"),
                        None => n.to_string(),
                    }),
                )?;
                f.write_str(" }")
            }
            Type::Enum(e) => {
                f.write_str("enum { ")?;
                list(f, e.names().iter().map(|n| n.to_string()))?;
                f.write_str(" }")
            }
            Type::Option(o) => write!(f, "option<{}>", o.some()),
            Type::Result(r) => {
                let side = |t: Option<&Type>| t.map_or("_".to_string(), |t| t.to_string());
                write!(f, "result<{}, {}>", side(r.ok()), side(r.err()))
            }
            Type::Flags(fl) => {
                f.write_str("flags { ")?;
                list(f, fl.names().iter().map(|n| n.to_string()))?;
                f.write_str(" }")
            }
            Type::Own(r) => write!(f, "own<{}>", r.name()),
            Type::Borrow(r) => write!(f, "borrow<{}>", r.name()),
        }
    }
}

/// The type of a component function: named parameters and an optional result.
#[derive(Clone, PartialEq, Eq)]
pub struct FuncType {
    params: Arc<[(Box<str>, Type)]>,
    result: Option<Type>,
    params_tuple: Tuple,
}

impl FuncType {
    /// A function taking `params` and returning `result`.
    pub fn new(
        params: impl IntoIterator<Item = (impl Into<Box<str>>, Type)>,
        result: Option<Type>,
    ) -> FuncType {
        let params: Arc<[(Box<str>, Type)]> =
            params.into_iter().map(|(n, t)| (n.into(), t)).collect();
        let params_tuple = Tuple::new(params.iter().map(|(_, t)| t.clone()));
        FuncType {
            params,
            result,
            params_tuple,
        }
    }
    /// The parameters, in order.
    pub fn params(&self) -> &[(Box<str>, Type)] {
        &self.params
    }
    /// Whether `other` takes and returns the same types, whatever its
    /// parameters are named: what a host function must match to satisfy
    /// an import (as in wasmtime, whose host functions have no parameter
    /// names; the names are the guest's documentation).
    pub fn same_signature(&self, other: &FuncType) -> bool {
        self.result == other.result
            && self.params.len() == other.params.len()
            && self
                .params
                .iter()
                .zip(other.params.iter())
                .all(|((_, a), (_, b))| a == b)
    }
    /// The parameter types as a tuple, whose layout is that of the
    /// in-memory parameter block.
    pub fn params_tuple(&self) -> &Tuple {
        &self.params_tuple
    }
    /// The result type.
    pub fn result(&self) -> Option<&Type> {
        self.result.as_ref()
    }
    /// Whether the parameters are passed through memory.
    pub fn params_in_memory(&self) -> bool {
        self.params_tuple.0.layout.flat.len() > MAX_FLAT_PARAMS
    }
    /// Whether the result is returned through memory.
    pub fn result_in_memory(&self) -> bool {
        self.result
            .as_ref()
            .is_some_and(|t| t.flat().len() > MAX_FLAT_RESULTS)
    }
}

impl fmt::Display for FuncType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("func(")?;
        for (i, (n, t)) in self.params.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{n}: {t}")?;
        }
        f.write_str(")")?;
        if let Some(r) = &self.result {
            write!(f, " -> {r}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for FuncType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_of_the_spec_examples() {
        let r = Type::Record(Record::new([
            ("a", Type::U8),
            ("b", Type::U32),
            ("c", Type::U16),
        ]));
        assert_eq!((r.size(), r.align()), (12, 4));
        let v = Type::Variant(Variant::new([
            ("a", Some(Type::F32)),
            ("b", Some(Type::U64)),
            ("c", None),
        ]));
        assert_eq!((v.size(), v.align()), (16, 8));
        assert_eq!(v.flat(), &[CoreType::I32, CoreType::I64]);
        let o = Type::Option(OptionType::new(Type::F32));
        assert_eq!(o.flat(), &[CoreType::I32, CoreType::F32]);
        let res = Type::Result(ResultType::new(Some(Type::F32), Some(Type::S32)));
        assert_eq!(res.flat(), &[CoreType::I32, CoreType::I32]);
        let flags = Type::Flags(Flags::new((0..40).map(|i| format!("f{i}"))));
        assert_eq!((flags.size(), flags.align(), flags.flat().len()), (8, 4, 2));
        let e = Type::Enum(Enum::new((0..300).map(|i| format!("e{i}"))));
        assert_eq!((e.size(), e.align()), (2, 2));
    }
}
