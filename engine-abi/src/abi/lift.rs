//! Lifting dynamic values: from flat core values ([`lift_flat`]) and from
//! linear memory ([`load`]).

use crate::engine::CoreVal;
use crate::error::Trap;
use crate::types::{Type, align_to, discriminant_size};

use super::flat::{
    bad_discriminant, canon_f32, canon_f64, char_from_u32, lift_payload, next, skip_slots,
};
use super::memory::{
    check_list, check_ptr, element, offset, read, read_discriminant, read_u32, slice,
};
use super::string::load_string;
use super::{AbiContext, Val};

/// Lift a value of type `ty` from the flat core values `src` (the spec's
/// `lift_flat`). Consumes exactly `ty.flat().len()` values.
///
/// Traps if the values are too few or of the wrong core type, or if the
/// guest's data is invalid (see the module docs).
pub fn lift_flat<C: AbiContext + ?Sized>(
    cx: &mut C,
    ty: &Type,
    src: &mut impl Iterator<Item = CoreVal>,
) -> Result<Val, Trap> {
    lift_flat_dyn(cx, ty, src)
}

/// [`lift_flat`] over a trait object, so that the nested coercing
/// iterators of variants do not instantiate it without end.
fn lift_flat_dyn<C: AbiContext + ?Sized>(
    cx: &mut C,
    ty: &Type,
    src: &mut dyn Iterator<Item = CoreVal>,
) -> Result<Val, Trap> {
    Ok(match ty {
        Type::Bool => Val::Bool(next(src)?.i32()? != 0),
        Type::S8 => Val::S8(next(src)?.i32()? as i8),
        Type::U8 => Val::U8(next(src)?.i32()? as u8),
        Type::S16 => Val::S16(next(src)?.i32()? as i16),
        Type::U16 => Val::U16(next(src)?.i32()? as u16),
        Type::S32 => Val::S32(next(src)?.i32()?),
        Type::U32 => Val::U32(next(src)?.i32()? as u32),
        Type::S64 => Val::S64(next(src)?.i64()?),
        Type::U64 => Val::U64(next(src)?.i64()? as u64),
        Type::F32 => Val::F32(f32::from_bits(canon_f32(next(src)?.f32_bits()?))),
        Type::F64 => Val::F64(f64::from_bits(canon_f64(next(src)?.f64_bits()?))),
        Type::Char => Val::Char(char_from_u32(next(src)?.i32()? as u32)?),
        Type::String => {
            let ptr = next(src)?.i32()? as u32;
            let len = next(src)?.i32()? as u32;
            Val::String(load_string(cx, ptr, len)?)
        }
        Type::List(l) => {
            let ptr = next(src)?.i32()? as u32;
            let len = next(src)?.i32()? as u32;
            load_list(cx, l.elem(), ptr, len)?
        }
        Type::Record(r) => Val::Record(
            r.fields()
                .iter()
                .map(|(name, t)| Ok((name.to_string(), lift_flat_dyn(cx, t, src)?)))
                .collect::<Result<_, Trap>>()?,
        ),
        Type::Tuple(t) => Val::Tuple(
            t.types()
                .iter()
                .map(|t| lift_flat_dyn(cx, t, src))
                .collect::<Result<_, Trap>>()?,
        ),
        Type::Variant(v) => {
            let disc = next(src)?.i32()? as u32;
            let (name, case) = v
                .cases()
                .get(disc as usize)
                .ok_or_else(|| bad_discriminant("variant", disc, v.cases().len()))?;
            let payload = lift_case(cx, ty, case.as_ref(), src)?;
            Val::Variant(name.to_string(), payload)
        }
        Type::Enum(e) => {
            let disc = next(src)?.i32()? as u32;
            let name = e
                .names()
                .get(disc as usize)
                .ok_or_else(|| bad_discriminant("enum", disc, e.names().len()))?;
            Val::Enum(name.to_string())
        }
        Type::Option(o) => match next(src)?.i32()? {
            0 => Val::Option(lift_case(cx, ty, None, src)?),
            1 => Val::Option(lift_case(cx, ty, Some(o.some()), src)?),
            d => return Err(bad_discriminant("option", d as u32, 2)),
        },
        Type::Result(r) => match next(src)?.i32()? {
            0 => Val::Result(Ok(lift_case(cx, ty, r.ok(), src)?)),
            1 => Val::Result(Err(lift_case(cx, ty, r.err(), src)?)),
            d => return Err(bad_discriminant("result", d as u32, 2)),
        },
        Type::Flags(f) => {
            let mut names = Vec::new();
            for word in 0..ty.flat().len() {
                let bits = next(src)?.i32()? as u32;
                push_flags(&mut names, f.names(), word, bits)?;
            }
            Val::Flags(names)
        }
        Type::Own(rt) => Val::Own(cx.lift_own(rt, next(src)?.i32()? as u32)?),
        Type::Borrow(rt) => Val::Borrow(cx.lift_borrow(rt, next(src)?.i32()? as u32)?),
    })
}

/// Lift the payload of a case of the variant-like type `ty` (its
/// discriminant already read), and consume the slots it leaves unused.
fn lift_case<C: AbiContext + ?Sized>(
    cx: &mut C,
    ty: &Type,
    case: Option<&Type>,
    src: &mut dyn Iterator<Item = CoreVal>,
) -> Result<Option<Box<Val>>, Trap> {
    let slots = ty.flat().get(1..).unwrap_or_default();
    match case {
        None => {
            skip_slots(src, slots)?;
            Ok(None)
        }
        Some(t) => lift_payload(src, slots, t.flat(), |it| lift_flat_dyn(cx, t, it))
            .map(|v| Some(Box::new(v))),
    }
}

/// Add the names of the flags set in `bits`, word `word` of a flags value.
/// Bits past the last label are ignored, as the spec's `lift_flags` does.
fn push_flags(
    names: &mut Vec<String>,
    labels: &[Box<str>],
    word: usize,
    bits: u32,
) -> Result<(), Trap> {
    for (i, label) in labels.iter().skip(word * 32).take(32).enumerate() {
        if bits & (1 << i) != 0 {
            names.push(label.to_string());
        }
    }
    Ok(())
}

/// Lift a value of type `ty` from linear memory at `ptr` (the spec's
/// `load`), after checking that `ptr` is aligned for `ty` and that the
/// value lies inside memory.
pub fn load<C: AbiContext + ?Sized>(cx: &mut C, ty: &Type, ptr: u32) -> Result<Val, Trap> {
    check_ptr(cx, ptr, ty.size(), ty.align(), kind(ty))?;
    load_at(cx, ty, ptr)
}

/// What a type is, in one word, for messages.
pub(crate) fn kind(ty: &Type) -> &'static str {
    match ty {
        Type::String => "string",
        Type::List(_) => "list",
        Type::Record(_) => "record",
        Type::Tuple(_) => "tuple",
        Type::Variant(_) => "variant",
        Type::Enum(_) => "enum",
        Type::Option(_) => "option",
        Type::Result(_) => "result",
        Type::Flags(_) => "flags",
        Type::Own(_) | Type::Borrow(_) => "handle",
        _ => "value",
    }
}

/// [`load`] without the up-front check of the whole extent (every access is
/// still checked).
pub(crate) fn load_at<C: AbiContext + ?Sized>(
    cx: &mut C,
    ty: &Type,
    ptr: u32,
) -> Result<Val, Trap> {
    Ok(match ty {
        Type::Bool => Val::Bool(read::<1, C>(cx, ptr)?[0] != 0),
        Type::S8 => Val::S8(i8::from_le_bytes(read(cx, ptr)?)),
        Type::U8 => Val::U8(u8::from_le_bytes(read(cx, ptr)?)),
        Type::S16 => Val::S16(i16::from_le_bytes(read(cx, ptr)?)),
        Type::U16 => Val::U16(u16::from_le_bytes(read(cx, ptr)?)),
        Type::S32 => Val::S32(i32::from_le_bytes(read(cx, ptr)?)),
        Type::U32 => Val::U32(u32::from_le_bytes(read(cx, ptr)?)),
        Type::S64 => Val::S64(i64::from_le_bytes(read(cx, ptr)?)),
        Type::U64 => Val::U64(u64::from_le_bytes(read(cx, ptr)?)),
        Type::F32 => Val::F32(f32::from_bits(canon_f32(read_u32(cx, ptr)?))),
        Type::F64 => Val::F64(f64::from_bits(canon_f64(u64::from_le_bytes(read(
            cx, ptr,
        )?)))),
        Type::Char => Val::Char(char_from_u32(read_u32(cx, ptr)?)?),
        Type::String => {
            let (p, len) = (read_u32(cx, ptr)?, read_u32(cx, offset(ptr, 4)?)?);
            Val::String(load_string(cx, p, len)?)
        }
        Type::List(l) => {
            let (p, len) = (read_u32(cx, ptr)?, read_u32(cx, offset(ptr, 4)?)?);
            load_list(cx, l.elem(), p, len)?
        }
        Type::Record(r) => {
            let mut fields = Vec::with_capacity(r.fields().len());
            let mut off = 0;
            for (name, t) in r.fields() {
                off = align_to(off, t.align());
                fields.push((name.to_string(), load_at(cx, t, offset(ptr, off)?)?));
                off += t.size();
            }
            Val::Record(fields)
        }
        Type::Tuple(t) => {
            let mut vals = Vec::with_capacity(t.types().len());
            let mut off = 0;
            for t in t.types() {
                off = align_to(off, t.align());
                vals.push(load_at(cx, t, offset(ptr, off)?)?);
                off += t.size();
            }
            Val::Tuple(vals)
        }
        Type::Variant(v) => {
            let count = v.cases().len();
            let disc = read_discriminant(cx, ptr, discriminant_size(count))?;
            let (name, case) = v
                .cases()
                .get(disc as usize)
                .ok_or_else(|| bad_discriminant("variant", disc, count))?;
            Val::Variant(
                name.to_string(),
                load_case(cx, ty, count, case.as_ref(), ptr)?,
            )
        }
        Type::Enum(e) => {
            let count = e.names().len();
            let disc = read_discriminant(cx, ptr, discriminant_size(count))?;
            let name = e
                .names()
                .get(disc as usize)
                .ok_or_else(|| bad_discriminant("enum", disc, count))?;
            Val::Enum(name.to_string())
        }
        Type::Option(o) => match read::<1, C>(cx, ptr)?[0] {
            0 => Val::Option(None),
            1 => Val::Option(load_case(cx, ty, 2, Some(o.some()), ptr)?),
            d => return Err(bad_discriminant("option", d.into(), 2)),
        },
        Type::Result(r) => match read::<1, C>(cx, ptr)?[0] {
            0 => Val::Result(Ok(load_case(cx, ty, 2, r.ok(), ptr)?)),
            1 => Val::Result(Err(load_case(cx, ty, 2, r.err(), ptr)?)),
            d => return Err(bad_discriminant("result", d.into(), 2)),
        },
        Type::Flags(f) => {
            let mut names = Vec::new();
            match ty.size() {
                0 => {}
                1 => push_flags(&mut names, f.names(), 0, read::<1, C>(cx, ptr)?[0].into())?,
                2 => {
                    let bits = u16::from_le_bytes(read(cx, ptr)?);
                    push_flags(&mut names, f.names(), 0, bits.into())?
                }
                size => {
                    for word in 0..(size / 4) {
                        let bits = read_u32(cx, offset(ptr, 4 * word)?)?;
                        push_flags(&mut names, f.names(), word as usize, bits)?;
                    }
                }
            }
            Val::Flags(names)
        }
        Type::Own(rt) => {
            let handle = read_u32(cx, ptr)?;
            Val::Own(cx.lift_own(rt, handle)?)
        }
        Type::Borrow(rt) => {
            let handle = read_u32(cx, ptr)?;
            Val::Borrow(cx.lift_borrow(rt, handle)?)
        }
    })
}

/// Load the payload of a case of the variant-like type `ty` with `count`
/// cases, stored at `ptr`.
fn load_case<C: AbiContext + ?Sized>(
    cx: &mut C,
    ty: &Type,
    count: usize,
    case: Option<&Type>,
    ptr: u32,
) -> Result<Option<Box<Val>>, Trap> {
    let Some(t) = case else { return Ok(None) };
    let payload = align_to(discriminant_size(count), ty.align());
    Ok(Some(Box::new(load_at(cx, t, offset(ptr, payload)?)?)))
}

/// Lift the list of `len` elements of type `elem` at `ptr`: `list<u8>` as
/// [`Val::Bytes`] by one copy, other lists element by element.
pub(crate) fn load_list<C: AbiContext + ?Sized>(
    cx: &mut C,
    elem: &Type,
    ptr: u32,
    len: u32,
) -> Result<Val, Trap> {
    let byte_len = check_list(cx, ptr, len, elem.size(), elem.align())?;
    if *elem == Type::U8 {
        let bytes = slice(cx.memory()?, ptr, byte_len as usize, "list")?;
        return Ok(Val::Bytes(bytes.to_vec()));
    }
    // The length is bounded by memory (or, for elements of size zero, by
    // `MAX_LIST_BYTE_LENGTH`); only the former is worth reserving for.
    let size = elem.size();
    let mut items = Vec::with_capacity(if size == 0 { 0 } else { len as usize });
    for i in 0..len {
        items.push(load_at(cx, elem, element(ptr, i, size)?)?);
    }
    Ok(Val::List(items))
}
