//! Calls: the core signatures of `canon lift` and `canon lower`, and moving
//! a function's arguments and result across, flat or through memory.
//!
//! The four movers, by who calls whom:
//!
//! | host calls a guest export | guest calls a host import |
//! |---|---|
//! | [`lower_args`] then [`lift_result`] | [`lift_args`] then [`lower_result`] |

use crate::engine::{CoreFuncType, CoreType, CoreVal};
use crate::error::Trap;
use crate::types::{FuncType, Type, align_to};

use super::lift::{lift_flat, load_at};
use super::lower::{lower_flat, store_at};
use super::memory::{check_ptr, offset, realloc};
use super::{AbiContext, Val};

/// The core signature of `canon lower` of a function of type `ft`: what a
/// guest calls to reach a host import. Parameters flat, or one `i32`
/// pointer past [`MAX_FLAT_PARAMS`](crate::types::MAX_FLAT_PARAMS); the
/// result flat, or (past [`MAX_FLAT_RESULTS`](crate::types::MAX_FLAT_RESULTS))
/// no result and a trailing `i32` return pointer parameter.
pub fn lowered_core_type(ft: &FuncType) -> CoreFuncType {
    let mut params = flat_params(ft);
    let mut results = flat_result(ft);
    if ft.result_in_memory() {
        params.push(CoreType::I32);
        results.clear();
    }
    CoreFuncType::new(params, results)
}

/// The core signature of `canon lift` of a function of type `ft`: what a
/// guest exports for the host to call. Parameters flat or one `i32`
/// pointer; the result flat or one `i32` pointer to it.
pub fn lifted_core_type(ft: &FuncType) -> CoreFuncType {
    let params = flat_params(ft);
    let mut results = flat_result(ft);
    if ft.result_in_memory() {
        results = vec![CoreType::I32];
    }
    CoreFuncType::new(params, results)
}

fn flat_params(ft: &FuncType) -> Vec<CoreType> {
    if ft.params_in_memory() {
        vec![CoreType::I32]
    } else {
        ft.params()
            .iter()
            .flat_map(|(_, t)| t.flat().iter().copied())
            .collect()
    }
}

fn flat_result(ft: &FuncType) -> Vec<CoreType> {
    ft.result().map(|t| t.flat().to_vec()).unwrap_or_default()
}

/// Lower the arguments of a host-to-guest call of `ft` onto `out`: flat,
/// or, past [`MAX_FLAT_PARAMS`](crate::types::MAX_FLAT_PARAMS), stored in a
/// block allocated with the guest's `realloc`, whose pointer is passed.
///
/// Arguments of the wrong number or type are a [`Trap::host`] naming the
/// argument, raised before anything reaches the guest.
pub fn lower_args<C: AbiContext + ?Sized>(
    cx: &mut C,
    ft: &FuncType,
    args: &[Val],
    out: &mut Vec<CoreVal>,
) -> Result<(), Trap> {
    let params = ft.params();
    if args.len() != params.len() {
        return Err(Trap::host(format!(
            "expected {} arguments, got {}",
            params.len(),
            args.len()
        )));
    }
    for ((name, t), v) in params.iter().zip(args) {
        v.typecheck(t)
            .map_err(|e| Trap::host(format!("type mismatch in argument `{name}`: {e}")))?;
    }
    if ft.params_in_memory() {
        let tuple = ft.params_tuple();
        let layout = Type::Tuple(tuple.clone());
        let ptr = realloc(cx, 0, 0, layout.align(), layout.size(), "parameters")?;
        store_fields(cx, tuple.types(), args, ptr)?;
        out.push(CoreVal::I32(ptr as i32));
    } else {
        for ((_, t), v) in params.iter().zip(args) {
            lower_flat(cx, t, v, out)?;
        }
    }
    Ok(())
}

fn store_fields<C: AbiContext + ?Sized>(
    cx: &mut C,
    types: &[Type],
    vals: &[Val],
    ptr: u32,
) -> Result<(), Trap> {
    let mut off = 0;
    for (t, v) in types.iter().zip(vals) {
        off = align_to(off, t.align());
        store_at(cx, t, v, offset(ptr, off)?)?;
        off += t.size();
    }
    Ok(())
}

/// Lift the arguments of a guest-to-host call of `ft` from `flat`, all the
/// core arguments of the lowered function (see [`lowered_core_type`]; a
/// trailing return pointer is ignored here, see [`retptr`]).
pub fn lift_args<C: AbiContext + ?Sized>(
    cx: &mut C,
    ft: &FuncType,
    flat: &[CoreVal],
) -> Result<Vec<Val>, Trap> {
    check_arity(ft, flat)?;
    let params = ft.params();
    if ft.params_in_memory() {
        let ptr = flat[0].i32()? as u32;
        let tuple = Type::Tuple(ft.params_tuple().clone());
        check_ptr(cx, ptr, tuple.size(), tuple.align(), "parameters")?;
        let mut vals = Vec::with_capacity(params.len());
        let mut off = 0;
        for (_, t) in params {
            off = align_to(off, t.align());
            vals.push(load_at(cx, t, offset(ptr, off)?)?);
            off += t.size();
        }
        Ok(vals)
    } else {
        let mut src = flat.iter().copied();
        params
            .iter()
            .map(|(_, t)| lift_flat(cx, t, &mut src))
            .collect()
    }
}

/// Check that `flat` has as many values as the lowered signature of `ft`
/// has parameters.
fn check_arity(ft: &FuncType, flat: &[CoreVal]) -> Result<(), Trap> {
    let want = if ft.params_in_memory() {
        1
    } else {
        ft.params().iter().map(|(_, t)| t.flat().len()).sum()
    } + usize::from(ft.result_in_memory());
    if flat.len() == want {
        Ok(())
    } else {
        Err(Trap::abi(format!(
            "expected {want} core arguments for {ft}, got {}",
            flat.len()
        )))
    }
}

/// The return pointer a guest passed, as the last core argument, to a
/// lowered import of `ft` whose result goes through memory; `None` if the
/// result is returned flat.
pub fn retptr(ft: &FuncType, flat: &[CoreVal]) -> Result<Option<u32>, Trap> {
    if !ft.result_in_memory() {
        return Ok(None);
    }
    check_arity(ft, flat)?;
    match flat.last() {
        Some(v) => Ok(Some(v.i32()? as u32)),
        None => Err(Trap::abi("missing return pointer")),
    }
}

/// Lift the result of a guest export of `ft` from its core results `flat`:
/// flat, or loaded from the pointer the export returned.
pub fn lift_result<C: AbiContext + ?Sized>(
    cx: &mut C,
    ft: &FuncType,
    flat: &[CoreVal],
) -> Result<Option<Val>, Trap> {
    let want = lifted_core_type(ft).results.len();
    if flat.len() != want {
        return Err(Trap::abi(format!(
            "expected {want} core results for {ft}, got {}",
            flat.len()
        )));
    }
    let Some(ty) = ft.result() else {
        return Ok(None);
    };
    if ft.result_in_memory() {
        let ptr = flat[0].i32()? as u32;
        check_ptr(cx, ptr, ty.size(), ty.align(), "result")?;
        load_at(cx, ty, ptr).map(Some)
    } else {
        lift_flat(cx, ty, &mut flat.iter().copied()).map(Some)
    }
}

/// Lower the result of a host import of `ft` for the guest: pushed flat
/// onto `out`, or, when it goes through memory, stored at the guest's
/// `retptr` (see [`retptr`]) with nothing pushed.
///
/// A result of the wrong type is a [`Trap::host`]; a bad return pointer is
/// the guest's fault, a [`Trap`] of the ABI kind.
pub fn lower_result<C: AbiContext + ?Sized>(
    cx: &mut C,
    ft: &FuncType,
    result: Option<&Val>,
    retptr: Option<u32>,
    out: &mut Vec<CoreVal>,
) -> Result<(), Trap> {
    let (ty, val) = match (ft.result(), result) {
        (None, None) => return Ok(()),
        (Some(ty), Some(val)) => (ty, val),
        (None, Some(_)) => {
            return Err(Trap::host(format!(
                "{ft} returns nothing, but a result was given"
            )));
        }
        (Some(ty), None) => return Err(Trap::host(format!("{ft} must return a {ty}"))),
    };
    val.typecheck(ty)
        .map_err(|e| Trap::host(format!("type mismatch in result: {e}")))?;
    if ft.result_in_memory() {
        let Some(ptr) = retptr else {
            return Err(Trap::host(format!(
                "{ft} returns through memory: a return pointer is needed"
            )));
        };
        check_ptr(cx, ptr, ty.size(), ty.align(), "return")?;
        store_at(cx, ty, val, ptr)
    } else {
        lower_flat(cx, ty, val, out)
    }
}
