//! Strings: lifting from and lowering into each of the three guest
//! encodings, following `load_string_from_range` and the `store_string_*`
//! algorithms of the spec (the host's side is always UTF-8).

use crate::error::Trap;

use super::memory::{check_align, check_bounds, realloc, slice, slice_mut};
use super::{AbiContext, MAX_STRING_BYTE_LENGTH, StringEncoding, UTF16_TAG};

/// How the bytes of a guest string are encoded.
#[derive(Clone, Copy)]
enum Encoding {
    Utf8,
    Utf16,
    Latin1,
}

/// Lift the string at `ptr` whose length (in code units, tagged in
/// `latin1+utf16`) is `tagged_len`.
pub(crate) fn load_string<C: AbiContext + ?Sized>(
    cx: &mut C,
    ptr: u32,
    tagged_len: u32,
) -> Result<String, Trap> {
    let len = u64::from(tagged_len);
    let (byte_len, align, encoding) = match cx.string_encoding() {
        StringEncoding::Utf8 => (len, 1, Encoding::Utf8),
        StringEncoding::Utf16 => (2 * len, 2, Encoding::Utf16),
        StringEncoding::CompactUtf16 if tagged_len & UTF16_TAG != 0 => {
            (2 * u64::from(tagged_len ^ UTF16_TAG), 2, Encoding::Utf16)
        }
        StringEncoding::CompactUtf16 => (len, 2, Encoding::Latin1),
    };
    if byte_len > u64::from(MAX_STRING_BYTE_LENGTH) {
        return Err(Trap::abi(format!(
            "string content out-of-bounds: string byte length {byte_len} exceeds the maximum \
             ({MAX_STRING_BYTE_LENGTH})"
        )));
    }
    check_align(ptr, align, "string")?;
    let mem = cx.memory()?;
    check_bounds(mem.len(), ptr, byte_len, "string")?;
    let bytes = slice(mem, ptr, byte_len as usize, "string")?;
    match encoding {
        Encoding::Utf8 => match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_owned()),
            Err(e) => Err(Trap::abi(format!(
                "invalid utf-8 in string at {ptr:#x}: {e}"
            ))),
        },
        Encoding::Utf16 => {
            let units = bytes
                .as_chunks::<2>()
                .0
                .iter()
                .map(|u| u16::from_le_bytes(*u));
            let mut s = String::with_capacity(bytes.len() / 2);
            for c in char::decode_utf16(units) {
                match c {
                    Ok(c) => s.push(c),
                    Err(e) => {
                        return Err(Trap::abi(format!(
                            "invalid utf-16 in string at {ptr:#x}: unpaired surrogate {:#06x}",
                            e.unpaired_surrogate()
                        )));
                    }
                }
            }
            Ok(s)
        }
        Encoding::Latin1 => Ok(bytes.iter().map(|&b| char::from(b)).collect()),
    }
}

/// Lower `s` into guest memory, allocated with `realloc`, and return its
/// pointer and (tagged) length in code units.
pub(crate) fn store_string<C: AbiContext + ?Sized>(
    cx: &mut C,
    s: &str,
) -> Result<(u32, u32), Trap> {
    if s.len() > MAX_STRING_BYTE_LENGTH as usize {
        return Err(Trap::host(format!(
            "string of {} bytes is too long to lower (maximum {MAX_STRING_BYTE_LENGTH})",
            s.len()
        )));
    }
    // Cannot truncate, and twice it fits too: checked just above.
    let len = s.len() as u32;
    match cx.string_encoding() {
        StringEncoding::Utf8 => store_utf8(cx, s, len),
        StringEncoding::Utf16 => store_utf16(cx, s, len),
        StringEncoding::CompactUtf16 => store_latin1_or_utf16(cx, s, len),
    }
}

/// `store_string_copy` from UTF-8 to UTF-8.
fn store_utf8<C: AbiContext + ?Sized>(cx: &mut C, s: &str, len: u32) -> Result<(u32, u32), Trap> {
    let ptr = realloc(cx, 0, 0, 1, len, "string")?;
    slice_mut(cx.memory()?, ptr, s.len(), "string")?.copy_from_slice(s.as_bytes());
    Ok((ptr, len))
}

/// `store_utf8_to_utf16`: allocate the worst case, encode, shrink.
fn store_utf16<C: AbiContext + ?Sized>(cx: &mut C, s: &str, len: u32) -> Result<(u32, u32), Trap> {
    let worst = 2 * len;
    let mut ptr = realloc(cx, 0, 0, 2, worst, "string")?;
    let dst = slice_mut(cx.memory()?, ptr, worst as usize, "string")?;
    let units = encode_utf16(s, dst);
    let byte_len = 2 * units;
    if byte_len < worst {
        ptr = realloc(cx, ptr, worst, 2, byte_len, "string")?;
    }
    Ok((ptr, units))
}

/// `store_string_to_latin1_or_utf16`: latin-1 while every char fits in a
/// byte; at the first that does not, grow to the UTF-16 worst case, inflate
/// what was written and encode the rest as UTF-16; shrink at the end.
fn store_latin1_or_utf16<C: AbiContext + ?Sized>(
    cx: &mut C,
    s: &str,
    len: u32,
) -> Result<(u32, u32), Trap> {
    let mut ptr = realloc(cx, 0, 0, 2, len, "string")?;
    let dst = slice_mut(cx.memory()?, ptr, len as usize, "string")?;
    let mut latin1_len = 0;
    for (i, c) in s.char_indices() {
        if let Ok(b) = u8::try_from(u32::from(c)) {
            dst[latin1_len] = b;
            latin1_len += 1;
            continue;
        }
        let worst = 2 * len;
        ptr = realloc(cx, ptr, len, 2, worst, "string")?;
        let dst = slice_mut(cx.memory()?, ptr, worst as usize, "string")?;
        for j in (0..latin1_len).rev() {
            dst[2 * j] = dst[j];
            dst[2 * j + 1] = 0;
        }
        let units = latin1_len as u32 + encode_utf16(&s[i..], &mut dst[2 * latin1_len..]);
        let byte_len = 2 * units;
        if byte_len < worst {
            ptr = realloc(cx, ptr, worst, 2, byte_len, "string")?;
        }
        return Ok((ptr, units | UTF16_TAG));
    }
    // Cannot truncate: at most `len` bytes were written.
    let latin1_len = latin1_len as u32;
    if latin1_len < len {
        ptr = realloc(cx, ptr, len, 2, latin1_len, "string")?;
    }
    Ok((ptr, latin1_len))
}

/// Encode `s` as UTF-16LE into `dst` (large enough: two bytes per UTF-8
/// byte) and return the number of code units written.
fn encode_utf16(s: &str, dst: &mut [u8]) -> u32 {
    let mut units = 0;
    for (u, out) in s.encode_utf16().zip(dst.as_chunks_mut::<2>().0) {
        *out = u.to_le_bytes();
        units += 1;
    }
    units
}
