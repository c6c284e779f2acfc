//! The canonical ABI: lifting and lowering component values, flat (as core
//! values) and in linear memory.
//!
//! Everything here runs against an [`AbiContext`]: one guest memory, its
//! `realloc`, its string encoding, and the handle tables of the instance on
//! the guest side. Guest memory is untrusted: every pointer, length,
//! alignment, string, discriminant, flags bit and handle is checked, and a
//! violation is a [`Trap`] with a message naming it.

mod val;

pub use val::{Resource, Val};

use crate::error::Trap;
use crate::types::ResourceType;

/// The string encodings of the canonical ABI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum StringEncoding {
    /// `string-encoding=utf8`, the default.
    #[default]
    Utf8,
    /// `string-encoding=utf16`
    Utf16,
    /// `string-encoding=latin1+utf16`
    CompactUtf16,
}

/// What lifting and lowering need from the guest side of a call.
pub trait AbiContext {
    /// The guest's linear memory, or a trap if the canonical options name no
    /// memory and a value needs one.
    fn memory(&mut self) -> Result<&mut [u8], Trap>;

    /// Call the guest's `realloc(old_ptr, old_size, align, new_size)` and
    /// return the new pointer (unchecked: the caller checks alignment and
    /// bounds). Traps if the canonical options name no realloc.
    fn realloc(&mut self, old_ptr: u32, old_size: u32, align: u32, new_size: u32)
    -> Result<u32, Trap>;

    /// The string encoding of the guest side.
    fn string_encoding(&self) -> StringEncoding;

    /// Lift an `own<ty>` handle: take it out of the guest's handle table.
    fn lift_own(&mut self, ty: &ResourceType, handle: u32) -> Result<Resource, Trap>;

    /// Lift a `borrow<ty>` handle: look it up in the guest's handle table.
    fn lift_borrow(&mut self, ty: &ResourceType, handle: u32) -> Result<Resource, Trap>;

    /// Lower an owned resource: give it a new handle in the guest's table.
    fn lower_own(&mut self, resource: &Resource) -> Result<u32, Trap>;

    /// Lower a borrowed resource for the duration of the current call.
    fn lower_borrow(&mut self, resource: &Resource) -> Result<u32, Trap>;
}
