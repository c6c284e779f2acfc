//! Dynamic component values, for generic calls (tests, the wast runner, the
//! dynamic host API).

use crate::types::ResourceType;

/// A resource as the host holds it: its type and its representation
/// (the guest's `rep` for a guest-defined resource, the host's key for a
/// host-defined one).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Resource {
    /// The resource's type.
    pub ty: ResourceType,
    /// The resource's representation.
    pub rep: u32,
}

/// A component value.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    /// `bool`
    Bool(bool),
    /// `s8`
    S8(i8),
    /// `u8`
    U8(u8),
    /// `s16`
    S16(i16),
    /// `u16`
    U16(u16),
    /// `s32`
    S32(i32),
    /// `u32`
    U32(u32),
    /// `s64`
    S64(i64),
    /// `u64`
    U64(u64),
    /// `f32`
    F32(f32),
    /// `f64`
    F64(f64),
    /// `char`
    Char(char),
    /// `string`
    String(String),
    /// `list<T>`; `list<u8>` values may use [`Val::Bytes`] instead.
    List(Vec<Val>),
    /// `list<u8>`, kept as bytes so it moves by bulk copy.
    Bytes(Vec<u8>),
    /// `record`, fields in type order.
    Record(Vec<(String, Val)>),
    /// `tuple`
    Tuple(Vec<Val>),
    /// `variant`: case name and payload.
    Variant(String, Option<Box<Val>>),
    /// `enum`: case name.
    Enum(String),
    /// `option`
    Option(Option<Box<Val>>),
    /// `result`
    Result(Result<Option<Box<Val>>, Option<Box<Val>>>),
    /// `flags`: the names of the flags that are set.
    Flags(Vec<String>),
    /// `own<R>`
    Own(Resource),
    /// `borrow<R>`
    Borrow(Resource),
}
