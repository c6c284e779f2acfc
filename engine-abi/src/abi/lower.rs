//! Lowering dynamic values: into flat core values ([`lower_flat`]) and into
//! linear memory ([`store`]).

use crate::engine::CoreVal;
use crate::error::Trap;
use crate::types::{Flags, Type, align_to, discriminant_size};

use super::flat::{begin_variant, canon_f32, canon_f64, end_variant};
use super::lift::kind;
use super::memory::{
    check_ptr, element, list_byte_length, offset, realloc, slice_mut, write, write_discriminant,
    write_u32,
};
use super::string::store_string;
use super::typecheck::flag_index;
use super::{AbiContext, Resource, Val};

/// The trap for lowering `val` as `ty` when it is not of that type.
fn mismatch(ty: &Type, val: &Val) -> Trap {
    let msg = match val.typecheck(ty) {
        Err(msg) => msg,
        Ok(()) => format!("cannot lower {} as {ty}", val.describe()),
    };
    Trap::host(format!("type mismatch: {msg}"))
}

/// Lower `val`, of type `ty`, to flat core values pushed onto `dst` (the
/// spec's `lower_flat`). Strings and lists are allocated in guest memory
/// with its `realloc`.
///
/// A value not of type `ty` is a host error: [`Trap::host`] with the
/// message of [`Val::typecheck`].
pub fn lower_flat<C: AbiContext + ?Sized>(
    cx: &mut C,
    ty: &Type,
    val: &Val,
    dst: &mut Vec<CoreVal>,
) -> Result<(), Trap> {
    match (ty, val) {
        (Type::Bool, Val::Bool(b)) => dst.push(CoreVal::I32(i32::from(*b))),
        (Type::S8, Val::S8(v)) => dst.push(CoreVal::I32(i32::from(*v))),
        (Type::U8, Val::U8(v)) => dst.push(CoreVal::I32(i32::from(*v))),
        (Type::S16, Val::S16(v)) => dst.push(CoreVal::I32(i32::from(*v))),
        (Type::U16, Val::U16(v)) => dst.push(CoreVal::I32(i32::from(*v))),
        (Type::S32, Val::S32(v)) => dst.push(CoreVal::I32(*v)),
        (Type::U32, Val::U32(v)) => dst.push(CoreVal::I32(*v as i32)),
        (Type::S64, Val::S64(v)) => dst.push(CoreVal::I64(*v)),
        (Type::U64, Val::U64(v)) => dst.push(CoreVal::I64(*v as i64)),
        (Type::F32, Val::F32(v)) => dst.push(CoreVal::F32(canon_f32(v.to_bits()))),
        (Type::F64, Val::F64(v)) => dst.push(CoreVal::F64(canon_f64(v.to_bits()))),
        (Type::Char, Val::Char(c)) => dst.push(CoreVal::I32(u32::from(*c) as i32)),
        (Type::String, Val::String(s)) => {
            let (ptr, len) = store_string(cx, s)?;
            dst.extend([CoreVal::I32(ptr as i32), CoreVal::I32(len as i32)]);
        }
        (Type::List(l), _) => {
            let (ptr, len) = store_list(cx, l.elem(), ty, val)?;
            dst.extend([CoreVal::I32(ptr as i32), CoreVal::I32(len as i32)]);
        }
        (Type::Record(r), Val::Record(fields)) => {
            check_fields(ty, val, r.fields(), fields)?;
            for ((_, t), (_, v)) in r.fields().iter().zip(fields) {
                lower_flat(cx, t, v, dst)?;
            }
        }
        (Type::Tuple(t), Val::Tuple(vs)) if t.types().len() == vs.len() => {
            for (t, v) in t.types().iter().zip(vs) {
                lower_flat(cx, t, v, dst)?;
            }
        }
        (Type::Variant(v), Val::Variant(name, payload)) => {
            let (disc, case) = v
                .cases()
                .iter()
                .enumerate()
                .find_map(|(i, (n, t))| (**n == **name).then_some((i, t.as_ref())))
                .ok_or_else(|| mismatch(ty, val))?;
            lower_case(cx, ty, val, disc as u32, case, payload.as_deref(), dst)?;
        }
        (Type::Enum(e), Val::Enum(name)) => {
            let disc = e
                .names()
                .iter()
                .position(|n| **n == **name)
                .ok_or_else(|| mismatch(ty, val))?;
            dst.push(CoreVal::I32(disc as i32));
        }
        (Type::Option(o), Val::Option(v)) => match v {
            None => lower_case(cx, ty, val, 0, None, None, dst)?,
            Some(v) => lower_case(cx, ty, val, 1, Some(o.some()), Some(v), dst)?,
        },
        (Type::Result(r), Val::Result(v)) => match v {
            Ok(v) => lower_case(cx, ty, val, 0, r.ok(), v.as_deref(), dst)?,
            Err(v) => lower_case(cx, ty, val, 1, r.err(), v.as_deref(), dst)?,
        },
        (Type::Flags(f), Val::Flags(names)) => {
            let words = flags_words(ty, f, val, names)?;
            dst.extend(words.iter().map(|&w| CoreVal::I32(w as i32)));
        }
        (Type::Own(_), Val::Own(r)) => dst.push(CoreVal::I32(lower_own(cx, ty, val, r)? as i32)),
        (Type::Borrow(_), Val::Borrow(r)) => {
            dst.push(CoreVal::I32(lower_borrow(cx, ty, val, r)? as i32))
        }
        _ => return Err(mismatch(ty, val)),
    }
    Ok(())
}

/// Lower case `disc` of the variant-like `ty`, with its payload.
fn lower_case<C: AbiContext + ?Sized>(
    cx: &mut C,
    ty: &Type,
    val: &Val,
    disc: u32,
    case: Option<&Type>,
    payload: Option<&Val>,
    dst: &mut Vec<CoreVal>,
) -> Result<(), Trap> {
    let start = begin_variant(dst, disc);
    match (case, payload) {
        (None, None) => {}
        (Some(t), Some(v)) => lower_flat(cx, t, v, dst)?,
        _ => return Err(mismatch(ty, val)),
    }
    end_variant(dst, start, ty.flat().get(1..).unwrap_or_default())
}

/// Check that a record value has the type's fields, in order.
fn check_fields(
    ty: &Type,
    val: &Val,
    types: &[(Box<str>, Type)],
    fields: &[(String, Val)],
) -> Result<(), Trap> {
    let same =
        types.len() == fields.len() && types.iter().zip(fields).all(|((n, _), (f, _))| **n == **f);
    if same { Ok(()) } else { Err(mismatch(ty, val)) }
}

/// The words of a flags value: bit `i` set for label `i`.
fn flags_words(ty: &Type, f: &Flags, val: &Val, names: &[String]) -> Result<Vec<u32>, Trap> {
    let mut words = vec![0u32; f.names().len().div_ceil(32)];
    for name in names {
        let i = flag_index(f, name).map_err(|_| mismatch(ty, val))?;
        words[i / 32] |= 1 << (i % 32);
    }
    Ok(words)
}

/// Give `r` to the guest as an owned handle.
fn lower_own<C: AbiContext + ?Sized>(
    cx: &mut C,
    ty: &Type,
    val: &Val,
    r: &Resource,
) -> Result<u32, Trap> {
    match ty {
        Type::Own(rt) if r.ty == *rt => cx.lower_own(r),
        _ => Err(mismatch(ty, val)),
    }
}

/// Lend `r` to the guest for the call.
fn lower_borrow<C: AbiContext + ?Sized>(
    cx: &mut C,
    ty: &Type,
    val: &Val,
    r: &Resource,
) -> Result<u32, Trap> {
    match ty {
        Type::Borrow(rt) if r.ty == *rt => cx.lower_borrow(r),
        _ => Err(mismatch(ty, val)),
    }
}

/// Store `val`, of type `ty`, in linear memory at `ptr` (the spec's
/// `store`), after checking that `ptr` is aligned for `ty` and the value
/// fits inside memory.
pub fn store<C: AbiContext + ?Sized>(
    cx: &mut C,
    ty: &Type,
    val: &Val,
    ptr: u32,
) -> Result<(), Trap> {
    check_ptr(cx, ptr, ty.size(), ty.align(), kind(ty))?;
    store_at(cx, ty, val, ptr)
}

/// [`store`] without the up-front check of the whole extent (every access
/// is still checked).
pub(crate) fn store_at<C: AbiContext + ?Sized>(
    cx: &mut C,
    ty: &Type,
    val: &Val,
    ptr: u32,
) -> Result<(), Trap> {
    match (ty, val) {
        (Type::Bool, Val::Bool(b)) => write(cx, ptr, &[u8::from(*b)]),
        (Type::S8, Val::S8(v)) => write(cx, ptr, &v.to_le_bytes()),
        (Type::U8, Val::U8(v)) => write(cx, ptr, &v.to_le_bytes()),
        (Type::S16, Val::S16(v)) => write(cx, ptr, &v.to_le_bytes()),
        (Type::U16, Val::U16(v)) => write(cx, ptr, &v.to_le_bytes()),
        (Type::S32, Val::S32(v)) => write(cx, ptr, &v.to_le_bytes()),
        (Type::U32, Val::U32(v)) => write(cx, ptr, &v.to_le_bytes()),
        (Type::S64, Val::S64(v)) => write(cx, ptr, &v.to_le_bytes()),
        (Type::U64, Val::U64(v)) => write(cx, ptr, &v.to_le_bytes()),
        (Type::F32, Val::F32(v)) => write_u32(cx, ptr, canon_f32(v.to_bits())),
        (Type::F64, Val::F64(v)) => write(cx, ptr, &canon_f64(v.to_bits()).to_le_bytes()),
        (Type::Char, Val::Char(c)) => write_u32(cx, ptr, u32::from(*c)),
        (Type::String, Val::String(s)) => {
            let (p, len) = store_string(cx, s)?;
            write_u32(cx, ptr, p)?;
            write_u32(cx, offset(ptr, 4)?, len)
        }
        (Type::List(l), _) => {
            let (p, len) = store_list(cx, l.elem(), ty, val)?;
            write_u32(cx, ptr, p)?;
            write_u32(cx, offset(ptr, 4)?, len)
        }
        (Type::Record(r), Val::Record(fields)) => {
            check_fields(ty, val, r.fields(), fields)?;
            let mut off = 0;
            for ((_, t), (_, v)) in r.fields().iter().zip(fields) {
                off = align_to(off, t.align());
                store_at(cx, t, v, offset(ptr, off)?)?;
                off += t.size();
            }
            Ok(())
        }
        (Type::Tuple(t), Val::Tuple(vs)) if t.types().len() == vs.len() => {
            let mut off = 0;
            for (t, v) in t.types().iter().zip(vs) {
                off = align_to(off, t.align());
                store_at(cx, t, v, offset(ptr, off)?)?;
                off += t.size();
            }
            Ok(())
        }
        (Type::Variant(v), Val::Variant(name, payload)) => {
            let count = v.cases().len();
            let (disc, case) = v
                .cases()
                .iter()
                .enumerate()
                .find_map(|(i, (n, t))| (**n == **name).then_some((i, t.as_ref())))
                .ok_or_else(|| mismatch(ty, val))?;
            store_case(
                cx,
                ty,
                val,
                count,
                disc as u32,
                case,
                payload.as_deref(),
                ptr,
            )
        }
        (Type::Enum(e), Val::Enum(name)) => {
            let count = e.names().len();
            let disc = e
                .names()
                .iter()
                .position(|n| **n == **name)
                .ok_or_else(|| mismatch(ty, val))?;
            write_discriminant(cx, ptr, discriminant_size(count), disc as u32)
        }
        (Type::Option(o), Val::Option(v)) => match v {
            None => store_case(cx, ty, val, 2, 0, None, None, ptr),
            Some(v) => store_case(cx, ty, val, 2, 1, Some(o.some()), Some(v), ptr),
        },
        (Type::Result(r), Val::Result(v)) => match v {
            Ok(v) => store_case(cx, ty, val, 2, 0, r.ok(), v.as_deref(), ptr),
            Err(v) => store_case(cx, ty, val, 2, 1, r.err(), v.as_deref(), ptr),
        },
        (Type::Flags(f), Val::Flags(names)) => {
            let words = flags_words(ty, f, val, names)?;
            match ty.size() {
                0 => Ok(()),
                1 => write(cx, ptr, &[words[0] as u8]),
                2 => write(cx, ptr, &(words[0] as u16).to_le_bytes()),
                _ => {
                    let mut at = ptr;
                    for w in words {
                        write_u32(cx, at, w)?;
                        at = offset(at, 4)?;
                    }
                    Ok(())
                }
            }
        }
        (Type::Own(_), Val::Own(r)) => {
            let h = lower_own(cx, ty, val, r)?;
            write_u32(cx, ptr, h)
        }
        (Type::Borrow(_), Val::Borrow(r)) => {
            let h = lower_borrow(cx, ty, val, r)?;
            write_u32(cx, ptr, h)
        }
        _ => Err(mismatch(ty, val)),
    }
}

/// Store case `disc` of the variant-like `ty` with `count` cases at `ptr`.
#[allow(clippy::too_many_arguments)]
fn store_case<C: AbiContext + ?Sized>(
    cx: &mut C,
    ty: &Type,
    val: &Val,
    count: usize,
    disc: u32,
    case: Option<&Type>,
    payload: Option<&Val>,
    ptr: u32,
) -> Result<(), Trap> {
    write_discriminant(cx, ptr, discriminant_size(count), disc)?;
    match (case, payload) {
        (None, None) => Ok(()),
        (Some(t), Some(v)) => {
            let at = offset(ptr, align_to(discriminant_size(count), ty.align()))?;
            store_at(cx, t, v, at)
        }
        _ => Err(mismatch(ty, val)),
    }
}

/// Allocate and fill a list of element type `elem` from `val` (of list type
/// `ty`), and return its pointer and length. `list<u8>` given as
/// [`Val::Bytes`] (or as a [`Val::List`] of [`Val::U8`]) is copied in one go.
fn store_list<C: AbiContext + ?Sized>(
    cx: &mut C,
    elem: &Type,
    ty: &Type,
    val: &Val,
) -> Result<(u32, u32), Trap> {
    let len = match val {
        Val::Bytes(b) if *elem == Type::U8 => b.len(),
        Val::List(items) => items.len(),
        _ => return Err(mismatch(ty, val)),
    };
    let byte_len = list_byte_length(len as u64, elem.size(), true)?;
    // Cannot truncate: `list_byte_length` bounds `len` as well.
    let len32 = len as u32;
    let ptr = realloc(cx, 0, 0, elem.align(), byte_len, "list")?;
    match val {
        Val::Bytes(b) => {
            slice_mut(cx.memory()?, ptr, b.len(), "list")?.copy_from_slice(b);
        }
        Val::List(items) if *elem == Type::U8 => {
            let dst = slice_mut(cx.memory()?, ptr, items.len(), "list")?;
            for (d, v) in dst.iter_mut().zip(items) {
                match v {
                    Val::U8(b) => *d = *b,
                    _ => return Err(mismatch(ty, val)),
                }
            }
        }
        Val::List(items) => {
            let size = elem.size();
            for (i, v) in (0..len32).zip(items) {
                store_at(cx, elem, v, element(ptr, i, size)?)?;
            }
        }
        _ => return Err(mismatch(ty, val)),
    }
    Ok((ptr, len32))
}
