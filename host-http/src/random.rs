//! `wasi:random/{random, insecure, insecure-seed}`, from the operating
//! system's generator (through `rand`'s thread-local generator, seeded from
//! it).

use engine_abi::Trap;
use engine_abi::engine::HostError;
use rand::Rng;

use crate::state::State;
use crate::wit::Registry;

fn bytes(s: &mut State, (len,): (u64,)) -> Result<Vec<u8>, HostError> {
    // The bytes are lowered into the guest's memory: more than it may have
    // cannot succeed, so refuse before allocating.
    if len > s.shared.config.max_memory_bytes as u64 {
        return Err(Trap::host(format!(
            "get-random-bytes({len}) asks for more than the guest's memory limit"
        ))
        .into());
    }
    let mut buf = vec![0u8; len as usize];
    rand::rng().fill_bytes(&mut buf);
    Ok(buf)
}

fn u64(_: &mut State, (): ()) -> Result<u64, HostError> {
    Ok(rand::rng().next_u64())
}

/// Register `wasi:random/{random, insecure, insecure-seed}`.
pub fn register(r: &mut Registry<'_>) {
    r.typed("wasi:random/random", "get-random-bytes", bytes);
    r.typed("wasi:random/random", "get-random-u64", u64);
    r.typed("wasi:random/insecure", "get-insecure-random-bytes", bytes);
    r.typed("wasi:random/insecure", "get-insecure-random-u64", u64);
    r.typed("wasi:random/insecure-seed", "insecure-seed", |_, (): ()| {
        let mut r = rand::rng();
        Ok((r.next_u64(), r.next_u64()))
    });
}
