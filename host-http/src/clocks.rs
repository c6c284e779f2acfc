//! `wasi:clocks/{monotonic-clock, wall-clock}`.
//!
//! Monotonic instants are nanoseconds since the process started using the
//! clock; `subscribe-*` give deadline pollables that wake the request's task
//! through a tokio timer.

use std::sync::LazyLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use engine_abi::abi::Val;
use engine_abi::engine::HostError;
use tokio::time::Instant;

use crate::io::{PollSource, Pollable};
use crate::state::{Entry, R, State, arg};

type HostResult = Result<Option<Val>, HostError>;

static START: LazyLock<Instant> = LazyLock::new(Instant::now);

/// Far enough to mean "never" without overflowing the timer.
const NEVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

fn now_ns() -> u64 {
    START.elapsed().as_nanos().min(u64::MAX as u128) as u64
}

fn instant_at(ns: u64) -> Instant {
    let d = Duration::from_nanos(ns).min(NEVER);
    *START + d
}

fn deadline(s: &mut State, at: Instant) -> HostResult {
    Ok(Some(s.own(
        &R.pollable,
        Entry::Pollable(Pollable(PollSource::Deadline(at))),
    )?))
}

/// `monotonic-clock.now`
pub fn monotonic_now(_: &mut State, _: &[Val]) -> HostResult {
    Ok(Some(Val::U64(now_ns())))
}

/// `monotonic-clock.resolution`
pub fn monotonic_resolution(_: &mut State, _: &[Val]) -> HostResult {
    Ok(Some(Val::U64(1)))
}

/// `monotonic-clock.subscribe-instant`
pub fn subscribe_instant(s: &mut State, args: &[Val]) -> HostResult {
    let at = instant_at(arg::u64(&args[0])?);
    deadline(s, at)
}

/// `monotonic-clock.subscribe-duration`
pub fn subscribe_duration(s: &mut State, args: &[Val]) -> HostResult {
    let d = Duration::from_nanos(arg::u64(&args[0])?).min(NEVER);
    deadline(s, Instant::now() + d)
}

fn datetime(seconds: u64, nanoseconds: u32) -> Val {
    Val::Record(vec![
        ("seconds".into(), Val::U64(seconds)),
        ("nanoseconds".into(), Val::U32(nanoseconds)),
    ])
}

/// `wall-clock.now`
pub fn wall_now(_: &mut State, _: &[Val]) -> HostResult {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Ok(Some(datetime(d.as_secs(), d.subsec_nanos())))
}

/// `wall-clock.resolution`
pub fn wall_resolution(_: &mut State, _: &[Val]) -> HostResult {
    Ok(Some(datetime(0, 1)))
}
