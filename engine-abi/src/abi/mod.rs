//! The canonical ABI: lifting and lowering component values, flat (as core
//! values) and in linear memory.
//!
//! Everything here runs against an [`AbiContext`]: one guest memory, its
//! `realloc`, its string encoding, and the handle tables of the instance on
//! the guest side. Guest memory is untrusted: every pointer, length,
//! alignment, string, discriminant, flags bit and handle is checked, and a
//! violation is a [`Trap`] with a message naming it.
//!
//! Two APIs share the same rules:
//!
//! - the dynamic one, over [`Val`] and [`Type`](crate::types::Type): [`lift_flat`], [`load`],
//!   [`lower_flat`], [`store`], and per call [`lower_args`], [`lift_args`],
//!   [`lift_result`], [`lower_result`];
//! - the typed one, [`typed`], for the host's own functions: Rust types that
//!   implement [`Lift`] and [`Lower`] move without boxing, with bulk copies
//!   for `list<u8>` (`Vec<u8>`, `[u8]`) and `string`.
//!
//! The algorithms are those of the component model's `CanonicalABI.md`
//! (`definitions.py`), with one deliberate difference: floats are
//! canonicalised to [`CANONICAL_NAN32`] / [`CANONICAL_NAN64`] on lowering as
//! well as on lifting (the deterministic profile), so every engine gives the
//! same bits. As the spec says, flags bits past the last label are ignored.

mod flat;
mod func;
mod lift;
mod lower;
mod memory;
mod string;
mod typecheck;
pub mod typed;
mod val;

#[cfg(test)]
mod tests;

pub use func::{
    lift_args, lift_result, lifted_core_type, lower_args, lower_result, lowered_core_type, retptr,
};
pub use lift::{lift_flat, load};
pub use lower::{lower_flat, store};
pub use typed::{ComponentType, ComponentValue, Lift, Lower, StaticLayout, VariantType};
pub use val::{Resource, Val};

use crate::error::Trap;
use crate::types::ResourceType;

/// The largest string, in bytes of its guest encoding, that is lifted or
/// lowered (the spec's `MAX_STRING_BYTE_LENGTH`, as wasmtime has it too);
/// what fits memory is the practical limit.
pub const MAX_STRING_BYTE_LENGTH: u32 = (1 << 31) - 1;

/// The largest list, in bytes of guest memory, that is lifted or lowered
/// (the spec's `MAX_LIST_BYTE_LENGTH`). Elements of size zero count as one
/// byte each, so that no guest length, however large, makes the host
/// allocate without bound.
pub const MAX_LIST_BYTE_LENGTH: u32 = (1 << 28) - 1;

/// In `latin1+utf16`, the bit of a string's length that says the string is
/// UTF-16 (the rest counts code units).
pub const UTF16_TAG: u32 = 1 << 31;

/// The canonical `f32` NaN: every NaN crossing the boundary becomes this.
pub const CANONICAL_NAN32: u32 = 0x7fc0_0000;

/// The canonical `f64` NaN: every NaN crossing the boundary becomes this.
pub const CANONICAL_NAN64: u64 = 0x7ff8_0000_0000_0000;

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
    fn realloc(
        &mut self,
        old_ptr: u32,
        old_size: u32,
        align: u32,
        new_size: u32,
    ) -> Result<u32, Trap>;

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
