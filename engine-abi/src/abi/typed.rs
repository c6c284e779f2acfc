//! The typed API: Rust types that lift and lower themselves, so the host's
//! own functions move values without building a [`Val`](super::Val).
//!
//! [`ComponentType`] gives a type's component [`Type`] and its layout as a
//! constant ([`StaticLayout`]); [`Lower`] moves a value into the guest and
//! [`Lift`] out of it. They are implemented for `bool`, the integers,
//! `f32`/`f64`, `char`, `String` (and `str` for lowering), `Vec<T>` (and
//! `[T]`), `Option<T>`, `Result<T, E>`, tuples up to six, `()`, `&T`, and
//! the handles [`Own<R>`] and [`Borrow<R>`] of a [`HostResource`].
//! `Vec<u8>`/`[u8]` (and lists of the other numbers) move by bulk copies;
//! strings are transcoded in one pass.
//!
//! A record is implemented by hand, with [`StaticLayout::record`] and a
//! [`Fields`] cursor:
//!
//! ```
//! use engine_abi::abi::typed::{ComponentType, Fields, Lift, Lower, StaticLayout};
//! use engine_abi::abi::AbiContext;
//! use engine_abi::engine::CoreVal;
//! use engine_abi::error::Trap;
//! use engine_abi::types::{Record, Type};
//!
//! struct Header {
//!     name: String,
//!     value: Vec<u8>,
//! }
//!
//! impl ComponentType for Header {
//!     const LAYOUT: StaticLayout = StaticLayout::record(&[String::LAYOUT, <Vec<u8>>::LAYOUT]);
//!     fn ty() -> Type {
//!         Type::Record(Record::new([("name", String::ty()), ("value", <Vec<u8>>::ty())]))
//!     }
//! }
//!
//! impl Lower for Header {
//!     fn lower_flat<C: AbiContext + ?Sized>(&self, cx: &mut C, dst: &mut Vec<CoreVal>) -> Result<(), Trap> {
//!         self.name.lower_flat(cx, dst)?;
//!         self.value.lower_flat(cx, dst)
//!     }
//!     fn store<C: AbiContext + ?Sized>(&self, cx: &mut C, ptr: u32) -> Result<(), Trap> {
//!         let mut fields = Fields::new(ptr);
//!         fields.store(cx, &self.name)?;
//!         fields.store(cx, &self.value)
//!     }
//! }
//!
//! impl Lift for Header {
//!     fn lift_flat<C: AbiContext + ?Sized>(
//!         cx: &mut C,
//!         src: &mut impl Iterator<Item = CoreVal>,
//!     ) -> Result<Self, Trap> {
//!         Ok(Header { name: String::lift_flat(cx, src)?, value: Vec::lift_flat(cx, src)? })
//!     }
//!     fn load<C: AbiContext + ?Sized>(cx: &mut C, ptr: u32) -> Result<Self, Trap> {
//!         let mut fields = Fields::new(ptr);
//!         Ok(Header { name: fields.load(cx)?, value: fields.load(cx)? })
//!     }
//! }
//! ```

use std::fmt;
use std::marker::PhantomData;

use crate::engine::{CoreType, CoreVal};
use crate::error::Trap;
use crate::types::{
    List, MAX_FLAT_PARAMS, MAX_FLAT_RESULTS, OptionType, ResourceType, ResultType, Tuple, Type,
};

use super::flat::{
    bad_discriminant, begin_variant, canon_f32, canon_f64, char_from_u32, end_variant,
    lift_payload, next, skip_slots,
};
use super::memory::{
    check_bounds, check_list, check_ptr, element, list_byte_length, offset, read,
    read_discriminant, read_u32, realloc, slice, slice_mut, write, write_discriminant, write_u32,
};
use super::string::{load_string, store_string};
use super::{AbiContext, Resource};

/// The canonical-ABI layout of a Rust type, known at compile time: size,
/// alignment and flat core types, as [`Layout`](crate::types::Layout) is
/// for a [`Type`].
///
/// The flat types are kept for up to [`StaticLayout::FLAT_CAPACITY`]
/// values (the count is always exact). Only variants (`Option`, `Result`)
/// lowered or lifted flat need them, and flat passing stops at 16 values,
/// so a type past the capacity can still go through memory; flattening a
/// variant that large traps.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct StaticLayout {
    /// Size in bytes in linear memory.
    pub size: u32,
    /// Alignment in bytes in linear memory.
    pub align: u32,
    flat_count: usize,
    flat: [CoreType; StaticLayout::FLAT_CAPACITY],
}

impl StaticLayout {
    /// How many flat core types a layout records.
    pub const FLAT_CAPACITY: usize = 32;

    /// The layout of a type with no data (`()`, `tuple<>`).
    pub const EMPTY: StaticLayout = StaticLayout {
        size: 0,
        align: 1,
        flat_count: 0,
        flat: [CoreType::I32; StaticLayout::FLAT_CAPACITY],
    };

    /// The layout of `string` and `list<T>`: a pointer and a length.
    pub const POINTER_PAIR: StaticLayout = StaticLayout::record(&[
        StaticLayout::scalar(4, CoreType::I32),
        StaticLayout::scalar(4, CoreType::I32),
    ]);

    /// A scalar of `size` bytes (also its alignment) flattening to `flat`.
    pub const fn scalar(size: u32, flat: CoreType) -> StaticLayout {
        let mut layout = StaticLayout::EMPTY;
        layout.size = size;
        layout.align = size;
        layout.flat_count = 1;
        layout.flat[0] = flat;
        layout
    }

    /// A record (or tuple) of `fields`, in order.
    pub const fn record(fields: &[StaticLayout]) -> StaticLayout {
        let mut layout = StaticLayout::EMPTY;
        let mut i = 0;
        while i < fields.len() {
            let f = fields[i];
            layout.size = const_align_to(layout.size, f.align) + f.size;
            if f.align > layout.align {
                layout.align = f.align;
            }
            let mut j = 0;
            while j < f.flat_count && j < Self::FLAT_CAPACITY {
                if layout.flat_count + j < Self::FLAT_CAPACITY {
                    layout.flat[layout.flat_count + j] = f.flat[j];
                }
                j += 1;
            }
            layout.flat_count += f.flat_count;
            i += 1;
        }
        layout.size = const_align_to(layout.size, layout.align);
        layout
    }

    /// A variant whose cases have the payloads `cases` (`None` for a case
    /// without one): `option<T>` is `[None, Some(T)]`, `result<T, E>` is
    /// `[Some(T), Some(E)]`, an enum of `n` cases is `n` times `None`.
    pub const fn variant(cases: &[Option<StaticLayout>]) -> StaticLayout {
        let disc = const_discriminant_size(cases.len());
        let mut layout = StaticLayout::scalar(disc, CoreType::I32);
        let mut max_size = 0;
        let mut payload = 0;
        let mut i = 0;
        while i < cases.len() {
            if let Some(c) = cases[i] {
                if c.size > max_size {
                    max_size = c.size;
                }
                if c.align > layout.align {
                    layout.align = c.align;
                }
                let mut j = 0;
                while j < c.flat_count && j + 1 < Self::FLAT_CAPACITY {
                    layout.flat[j + 1] = if j < payload {
                        const_join(layout.flat[j + 1], c.flat[j])
                    } else {
                        c.flat[j]
                    };
                    j += 1;
                }
                if c.flat_count > payload {
                    payload = c.flat_count;
                }
            }
            i += 1;
        }
        layout.size = const_align_to(const_align_to(disc, layout.align) + max_size, layout.align);
        layout.flat_count = 1 + payload;
        layout
    }

    /// A flags type of `count` labels.
    pub const fn flags(count: usize) -> StaticLayout {
        if count == 0 {
            StaticLayout::EMPTY
        } else if count <= 8 {
            StaticLayout::scalar(1, CoreType::I32)
        } else if count <= 16 {
            StaticLayout::scalar(2, CoreType::I32)
        } else {
            let mut layout = StaticLayout::EMPTY;
            let words = count.div_ceil(32);
            layout.size = 4 * words as u32;
            layout.align = 4;
            layout.flat_count = words;
            layout
        }
    }

    /// How many core values the type flattens to.
    pub const fn flat_count(&self) -> usize {
        self.flat_count
    }

    /// The core types the type flattens to, or `None` past
    /// [`StaticLayout::FLAT_CAPACITY`].
    pub fn flat(&self) -> Option<&[CoreType]> {
        self.flat.get(..self.flat_count)
    }

    /// [`StaticLayout::flat`], or a trap saying the type is too large to
    /// pass flat through the typed API.
    fn flat_or_trap(&self) -> Result<&[CoreType], Trap> {
        self.flat().ok_or_else(|| {
            Trap::host(format!(
                "a variant flattening to {} core values is too large to pass flat with the typed API",
                self.flat_count
            ))
        })
    }

    /// The payload slots of a variant layout.
    fn slots(&self) -> Result<&[CoreType], Trap> {
        Ok(self.flat_or_trap()?.get(1..).unwrap_or_default())
    }

    /// Where the payload of a two-case variant (`option`, `result`) starts.
    fn payload_offset(&self) -> u32 {
        const_align_to(1, self.align)
    }
}

impl fmt::Debug for StaticLayout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("StaticLayout");
        d.field("size", &self.size).field("align", &self.align);
        match self.flat() {
            Some(flat) => d.field("flat", &flat),
            None => d.field("flat_count", &self.flat_count),
        };
        d.finish()
    }
}

const fn const_align_to(offset: u32, align: u32) -> u32 {
    offset.div_ceil(align) * align
}

const fn const_discriminant_size(cases: usize) -> u32 {
    if cases <= 1 << 8 {
        1
    } else if cases <= 1 << 16 {
        2
    } else {
        4
    }
}

const fn const_join(a: CoreType, b: CoreType) -> CoreType {
    match (a, b) {
        (CoreType::I32, CoreType::I32)
        | (CoreType::I32, CoreType::F32)
        | (CoreType::F32, CoreType::I32) => CoreType::I32,
        (CoreType::F32, CoreType::F32) => CoreType::F32,
        (CoreType::F64, CoreType::F64) => CoreType::F64,
        _ => CoreType::I64,
    }
}

/// A Rust type with a component type.
pub trait ComponentType {
    /// The canonical-ABI layout; must equal that of [`ComponentType::ty`].
    const LAYOUT: StaticLayout;

    /// The component type, for type checks at link time (not on the hot
    /// path: it builds the type).
    fn ty() -> Type;
}

/// A Rust value that can be lowered into a guest.
///
/// The `ptr` given to [`Lower::store`] should be aligned and in bounds for
/// the type (the free function [`store`] checks it); if it is not, every
/// write is still checked and traps, never panics.
pub trait Lower: ComponentType {
    /// Push the value's flat core values onto `dst`.
    fn lower_flat<C: AbiContext + ?Sized>(
        &self,
        cx: &mut C,
        dst: &mut Vec<CoreVal>,
    ) -> Result<(), Trap>;

    /// Store the value in linear memory at `ptr`.
    fn store<C: AbiContext + ?Sized>(&self, cx: &mut C, ptr: u32) -> Result<(), Trap>;

    /// Store `items` as consecutive elements from `ptr`, into a block
    /// already allocated and checked. Numbers override this with one bulk
    /// copy.
    fn store_list<C: AbiContext + ?Sized>(items: &[Self], cx: &mut C, ptr: u32) -> Result<(), Trap>
    where
        Self: Sized,
    {
        for (i, item) in (0..).zip(items) {
            item.store(cx, element(ptr, i, Self::LAYOUT.size)?)?;
        }
        Ok(())
    }
}

/// A Rust value that can be lifted out of a guest.
///
/// As for [`Lower`], the `ptr` of [`Lift::load`] should be checked first
/// (the free function [`load`] does), and a bad one traps.
pub trait Lift: ComponentType + Sized {
    /// Lift the value from its flat core values.
    fn lift_flat<C: AbiContext + ?Sized>(
        cx: &mut C,
        src: &mut impl Iterator<Item = CoreVal>,
    ) -> Result<Self, Trap>;

    /// Lift the value from linear memory at `ptr`.
    fn load<C: AbiContext + ?Sized>(cx: &mut C, ptr: u32) -> Result<Self, Trap>;

    /// Lift `len` consecutive elements from `ptr`, a range already checked.
    /// Numbers override this with one bulk copy.
    fn load_list<C: AbiContext + ?Sized>(
        cx: &mut C,
        ptr: u32,
        len: u32,
    ) -> Result<Vec<Self>, Trap> {
        let size = Self::LAYOUT.size;
        // Checked again so that no caller can make this reserve for an
        // unchecked length; elements of size zero reserve nothing.
        let mem_len = cx.memory()?.len();
        check_bounds(mem_len, ptr, u64::from(len) * u64::from(size), "list")?;
        let mut items = Vec::with_capacity(if size == 0 { 0 } else { len as usize });
        for i in 0..len {
            items.push(Self::load(cx, element(ptr, i, size)?)?);
        }
        Ok(items)
    }
}

/// A type that lifts and lowers.
pub trait ComponentValue: Lift + Lower {}

impl<T: Lift + Lower> ComponentValue for T {}

/// Store `value` at `ptr` after checking that `ptr` is aligned and the
/// value fits in memory.
pub fn store<T: Lower + ?Sized, C: AbiContext + ?Sized>(
    cx: &mut C,
    value: &T,
    ptr: u32,
) -> Result<(), Trap> {
    check_ptr(cx, ptr, T::LAYOUT.size, T::LAYOUT.align, "value")?;
    value.store(cx, ptr)
}

/// Load a `T` from `ptr` after checking that `ptr` is aligned and the value
/// lies in memory.
pub fn load<T: Lift, C: AbiContext + ?Sized>(cx: &mut C, ptr: u32) -> Result<T, Trap> {
    check_ptr(cx, ptr, T::LAYOUT.size, T::LAYOUT.align, "value")?;
    T::load(cx, ptr)
}

/// A cursor over the fields of a record (or tuple) in linear memory, each
/// at its aligned offset: call [`Fields::store`] or [`Fields::load`] once
/// per field, in order.
#[derive(Debug, Clone, Copy)]
pub struct Fields {
    ptr: u32,
    offset: u32,
}

impl Fields {
    /// A cursor over the record at `ptr`.
    pub fn new(ptr: u32) -> Fields {
        Fields { ptr, offset: 0 }
    }

    fn next<T: ComponentType + ?Sized>(&mut self) -> Result<u32, Trap> {
        let at = const_align_to(self.offset, T::LAYOUT.align);
        self.offset = at.saturating_add(T::LAYOUT.size);
        offset(self.ptr, at)
    }

    /// Store the next field.
    pub fn store<T: Lower + ?Sized, C: AbiContext + ?Sized>(
        &mut self,
        cx: &mut C,
        value: &T,
    ) -> Result<(), Trap> {
        let at = self.next::<T>()?;
        value.store(cx, at)
    }

    /// Load the next field.
    pub fn load<T: Lift, C: AbiContext + ?Sized>(&mut self, cx: &mut C) -> Result<T, Trap> {
        let at = self.next::<T>()?;
        T::load(cx, at)
    }
}

macro_rules! integers {
    ($($t:ty => $wit:ident, $core:ident, $get:ident, $raw:ty;)*) => {$(
        impl ComponentType for $t {
            const LAYOUT: StaticLayout =
                StaticLayout::scalar(size_of::<$t>() as u32, CoreType::$core);
            fn ty() -> Type {
                Type::$wit
            }
        }

        impl Lower for $t {
            fn lower_flat<C: AbiContext + ?Sized>(
                &self,
                _cx: &mut C,
                dst: &mut Vec<CoreVal>,
            ) -> Result<(), Trap> {
                dst.push(CoreVal::$core(*self as $raw));
                Ok(())
            }

            fn store<C: AbiContext + ?Sized>(&self, cx: &mut C, ptr: u32) -> Result<(), Trap> {
                write(cx, ptr, &self.to_le_bytes())
            }

            fn store_list<C: AbiContext + ?Sized>(
                items: &[Self],
                cx: &mut C,
                ptr: u32,
            ) -> Result<(), Trap> {
                const N: usize = size_of::<$t>();
                let dst = slice_mut(cx.memory()?, ptr, items.len() * N, "list")?;
                for (d, v) in dst.as_chunks_mut::<N>().0.iter_mut().zip(items) {
                    *d = v.to_le_bytes();
                }
                Ok(())
            }
        }

        impl Lift for $t {
            fn lift_flat<C: AbiContext + ?Sized>(
                _cx: &mut C,
                src: &mut impl Iterator<Item = CoreVal>,
            ) -> Result<Self, Trap> {
                Ok(next(src)?.$get()? as $t)
            }

            fn load<C: AbiContext + ?Sized>(cx: &mut C, ptr: u32) -> Result<Self, Trap> {
                Ok(<$t>::from_le_bytes(read(cx, ptr)?))
            }

            fn load_list<C: AbiContext + ?Sized>(
                cx: &mut C,
                ptr: u32,
                len: u32,
            ) -> Result<Vec<Self>, Trap> {
                const N: usize = size_of::<$t>();
                let bytes = slice(cx.memory()?, ptr, len as usize * N, "list")?;
                Ok(bytes.as_chunks::<N>().0.iter().map(|b| <$t>::from_le_bytes(*b)).collect())
            }
        }
    )*};
}

integers! {
    i8 => S8, I32, i32, i32;
    i16 => S16, I32, i32, i32;
    u16 => U16, I32, i32, i32;
    i32 => S32, I32, i32, i32;
    u32 => U32, I32, i32, i32;
    i64 => S64, I64, i64, i64;
    u64 => U64, I64, i64, i64;
}

/// `u8`, apart from the other integers so that `list<u8>` is one plain copy.
impl ComponentType for u8 {
    const LAYOUT: StaticLayout = StaticLayout::scalar(1, CoreType::I32);
    fn ty() -> Type {
        Type::U8
    }
}

impl Lower for u8 {
    fn lower_flat<C: AbiContext + ?Sized>(
        &self,
        _cx: &mut C,
        dst: &mut Vec<CoreVal>,
    ) -> Result<(), Trap> {
        dst.push(CoreVal::I32(i32::from(*self)));
        Ok(())
    }

    fn store<C: AbiContext + ?Sized>(&self, cx: &mut C, ptr: u32) -> Result<(), Trap> {
        write(cx, ptr, &[*self])
    }

    fn store_list<C: AbiContext + ?Sized>(items: &[u8], cx: &mut C, ptr: u32) -> Result<(), Trap> {
        write(cx, ptr, items)
    }
}

impl Lift for u8 {
    fn lift_flat<C: AbiContext + ?Sized>(
        _cx: &mut C,
        src: &mut impl Iterator<Item = CoreVal>,
    ) -> Result<Self, Trap> {
        Ok(next(src)?.i32()? as u8)
    }

    fn load<C: AbiContext + ?Sized>(cx: &mut C, ptr: u32) -> Result<Self, Trap> {
        Ok(read::<1, C>(cx, ptr)?[0])
    }

    fn load_list<C: AbiContext + ?Sized>(cx: &mut C, ptr: u32, len: u32) -> Result<Vec<u8>, Trap> {
        Ok(slice(cx.memory()?, ptr, len as usize, "list")?.to_vec())
    }
}

impl ComponentType for bool {
    const LAYOUT: StaticLayout = StaticLayout::scalar(1, CoreType::I32);
    fn ty() -> Type {
        Type::Bool
    }
}

impl Lower for bool {
    fn lower_flat<C: AbiContext + ?Sized>(
        &self,
        _cx: &mut C,
        dst: &mut Vec<CoreVal>,
    ) -> Result<(), Trap> {
        dst.push(CoreVal::I32(i32::from(*self)));
        Ok(())
    }

    fn store<C: AbiContext + ?Sized>(&self, cx: &mut C, ptr: u32) -> Result<(), Trap> {
        write(cx, ptr, &[u8::from(*self)])
    }
}

impl Lift for bool {
    fn lift_flat<C: AbiContext + ?Sized>(
        _cx: &mut C,
        src: &mut impl Iterator<Item = CoreVal>,
    ) -> Result<Self, Trap> {
        Ok(next(src)?.i32()? != 0)
    }

    fn load<C: AbiContext + ?Sized>(cx: &mut C, ptr: u32) -> Result<Self, Trap> {
        Ok(read::<1, C>(cx, ptr)?[0] != 0)
    }
}

impl ComponentType for char {
    const LAYOUT: StaticLayout = StaticLayout::scalar(4, CoreType::I32);
    fn ty() -> Type {
        Type::Char
    }
}

impl Lower for char {
    fn lower_flat<C: AbiContext + ?Sized>(
        &self,
        _cx: &mut C,
        dst: &mut Vec<CoreVal>,
    ) -> Result<(), Trap> {
        dst.push(CoreVal::I32(u32::from(*self) as i32));
        Ok(())
    }

    fn store<C: AbiContext + ?Sized>(&self, cx: &mut C, ptr: u32) -> Result<(), Trap> {
        write_u32(cx, ptr, u32::from(*self))
    }
}

impl Lift for char {
    fn lift_flat<C: AbiContext + ?Sized>(
        _cx: &mut C,
        src: &mut impl Iterator<Item = CoreVal>,
    ) -> Result<Self, Trap> {
        char_from_u32(next(src)?.i32()? as u32)
    }

    fn load<C: AbiContext + ?Sized>(cx: &mut C, ptr: u32) -> Result<Self, Trap> {
        char_from_u32(read_u32(cx, ptr)?)
    }
}

impl ComponentType for f32 {
    const LAYOUT: StaticLayout = StaticLayout::scalar(4, CoreType::F32);
    fn ty() -> Type {
        Type::F32
    }
}

impl Lower for f32 {
    fn lower_flat<C: AbiContext + ?Sized>(
        &self,
        _cx: &mut C,
        dst: &mut Vec<CoreVal>,
    ) -> Result<(), Trap> {
        dst.push(CoreVal::F32(canon_f32(self.to_bits())));
        Ok(())
    }

    fn store<C: AbiContext + ?Sized>(&self, cx: &mut C, ptr: u32) -> Result<(), Trap> {
        write_u32(cx, ptr, canon_f32(self.to_bits()))
    }
}

impl Lift for f32 {
    fn lift_flat<C: AbiContext + ?Sized>(
        _cx: &mut C,
        src: &mut impl Iterator<Item = CoreVal>,
    ) -> Result<Self, Trap> {
        Ok(f32::from_bits(canon_f32(next(src)?.f32_bits()?)))
    }

    fn load<C: AbiContext + ?Sized>(cx: &mut C, ptr: u32) -> Result<Self, Trap> {
        Ok(f32::from_bits(canon_f32(read_u32(cx, ptr)?)))
    }
}

impl ComponentType for f64 {
    const LAYOUT: StaticLayout = StaticLayout::scalar(8, CoreType::F64);
    fn ty() -> Type {
        Type::F64
    }
}

impl Lower for f64 {
    fn lower_flat<C: AbiContext + ?Sized>(
        &self,
        _cx: &mut C,
        dst: &mut Vec<CoreVal>,
    ) -> Result<(), Trap> {
        dst.push(CoreVal::F64(canon_f64(self.to_bits())));
        Ok(())
    }

    fn store<C: AbiContext + ?Sized>(&self, cx: &mut C, ptr: u32) -> Result<(), Trap> {
        write(cx, ptr, &canon_f64(self.to_bits()).to_le_bytes())
    }
}

impl Lift for f64 {
    fn lift_flat<C: AbiContext + ?Sized>(
        _cx: &mut C,
        src: &mut impl Iterator<Item = CoreVal>,
    ) -> Result<Self, Trap> {
        Ok(f64::from_bits(canon_f64(next(src)?.f64_bits()?)))
    }

    fn load<C: AbiContext + ?Sized>(cx: &mut C, ptr: u32) -> Result<Self, Trap> {
        Ok(f64::from_bits(canon_f64(u64::from_le_bytes(read(
            cx, ptr,
        )?))))
    }
}

/// Push a pointer pair.
fn push_pair(dst: &mut Vec<CoreVal>, (ptr, len): (u32, u32)) {
    dst.extend([CoreVal::I32(ptr as i32), CoreVal::I32(len as i32)]);
}

/// Store a pointer pair at `at`.
fn store_pair<C: AbiContext + ?Sized>(
    cx: &mut C,
    at: u32,
    (ptr, len): (u32, u32),
) -> Result<(), Trap> {
    write_u32(cx, at, ptr)?;
    write_u32(cx, offset(at, 4)?, len)
}

/// Read a pointer pair from flat values.
fn next_pair(src: &mut (impl Iterator<Item = CoreVal> + ?Sized)) -> Result<(u32, u32), Trap> {
    Ok((next(src)?.i32()? as u32, next(src)?.i32()? as u32))
}

/// Load a pointer pair from `at`.
fn load_pair<C: AbiContext + ?Sized>(cx: &mut C, at: u32) -> Result<(u32, u32), Trap> {
    Ok((read_u32(cx, at)?, read_u32(cx, offset(at, 4)?)?))
}

impl ComponentType for str {
    const LAYOUT: StaticLayout = StaticLayout::POINTER_PAIR;
    fn ty() -> Type {
        Type::String
    }
}

impl Lower for str {
    fn lower_flat<C: AbiContext + ?Sized>(
        &self,
        cx: &mut C,
        dst: &mut Vec<CoreVal>,
    ) -> Result<(), Trap> {
        push_pair(dst, store_string(cx, self)?);
        Ok(())
    }

    fn store<C: AbiContext + ?Sized>(&self, cx: &mut C, ptr: u32) -> Result<(), Trap> {
        let pair = store_string(cx, self)?;
        store_pair(cx, ptr, pair)
    }
}

impl ComponentType for String {
    const LAYOUT: StaticLayout = StaticLayout::POINTER_PAIR;
    fn ty() -> Type {
        Type::String
    }
}

impl Lower for String {
    fn lower_flat<C: AbiContext + ?Sized>(
        &self,
        cx: &mut C,
        dst: &mut Vec<CoreVal>,
    ) -> Result<(), Trap> {
        self.as_str().lower_flat(cx, dst)
    }

    fn store<C: AbiContext + ?Sized>(&self, cx: &mut C, ptr: u32) -> Result<(), Trap> {
        self.as_str().store(cx, ptr)
    }
}

impl Lift for String {
    fn lift_flat<C: AbiContext + ?Sized>(
        cx: &mut C,
        src: &mut impl Iterator<Item = CoreVal>,
    ) -> Result<Self, Trap> {
        let (ptr, len) = next_pair(src)?;
        load_string(cx, ptr, len)
    }

    fn load<C: AbiContext + ?Sized>(cx: &mut C, ptr: u32) -> Result<Self, Trap> {
        let (p, len) = load_pair(cx, ptr)?;
        load_string(cx, p, len)
    }
}

/// Allocate a guest list and store `items` in it.
fn lower_list<T: Lower, C: AbiContext + ?Sized>(
    cx: &mut C,
    items: &[T],
) -> Result<(u32, u32), Trap> {
    let byte_len = list_byte_length(items.len() as u64, T::LAYOUT.size, true)?;
    let ptr = realloc(cx, 0, 0, T::LAYOUT.align, byte_len, "list")?;
    T::store_list(items, cx, ptr)?;
    // Cannot truncate: `list_byte_length` bounds the length.
    Ok((ptr, items.len() as u32))
}

/// Check a guest list and lift its elements.
fn lift_list<T: Lift, C: AbiContext + ?Sized>(
    cx: &mut C,
    ptr: u32,
    len: u32,
) -> Result<Vec<T>, Trap> {
    check_list(cx, ptr, len, T::LAYOUT.size, T::LAYOUT.align)?;
    T::load_list(cx, ptr, len)
}

impl<T: ComponentType> ComponentType for [T] {
    const LAYOUT: StaticLayout = StaticLayout::POINTER_PAIR;
    fn ty() -> Type {
        Type::List(List::new(T::ty()))
    }
}

impl<T: Lower> Lower for [T] {
    fn lower_flat<C: AbiContext + ?Sized>(
        &self,
        cx: &mut C,
        dst: &mut Vec<CoreVal>,
    ) -> Result<(), Trap> {
        push_pair(dst, lower_list(cx, self)?);
        Ok(())
    }

    fn store<C: AbiContext + ?Sized>(&self, cx: &mut C, ptr: u32) -> Result<(), Trap> {
        let pair = lower_list(cx, self)?;
        store_pair(cx, ptr, pair)
    }
}

impl<T: ComponentType> ComponentType for Vec<T> {
    const LAYOUT: StaticLayout = StaticLayout::POINTER_PAIR;
    fn ty() -> Type {
        <[T]>::ty()
    }
}

impl<T: Lower> Lower for Vec<T> {
    fn lower_flat<C: AbiContext + ?Sized>(
        &self,
        cx: &mut C,
        dst: &mut Vec<CoreVal>,
    ) -> Result<(), Trap> {
        self.as_slice().lower_flat(cx, dst)
    }

    fn store<C: AbiContext + ?Sized>(&self, cx: &mut C, ptr: u32) -> Result<(), Trap> {
        self.as_slice().store(cx, ptr)
    }
}

impl<T: Lift> Lift for Vec<T> {
    fn lift_flat<C: AbiContext + ?Sized>(
        cx: &mut C,
        src: &mut impl Iterator<Item = CoreVal>,
    ) -> Result<Self, Trap> {
        let (ptr, len) = next_pair(src)?;
        lift_list(cx, ptr, len)
    }

    fn load<C: AbiContext + ?Sized>(cx: &mut C, ptr: u32) -> Result<Self, Trap> {
        let (p, len) = load_pair(cx, ptr)?;
        lift_list(cx, p, len)
    }
}

impl<T: ComponentType + ?Sized> ComponentType for &T {
    const LAYOUT: StaticLayout = T::LAYOUT;
    fn ty() -> Type {
        T::ty()
    }
}

impl<T: Lower + ?Sized> Lower for &T {
    fn lower_flat<C: AbiContext + ?Sized>(
        &self,
        cx: &mut C,
        dst: &mut Vec<CoreVal>,
    ) -> Result<(), Trap> {
        (**self).lower_flat(cx, dst)
    }

    fn store<C: AbiContext + ?Sized>(&self, cx: &mut C, ptr: u32) -> Result<(), Trap> {
        (**self).store(cx, ptr)
    }
}

/// Lower case `disc` of the variant-like `V` flat, with `payload`.
fn lower_case_flat<V: ComponentType + ?Sized, T: Lower + ?Sized, C: AbiContext + ?Sized>(
    cx: &mut C,
    disc: u32,
    payload: Option<&T>,
    dst: &mut Vec<CoreVal>,
) -> Result<(), Trap> {
    let layout = V::LAYOUT;
    let slots = layout.slots()?;
    let start = begin_variant(dst, disc);
    if let Some(v) = payload {
        v.lower_flat(cx, dst)?;
    }
    end_variant(dst, start, slots)
}

/// Store case `disc` of the two-case variant `V` at `ptr`, with `payload`.
fn store_case<V: ComponentType + ?Sized, T: Lower + ?Sized, C: AbiContext + ?Sized>(
    cx: &mut C,
    disc: u8,
    payload: Option<&T>,
    ptr: u32,
) -> Result<(), Trap> {
    write(cx, ptr, &[disc])?;
    match payload {
        Some(v) => v.store(cx, offset(ptr, V::LAYOUT.payload_offset())?),
        None => Ok(()),
    }
}

/// Lift the payload of a case of the variant-like `V` as a `T`.
fn lift_case_flat<V: ComponentType + ?Sized, T: Lift, C: AbiContext + ?Sized>(
    cx: &mut C,
    src: &mut impl Iterator<Item = CoreVal>,
) -> Result<T, Trap> {
    let (layout, case) = (V::LAYOUT, T::LAYOUT);
    lift_payload(src, layout.slots()?, case.flat_or_trap()?, |it| {
        T::lift_flat(cx, it)
    })
}

/// Skip the payload slots of the variant-like `V`, for a case without one.
fn skip_case_flat<V: ComponentType + ?Sized>(
    src: &mut impl Iterator<Item = CoreVal>,
) -> Result<(), Trap> {
    let layout = V::LAYOUT;
    skip_slots(src, layout.slots()?)
}

/// A variant (or enum) whose [`Lift`] and [`Lower`] are written by hand,
/// with [`lower_variant_flat`], [`store_variant`], [`lift_variant_flat`]
/// and [`load_variant`]: its [`ComponentType::LAYOUT`] comes from
/// [`StaticLayout::variant`] over the same cases, and `CASES` is their
/// count, which sizes the discriminant and bounds it when lifting.
///
/// ```
/// use engine_abi::abi::typed::{
///     self, ComponentType, Lift, Lower, StaticLayout, VariantType,
/// };
/// use engine_abi::abi::AbiContext;
/// use engine_abi::engine::CoreVal;
/// use engine_abi::error::Trap;
/// use engine_abi::types::{Type, Variant};
///
/// /// `variant shape { point, circle(u32) }`
/// enum Shape {
///     Point,
///     Circle(u32),
/// }
///
/// impl ComponentType for Shape {
///     const LAYOUT: StaticLayout = StaticLayout::variant(&[None, Some(u32::LAYOUT)]);
///     fn ty() -> Type {
///         Type::Variant(Variant::new([("point", None), ("circle", Some(u32::ty()))]))
///     }
/// }
///
/// impl VariantType for Shape {
///     const CASES: u32 = 2;
///     const NAME: &'static str = "shape";
/// }
///
/// impl Lower for Shape {
///     fn lower_flat<C: AbiContext + ?Sized>(&self, cx: &mut C, dst: &mut Vec<CoreVal>) -> Result<(), Trap> {
///         match self {
///             Shape::Point => typed::lower_variant_flat::<Self, _, _>(cx, 0, &(), dst),
///             Shape::Circle(r) => typed::lower_variant_flat::<Self, _, _>(cx, 1, r, dst),
///         }
///     }
///     fn store<C: AbiContext + ?Sized>(&self, cx: &mut C, ptr: u32) -> Result<(), Trap> {
///         match self {
///             Shape::Point => typed::store_variant::<Self, _, _>(cx, 0, &(), ptr),
///             Shape::Circle(r) => typed::store_variant::<Self, _, _>(cx, 1, r, ptr),
///         }
///     }
/// }
///
/// impl Lift for Shape {
///     fn lift_flat<C: AbiContext + ?Sized>(
///         cx: &mut C,
///         src: &mut impl Iterator<Item = CoreVal>,
///     ) -> Result<Self, Trap> {
///         let case = typed::lift_variant_flat::<Self, _>(src)?;
///         Ok(match case.discriminant() {
///             0 => case.payload::<(), _>(cx).map(|()| Shape::Point)?,
///             _ => Shape::Circle(case.payload(cx)?),
///         })
///     }
///     fn load<C: AbiContext + ?Sized>(cx: &mut C, ptr: u32) -> Result<Self, Trap> {
///         let case = typed::load_variant::<Self, _>(cx, ptr)?;
///         Ok(match case.discriminant() {
///             0 => Shape::Point,
///             _ => Shape::Circle(case.payload(cx)?),
///         })
///     }
/// }
/// ```
pub trait VariantType: ComponentType {
    /// How many cases the variant has.
    const CASES: u32;
    /// The variant's name, for trap messages (`error-code`).
    const NAME: &'static str;
}

/// The size of `V`'s discriminant in memory.
const fn discriminant_size<V: VariantType + ?Sized>() -> u32 {
    const_discriminant_size(V::CASES as usize)
}

/// Where `V`'s payload starts in memory, from the variant's start.
const fn variant_payload_offset<V: VariantType + ?Sized>() -> u32 {
    const_align_to(discriminant_size::<V>(), V::LAYOUT.align)
}

/// A discriminant the guest gave must name a case.
fn check_case<V: VariantType + ?Sized>(disc: u32) -> Result<(), Trap> {
    if disc < V::CASES {
        Ok(())
    } else {
        Err(bad_discriminant(V::NAME, disc, V::CASES as usize))
    }
}

/// A discriminant the host lowers must name a case, or the host has a bug.
fn check_lowered_case<V: VariantType + ?Sized>(disc: u32) -> Result<(), Trap> {
    if disc < V::CASES {
        Ok(())
    } else {
        Err(Trap::host(format!(
            "host bug: {} case {disc} lowered, but the variant has {} cases",
            V::NAME,
            V::CASES
        )))
    }
}

/// Lower case `disc` of the hand-written variant `V` flat, with `payload`
/// (`&()` for a case without one).
pub fn lower_variant_flat<V: VariantType + ?Sized, T: Lower + ?Sized, C: AbiContext + ?Sized>(
    cx: &mut C,
    disc: u32,
    payload: &T,
    dst: &mut Vec<CoreVal>,
) -> Result<(), Trap> {
    check_lowered_case::<V>(disc)?;
    lower_case_flat::<V, T, C>(cx, disc, Some(payload), dst)
}

/// Store case `disc` of the hand-written variant `V` at `ptr`, with
/// `payload` (`&()` for a case without one).
pub fn store_variant<V: VariantType + ?Sized, T: Lower + ?Sized, C: AbiContext + ?Sized>(
    cx: &mut C,
    disc: u32,
    payload: &T,
    ptr: u32,
) -> Result<(), Trap> {
    check_lowered_case::<V>(disc)?;
    write_discriminant(cx, ptr, discriminant_size::<V>(), disc)?;
    payload.store(cx, offset(ptr, variant_payload_offset::<V>())?)
}

/// A case of the hand-written variant `V` being lifted flat: its checked
/// discriminant, and the flat values its payload is read from.
pub struct FlatCase<'s, V: ?Sized, I> {
    disc: u32,
    src: &'s mut I,
    _variant: PhantomData<fn() -> V>,
}

impl<V: VariantType + ?Sized, I: Iterator<Item = CoreVal>> FlatCase<'_, V, I> {
    /// The case's discriminant, less than `V::CASES`.
    pub fn discriminant(&self) -> u32 {
        self.disc
    }

    /// Lift the case's payload as a `T` (`()` for a case without one) and
    /// consume the variant's remaining flat values.
    pub fn payload<T: Lift, C: AbiContext + ?Sized>(self, cx: &mut C) -> Result<T, Trap> {
        lift_case_flat::<V, T, C>(cx, self.src)
    }
}

/// Begin lifting the hand-written variant `V` flat: read and check its
/// discriminant. The caller then lifts the payload with
/// [`FlatCase::payload`], which it must do (also for a case without one)
/// to consume the variant's flat values.
pub fn lift_variant_flat<V: VariantType + ?Sized, I: Iterator<Item = CoreVal>>(
    src: &mut I,
) -> Result<FlatCase<'_, V, I>, Trap> {
    let disc = next(src)?.i32()? as u32;
    check_case::<V>(disc)?;
    Ok(FlatCase {
        disc,
        src,
        _variant: PhantomData,
    })
}

/// A case of the hand-written variant `V` being loaded from memory: its
/// checked discriminant and where its payload is.
pub struct MemoryCase<V: ?Sized> {
    disc: u32,
    payload: u32,
    _variant: PhantomData<fn() -> V>,
}

impl<V: VariantType + ?Sized> MemoryCase<V> {
    /// The case's discriminant, less than `V::CASES`.
    pub fn discriminant(&self) -> u32 {
        self.disc
    }

    /// Load the case's payload as a `T`.
    pub fn payload<T: Lift, C: AbiContext + ?Sized>(&self, cx: &mut C) -> Result<T, Trap> {
        T::load(cx, self.payload)
    }
}

/// Begin loading the hand-written variant `V` at `ptr`: read and check its
/// discriminant.
pub fn load_variant<V: VariantType + ?Sized, C: AbiContext + ?Sized>(
    cx: &mut C,
    ptr: u32,
) -> Result<MemoryCase<V>, Trap> {
    let disc = read_discriminant(cx, ptr, discriminant_size::<V>())?;
    check_case::<V>(disc)?;
    Ok(MemoryCase {
        disc,
        payload: offset(ptr, variant_payload_offset::<V>())?,
        _variant: PhantomData,
    })
}

impl<T: ComponentType> ComponentType for Option<T> {
    const LAYOUT: StaticLayout = StaticLayout::variant(&[None, Some(T::LAYOUT)]);
    fn ty() -> Type {
        Type::Option(OptionType::new(T::ty()))
    }
}

impl<T: Lower> Lower for Option<T> {
    fn lower_flat<C: AbiContext + ?Sized>(
        &self,
        cx: &mut C,
        dst: &mut Vec<CoreVal>,
    ) -> Result<(), Trap> {
        lower_case_flat::<Self, T, C>(cx, u32::from(self.is_some()), self.as_ref(), dst)
    }

    fn store<C: AbiContext + ?Sized>(&self, cx: &mut C, ptr: u32) -> Result<(), Trap> {
        store_case::<Self, T, C>(cx, u8::from(self.is_some()), self.as_ref(), ptr)
    }
}

impl<T: Lift> Lift for Option<T> {
    fn lift_flat<C: AbiContext + ?Sized>(
        cx: &mut C,
        src: &mut impl Iterator<Item = CoreVal>,
    ) -> Result<Self, Trap> {
        match next(src)?.i32()? {
            0 => skip_case_flat::<Self>(src).map(|()| None),
            1 => lift_case_flat::<Self, T, C>(cx, src).map(Some),
            d => Err(bad_discriminant("option", d as u32, 2)),
        }
    }

    fn load<C: AbiContext + ?Sized>(cx: &mut C, ptr: u32) -> Result<Self, Trap> {
        match read::<1, C>(cx, ptr)?[0] {
            0 => Ok(None),
            1 => T::load(cx, offset(ptr, Self::LAYOUT.payload_offset())?).map(Some),
            d => Err(bad_discriminant("option", d.into(), 2)),
        }
    }
}

/// `result<T, E>`. A payload type of `()` stands for no payload:
/// `Result<(), E>` is `result<_, E>` (the two have the same layout).
impl<T: ComponentType, E: ComponentType> ComponentType for Result<T, E> {
    const LAYOUT: StaticLayout = StaticLayout::variant(&[Some(T::LAYOUT), Some(E::LAYOUT)]);
    fn ty() -> Type {
        fn payload(t: Type) -> Option<Type> {
            match &t {
                Type::Tuple(tuple) if tuple.types().is_empty() => None,
                _ => Some(t),
            }
        }
        Type::Result(ResultType::new(payload(T::ty()), payload(E::ty())))
    }
}

impl<T: Lower, E: Lower> Lower for Result<T, E> {
    fn lower_flat<C: AbiContext + ?Sized>(
        &self,
        cx: &mut C,
        dst: &mut Vec<CoreVal>,
    ) -> Result<(), Trap> {
        match self {
            Ok(v) => lower_case_flat::<Self, T, C>(cx, 0, Some(v), dst),
            Err(e) => lower_case_flat::<Self, E, C>(cx, 1, Some(e), dst),
        }
    }

    fn store<C: AbiContext + ?Sized>(&self, cx: &mut C, ptr: u32) -> Result<(), Trap> {
        match self {
            Ok(v) => store_case::<Self, T, C>(cx, 0, Some(v), ptr),
            Err(e) => store_case::<Self, E, C>(cx, 1, Some(e), ptr),
        }
    }
}

impl<T: Lift, E: Lift> Lift for Result<T, E> {
    fn lift_flat<C: AbiContext + ?Sized>(
        cx: &mut C,
        src: &mut impl Iterator<Item = CoreVal>,
    ) -> Result<Self, Trap> {
        match next(src)?.i32()? {
            0 => lift_case_flat::<Self, T, C>(cx, src).map(Ok),
            1 => lift_case_flat::<Self, E, C>(cx, src).map(Err),
            d => Err(bad_discriminant("result", d as u32, 2)),
        }
    }

    fn load<C: AbiContext + ?Sized>(cx: &mut C, ptr: u32) -> Result<Self, Trap> {
        let at = offset(ptr, Self::LAYOUT.payload_offset())?;
        match read::<1, C>(cx, ptr)?[0] {
            0 => T::load(cx, at).map(Ok),
            1 => E::load(cx, at).map(Err),
            d => Err(bad_discriminant("result", d.into(), 2)),
        }
    }
}

impl ComponentType for () {
    const LAYOUT: StaticLayout = StaticLayout::EMPTY;
    fn ty() -> Type {
        Type::Tuple(Tuple::new([]))
    }
}

impl Lower for () {
    fn lower_flat<C: AbiContext + ?Sized>(
        &self,
        _cx: &mut C,
        _dst: &mut Vec<CoreVal>,
    ) -> Result<(), Trap> {
        Ok(())
    }

    fn store<C: AbiContext + ?Sized>(&self, _cx: &mut C, _ptr: u32) -> Result<(), Trap> {
        Ok(())
    }
}

impl Lift for () {
    fn lift_flat<C: AbiContext + ?Sized>(
        _cx: &mut C,
        _src: &mut impl Iterator<Item = CoreVal>,
    ) -> Result<Self, Trap> {
        Ok(())
    }

    fn load<C: AbiContext + ?Sized>(_cx: &mut C, _ptr: u32) -> Result<Self, Trap> {
        Ok(())
    }
}

macro_rules! tuples {
    ($(($($n:tt $t:ident),+))*) => {$(
        impl<$($t: ComponentType),+> ComponentType for ($($t,)+) {
            const LAYOUT: StaticLayout = StaticLayout::record(&[$(<$t as ComponentType>::LAYOUT),+]);
            fn ty() -> Type {
                Type::Tuple(Tuple::new([$(<$t as ComponentType>::ty()),+]))
            }
        }

        impl<$($t: Lower),+> Lower for ($($t,)+) {
            fn lower_flat<Cx: AbiContext + ?Sized>(
                &self,
                cx: &mut Cx,
                dst: &mut Vec<CoreVal>,
            ) -> Result<(), Trap> {
                $(self.$n.lower_flat(cx, dst)?;)+
                Ok(())
            }

            fn store<Cx: AbiContext + ?Sized>(&self, cx: &mut Cx, ptr: u32) -> Result<(), Trap> {
                let mut fields = Fields::new(ptr);
                $(fields.store(cx, &self.$n)?;)+
                Ok(())
            }
        }

        impl<$($t: Lift),+> Lift for ($($t,)+) {
            fn lift_flat<Cx: AbiContext + ?Sized>(
                cx: &mut Cx,
                src: &mut impl Iterator<Item = CoreVal>,
            ) -> Result<Self, Trap> {
                Ok(($(<$t as Lift>::lift_flat(cx, src)?,)+))
            }

            fn load<Cx: AbiContext + ?Sized>(cx: &mut Cx, ptr: u32) -> Result<Self, Trap> {
                let mut fields = Fields::new(ptr);
                Ok(($(fields.load::<$t, Cx>(cx)?,)+))
            }
        }
    )*};
}

tuples! {
    (0 A)
    (0 A, 1 B)
    (0 A, 1 B, 2 C)
    (0 A, 1 B, 2 C, 3 D)
    (0 A, 1 B, 2 C, 3 D, 4 E)
    (0 A, 1 B, 2 C, 3 D, 4 E, 5 F)
}

/// A resource type the host names statically, so handles to it can be
/// typed: [`Own<R>`] and [`Borrow<R>`].
pub trait HostResource: 'static {
    /// The resource's type. Called on every lift: keep it in a static
    /// rather than building it each time.
    fn resource_type() -> ResourceType;
}

macro_rules! handles {
    ($($(#[$doc:meta])* $name:ident, $wit:ident, $lift:ident, $lower:ident;)*) => {$(
        $(#[$doc])*
        pub struct $name<R: HostResource> {
            resource: Resource,
            _type: PhantomData<fn() -> R>,
        }

        impl<R: HostResource> $name<R> {
            /// A handle to the resource represented by `rep`.
            pub fn new(rep: u32) -> Self {
                $name { resource: Resource { ty: R::resource_type(), rep }, _type: PhantomData }
            }

            /// The resource's representation.
            pub fn rep(&self) -> u32 {
                self.resource.rep
            }

            /// The resource, untyped.
            pub fn resource(&self) -> &Resource {
                &self.resource
            }
        }

        impl<R: HostResource> Clone for $name<R> {
            fn clone(&self) -> Self {
                $name { resource: self.resource.clone(), _type: PhantomData }
            }
        }

        impl<R: HostResource> PartialEq for $name<R> {
            fn eq(&self, other: &Self) -> bool {
                self.resource == other.resource
            }
        }

        impl<R: HostResource> fmt::Debug for $name<R> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?}, {})", stringify!($name), self.resource.ty, self.resource.rep)
            }
        }

        impl<R: HostResource> ComponentType for $name<R> {
            const LAYOUT: StaticLayout = StaticLayout::scalar(4, CoreType::I32);
            fn ty() -> Type {
                Type::$wit(R::resource_type())
            }
        }

        impl<R: HostResource> Lower for $name<R> {
            fn lower_flat<C: AbiContext + ?Sized>(
                &self,
                cx: &mut C,
                dst: &mut Vec<CoreVal>,
            ) -> Result<(), Trap> {
                dst.push(CoreVal::I32(cx.$lower(&self.resource)? as i32));
                Ok(())
            }

            fn store<C: AbiContext + ?Sized>(&self, cx: &mut C, ptr: u32) -> Result<(), Trap> {
                let handle = cx.$lower(&self.resource)?;
                write_u32(cx, ptr, handle)
            }
        }

        impl<R: HostResource> Lift for $name<R> {
            fn lift_flat<C: AbiContext + ?Sized>(
                cx: &mut C,
                src: &mut impl Iterator<Item = CoreVal>,
            ) -> Result<Self, Trap> {
                let handle = next(src)?.i32()? as u32;
                let resource = cx.$lift(&R::resource_type(), handle)?;
                Ok($name { resource, _type: PhantomData })
            }

            fn load<C: AbiContext + ?Sized>(cx: &mut C, ptr: u32) -> Result<Self, Trap> {
                let handle = read_u32(cx, ptr)?;
                let resource = cx.$lift(&R::resource_type(), handle)?;
                Ok($name { resource, _type: PhantomData })
            }
        }
    )*};
}

handles! {
    /// An `own<R>` handle: lifting takes it out of the guest's table,
    /// lowering gives the guest a new one.
    Own, Own, lift_own, lower_own;
    /// A `borrow<R>` handle: lifting looks it up in the guest's table,
    /// lowering lends the resource for the call.
    Borrow, Borrow, lift_borrow, lower_borrow;
}

/// Lower the arguments of a host-to-guest call, given as the tuple `args`
/// of its parameters: flat, or past
/// [`MAX_FLAT_PARAMS`] stored in a block the
/// guest's `realloc` allocates, whose pointer is pushed.
pub fn lower_args<P: Lower + ?Sized, C: AbiContext + ?Sized>(
    cx: &mut C,
    args: &P,
    out: &mut Vec<CoreVal>,
) -> Result<(), Trap> {
    if P::LAYOUT.flat_count() > MAX_FLAT_PARAMS {
        let ptr = realloc(cx, 0, 0, P::LAYOUT.align, P::LAYOUT.size, "parameters")?;
        args.store(cx, ptr)?;
        out.push(CoreVal::I32(ptr as i32));
        Ok(())
    } else {
        args.lower_flat(cx, out)
    }
}

/// Lift the arguments of a guest-to-host call as the tuple `P` of its
/// parameters, from the core arguments `flat` (a trailing return pointer is
/// ignored; see [`retptr`]).
pub fn lift_args<P: Lift, C: AbiContext + ?Sized>(cx: &mut C, flat: &[CoreVal]) -> Result<P, Trap> {
    if P::LAYOUT.flat_count() > MAX_FLAT_PARAMS {
        let ptr = next(&mut flat.iter().copied())?.i32()? as u32;
        load(cx, ptr)
    } else {
        P::lift_flat(cx, &mut flat.iter().copied())
    }
}

/// The return pointer a guest passed as the last core argument of an
/// import returning `R` through memory, or `None` if `R` returns flat.
pub fn retptr<R: ComponentType + ?Sized>(flat: &[CoreVal]) -> Result<Option<u32>, Trap> {
    if R::LAYOUT.flat_count() <= MAX_FLAT_RESULTS {
        return Ok(None);
    }
    match flat.last() {
        Some(v) => Ok(Some(v.i32()? as u32)),
        None => Err(Trap::abi("missing return pointer")),
    }
}

/// Lift the result of a guest export as an `R` (`()` for none) from its
/// core results: flat, or loaded from the pointer it returned.
pub fn lift_result<R: Lift, C: AbiContext + ?Sized>(
    cx: &mut C,
    flat: &[CoreVal],
) -> Result<R, Trap> {
    if R::LAYOUT.flat_count() > MAX_FLAT_RESULTS {
        let ptr = next(&mut flat.iter().copied())?.i32()? as u32;
        check_ptr(cx, ptr, R::LAYOUT.size, R::LAYOUT.align, "result")?;
        R::load(cx, ptr)
    } else {
        R::lift_flat(cx, &mut flat.iter().copied())
    }
}

/// Lower the result of a host import for the guest: flat onto `out`, or
/// stored at the guest's `retptr` (see [`retptr`]) when it goes through
/// memory.
pub fn lower_result<R: Lower + ?Sized, C: AbiContext + ?Sized>(
    cx: &mut C,
    result: &R,
    retptr: Option<u32>,
    out: &mut Vec<CoreVal>,
) -> Result<(), Trap> {
    if R::LAYOUT.flat_count() > MAX_FLAT_RESULTS {
        let ptr = retptr
            .ok_or_else(|| Trap::host("a result returned through memory needs a return pointer"))?;
        check_ptr(cx, ptr, R::LAYOUT.size, R::LAYOUT.align, "return")?;
        result.store(cx, ptr)
    } else {
        result.lower_flat(cx, out)
    }
}
