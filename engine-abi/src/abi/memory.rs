//! Checked access to guest linear memory.
//!
//! Every read and write goes through these helpers, which check bounds with
//! 64-bit arithmetic and return a [`Trap`] naming what was accessed: they
//! never panic and never index out of bounds. The public entry points check
//! a value's whole extent (and alignment) once, with a precise message; the
//! accesses inside it are checked again, cheaply, as a second line.

use crate::error::Trap;

use super::AbiContext;

/// Trap unless `ptr` is a multiple of `align` (a power of two).
pub(crate) fn check_align(ptr: u32, align: u32, what: &str) -> Result<(), Trap> {
    if ptr & align.wrapping_sub(1) == 0 {
        Ok(())
    } else {
        Err(Trap::abi(format!(
            "unaligned pointer: {what} pointer not aligned to {align} ({ptr:#x})"
        )))
    }
}

/// Whether `what` (the name a trap gives a block of memory) is a string's
/// or a list's contents, whose bounds traps carry the suites' `… content
/// out-of-bounds` phrase.
fn has_contents(what: &str) -> bool {
    matches!(what, "string" | "list")
}

/// Trap unless `ptr .. ptr + len` lies inside a memory of `mem_len` bytes.
/// A string's or a list's contents out of bounds trap with the phrases
/// component-model test suites look for (wasmtime's adapters say `string
/// content out-of-bounds`, its host `string pointer/length out of bounds
/// of memory`; the same for lists), then the detail.
pub(crate) fn check_bounds(mem_len: usize, ptr: u32, len: u64, what: &str) -> Result<(), Trap> {
    match u64::from(ptr).checked_add(len) {
        Some(end) if end <= mem_len as u64 => Ok(()),
        _ => {
            let detail = format!(
                "{what} pointer {ptr:#x} + length {len} out of bounds of memory ({mem_len} bytes)"
            );
            Err(Trap::abi(if has_contents(what) {
                format!(
                    "{what} content out-of-bounds: {what} pointer/length out of bounds of \
                     memory: {detail}"
                )
            } else {
                detail
            }))
        }
    }
}

/// Trap unless a value of `size` bytes and alignment `align` fits at `ptr`.
pub(crate) fn check_ptr<C: AbiContext + ?Sized>(
    cx: &mut C,
    ptr: u32,
    size: u32,
    align: u32,
    what: &str,
) -> Result<(), Trap> {
    check_align(ptr, align, what)?;
    let mem_len = cx.memory()?.len();
    check_bounds(mem_len, ptr, u64::from(size), what)
}

/// The `len` bytes at `ptr`.
pub(crate) fn slice<'m>(mem: &'m [u8], ptr: u32, len: usize, what: &str) -> Result<&'m [u8], Trap> {
    check_bounds(mem.len(), ptr, len as u64, what)?;
    let start = ptr as usize;
    mem.get(start..start + len)
        .ok_or_else(|| Trap::abi(format!("{what} pointer {ptr:#x} out of bounds")))
}

/// The `len` bytes at `ptr`, mutably.
pub(crate) fn slice_mut<'m>(
    mem: &'m mut [u8],
    ptr: u32,
    len: usize,
    what: &str,
) -> Result<&'m mut [u8], Trap> {
    check_bounds(mem.len(), ptr, len as u64, what)?;
    let start = ptr as usize;
    mem.get_mut(start..start + len)
        .ok_or_else(|| Trap::abi(format!("{what} pointer {ptr:#x} out of bounds")))
}

/// Read `N` bytes at `ptr`.
pub(crate) fn read<const N: usize, C: AbiContext + ?Sized>(
    cx: &mut C,
    ptr: u32,
) -> Result<[u8; N], Trap> {
    let mut out = [0; N];
    out.copy_from_slice(slice(cx.memory()?, ptr, N, "value")?);
    Ok(out)
}

/// Write `bytes` at `ptr`.
pub(crate) fn write<C: AbiContext + ?Sized>(
    cx: &mut C,
    ptr: u32,
    bytes: &[u8],
) -> Result<(), Trap> {
    slice_mut(cx.memory()?, ptr, bytes.len(), "value")?.copy_from_slice(bytes);
    Ok(())
}

/// Read a little-endian `u32` at `ptr`.
pub(crate) fn read_u32<C: AbiContext + ?Sized>(cx: &mut C, ptr: u32) -> Result<u32, Trap> {
    read(cx, ptr).map(u32::from_le_bytes)
}

/// Write a little-endian `u32` at `ptr`.
pub(crate) fn write_u32<C: AbiContext + ?Sized>(cx: &mut C, ptr: u32, v: u32) -> Result<(), Trap> {
    write(cx, ptr, &v.to_le_bytes())
}

/// `ptr + offset`, or a trap if that leaves the 32-bit address space.
pub(crate) fn offset(ptr: u32, offset: u32) -> Result<u32, Trap> {
    ptr.checked_add(offset)
        .ok_or_else(|| Trap::abi(format!("pointer {ptr:#x} + offset {offset} overflows")))
}

/// The address of element `i` of `size` bytes of the array at `ptr`, or a
/// trap if that leaves the 32-bit address space.
pub(crate) fn element(ptr: u32, i: u32, size: u32) -> Result<u32, Trap> {
    i.checked_mul(size)
        .and_then(|off| ptr.checked_add(off))
        .ok_or_else(|| Trap::abi(format!("element {i} of the list at {ptr:#x} overflows")))
}

/// Read a discriminant of `size` (1, 2 or 4) bytes at `ptr`.
pub(crate) fn read_discriminant<C: AbiContext + ?Sized>(
    cx: &mut C,
    ptr: u32,
    size: u32,
) -> Result<u32, Trap> {
    Ok(match size {
        1 => u32::from(read::<1, C>(cx, ptr)?[0]),
        2 => u32::from(u16::from_le_bytes(read(cx, ptr)?)),
        _ => read_u32(cx, ptr)?,
    })
}

/// Write a discriminant of `size` (1, 2 or 4) bytes at `ptr`.
pub(crate) fn write_discriminant<C: AbiContext + ?Sized>(
    cx: &mut C,
    ptr: u32,
    size: u32,
    disc: u32,
) -> Result<(), Trap> {
    let bytes = disc.to_le_bytes();
    write(cx, ptr, &bytes[..size.min(4) as usize])
}

/// Call the guest's `realloc` and check that the block it returns is aligned
/// and inside memory.
pub(crate) fn realloc<C: AbiContext + ?Sized>(
    cx: &mut C,
    old_ptr: u32,
    old_size: u32,
    align: u32,
    new_size: u32,
    what: &str,
) -> Result<u32, Trap> {
    let ptr = cx.realloc(old_ptr, old_size, align, new_size)?;
    if ptr & align.wrapping_sub(1) != 0 {
        return Err(Trap::abi(format!(
            "unaligned pointer: realloc return: result not aligned: {what} pointer {ptr:#x}, \
             not aligned to {align}"
        )));
    }
    let mem_len = cx.memory()?.len();
    match u64::from(ptr).checked_add(u64::from(new_size)) {
        Some(end) if end <= mem_len as u64 => Ok(ptr),
        _ => {
            // wasmtime's adapters report this as the content out of bounds.
            let content = if has_contents(what) {
                format!(" ({what} content out-of-bounds)")
            } else {
                String::new()
            };
            Err(Trap::abi(format!(
                "realloc return: beyond end of memory{content}: {what} pointer {ptr:#x} + length \
                 {new_size} out of bounds of memory ({mem_len} bytes)"
            )))
        }
    }
}

/// The byte length of a list of `len` elements of `elem_size` bytes, or a
/// trap if it exceeds [`MAX_LIST_BYTE_LENGTH`](super::MAX_LIST_BYTE_LENGTH)
/// (elements of size zero count as one byte toward that limit).
pub(crate) fn list_byte_length(len: u64, elem_size: u32, host: bool) -> Result<u32, Trap> {
    let counted = len.saturating_mul(u64::from(elem_size.max(1)));
    if counted > u64::from(super::MAX_LIST_BYTE_LENGTH) {
        let msg = format!(
            "list content out-of-bounds: list of {len} elements of {elem_size} bytes exceeds \
             the maximum list byte length ({})",
            super::MAX_LIST_BYTE_LENGTH
        );
        return Err(if host {
            Trap::host(msg)
        } else {
            Trap::abi(msg)
        });
    }
    // Cannot truncate: `len * elem_size <= counted <= MAX_LIST_BYTE_LENGTH`.
    Ok((len * u64::from(elem_size)) as u32)
}

/// Check a guest list `(ptr, len)` of elements of `elem_size` bytes aligned
/// to `elem_align`, and return its byte length.
pub(crate) fn check_list<C: AbiContext + ?Sized>(
    cx: &mut C,
    ptr: u32,
    len: u32,
    elem_size: u32,
    elem_align: u32,
) -> Result<u32, Trap> {
    let byte_len = list_byte_length(u64::from(len), elem_size, false)?;
    check_align(ptr, elem_align, "list")?;
    let mem_len = cx.memory()?.len();
    check_bounds(mem_len, ptr, u64::from(byte_len), "list")?;
    Ok(byte_len)
}
