//! Bad input, one case per row: each names what the guest (or the host)
//! got wrong, how to provoke it, and what the trap must say.

use super::cx::TestCx;
use crate::abi::{
    Resource, StringEncoding, Val, lift_args, lift_flat, lift_result, load, lower_args, lower_flat,
    lower_result, store, typed,
};
use crate::engine::CoreVal;
use crate::error::{Trap, TrapKind};
use crate::types::{
    Enum, Flags, FuncType, List, OptionType, Record, ResourceType, ResultType, Tuple, Type, Variant,
};

type Run = Box<dyn Fn(&mut TestCx) -> Result<(), Trap>>;

/// A test case: what it provokes, how, and a part of the expected message.
struct Case {
    what: &'static str,
    kind: TrapKind,
    expect: &'static str,
    run: Run,
}

fn abi(what: &'static str, expect: &'static str, run: Run) -> Case {
    Case {
        what,
        kind: TrapKind::Abi,
        expect,
        run,
    }
}

fn host(what: &'static str, expect: &'static str, run: Run) -> Case {
    Case {
        what,
        kind: TrapKind::Host,
        expect,
        run,
    }
}

/// Lift `ty` from `flat` in a context with string encoding `enc`.
fn lift(enc: StringEncoding, ty: Type, flat: &[i32]) -> Run {
    let flat: Vec<CoreVal> = flat.iter().map(|&v| CoreVal::I32(v)).collect();
    lift_vals(enc, ty, flat)
}

fn lift_vals(enc: StringEncoding, ty: Type, flat: Vec<CoreVal>) -> Run {
    Box::new(move |cx| {
        cx.encoding = enc;
        lift_flat(cx, &ty, &mut flat.clone().into_iter()).map(drop)
    })
}

/// Write `bytes` at `ptr`, then load `ty` from `at`.
fn load_from(ty: Type, ptr: u32, bytes: &'static [u8], at: u32) -> Run {
    Box::new(move |cx| {
        cx.poke(ptr, bytes);
        load(cx, &ty, at).map(drop)
    })
}

/// Lower `v` as `ty` with `realloc` returning `bad`.
fn lower_with_realloc(ty: Type, v: Val, bad: u32) -> Run {
    Box::new(move |cx| {
        cx.bad_realloc = Some(bad);
        lower_flat(cx, &ty, &v, &mut Vec::new())
    })
}

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("n{i}")).collect()
}

fn cases() -> Vec<Case> {
    use StringEncoding::*;
    let list = |t: Type| Type::List(List::new(t));
    let r0 = ResourceType::fresh("r0");
    let r1 = ResourceType::fresh("r1");
    let abc = Type::Variant(Variant::new([("a", None), ("b", Some(Type::U32))]));
    let seventeen = FuncType::new((0..17).map(|i| (format!("p{i}"), Type::U32)), None);
    let returns_string = FuncType::new([("x", Type::U32)], Some(Type::String));
    vec![
        // Bounds.
        abi(
            "string past the end of memory",
            "string content out-of-bounds: string pointer/length out of bounds of memory: string pointer 0x10000 + length 12 out of bounds of memory (65536 bytes)",
            lift(Utf8, Type::String, &[0x10000, 12]),
        ),
        abi(
            "utf-16 string past the end of memory",
            "string pointer 0xfffe + length 4 out of bounds",
            lift(Utf16, Type::String, &[0xfffe, 2]),
        ),
        abi(
            "list past the end of memory",
            "list content out-of-bounds: list pointer/length out of bounds of memory: list pointer 0xfff0 + length 32 out of bounds of memory (65536 bytes)",
            lift(Utf8, list(Type::U32), &[0xfff0, 8]),
        ),
        abi(
            "list at a pointer near 4 GiB",
            "list pointer 0xfffffff0 + length 32 out of bounds",
            lift(Utf8, list(Type::U64), &[0xfffffff0u32 as i32, 4]),
        ),
        abi(
            "record loaded past the end",
            "record pointer 0xfff8 + length 16 out of bounds",
            load_from(
                Type::Record(Record::new([("a", Type::U64), ("b", Type::U32)])),
                0,
                b"",
                0xfff8,
            ),
        ),
        abi(
            "u64 loaded at the top of the address space",
            "pointer 0xfffffff8 + length 8 out of bounds",
            load_from(Type::U64, 0, b"", 0xffff_fff8),
        ),
        abi(
            "value stored past the end",
            "pointer 0x10000 + length 4 out of bounds",
            Box::new(|cx| store(cx, &Type::U32, &Val::U32(1), 0x10000)),
        ),
        abi(
            "parameter block past the end",
            "parameters pointer 0xfff0 + length 68 out of bounds",
            Box::new(move |cx| lift_args(cx, &seventeen, &[CoreVal::I32(0xfff0)]).map(drop)),
        ),
        abi(
            "result pointer past the end",
            "result pointer 0xfffc + length 8 out of bounds",
            {
                let ft = returns_string.clone();
                Box::new(move |cx| lift_result(cx, &ft, &[CoreVal::I32(0xfffc)]).map(drop))
            },
        ),
        abi(
            "return pointer past the end",
            "return pointer 0xfffc + length 8 out of bounds",
            {
                let ft = returns_string.clone();
                Box::new(move |cx| {
                    lower_result(
                        cx,
                        &ft,
                        Some(&Val::String("x".into())),
                        Some(0xfffc),
                        &mut Vec::new(),
                    )
                })
            },
        ),
        abi(
            "realloc returns a block past the end",
            "realloc return: beyond end of memory (string content out-of-bounds): string pointer 0xfffa + length 11 out of bounds of memory (65536 bytes)",
            lower_with_realloc(Type::String, Val::String("hello world".into()), 0xfffa),
        ),
        // Alignment.
        abi(
            "unaligned load",
            "unaligned pointer: value pointer not aligned to 4 (0x2)",
            load_from(Type::U32, 0, b"", 2),
        ),
        abi(
            "unaligned store",
            "unaligned pointer: record pointer not aligned to 8 (0x4)",
            Box::new(|cx| {
                let ty = Type::Record(Record::new([("a", Type::F64)]));
                store(cx, &ty, &Val::Record(vec![("a".into(), Val::F64(1.0))]), 4)
            }),
        ),
        abi(
            "unaligned list",
            "unaligned pointer: list pointer not aligned to 4 (0x2)",
            lift(Utf8, list(Type::U32), &[2, 1]),
        ),
        abi(
            "unaligned utf-16 string",
            "unaligned pointer: string pointer not aligned to 2 (0x1)",
            lift(Utf16, Type::String, &[1, 2]),
        ),
        abi(
            "unaligned latin-1 string",
            "unaligned pointer: string pointer not aligned to 2 (0x3)",
            lift(CompactUtf16, Type::String, &[3, 1]),
        ),
        abi(
            "realloc returns an unaligned block",
            "unaligned pointer: realloc return: result not aligned: list pointer 0x2, not aligned to 4",
            lower_with_realloc(list(Type::U32), Val::List(vec![Val::U32(1)]), 2),
        ),
        abi(
            "unaligned return pointer",
            "unaligned pointer: return pointer not aligned to 4 (0x2)",
            Box::new(move |cx| {
                lower_result(
                    cx,
                    &returns_string,
                    Some(&Val::String("x".into())),
                    Some(2),
                    &mut Vec::new(),
                )
            }),
        ),
        // Lengths.
        abi(
            "string longer than the maximum",
            "string byte length 2147483648 exceeds the maximum (2147483647)",
            lift(Utf8, Type::String, &[0, i32::MIN]),
        ),
        abi(
            "utf-16 length whose byte length overflows 32 bits",
            "string byte length 4294967294 exceeds the maximum",
            lift(Utf16, Type::String, &[0, i32::MAX]),
        ),
        abi(
            "tagged latin1+utf16 length too large",
            "string byte length",
            lift(
                CompactUtf16,
                Type::String,
                &[0, (0x8000_0000u32 | (1 << 30)) as i32],
            ),
        ),
        abi(
            "list longer than the maximum",
            "exceeds the maximum list byte length",
            lift(Utf8, list(Type::U64), &[0, 0x1000_0000]),
        ),
        abi(
            "list of empty tuples longer than the maximum",
            "list of 4294967295 elements of 0 bytes exceeds the maximum",
            lift(Utf8, list(Type::Tuple(Tuple::new([]))), &[0, -1]),
        ),
        // Encodings.
        abi(
            "invalid utf-8",
            "invalid utf-8 in string at 0x64",
            Box::new(|cx| {
                cx.poke(100, b"ok\xff");
                lift(Utf8, Type::String, &[100, 3])(cx)
            }),
        ),
        abi(
            "utf-16 with an unpaired surrogate",
            "invalid utf-16 in string at 0x64: unpaired surrogate 0xd800",
            Box::new(|cx| {
                cx.poke(100, &[0x61, 0, 0x00, 0xd8, 0x62, 0]);
                lift(Utf16, Type::String, &[100, 3])(cx)
            }),
        ),
        abi(
            "tagged utf-16 with a lone low surrogate",
            "unpaired surrogate 0xdc00",
            Box::new(|cx| {
                cx.poke(100, &[0x00, 0xdc]);
                lift(CompactUtf16, Type::String, &[100, (0x8000_0001u32) as i32])(cx)
            }),
        ),
        // Discriminants.
        abi(
            "variant discriminant out of range",
            "invalid variant discriminant: variant discriminant 2 out of range [0..2)",
            lift(Utf8, abc.clone(), &[2, 0]),
        ),
        abi(
            "variant discriminant out of range in memory",
            "invalid variant discriminant: variant discriminant 7 out of range [0..2)",
            load_from(abc, 0, &[7], 0),
        ),
        abi(
            "enum discriminant out of range",
            "invalid variant discriminant: enum discriminant 3 out of range [0..3)",
            load_from(Type::Enum(Enum::new(["a", "b", "c"])), 0, &[3], 0),
        ),
        abi(
            "two-byte enum discriminant out of range",
            "invalid variant discriminant: enum discriminant 300 out of range [0..300)",
            load_from(Type::Enum(Enum::new(names(300))), 0, &[0x2c, 0x01], 0),
        ),
        abi(
            "option discriminant out of range",
            "invalid variant discriminant: option discriminant 2 out of range [0..2)",
            lift(Utf8, Type::Option(OptionType::new(Type::U8)), &[2, 0]),
        ),
        abi(
            "negative option discriminant",
            "invalid variant discriminant: option discriminant 4294967295 out of range",
            lift(Utf8, Type::Option(OptionType::new(Type::U8)), &[-1, 0]),
        ),
        abi(
            "result discriminant out of range in memory",
            "invalid variant discriminant: result discriminant 5 out of range [0..2)",
            load_from(
                Type::Result(ResultType::new(Some(Type::U8), None)),
                0,
                &[5],
                0,
            ),
        ),
        // Chars.
        abi(
            "surrogate char",
            "invalid `char` bit pattern: converted integer out of range for `char`: 0xd800 is a surrogate",
            lift(Utf8, Type::Char, &[0xd800]),
        ),
        abi(
            "char past U+10FFFF",
            "invalid `char` bit pattern: converted integer out of range for `char`: 0x110000 is past U+10FFFF",
            load_from(Type::Char, 0, &[0, 0, 0x11, 0], 0),
        ),
        abi(
            "negative char",
            "invalid `char` bit pattern: converted integer out of range for `char`: 0xffffffff",
            lift(Utf8, Type::Char, &[-1]),
        ),
        // Core values.
        abi(
            "core value of the wrong type",
            "expected an i32, found I64(1)",
            lift_vals(Utf8, Type::U32, vec![CoreVal::I64(1)]),
        ),
        abi(
            "too few core values",
            "too few core values",
            lift(Utf8, Type::Tuple(Tuple::new([Type::U32, Type::U32])), &[1]),
        ),
        abi(
            "variant payload of the wrong core type",
            "expected a I64 core value in a variant payload, found I32(5)",
            lift(Utf8, Type::Option(OptionType::new(Type::U64)), &[1, 5]),
        ),
        abi(
            "unused variant slot of the wrong core type",
            "expected a I64 core value in a variant payload, found F64(0)",
            lift_vals(
                Utf8,
                Type::Option(OptionType::new(Type::U64)),
                vec![CoreVal::I32(0), CoreVal::F64(0)],
            ),
        ),
        abi(
            "wrong number of core arguments",
            "expected 1 core arguments",
            Box::new(|cx| {
                let ft = FuncType::new([("x", Type::U32)], None);
                lift_args(cx, &ft, &[]).map(drop)
            }),
        ),
        // Handles (checked by the context's table; the ABI passes them on).
        abi(
            "unknown own handle",
            "unknown handle 99",
            lift(Utf8, Type::Own(r0.clone()), &[99]),
        ),
        abi(
            "handle of another resource type",
            "unknown handle 1, or not a r1",
            Box::new(move |cx| {
                let h = cx.give(&Resource {
                    ty: r0.clone(),
                    rep: 7,
                });
                lift(Utf8, Type::Borrow(r1.clone()), &[h as i32])(cx)
            }),
        ),
        // Host-side type errors.
        host(
            "lowering a value of the wrong type",
            "type mismatch: expected u32, found string",
            Box::new(|cx| lower_flat(cx, &Type::U32, &Val::String("x".into()), &mut Vec::new())),
        ),
        host(
            "lowering an unknown flag",
            "unknown flag `z`",
            Box::new(|cx| {
                let ty = Type::Flags(Flags::new(["a"]));
                store(cx, &ty, &Val::Flags(vec!["z".into()]), 0)
            }),
        ),
        host(
            "an argument of the wrong type",
            "type mismatch in argument `b`: list element 1: expected u8, found s8",
            Box::new(|cx| {
                let ft = FuncType::new(
                    [("a", Type::U32), ("b", Type::List(List::new(Type::U8)))],
                    None,
                );
                let args = [Val::U32(1), Val::List(vec![Val::U8(1), Val::S8(2)])];
                lower_args(cx, &ft, &args, &mut Vec::new())
            }),
        ),
        host(
            "a record with fields out of order",
            "expected record field `a`, found `b`",
            Box::new(|cx| {
                let ty = Type::Record(Record::new([("a", Type::U8), ("b", Type::U8)]));
                let v = Val::Record(vec![("b".into(), Val::U8(1)), ("a".into(), Val::U8(2))]);
                lower_result(
                    cx,
                    &FuncType::new([] as [(&str, Type); 0], Some(ty)),
                    Some(&v),
                    None,
                    &mut Vec::new(),
                )
            }),
        ),
        // The typed API checks the same things.
        abi(
            "typed: invalid utf-8",
            "invalid utf-8",
            Box::new(|cx| {
                cx.poke(100, b"\xc3");
                typed::lift_args::<(String,), _>(cx, &[CoreVal::I32(100), CoreVal::I32(1)])
                    .map(drop)
            }),
        ),
        abi(
            "typed: list out of bounds",
            "list content out-of-bounds: list pointer/length out of bounds of memory: list pointer 0xfff8 + length 16 out of bounds",
            Box::new(|cx| {
                typed::lift_args::<(Vec<u32>,), _>(cx, &[CoreVal::I32(0xfff8), CoreVal::I32(4)])
                    .map(drop)
            }),
        ),
        abi(
            "typed: option discriminant",
            "invalid variant discriminant: option discriminant 3",
            Box::new(|cx| {
                cx.poke(64, &[3]);
                typed::load::<Option<u32>, _>(cx, 64).map(drop)
            }),
        ),
        abi(
            "typed: surrogate char",
            "invalid `char` bit pattern: converted integer out of range for `char`: 0xdfff",
            Box::new(|cx| typed::lift_args::<(char,), _>(cx, &[CoreVal::I32(0xdfff)]).map(drop)),
        ),
        abi(
            "typed: unaligned result pointer",
            "unaligned pointer: result pointer not aligned to 4 (0x6)",
            Box::new(|cx| typed::lift_result::<String, _>(cx, &[CoreVal::I32(6)]).map(drop)),
        ),
    ]
}

#[test]
fn bad_input_traps_with_a_message_naming_it() {
    let mut failures = Vec::new();
    for case in cases() {
        let mut cx = TestCx::new(StringEncoding::Utf8);
        match (case.run)(&mut cx) {
            Ok(()) => failures.push(format!("{}: no trap", case.what)),
            Err(trap) if trap.kind() != case.kind || !trap.message().contains(case.expect) => {
                failures.push(format!(
                    "{}: got {trap:?}, expected {:?} with {:?}",
                    case.what, case.kind, case.expect
                ))
            }
            Err(_) => {}
        }
    }
    assert!(
        failures.is_empty(),
        "{} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
