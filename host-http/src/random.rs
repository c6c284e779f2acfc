//! `wasi:random/{random, insecure, insecure-seed}`, from the operating
//! system's generator (through `rand`'s thread-local generator, seeded from
//! it).

use engine_abi::Trap;
use engine_abi::abi::Val;
use engine_abi::engine::HostError;
use rand::Rng;

use crate::state::{State, arg};

type HostResult = Result<Option<Val>, HostError>;

fn bytes(s: &mut State, args: &[Val]) -> HostResult {
    let n = arg::u64(&args[0])?;
    // The bytes are lowered into the guest's memory: more than it may have
    // cannot succeed, so refuse before allocating.
    if n > s.shared.config.max_memory_bytes as u64 {
        return Err(Trap::host(format!(
            "get-random-bytes({n}) asks for more than the guest's memory limit"
        ))
        .into());
    }
    let mut buf = vec![0u8; n as usize];
    rand::rng().fill_bytes(&mut buf);
    Ok(Some(Val::Bytes(buf)))
}

/// `random.get-random-bytes`
pub fn get_random_bytes(s: &mut State, args: &[Val]) -> HostResult {
    bytes(s, args)
}

/// `random.get-random-u64`
pub fn get_random_u64(_: &mut State, _: &[Val]) -> HostResult {
    Ok(Some(Val::U64(rand::rng().next_u64())))
}

/// `insecure.get-insecure-random-bytes`
pub fn get_insecure_random_bytes(s: &mut State, args: &[Val]) -> HostResult {
    bytes(s, args)
}

/// `insecure.get-insecure-random-u64`
pub fn get_insecure_random_u64(_: &mut State, _: &[Val]) -> HostResult {
    Ok(Some(Val::U64(rand::rng().next_u64())))
}

/// `insecure-seed.insecure-seed`
pub fn insecure_seed(_: &mut State, _: &[Val]) -> HostResult {
    let mut r = rand::rng();
    Ok(Some(Val::Tuple(vec![
        Val::U64(r.next_u64()),
        Val::U64(r.next_u64()),
    ])))
}
