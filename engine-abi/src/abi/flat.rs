//! Pieces of flat lifting and lowering shared by the dynamic and the typed
//! API: reading core values, NaN canonicalisation, and the coercions between
//! a variant case's own flat types and the variant's joined ones.

use crate::engine::{CoreType, CoreVal};
use crate::error::Trap;

use super::{CANONICAL_NAN32, CANONICAL_NAN64};

/// The next core value, or a trap if there is none.
pub(crate) fn next<I: Iterator<Item = CoreVal> + ?Sized>(src: &mut I) -> Result<CoreVal, Trap> {
    src.next()
        .ok_or_else(|| Trap::abi("too few core values for the type being lifted"))
}

/// The bits of an `f32`, with every NaN made the canonical one.
pub(crate) fn canon_f32(bits: u32) -> u32 {
    if f32::from_bits(bits).is_nan() {
        CANONICAL_NAN32
    } else {
        bits
    }
}

/// The bits of an `f64`, with every NaN made the canonical one.
pub(crate) fn canon_f64(bits: u64) -> u64 {
    if f64::from_bits(bits).is_nan() {
        CANONICAL_NAN64
    } else {
        bits
    }
}

/// A code point as a `char`, or a trap for a surrogate or a value past
/// U+10FFFF.
pub(crate) fn char_from_u32(i: u32) -> Result<char, Trap> {
    char::from_u32(i).ok_or_else(|| {
        let why = if (0xD800..=0xDFFF).contains(&i) {
            "a surrogate"
        } else {
            "past U+10FFFF"
        };
        Trap::abi(format!(
            "invalid `char` bit pattern: converted integer out of range for `char`: {i:#x} is {why}"
        ))
    })
}

/// The trap for a discriminant out of range. wasmtime's words for every
/// variant-like type (variant, enum, option, result) come first, as the
/// suites match them; then which type it was and the range.
pub(crate) fn bad_discriminant(what: &str, disc: u32, cases: usize) -> Trap {
    Trap::abi(format!(
        "invalid variant discriminant: {what} discriminant {disc} out of range [0..{cases})"
    ))
}

/// Reads a variant case's payload out of the variant's flat values: each
/// value must have the variant's joined type (`slots`) and is converted to
/// the type the case wants (`want`), as the spec's `CoerceValueIter`.
///
/// A value of the wrong core type stops the iteration and is reported by
/// [`lift_payload`], in preference to whatever the consumer made of the
/// early end.
pub(crate) struct CoerceIter<'a, I: ?Sized> {
    src: &'a mut I,
    slots: &'a [CoreType],
    want: &'a [CoreType],
    pos: usize,
    error: Option<Trap>,
}

impl<I: Iterator<Item = CoreVal> + ?Sized> Iterator for CoerceIter<'_, I> {
    type Item = CoreVal;

    fn next(&mut self) -> Option<CoreVal> {
        if self.error.is_some() {
            return None;
        }
        let (&have, &want) = (self.slots.get(self.pos)?, self.want.get(self.pos)?);
        self.pos += 1;
        let v = self.src.next()?;
        match coerce_lifted(v, have, want) {
            Ok(v) => Some(v),
            Err(e) => {
                self.error = Some(e);
                None
            }
        }
    }
}

/// Convert `v`, found in a variant slot of type `have`, to the case's type
/// `want` (the spec's `CoerceValueIter.next`).
fn coerce_lifted(v: CoreVal, have: CoreType, want: CoreType) -> Result<CoreVal, Trap> {
    if v.ty() != have {
        return Err(Trap::abi(format!(
            "expected a {have:?} core value in a variant payload, found {v:?}"
        )));
    }
    Ok(match (v, want) {
        (v, want) if v.ty() == want => v,
        (CoreVal::I32(x), CoreType::F32) => CoreVal::F32(x as u32),
        (CoreVal::I64(x), CoreType::I32) => CoreVal::I32(x as i32),
        (CoreVal::I64(x), CoreType::F32) => CoreVal::F32(x as u32),
        (CoreVal::I64(x), CoreType::F64) => CoreVal::F64(x as u64),
        (v, want) => {
            return Err(Trap::abi(format!(
                "cannot read a {want:?} out of variant slot {v:?}"
            )));
        }
    })
}

/// Lift a case payload whose flat types are `want` out of the variant slots
/// `slots`, with `lift`, then skip the slots the case does not use.
pub(crate) fn lift_payload<I, R>(
    src: &mut I,
    slots: &[CoreType],
    want: &[CoreType],
    lift: impl FnOnce(&mut CoerceIter<'_, I>) -> Result<R, Trap>,
) -> Result<R, Trap>
where
    I: Iterator<Item = CoreVal> + ?Sized,
{
    let mut it = CoerceIter {
        src,
        slots,
        want,
        pos: 0,
        error: None,
    };
    let result = lift(&mut it);
    if let Some(e) = it.error {
        return Err(e);
    }
    let value = result?;
    let used = it.pos;
    skip_slots(it.src, slots.get(used..).unwrap_or_default())?;
    Ok(value)
}

/// Consume the variant slots `slots`, checking their types.
pub(crate) fn skip_slots<I>(src: &mut I, slots: &[CoreType]) -> Result<(), Trap>
where
    I: Iterator<Item = CoreVal> + ?Sized,
{
    for &have in slots {
        let v = next(src)?;
        if v.ty() != have {
            return Err(Trap::abi(format!(
                "expected a {have:?} core value in a variant payload, found {v:?}"
            )));
        }
    }
    Ok(())
}

/// Begin lowering a variant: push the discriminant and return where the
/// payload starts, for [`end_variant`].
pub(crate) fn begin_variant(dst: &mut Vec<CoreVal>, disc: u32) -> usize {
    dst.push(CoreVal::I32(disc as i32));
    dst.len()
}

/// Finish lowering a variant whose case payload (if any) was pushed from
/// `start` on: convert each payload value to the variant's joined slot type
/// and pad the unused slots with zeros (the spec's `lower_flat_variant`).
pub(crate) fn end_variant(
    dst: &mut Vec<CoreVal>,
    start: usize,
    slots: &[CoreType],
) -> Result<(), Trap> {
    let pushed = dst.len().saturating_sub(start);
    if pushed > slots.len() {
        return Err(Trap::host(format!(
            "variant case lowered to {pushed} core values, more than the variant's {}",
            slots.len()
        )));
    }
    for (v, &want) in dst[start..].iter_mut().zip(slots) {
        *v = coerce_lowered(*v, want)?;
    }
    dst.extend(slots[pushed..].iter().map(|&t| CoreVal::zero(t)));
    Ok(())
}

/// Widen a case's flat value to the variant's joined slot type.
fn coerce_lowered(v: CoreVal, want: CoreType) -> Result<CoreVal, Trap> {
    Ok(match (v, want) {
        (v, want) if v.ty() == want => v,
        (CoreVal::F32(b), CoreType::I32) => CoreVal::I32(b as i32),
        (CoreVal::I32(x), CoreType::I64) => CoreVal::I64(i64::from(x as u32)),
        (CoreVal::F32(b), CoreType::I64) => CoreVal::I64(i64::from(b)),
        (CoreVal::F64(b), CoreType::I64) => CoreVal::I64(b as i64),
        (v, want) => {
            return Err(Trap::host(format!(
                "cannot store {v:?} in a variant slot of type {want:?}"
            )));
        }
    })
}
