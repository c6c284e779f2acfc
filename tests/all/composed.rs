//! A composed middleware + handler (#16 item 7): `composed.wasm` is
//! `mw-middleware` with its imported wasi:http/incoming-handler plugged
//! with `mw-handler`'s export (`wac plug`, see tests/fixtures/README.md),
//! served by host-http on both engines. The handler's sleeps, 4 MiB body
//! and outgoing requests block in host calls while the middleware's call
//! into it is on the stack: host calls that suspend inside a
//! component-to-component call (before #16 class 7 was fixed, the trap "a
//! host function cannot block inside a realloc, post-return, destructor or
//! component-to-component call"; `/hello` and `/admin` never suspended).
//! `mw-handler.wasm` served alone is the baseline. (`composition.rs` checks
//! the same suspension through engine-abi's API with WAT components.)

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use engine_abi::engine::Engine;
use host_http::{Config, ServerConfig};
use http_body_util::Full;

use crate::http::{TestServer, get, get_at_once, serve_with, upstream_listener};

both_engines!(
    handler_alone,
    hello_through_middleware,
    admin_answered_by_middleware,
    sleep_in_handler,
    stream_4mib,
    fetch_through_composition,
    middleware_sleeps_then_forwards,
    many_sleeps_in_flight,
    mixed_routes_in_flight,
);

fn composed<E: Engine>(e: E, config: Config) -> TestServer {
    serve_with(e, "composed.wasm", config, ServerConfig::default())
}

/// The body of the handler's `/stream/{n}`: byte i is `i % 251`.
fn stream_ok(body: &[u8], chunks: usize) -> bool {
    body.len() == chunks * 64 * 1024
        && body
            .iter()
            .enumerate()
            .all(|(i, &b)| usize::from(b) == i % 251)
}

/// The handler's own routes, served alone (no component-to-component
/// call): what the composition must answer too, and `/admin` goes through.
fn handler_alone<E: Engine>(e: E) {
    let s = serve_with(
        e,
        "mw-handler.wasm",
        Config::default(),
        ServerConfig::default(),
    );
    let r = get(s.addr, "/hello");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "hello from the handler")
    );
    assert_eq!(r.header("content-type"), Some("text/plain"));
    let r = get(s.addr, "/admin/x");
    assert_eq!(
        (r.status, r.text().as_str()),
        (404, "not found: /admin/x\n")
    );
    let t = Instant::now();
    let r = get(s.addr, "/sleep/50");
    assert_eq!((r.status, r.text().as_str()), (200, "slept 50"));
    assert!(t.elapsed() >= Duration::from_millis(50));
    let r = get(s.addr, "/stream/2");
    assert!(r.status == 200 && r.complete && stream_ok(&r.body, 2));
}

fn hello_through_middleware<E: Engine>(e: E) {
    let s = composed(e, Config::default());
    for path in ["/hello", "/mw/hello"] {
        let r = get(s.addr, path);
        assert_eq!(
            (r.status, r.text().as_str()),
            (200, "hello from the handler"),
            "{path}"
        );
        assert_eq!(r.header("content-type"), Some("text/plain"));
    }
    let r = get(s.addr, "/nope?x=1");
    assert_eq!((r.status, r.text().as_str()), (404, "not found: /nope\n"));
}

/// `/admin...` never reaches the handler: the middleware answers itself.
fn admin_answered_by_middleware<E: Engine>(e: E) {
    let s = composed(e, Config::default());
    for path in ["/admin/x", "/admin", "/administrator?q=1"] {
        let r = get(s.addr, path);
        assert_eq!(
            (r.status, r.text().as_str()),
            (403, "forbidden by middleware"),
            "{path}"
        );
        assert_eq!(r.header("content-type"), Some("text/plain"));
    }
}

fn sleep_in_handler<E: Engine>(e: E) {
    let s = composed(e, Config::default());
    for _ in 0..2 {
        let t = Instant::now();
        let r = get(s.addr, "/sleep/50");
        assert_eq!((r.status, r.text().as_str()), (200, "slept 50"));
        assert!(
            t.elapsed() >= Duration::from_millis(50),
            "{:?}",
            t.elapsed()
        );
    }
}

/// 64 chunks of 64 KiB, each written with blocking-write-and-flush inside
/// the middleware's call: the 4 MiB arrive whole and in order.
fn stream_4mib<E: Engine>(e: E) {
    let s = composed(e, Config::default());
    let r = get(s.addr, "/stream/64");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert!(r.complete, "the body ended early");
    assert_eq!(r.body.len(), 4 << 20);
    assert!(stream_ok(&r.body, 64), "the 4 MiB body differs");
}

/// An HTTP/1.1 server on 127.0.0.1 (plain hyper, no wasm): `/bytes/{n}`
/// answers 200 with n bytes, byte i being `i % 256`; any other path 203
/// `text/x-upstream` `upstream saw {path-with-query}\n`. Until dropped.
struct Upstream {
    port: u16,
    _rt: tokio::runtime::Runtime,
}

fn upstream() -> Upstream {
    let (rt, listener, port) = upstream_listener();
    rt.spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|req: http::Request<_>| async move {
                    let pq = req.uri().path_and_query().map_or("/", |p| p.as_str());
                    let resp = match pq.strip_prefix("/bytes/").and_then(|n| n.parse().ok()) {
                        Some(n) => {
                            let body: Vec<u8> = (0..n).map(|i: usize| i as u8).collect();
                            http::Response::new(Full::new(Bytes::from(body)))
                        }
                        None => http::Response::builder()
                            .status(203)
                            .header("content-type", "text/x-upstream")
                            .body(Full::new(Bytes::from(format!("upstream saw {pq}\n"))))
                            .unwrap(),
                    };
                    Ok::<_, std::convert::Infallible>(resp)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    Upstream { port, _rt: rt }
}

fn fetch_config(port: u16) -> Config {
    Config::default()
        .allow_host(&format!("http://127.0.0.1:{port}"))
        .unwrap()
}

/// The handler's outgoing request, made and waited for inside the
/// middleware's call: the upstream's status, content-type and body come
/// back; a refused connection is the guest's error-code.
fn fetch_through_composition<E: Engine>(e: E) {
    let up = upstream();
    let s = composed(e.clone(), fetch_config(up.port));
    let r = get(
        s.addr,
        &format!("/fetch?url=http://127.0.0.1:{}/some/path?a=1", up.port),
    );
    assert_eq!(
        (r.status, r.text().as_str()),
        (203, "upstream saw /some/path?a=1\n")
    );
    assert_eq!(r.header("content-type"), Some("text/x-upstream"));
    let r = get(
        s.addr,
        &format!("/fetch?url=http://127.0.0.1:{}/bytes/1000000", up.port),
    );
    assert_eq!(r.status, 200);
    assert!(r.complete);
    assert_eq!(r.body.len(), 1_000_000);
    assert!(r.body.iter().enumerate().all(|(i, &b)| b == i as u8));
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let s = composed(e, fetch_config(port));
    let r = get(s.addr, &format!("/fetch?url=http://127.0.0.1:{port}/"));
    assert_eq!(
        (r.status, r.text().as_str()),
        (502, "ErrorCode::ConnectionRefused")
    );
}

/// `/mw/sleep/20`: the middleware sleeps 20 ms itself, then forwards the
/// request unchanged; the handler serves it as `/sleep/20` (20 ms more).
fn middleware_sleeps_then_forwards<E: Engine>(e: E) {
    let s = composed(e, Config::default());
    let t = Instant::now();
    let r = get(s.addr, "/mw/sleep/20");
    assert_eq!((r.status, r.text().as_str()), (200, "slept 20"));
    assert!(
        t.elapsed() >= Duration::from_millis(40),
        "{:?}",
        t.elapsed()
    );
}

/// 200 requests at once, each parked in a sleep inside the middleware's
/// call: all complete, and they overlap (one after another they would
/// take 60 s; together about one sleep plus the instantiations, which on
/// the interpreter on a loaded 2-core machine can take a few seconds).
fn many_sleeps_in_flight<E: Engine>(e: E) {
    let s = composed(e, Config::default());
    let t = Instant::now();
    let responses = get_at_once(s.addr, "/sleep/300", 200);
    let took = t.elapsed();
    for r in &responses {
        assert_eq!((r.status, r.text().as_str()), (200, "slept 300"));
    }
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(
        took < Duration::from_secs(10),
        "200 x 300 ms sleeps took {took:?}: not concurrent"
    );
}

/// Sleeps in the middleware and the handler, bodies streaming out and
/// outgoing requests streaming in, all in flight at once.
fn mixed_routes_in_flight<E: Engine>(e: E) {
    let up = upstream();
    let s = composed(e, fetch_config(up.port));
    let addr: SocketAddr = s.addr;
    let fetch = format!("/fetch?url=http://127.0.0.1:{}/bytes/200000", up.port);
    let t = Instant::now();
    let mut threads = Vec::new();
    for i in 0..60 {
        let path = match i % 3 {
            0 => "/mw/sleep/200".to_string(),
            1 => "/stream/8".to_string(),
            _ => fetch.clone(),
        };
        threads.push(std::thread::spawn(move || (i, get(addr, &path))));
    }
    for th in threads {
        let (i, r) = th.join().unwrap();
        assert_eq!(r.status, 200, "request {i}: {}", r.text());
        assert!(r.complete, "request {i}");
        match i % 3 {
            0 => assert_eq!(r.text(), "slept 200"),
            1 => assert!(stream_ok(&r.body, 8), "request {i}: stream differs"),
            _ => {
                assert_eq!(r.body.len(), 200_000, "request {i}");
                assert!(r.body.iter().enumerate().all(|(i, &b)| b == i as u8));
            }
        }
    }
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
}
