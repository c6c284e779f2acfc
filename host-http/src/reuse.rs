//! Warm instances kept for reuse (`--max-instance-reuse-count`): a pool of
//! idle values, each dropped once it has been idle longer than the idle
//! timeout.
//!
//! The pool is split into shards, one per worker thread (by a thread-local
//! index), so that workers do not contend for one lock and a request tends
//! to get the instance its worker last ran, warm in that core's caches. A
//! request never waits for an instance: it takes its own shard's newest,
//! else steals any other shard's, else the caller makes a fresh one.
//!
//! It knows nothing of instances: the handler decides what may be put
//! back.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

struct Idle<T> {
    value: T,
    since: Instant,
}

/// Idle values, newest last in each shard.
pub(crate) struct WarmPool<T> {
    shards: Box<[Mutex<Vec<Idle<T>>>]>,
    idle_timeout: Duration,
    /// Whether a task is sweeping out expired values.
    sweeping: Arc<AtomicBool>,
}

/// This thread's shard, before reducing modulo the shard count.
fn shard_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: usize = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    INDEX.with(|i| *i)
}

impl<T: Send + 'static> WarmPool<T> {
    /// A pool with `shards` shards (at least one) whose values expire after
    /// `idle_timeout`.
    pub fn new(shards: usize, idle_timeout: Duration) -> Arc<Self> {
        Arc::new(WarmPool {
            shards: (0..shards.max(1)).map(|_| Mutex::new(Vec::new())).collect(),
            idle_timeout,
            sweeping: Arc::new(AtomicBool::new(false)),
        })
    }

    fn local(&self) -> usize {
        shard_index() % self.shards.len()
    }

    fn lock(&self, shard: usize) -> std::sync::MutexGuard<'_, Vec<Idle<T>>> {
        // A panic while holding the lock leaves only a Vec behind: still
        // consistent.
        self.shards[shard]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The newest unexpired value of this thread's shard, else of any other
    /// shard; `None` when there is none.
    pub fn take(&self) -> Option<T> {
        let local = self.local();
        let n = self.shards.len();
        let now = Instant::now();
        for shard in (0..n).map(|i| (local + i) % n) {
            let mut expired = Vec::new();
            let found = {
                let mut idle = self.lock(shard);
                // Newest last: once the newest has expired, all have.
                match idle.pop() {
                    Some(v) if now.duration_since(v.since) < self.idle_timeout => Some(v.value),
                    Some(v) => {
                        expired.push(v);
                        expired.append(&mut idle);
                        None
                    }
                    None => None,
                }
            };
            // Dropped outside the lock: dropping an instance frees its
            // memories, which may take a while.
            drop(expired);
            if found.is_some() {
                return found;
            }
        }
        None
    }

    /// Keep `value` for reuse on this thread's shard.
    pub fn put(self: &Arc<Self>, value: T) {
        let shard = self.local();
        self.lock(shard).push(Idle {
            value,
            since: Instant::now(),
        });
        self.start_sweeping();
    }

    /// Drop the oldest idle value of any shard, to make room (an engine
    /// whose instance pool is full of idle instances). Whether there was
    /// one.
    pub fn evict_oldest(&self) -> bool {
        let mut oldest: Option<(usize, Instant)> = None;
        for shard in 0..self.shards.len() {
            if let Some(v) = self.lock(shard).first()
                && oldest.is_none_or(|(_, since)| v.since < since)
            {
                oldest = Some((shard, v.since));
            }
        }
        let Some((shard, _)) = oldest else {
            return false;
        };
        let evicted = {
            let mut idle = self.lock(shard);
            (!idle.is_empty()).then(|| idle.remove(0))
        };
        evicted.is_some()
    }

    /// How many values are idle.
    pub fn idle(&self) -> usize {
        (0..self.shards.len()).map(|s| self.lock(s).len()).sum()
    }

    /// Drop every value idle longer than the timeout.
    fn sweep(&self) {
        let now = Instant::now();
        for shard in 0..self.shards.len() {
            let expired: Vec<Idle<T>> = {
                let mut idle = self.lock(shard);
                // Oldest first: the expired ones are a prefix.
                let n = idle
                    .iter()
                    .take_while(|v| now.duration_since(v.since) >= self.idle_timeout)
                    .count();
                idle.drain(..n).collect()
            };
            drop(expired);
        }
    }

    /// Sweep expired values every half timeout, from a tokio task that ends
    /// with the pool (or its runtime: the next `put` starts another).
    fn start_sweeping(self: &Arc<Self>) {
        if self.sweeping.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.sweeping.store(false, Ordering::Release);
            return;
        };
        struct Sweeping(Arc<AtomicBool>);
        impl Drop for Sweeping {
            fn drop(&mut self) {
                self.0.store(false, Ordering::Release);
            }
        }
        let guard = Sweeping(self.sweeping.clone());
        let pool: Weak<Self> = Arc::downgrade(self);
        let period = (self.idle_timeout / 2).max(Duration::from_millis(10));
        runtime.spawn(async move {
            let _guard = guard;
            loop {
                tokio::time::sleep(period).await;
                match pool.upgrade() {
                    Some(pool) => pool.sweep(),
                    None => return,
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_the_newest_and_steals_from_other_shards() {
        let pool = WarmPool::new(4, Duration::from_secs(60));
        pool.put(1);
        pool.put(2);
        assert_eq!(pool.take(), Some(2));
        // Put from another thread: another shard, stolen from here.
        let p = pool.clone();
        std::thread::spawn(move || p.put(3)).join().unwrap();
        let mut got = vec![pool.take().unwrap(), pool.take().unwrap()];
        got.sort();
        assert_eq!(got, [1, 3]);
        assert_eq!(pool.take(), None);
    }

    #[test]
    fn expired_values_are_dropped_not_taken() {
        let pool = WarmPool::new(1, Duration::from_millis(20));
        pool.put(1);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(pool.take(), None);
        assert_eq!(pool.idle(), 0);
    }

    #[test]
    fn evicts_the_oldest() {
        let pool = WarmPool::new(2, Duration::from_secs(60));
        pool.put("old");
        pool.put("new");
        assert!(pool.evict_oldest());
        assert_eq!(pool.take(), Some("new"));
        assert!(!pool.evict_oldest());
    }

    #[tokio::test]
    async fn the_sweeper_drops_what_expires_while_nobody_asks() {
        let pool = WarmPool::new(1, Duration::from_millis(200));
        pool.put(1);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(pool.idle(), 1);
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(pool.idle(), 0);
    }
}
