//! The string encoders follow the spec's allocation pattern (allocate, then
//! grow or shrink with `realloc`) and write the spec's bytes and lengths.

use super::cx::TestCx;
use crate::abi::{StringEncoding, UTF16_TAG, Val, lift_flat, lower_flat};
use crate::engine::CoreVal;
use crate::types::Type;

/// Lower `s` and return its pointer and (tagged) length.
fn lower(cx: &mut TestCx, s: &str) -> (u32, u32) {
    let mut flat = Vec::new();
    lower_flat(cx, &Type::String, &Val::String(s.into()), &mut flat).unwrap();
    match flat[..] {
        [CoreVal::I32(p), CoreVal::I32(l)] => (p as u32, l as u32),
        _ => panic!("{flat:?}"),
    }
}

fn lift(cx: &mut TestCx, ptr: u32, len: u32) -> String {
    let flat = [CoreVal::I32(ptr as i32), CoreVal::I32(len as i32)];
    match lift_flat(cx, &Type::String, &mut flat.into_iter()).unwrap() {
        Val::String(s) => s,
        v => panic!("{v:?}"),
    }
}

/// The `(old_size, align, new_size)` of each `realloc` call so far.
fn sizes(cx: &TestCx) -> Vec<(u32, u32, u32)> {
    cx.reallocs
        .iter()
        .map(|&(_, old, align, new)| (old, align, new))
        .collect()
}

fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

#[test]
fn utf8_is_one_exact_allocation() {
    let mut cx = TestCx::new(StringEncoding::Utf8);
    let (ptr, len) = lower(&mut cx, "héllo");
    assert_eq!(sizes(&cx), [(0, 1, 6)]);
    assert_eq!((cx.peek(ptr, len), len), ("héllo".as_bytes(), 6));
    assert_eq!(lift(&mut cx, ptr, len), "héllo");
}

#[test]
fn empty_strings_still_call_realloc() {
    for enc in [
        StringEncoding::Utf8,
        StringEncoding::Utf16,
        StringEncoding::CompactUtf16,
    ] {
        let mut cx = TestCx::new(enc);
        let (ptr, len) = lower(&mut cx, "");
        assert_eq!(len, 0);
        assert_eq!(cx.reallocs.len(), 1, "{enc:?}");
        assert_eq!(lift(&mut cx, ptr, len), "");
    }
}

#[test]
fn utf16_allocates_the_worst_case_then_shrinks() {
    let mut cx = TestCx::new(StringEncoding::Utf16);
    let (ptr, len) = lower(&mut cx, "a😀é");
    // 7 UTF-8 bytes: worst case 14 bytes; 4 code units are 8 bytes.
    assert_eq!(sizes(&cx), [(0, 2, 14), (14, 2, 8)]);
    assert_eq!((cx.peek(ptr, 2 * len), len), (&utf16("a😀é")[..], 4));
    assert_eq!(lift(&mut cx, ptr, len), "a😀é");
}

#[test]
fn latin1_when_every_char_fits_a_byte() {
    let mut cx = TestCx::new(StringEncoding::CompactUtf16);
    let (ptr, len) = lower(&mut cx, "héllo");
    // 6 UTF-8 bytes allocated, 5 latin-1 bytes kept.
    assert_eq!(sizes(&cx), [(0, 2, 6), (6, 2, 5)]);
    assert_eq!((cx.peek(ptr, len), len), (&b"h\xe9llo"[..], 5));
    assert_eq!(lift(&mut cx, ptr, len), "héllo");

    // Pure ASCII needs no shrink.
    let mut cx = TestCx::new(StringEncoding::CompactUtf16);
    let (_, len) = lower(&mut cx, "hello");
    assert_eq!((cx.reallocs.len(), len), (1, 5));
}

#[test]
fn utf16_from_the_first_char_past_latin1() {
    let mut cx = TestCx::new(StringEncoding::CompactUtf16);
    let s = "hé€llo";
    let (ptr, tagged) = lower(&mut cx, s);
    assert_ne!(tagged & UTF16_TAG, 0);
    let units = tagged ^ UTF16_TAG;
    assert_eq!(units, 6);
    // 9 UTF-8 bytes: allocate 9, grow to 18 at '€', shrink to 12.
    assert_eq!(sizes(&cx), [(0, 2, 9), (9, 2, 18), (18, 2, 12)]);
    assert_eq!(cx.peek(ptr, 2 * units), &utf16(s)[..]);
    assert_eq!(lift(&mut cx, ptr, tagged), s);

    // A supplementary character: 4 UTF-8 bytes, 2 UTF-16 code units.
    let mut cx = TestCx::new(StringEncoding::CompactUtf16);
    let (ptr, tagged) = lower(&mut cx, "😀");
    assert_eq!(tagged ^ UTF16_TAG, 2);
    assert_eq!(sizes(&cx), [(0, 2, 4), (4, 2, 8), (8, 2, 4)]);
    assert_eq!(lift(&mut cx, ptr, tagged), "😀");
}

#[test]
fn lifting_reads_each_encoding() {
    let mut cx = TestCx::new(StringEncoding::CompactUtf16);
    cx.poke(100, b"caf\xe9");
    assert_eq!(lift(&mut cx, 100, 4), "café");
    cx.poke(200, &utf16("ça"));
    assert_eq!(lift(&mut cx, 200, 2 | UTF16_TAG), "ça");
    cx.encoding = StringEncoding::Utf16;
    assert_eq!(lift(&mut cx, 200, 2), "ça");
}
