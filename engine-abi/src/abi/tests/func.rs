//! Whole calls: arguments and results of random function types through
//! `lower_args`/`lift_args` and `lower_result`/`lift_result`, flat and
//! through memory; and the core signatures of a few known functions.

use proptest::collection::vec;
use proptest::prelude::*;

use super::cx::{TestCx, canonical, same};
use super::strategy::{encoding, typed_val};
use crate::abi::{
    Val, lift_args, lift_result, lifted_core_type, lower_args, lower_result, lowered_core_type,
    retptr,
};
use crate::engine::{CoreFuncType, CoreType, CoreVal};
use crate::types::{FuncType, Type};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn arguments_and_results_round_trip(
        params in vec(typed_val(), 0..20),
        result in proptest::option::of(typed_val()),
        enc in encoding(),
    ) {
        let ft = FuncType::new(
            params.iter().enumerate().map(|(i, (t, _))| (format!("p{i}"), t.clone())),
            result.as_ref().map(|(t, _)| t.clone()),
        );
        let args: Vec<Val> = params.iter().map(|(_, v)| v.clone()).collect();
        let mut cx = TestCx::new(enc);

        // Arguments: lowered by the host as for a lifted export, lifted as
        // by a lowered import (whose last argument is the return pointer).
        let mut flat = Vec::new();
        lower_args(&mut cx, &ft, &args, &mut flat).unwrap();
        let types: Vec<CoreType> = flat.iter().map(CoreVal::ty).collect();
        prop_assert_eq!(&types, &lifted_core_type(&ft).params);
        let ret = ft.result().map(|t| cx.alloc(t.align(), t.size()));
        if ft.result_in_memory() {
            flat.push(CoreVal::I32(ret.unwrap() as i32));
        }
        prop_assert_eq!(flat.len(), lowered_core_type(&ft).params.len());
        let back = lift_args(&mut cx, &ft, &flat).unwrap();
        prop_assert_eq!(back.len(), args.len());
        for ((t, v), b) in params.iter().zip(&back) {
            prop_assert!(same(&canonical(t, v), b), "{:?} != {:?}", v, b);
        }

        // Result: lowered by the host for the guest, lifted as from an
        // export.
        let retptr = retptr(&ft, &flat).unwrap();
        prop_assert_eq!(retptr.is_some(), ft.result_in_memory());
        let mut out = Vec::new();
        lower_result(&mut cx, &ft, result.as_ref().map(|(_, v)| v), retptr, &mut out).unwrap();
        let results = match retptr {
            Some(p) => {
                prop_assert!(out.is_empty());
                vec![CoreVal::I32(p as i32)]
            }
            None => out,
        };
        let types: Vec<CoreType> = results.iter().map(CoreVal::ty).collect();
        prop_assert_eq!(&types, &lifted_core_type(&ft).results);
        let back = lift_result(&mut cx, &ft, &results).unwrap();
        match (&result, back) {
            (Some((t, v)), Some(b)) => prop_assert!(same(&canonical(t, v), &b)),
            (None, None) => {}
            (r, b) => prop_assert!(false, "{:?} came back as {:?}", r, b),
        }
    }
}

#[test]
fn core_signatures() {
    use CoreType::*;
    let ft = FuncType::new([("a", Type::U32), ("b", Type::String)], Some(Type::U64));
    assert_eq!(
        lowered_core_type(&ft),
        CoreFuncType::new([I32, I32, I32], [I64])
    );
    assert_eq!(
        lifted_core_type(&ft),
        CoreFuncType::new([I32, I32, I32], [I64])
    );

    // A result past one flat value goes through memory.
    let ft = FuncType::new([("a", Type::F32)], Some(Type::String));
    assert_eq!(lowered_core_type(&ft), CoreFuncType::new([F32, I32], []));
    assert_eq!(lifted_core_type(&ft), CoreFuncType::new([F32], [I32]));

    // Parameters past sixteen flat values go through memory.
    let ft = FuncType::new((0..17).map(|i| (format!("p{i}"), Type::U8)), None);
    assert_eq!(lowered_core_type(&ft), CoreFuncType::new([I32], []));
    assert_eq!(lifted_core_type(&ft), CoreFuncType::new([I32], []));
    let ft = FuncType::new((0..16).map(|i| (format!("p{i}"), Type::U8)), None);
    assert_eq!(lowered_core_type(&ft).params.len(), 16);
}

#[test]
fn parameters_in_memory_are_allocated_with_realloc() {
    let mut cx = TestCx::new(Default::default());
    let ft = FuncType::new((0..17).map(|i| (format!("p{i}"), Type::U16)), None);
    let args: Vec<Val> = (0..17).map(Val::U16).collect();
    let mut flat = Vec::new();
    lower_args(&mut cx, &ft, &args, &mut flat).unwrap();
    assert_eq!(cx.reallocs, [(0, 0, 2, 34)]);
    let [CoreVal::I32(ptr)] = flat[..] else {
        panic!("{flat:?}")
    };
    assert_eq!(cx.peek(ptr as u32 + 2 * 16, 2), 16u16.to_le_bytes());
}
