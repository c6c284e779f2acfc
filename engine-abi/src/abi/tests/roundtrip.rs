//! Random types and values lowered then lifted, flat and through memory,
//! in every string encoding; and NaN canonicalisation.

use proptest::prelude::*;

use super::cx::{TestCx, canonical, same};
use super::strategy::{encoding, typed_val};
use crate::abi::{
    CANONICAL_NAN32, CANONICAL_NAN64, StringEncoding, Val, lift_flat, load, lower_flat, store,
};
use crate::engine::{CoreType, CoreVal};
use crate::types::{OptionType, ResultType, Type, Variant};

/// How many borrowed handles `v` holds (they stay in the table after a
/// lift; owned ones are taken out).
fn borrows(v: &Val) -> usize {
    let boxed = |v: &Option<Box<Val>>| v.as_deref().map_or(0, borrows);
    match v {
        Val::Borrow(_) => 1,
        Val::List(vs) | Val::Tuple(vs) => vs.iter().map(borrows).sum(),
        Val::Record(fs) => fs.iter().map(|(_, v)| borrows(v)).sum(),
        Val::Variant(_, v) | Val::Option(v) | Val::Result(Ok(v)) | Val::Result(Err(v)) => boxed(v),
        _ => 0,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn lower_flat_then_lift_flat((ty, v) in typed_val(), enc in encoding()) {
        let mut cx = TestCx::new(enc);
        let mut flat = Vec::new();
        lower_flat(&mut cx, &ty, &v, &mut flat).unwrap();
        let types: Vec<CoreType> = flat.iter().map(CoreVal::ty).collect();
        prop_assert_eq!(&types[..], ty.flat());
        let mut src = flat.into_iter();
        let back = lift_flat(&mut cx, &ty, &mut src).unwrap();
        prop_assert!(src.next().is_none(), "values left over");
        let want = canonical(&ty, &v);
        prop_assert!(same(&want, &back), "{:?}\n!= {:?}", want, back);
        prop_assert_eq!(cx.live_handles(), borrows(&v));
    }

    #[test]
    fn store_then_load((ty, v) in typed_val(), enc in encoding()) {
        let mut cx = TestCx::new(enc);
        let ptr = cx.alloc(ty.align(), ty.size());
        store(&mut cx, &ty, &v, ptr).unwrap();
        let back = load(&mut cx, &ty, ptr).unwrap();
        let want = canonical(&ty, &v);
        prop_assert!(same(&want, &back), "{:?}\n!= {:?}", want, back);
        prop_assert_eq!(cx.live_handles(), borrows(&v));
    }

    /// Storing writes nothing before the value nor past the last block
    /// it allocated.
    #[test]
    fn store_stays_in_bounds((ty, v) in typed_val(), enc in encoding()) {
        let mut cx = TestCx::new(enc);
        cx.mem.fill(0xa5);
        let ptr = cx.alloc(ty.align(), ty.size());
        store(&mut cx, &ty, &v, ptr).unwrap();
        let end = (cx.next as usize).min(cx.mem.len());
        prop_assert!(cx.mem[16..ptr as usize].iter().all(|&b| b == 0xa5));
        prop_assert!(cx.mem[end..].iter().all(|&b| b == 0xa5 || b == 0));
    }
}

#[test]
fn nans_are_canonical_both_ways() {
    let mut cx = TestCx::new(StringEncoding::Utf8);
    let nan32 = f32::from_bits(0xffc0_1234);
    let nan64 = f64::from_bits(0xfff8_0000_dead_beef);

    let mut flat = Vec::new();
    lower_flat(&mut cx, &Type::F32, &Val::F32(nan32), &mut flat).unwrap();
    lower_flat(&mut cx, &Type::F64, &Val::F64(nan64), &mut flat).unwrap();
    assert_eq!(
        flat,
        [CoreVal::F32(CANONICAL_NAN32), CoreVal::F64(CANONICAL_NAN64)]
    );

    let lifted = lift_flat(
        &mut cx,
        &Type::F32,
        &mut [CoreVal::F32(0x7f80_0001)].into_iter(),
    )
    .unwrap();
    assert!(matches!(lifted, Val::F32(f) if f.to_bits() == CANONICAL_NAN32));

    store(&mut cx, &Type::F64, &Val::F64(nan64), 64).unwrap();
    assert_eq!(cx.peek(64, 8), CANONICAL_NAN64.to_le_bytes());
    cx.poke(64, &0x7ff0_0000_0000_0001u64.to_le_bytes());
    let loaded = load(&mut cx, &Type::F64, 64).unwrap();
    assert!(matches!(loaded, Val::F64(f) if f.to_bits() == CANONICAL_NAN64));

    // In a variant slot joined to i64, the NaN's bits are canonical too.
    let ty = Type::Result(ResultType::new(Some(Type::F32), Some(Type::U64)));
    let mut flat = Vec::new();
    lower_flat(
        &mut cx,
        &ty,
        &Val::Result(Ok(Some(Box::new(Val::F32(nan32))))),
        &mut flat,
    )
    .unwrap();
    assert_eq!(
        flat,
        [CoreVal::I32(0), CoreVal::I64(i64::from(CANONICAL_NAN32))]
    );
}

#[test]
fn variant_slots_join_and_coerce() {
    let mut cx = TestCx::new(StringEncoding::Utf8);
    // i32 and f32 join to i32; f64 and u32 to i64.
    let ty = Type::Variant(Variant::new([
        ("a", Some(Type::F32)),
        ("b", Some(Type::U32)),
        ("c", Some(Type::F64)),
        ("d", None),
    ]));
    assert_eq!(ty.flat(), [CoreType::I32, CoreType::I64]);
    let cases = [
        (
            Val::Variant("a".into(), Some(Box::new(Val::F32(1.5)))),
            CoreVal::I64(i64::from(1.5f32.to_bits())),
        ),
        (
            Val::Variant("b".into(), Some(Box::new(Val::U32(u32::MAX)))),
            CoreVal::I64(0xffff_ffff),
        ),
        (
            Val::Variant("c".into(), Some(Box::new(Val::F64(-2.0)))),
            CoreVal::I64((-2.0f64).to_bits() as i64),
        ),
        (Val::Variant("d".into(), None), CoreVal::I64(0)),
    ];
    for (i, (v, slot)) in cases.iter().enumerate() {
        let mut flat = Vec::new();
        lower_flat(&mut cx, &ty, v, &mut flat).unwrap();
        assert_eq!(flat, [CoreVal::I32(i as i32), *slot]);
        let back = lift_flat(&mut cx, &ty, &mut flat.into_iter()).unwrap();
        assert!(same(&back, v), "{back:?} != {v:?}");
    }

    // An i64 slot carrying an i32 payload: the high bits are ignored.
    let back = lift_flat(
        &mut cx,
        &ty,
        &mut [CoreVal::I32(1), CoreVal::I64(0x1234_5678_0000_0007)].into_iter(),
    )
    .unwrap();
    assert_eq!(back, Val::Variant("b".into(), Some(Box::new(Val::U32(7)))));

    // option<f32>: the f32 slot stays f32.
    let ty = Type::Option(OptionType::new(Type::F32));
    let mut flat = Vec::new();
    lower_flat(&mut cx, &ty, &Val::Option(None), &mut flat).unwrap();
    assert_eq!(flat, [CoreVal::I32(0), CoreVal::F32(0)]);
}
