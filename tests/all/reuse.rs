//! Instance reuse (`Config::max_instance_reuse_count`), on both engines:
//! the reuse count is honoured, guest memory persists across the requests
//! an instance serves, and an instance that trapped, ran out of time, hit
//! its memory limit or kept a request's resources is never reused.
//!
//! The guest (`tests/fixtures/reuse.wat`) answers 200 + the number of
//! requests its instance has served: 201 means a fresh instance.

use std::time::Duration;

use bytes::Bytes;
use engine_abi::engine::Engine;
use host_http::{Config, Handler};
use http_body_util::{BodyExt, Empty};

use crate::{fixture, interp, jit};

/// `reuse.wat` as a wasi:http/proxy@0.2.12 component.
pub(crate) fn reuse_component() -> Vec<u8> {
    let wit = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("wit");
    let wat = String::from_utf8(fixture("reuse.wat")).unwrap();
    crate::proxy_component(&wat, &wit, "0.2.12")
}

/// The statuses `handler` answers to GETs of `paths`, one after another
/// (with a pause before a path `"pause"`), on a two-worker runtime like a
/// server's.
fn statuses<E: Engine>(handler: &Handler<E>, paths: &[&str], pause: Duration) -> Vec<u16> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut out = Vec::new();
        for path in paths {
            if *path == "pause" {
                tokio::time::sleep(pause).await;
                continue;
            }
            let req = http::Request::get(*path)
                .header(http::header::HOST, "test")
                .body(Empty::<Bytes>::new())
                .unwrap();
            let resp = handler.handle(req).await;
            let status = resp.status().as_u16();
            resp.into_body().collect().await.ok();
            out.push(status);
            // The response is out before the guest is done (and its
            // instance idle again): wait for it, so that the next request
            // finds the instance this one used.
            while handler.running() > 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        out
    })
}

fn handler<E: Engine>(engine: E, config: Config) -> Handler<E> {
    Handler::new(&engine, &reuse_component(), config).expect("reuse.wat loads")
}

fn reused(n: u32) -> Config {
    Config::default().max_instance_reuse_count(n)
}

fn on_both(check: impl Fn(&str, &dyn Fn(Config, &[&str]) -> Vec<u16>)) {
    check("jit", &|c, p| {
        statuses(&handler(jit(), c), p, Duration::from_millis(300))
    });
    check("interp", &|c, p| {
        statuses(&handler(interp(), c), p, Duration::from_millis(300))
    });
}

#[test]
fn without_reuse_every_request_gets_a_fresh_instance() {
    on_both(|engine, run| {
        assert_eq!(
            run(Config::default(), &["/count", "/count", "/count"]),
            [201, 201, 201],
            "{engine}"
        );
    });
}

#[test]
fn an_instance_serves_up_to_the_reuse_count_and_keeps_its_memory() {
    on_both(|engine, run| {
        assert_eq!(
            run(reused(3), &["/count"; 7]),
            [201, 202, 203, 201, 202, 203, 201],
            "{engine}"
        );
    });
}

#[test]
fn idle_instances_expire() {
    on_both(|engine, run| {
        let config = reused(100).idle_instance_timeout(Duration::from_millis(100));
        assert_eq!(
            run(config, &["/count", "/count", "pause", "/count"]),
            [201, 202, 201],
            "{engine}"
        );
    });
}

#[test]
fn a_trap_retires_the_instance() {
    on_both(|engine, run| {
        assert_eq!(
            run(reused(100), &["/count", "/trap", "/count", "/count"]),
            [201, 500, 201, 202],
            "{engine}"
        );
    });
}

#[test]
fn a_time_out_retires_the_instance() {
    on_both(|engine, run| {
        let config = reused(100).timeout(Some(Duration::from_millis(300)));
        assert_eq!(
            run(config, &["/count", "/spin", "/count", "/count"]),
            [201, 500, 201, 202],
            "{engine}"
        );
    });
}

#[test]
fn a_memory_limit_hit_retires_the_instance() {
    on_both(|engine, run| {
        // The guest gets -1 from memory.grow and still responds: it is the
        // host that knows the limit was hit.
        let config = reused(100).max_memory_bytes(4 << 20);
        assert_eq!(
            run(config, &["/count", "/grow", "/count", "/count"]),
            [201, 202, 201, 202],
            "{engine}"
        );
    });
}

#[test]
fn an_instance_keeping_a_request_resource_is_not_reused() {
    on_both(|engine, run| {
        // `/keep` keeps its request's body handle in a global; `/use` would
        // call it. The instance is dropped after `/keep`, so `/use` runs
        // in a fresh instance that kept nothing (201), never on a handle
        // that now names another request's resource.
        assert_eq!(
            run(reused(100), &["/count", "/keep", "/use", "/use"]),
            [201, 202, 201, 202],
            "{engine}"
        );
    });
}

/// `rounds` rounds of `at_once` concurrent `/count`s: every status.
fn concurrent<E: Engine>(handler: &Handler<E>, rounds: usize, at_once: usize) -> Vec<u16> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut out = Vec::new();
        for _ in 0..rounds {
            let tasks: Vec<_> = (0..at_once)
                .map(|_| {
                    let h = handler.clone();
                    tokio::spawn(async move {
                        let req = http::Request::get("/count")
                            .body(Empty::<Bytes>::new())
                            .unwrap();
                        let resp = h.handle(req).await;
                        let status = resp.status().as_u16();
                        resp.into_body().collect().await.ok();
                        status
                    })
                })
                .collect();
            for t in tasks {
                out.push(t.await.unwrap());
            }
        }
        out
    })
}

fn check_concurrent<E: Engine>(engine: E) {
    let name = engine.name();
    let h = handler(engine, reused(1000));
    let statuses = concurrent(&h, 10, 8);
    assert!(
        statuses.iter().all(|s| (201..=299).contains(s)),
        "{name}: {statuses:?}"
    );
    // Never more fresh instances than requests at once: a request takes an
    // idle instance from any worker's shard before it makes one.
    let fresh = statuses.iter().filter(|s| **s == 201).count();
    assert!(fresh <= 8, "{name}: {fresh} fresh instances: {statuses:?}");
    assert!(h.idle_instances() <= 8, "{name}");
}

#[test]
fn concurrent_requests_share_a_bounded_set_of_instances() {
    check_concurrent(jit());
    check_concurrent(interp());
}

#[test]
fn reuse_is_reported_and_off_by_default() {
    assert!(!handler(interp(), Config::default()).reuses_instances());
    assert!(handler(interp(), reused(2)).reuses_instances());
    // 0 means what 1 does.
    assert!(!handler(interp(), reused(0)).reuses_instances());
}
