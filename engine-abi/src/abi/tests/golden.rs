//! Exact bytes and core values for values whose encoding is worked out by
//! hand from the spec, so a mistake made the same way by lowering and
//! lifting (which the round trips cannot see) still shows.

use super::cx::TestCx;
use crate::abi::{StringEncoding, Val, lower_flat, store};
use crate::engine::CoreVal;
use crate::types::{Enum, Flags, List, OptionType, Record, ResultType, Type, Variant};

fn some(v: Val) -> Option<Box<Val>> {
    Some(Box::new(v))
}

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("n{i}")).collect()
}

/// Types, values and the bytes `store` writes for them.
fn memory_cases() -> Vec<(Type, Val, Vec<u8>)> {
    vec![
        (Type::Bool, Val::Bool(true), vec![1]),
        (Type::S8, Val::S8(-1), vec![0xff]),
        (Type::S16, Val::S16(-2), vec![0xfe, 0xff]),
        (Type::U32, Val::U32(0x0102_0304), vec![4, 3, 2, 1]),
        (Type::F32, Val::F32(1.0), vec![0, 0, 0x80, 0x3f]),
        (Type::Char, Val::Char('é'), vec![0xe9, 0, 0, 0]),
        (
            Type::Record(Record::new([
                ("a", Type::U8),
                ("b", Type::U32),
                ("c", Type::U16),
            ])),
            Val::Record(vec![
                ("a".into(), Val::U8(1)),
                ("b".into(), Val::U32(2)),
                ("c".into(), Val::U16(3)),
            ]),
            vec![1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0],
        ),
        (
            Type::Variant(Variant::new([
                ("a", Some(Type::F32)),
                ("b", Some(Type::U64)),
                ("c", None),
            ])),
            Val::Variant("b".into(), some(Val::U64(5))),
            vec![1, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0],
        ),
        (
            Type::Option(OptionType::new(Type::U16)),
            Val::Option(some(Val::U16(0x1234))),
            vec![1, 0, 0x34, 0x12],
        ),
        (
            Type::Result(ResultType::new(None, Some(Type::U8))),
            Val::Result(Err(some(Val::U8(9)))),
            vec![1, 9],
        ),
        (
            Type::Flags(Flags::new(names(40))),
            Val::Flags(vec!["n0".into(), "n33".into()]),
            vec![1, 0, 0, 0, 2, 0, 0, 0],
        ),
        (
            Type::Flags(Flags::new(names(12))),
            Val::Flags(vec!["n9".into()]),
            vec![0, 2],
        ),
        (
            Type::Enum(Enum::new(names(300))),
            Val::Enum("n299".into()),
            vec![0x2b, 0x01],
        ),
    ]
}

#[test]
fn stored_bytes_are_the_spec_s() {
    for (ty, v, bytes) in memory_cases() {
        let mut cx = TestCx::new(StringEncoding::Utf8);
        cx.mem.fill(0);
        assert_eq!(ty.size() as usize, bytes.len(), "size of {ty}");
        store(&mut cx, &ty, &v, 64).unwrap();
        assert_eq!(cx.peek(64, ty.size()), &bytes[..], "{ty}");
    }
}

#[test]
fn lists_and_strings_point_at_their_data() {
    let mut cx = TestCx::new(StringEncoding::Utf8);
    let ty = Type::List(List::new(Type::U16));
    store(
        &mut cx,
        &ty,
        &Val::List(vec![Val::U16(1), Val::U16(0x203)]),
        64,
    )
    .unwrap();
    let ptr = u32::from_le_bytes(cx.peek(64, 4).try_into().unwrap());
    assert_eq!(cx.peek(68, 4), 2u32.to_le_bytes());
    assert_eq!(cx.peek(ptr, 4), [1, 0, 3, 2]);
    assert_eq!(cx.reallocs.last(), Some(&(0, 0, 2, 4)));
}

#[test]
fn flat_values_are_the_spec_s() {
    let cases = [
        (Type::S8, Val::S8(-1), vec![CoreVal::I32(-1)]),
        (Type::U8, Val::U8(255), vec![CoreVal::I32(255)]),
        (Type::U32, Val::U32(u32::MAX), vec![CoreVal::I32(-1)]),
        (Type::U64, Val::U64(u64::MAX), vec![CoreVal::I64(-1)]),
        (Type::Char, Val::Char('😀'), vec![CoreVal::I32(0x1f600)]),
        (
            Type::Result(ResultType::new(Some(Type::F32), Some(Type::S32))),
            Val::Result(Ok(some(Val::F32(-0.0)))),
            vec![CoreVal::I32(0), CoreVal::I32(0x8000_0000u32 as i32)],
        ),
        (
            Type::Flags(Flags::new(names(3))),
            Val::Flags(vec!["n2".into(), "n0".into()]),
            vec![CoreVal::I32(0b101)],
        ),
    ];
    for (ty, v, want) in cases {
        let mut cx = TestCx::new(StringEncoding::Utf8);
        let mut flat = Vec::new();
        lower_flat(&mut cx, &ty, &v, &mut flat).unwrap();
        assert_eq!(flat, want, "{ty}");
    }
}
