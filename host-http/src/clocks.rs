//! `wasi:clocks/{monotonic-clock, wall-clock}`.
//!
//! Monotonic instants are nanoseconds since the process started using the
//! clock; `subscribe-*` give deadline pollables that wake the request's task
//! through a tokio timer.

use std::sync::LazyLock;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use engine_abi::abi::typed::Own;
use engine_abi::engine::HostError;
use tokio::time::Instant;

use crate::io::{Pollable, Subscribe};
use crate::state::State;
use crate::wit::Registry;

const MONOTONIC: &str = "wasi:clocks/monotonic-clock";
const WALL: &str = "wasi:clocks/wall-clock";

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

/// Ready at an instant.
struct Deadline(Instant);

impl Subscribe for Deadline {
    fn poll_ready(&self, _: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.0 {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    fn deadline(&self) -> Option<Instant> {
        Some(self.0)
    }
}

fn deadline(s: &mut State, at: Instant) -> Result<Own<Pollable>, HostError> {
    Ok(s.own(Pollable::new(Deadline(at)))?)
}

wit_record! {
    /// `wasi:clocks/wall-clock.datetime`
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Datetime {
        /// Whole seconds since the Unix epoch.
        pub seconds: u64 = "seconds",
        /// Nanoseconds past them.
        pub nanoseconds: u32 = "nanoseconds",
    }
}

/// Register `wasi:clocks/{monotonic-clock, wall-clock}`.
pub fn register(r: &mut Registry<'_>) {
    r.typed(MONOTONIC, "now", |_, (): ()| Ok(now_ns()));
    r.typed(MONOTONIC, "resolution", |_, (): ()| Ok(1u64));
    r.typed(MONOTONIC, "subscribe-instant", |s, (when,): (u64,)| {
        deadline(s, instant_at(when))
    });
    r.typed(MONOTONIC, "subscribe-duration", |s, (when,): (u64,)| {
        deadline(s, Instant::now() + Duration::from_nanos(when).min(NEVER))
    });
    r.typed(WALL, "now", |_, (): ()| {
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Ok(Datetime {
            seconds: d.as_secs(),
            nanoseconds: d.subsec_nanos(),
        })
    });
    r.typed(WALL, "resolution", |_, (): ()| {
        Ok(Datetime {
            seconds: 0,
            nanoseconds: 1,
        })
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testcx::{check_against_dynamic, wit_type};
    use engine_abi::abi::{ComponentType, Val};

    #[test]
    fn datetime_is_the_wits() {
        assert_eq!(
            Datetime::ty(),
            wit_type("wasi:clocks/wall-clock", "datetime")
        );
        for (seconds, nanoseconds) in [(0, 1), (u64::MAX, 999_999_999), (1_700_000_000, 0)] {
            check_against_dynamic(
                &Datetime {
                    seconds,
                    nanoseconds,
                },
                &Val::Record(vec![
                    ("seconds".into(), Val::U64(seconds)),
                    ("nanoseconds".into(), Val::U32(nanoseconds)),
                ]),
            );
        }
    }
}
