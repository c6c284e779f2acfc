//! Each configurable limit, hit: request heads and header counts from
//! clients, header fields a guest builds, body sizes both ways, host
//! resources per request, instances alive at once and the ceiling on
//! outgoing timeouts. Each test sets the limit low, shows what the client
//! or the guest gets past it, and that what fits still works. (The time
//! budget, memory and stack limits have their own files: `budget.rs`,
//! `http.rs`, `stack.rs`; the log cap is in `cli.rs`.)

use std::io::Write;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use bytes::Bytes;
use engine_abi::engine::Engine;
use host_http::{Config, Handler, ServerConfig};
use http_body_util::{BodyExt, Full};

use crate::http::{Conn, Response, get, get_at_once, serve_handler, serve_with};
use crate::{fixture, interp};

/// A response collected in-process: status, body, and whether
/// the body ended cleanly.
struct Collected {
    status: u16,
    body: Bytes,
    complete: bool,
}

/// `req` through `handler`, in-process, the body collected.
fn call<E: Engine>(handler: &Handler<E>, req: http::Request<Full<Bytes>>) -> Collected {
    crate::block_on(async {
        let resp = handler.handle(req).await;
        let status = resp.status().as_u16();
        let mut body = resp.into_body();
        let mut data = Vec::new();
        let mut complete = true;
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(f) => {
                    if let Ok(d) = f.into_data() {
                        data.extend_from_slice(&d);
                    }
                }
                Err(_) => {
                    complete = false;
                    break;
                }
            }
        }
        Collected {
            status,
            body: data.into(),
            complete,
        }
    })
}

fn request(method: &str, path: &str, body: impl Into<Bytes>) -> http::Request<Full<Bytes>> {
    http::Request::builder()
        .method(method)
        .uri(format!("http://test.local{path}"))
        .body(Full::new(body.into()))
        .unwrap()
}

/// A request head over the limit gets 431 on HTTP/1.1 and on HTTP/2; one
/// that fits is served; the server goes on.
#[test]
fn request_head_size() {
    let server = ServerConfig {
        max_request_head_bytes: 16 * 1024,
        ..ServerConfig::default()
    };
    let s = serve_with(interp(), "hello.wasm", Config::default(), server);
    let fits = "a".repeat(12 * 1024);
    let over = "a".repeat(20 * 1024);
    let mut c = Conn::open(s.addr);
    c.send("GET", "/", &[("x-big", &fits)], None);
    assert_eq!(c.receive().text(), "hello from cohost\n");
    let mut c = Conn::open(s.addr);
    c.send("GET", "/", &[("x-big", &over)], None);
    assert_eq!(c.receive().status, 431);
    // HTTP/2: the header list is refused; the connection serves on.
    let addr = s.addr;
    crate::block_on(async move {
        use hyper_util::rt::{TokioExecutor, TokioIo};
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut send, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
                .await
                .unwrap();
        tokio::spawn(conn);
        let req = |value: &str| {
            http::Request::get(format!("http://{addr}/"))
                .header("x-big", value)
                .body(Full::new(Bytes::new()))
                .unwrap()
        };
        let resp = send.send_request(req(&over)).await.unwrap();
        assert_eq!(resp.status(), 431);
        let resp = send.send_request(req(&fits)).await.unwrap();
        assert_eq!(resp.status(), 200);
    });
    assert_eq!(get(s.addr, "/").status, 200);
}

/// More header fields than the cap get 431, below and above the 100
/// fields hyper's parser holds without allocating.
#[test]
fn request_header_count() {
    for cap in [10, 150] {
        let server = ServerConfig {
            max_request_headers: cap,
            ..ServerConfig::default()
        };
        let s = serve_with(interp(), "hello.wasm", Config::default(), server);
        // `Conn::send` adds `host`: cap - 1 more fields fit.
        let names: Vec<String> = (0..cap).map(|i| format!("x-h{i}")).collect();
        let fields = |n: usize| -> Vec<(&str, &str)> {
            names[..n].iter().map(|k| (k.as_str(), "v")).collect()
        };
        let mut c = Conn::open(s.addr);
        c.send("GET", "/", &fields(cap - 1), None);
        assert_eq!(c.receive().status, 200, "{cap} fields");
        let mut c = Conn::open(s.addr);
        c.send("GET", "/", &fields(cap), None);
        let r = c.receive();
        assert_eq!(r.status, 431, "{} fields: {}", cap + 1, r.text());
        assert_eq!(get(s.addr, "/").status, 200);
    }
}

/// Trailers the guest builds with `fields.from-list` (rust-http's `/echo`
/// copies the request's trailers) fail past `max_header_bytes`, and the
/// guest answers without them; under the limit they arrive.
fn guest_header_fields<E: Engine>(e: E) {
    let send = |config: Config| {
        let handler = Handler::new(&e, &fixture("rust-http.wasm"), config).unwrap();
        let mut trailers = http::HeaderMap::new();
        let value = "t".repeat(2000);
        trailers.insert("x-trailer", value.parse().unwrap());
        let body =
            Full::new(Bytes::from_static(b"body")).with_trailers(async move { Some(Ok(trailers)) });
        let req = http::Request::post("http://test.local/echo")
            .body(body)
            .unwrap();
        crate::block_on(async {
            let resp = handler.handle(req).await;
            assert_eq!(resp.status(), 200);
            let collected = resp.into_body().collect().await.unwrap();
            collected
                .trailers()
                .and_then(|t| t.get("x-trailer"))
                .map(|v| v.len())
        })
    };
    assert_eq!(send(Config::default()), Some(2000));
    assert_eq!(send(Config::default().max_header_bytes(1000)), None);
}

/// Bodies past `max_body_bytes`: the guest's response body is cut (the
/// client sees it end with an error, not a short body taken for whole),
/// and a request body the guest reads fails past the limit.
fn body_sizes<E: Engine>(e: E) {
    let config = Config::default().max_body_bytes(100_000);
    let handler = Handler::new(&e, &fixture("rust-http.wasm"), config).unwrap();
    let fits = call(&handler, request("GET", "/stream/100000", Bytes::new()));
    assert_eq!(
        (fits.status, fits.body.len(), fits.complete),
        (200, 100_000, true)
    );
    let over = call(&handler, request("GET", "/stream/300000", Bytes::new()));
    assert_eq!(over.status, 200);
    assert!(over.body.len() <= 100_000, "{}", over.body.len());
    assert!(!over.complete, "a cut body must not end cleanly");
    let echo = call(&handler, request("POST", "/echo", vec![b'x'; 99_999]));
    assert_eq!((echo.status, echo.body.len()), (200, 99_999));
    let echo = call(&handler, request("POST", "/echo", vec![b'x'; 300_000]));
    assert!(echo.body.len() <= 100_000, "{}", echo.body.len());
}

/// A request needs a handful of host resources (the request, its
/// outparam, fields, the response, its body and stream): with room for
/// two the guest traps (a 500), with the default it is served, and a
/// guest that piles up pollables hits a cap of 50.
fn host_resources<E: Engine>(e: E) {
    let status = |n: usize, path: &str| {
        let config = Config::default().max_host_resources(n);
        let handler = Handler::new(&e, &fixture("rust-http.wasm"), config).unwrap();
        call(&handler, request("GET", path, Bytes::new())).status
    };
    assert_eq!(status(2, "/status/204"), 500);
    assert_eq!(
        status(Config::DEFAULT_MAX_HOST_RESOURCES, "/status/204"),
        204
    );
    // `/fetch-many` holds one future per outgoing request (denied ones get
    // an error-code without a resource, so point it at an allowed port
    // with nothing listening).
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let fetch = |n: usize, cap: usize| {
        let config = Config::default()
            .max_host_resources(cap)
            .max_outgoing(1000)
            .allow_host("http://127.0.0.1")
            .unwrap();
        let handler = Handler::new(&e, &fixture("rust-http.wasm"), config).unwrap();
        let path = format!("/fetch-many?n={n}&url=http://127.0.0.1:{port}/");
        call(&handler, request("GET", &path, Bytes::new())).status
    };
    assert_eq!(fetch(20, 50), 200);
    assert_eq!(fetch(60, 50), 500);
}

/// `max_instances`: running and idle instances count; past the cap a
/// request gets 503 (not the guest's fault), and once instances are free
/// again requests are served.
fn instances_alive<E: Engine>(e: E) {
    for reuse in [1, 100] {
        let config = Config::default()
            .max_instances(2)
            .max_instance_reuse_count(reuse);
        let handler = Handler::new(&e, &fixture("rust-http.wasm"), config).unwrap();
        let probe = handler.clone();
        let s = serve_handler(handler, ServerConfig::default());
        for _ in 0..2 {
            let rs = get_at_once(s.addr, "/sleep/400", 3);
            let ok = rs.iter().filter(|r| r.status == 200).count();
            let busy: Vec<&Response> = rs.iter().filter(|r| r.status == 503).collect();
            assert_eq!((ok, busy.len()), (2, 1), "reuse {reuse}");
            assert!(
                busy[0].text().contains("instance limit"),
                "{}",
                busy[0].text()
            );
            assert!(probe.alive_instances() <= 2);
        }
        assert_eq!(get(s.addr, "/status/204").status, 204);
        let idle = if reuse > 1 { 2 } else { 0 };
        assert!(probe.alive_instances() <= idle, "reuse {reuse}");
    }
}

/// An upstream that accepts and never answers: the guest asks for 30 s to
/// the first byte, the host's ceiling of 300 ms wins; a guest asking for
/// less than the ceiling gets what it asked.
fn outgoing_timeouts_are_capped<E: Engine>(e: E) {
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let held = std::thread::spawn(move || {
        // Keep what connects open, unanswered, until the test ends.
        let mut open = Vec::new();
        silent.set_nonblocking(true).unwrap();
        let until = Instant::now() + Duration::from_secs(20);
        while Instant::now() < until {
            match silent.accept() {
                Ok((mut s, _)) => {
                    let _ = s.flush();
                    open.push(s);
                }
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
            if open.len() >= 2 {
                break;
            }
        }
        std::thread::sleep(Duration::from_secs(3));
    });
    let fetch = |ceiling: Duration, asked_ms: u64| {
        let config = Config::default()
            .allow_host("http://127.0.0.1")
            .unwrap()
            .outgoing_first_byte_timeout(ceiling);
        let handler = Handler::new(&e, &fixture("rust-http.wasm"), config).unwrap();
        let path = format!("/fetch?url=http://127.0.0.1:{port}/&timeout-ms={asked_ms}");
        let started = Instant::now();
        let r = call(&handler, request("GET", &path, Bytes::new()));
        (
            r.status,
            String::from_utf8_lossy(&r.body).into_owned(),
            started.elapsed(),
        )
    };
    let (status, text, took) = fetch(Duration::from_millis(300), 30_000);
    assert_eq!(
        (status, text.as_str()),
        (502, "ErrorCode::ConnectionReadTimeout")
    );
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(5),
        "{took:?}"
    );
    let (status, text, took) = fetch(Duration::from_secs(60), 200);
    assert_eq!(
        (status, text.as_str()),
        (502, "ErrorCode::ConnectionReadTimeout")
    );
    assert!(took < Duration::from_secs(5), "{took:?}");
    held.join().unwrap();
}

/// The guest's `/fetch?timeout-ms=30000` through `handler` to `port`:
/// status, body text and how long it took.
fn fetch_slow<E: Engine>(e: &E, config: Config, port: u16) -> (u16, String, Duration) {
    let config = config.allow_host("http://127.0.0.1").unwrap();
    let handler = Handler::new(e, &fixture("rust-http.wasm"), config).unwrap();
    let path = format!("/fetch?url=http://127.0.0.1:{port}/&timeout-ms=30000");
    let started = Instant::now();
    let r = call(&handler, request("GET", &path, Bytes::new()));
    let text = String::from_utf8_lossy(&r.body).into_owned();
    (r.status, text, started.elapsed())
}

/// A listener whose accept queue is full: a connection to it is neither
/// accepted nor refused (Linux drops the SYN), so connecting hangs. The
/// connections that fill the queue come back with it, to keep it full.
#[cfg(target_os = "linux")]
fn unconnectable() -> (TcpListener, Vec<std::net::TcpStream>) {
    use std::os::fd::AsRawFd;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    // A backlog of 0 holds one pending connection.
    // SAFETY: `listen` on a socket this function owns; no memory is shared.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::listen(listener.as_raw_fd(), 0) };
    assert_eq!(rc, 0);
    let addr = listener.local_addr().unwrap();
    let mut filling = Vec::new();
    for _ in 0..4 {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Ok(c) => filling.push(c),
            Err(_) => break,
        }
    }
    (listener, filling)
}

/// The connect and between-bytes ceilings: a guest asking for 30 s gets
/// `connection-timeout` from a host that never completes the handshake and
/// an error in the body from one that stops sending half way, each at the
/// host's 300 ms.
#[cfg(target_os = "linux")]
fn outgoing_connect_and_between_bytes_are_capped<E: Engine>(e: E) {
    let ceiling = Duration::from_millis(300);
    let in_time =
        |took: Duration| took >= Duration::from_millis(250) && took < Duration::from_secs(5);
    let (listener, _filling) = unconnectable();
    let port = listener.local_addr().unwrap().port();
    let (status, text, took) = fetch_slow(
        &e,
        Config::default().outgoing_connect_timeout(ceiling),
        port,
    );
    assert_eq!(
        (status, text.as_str()),
        (502, "ErrorCode::ConnectionTimeout")
    );
    assert!(in_time(took), "{took:?}");
    // An upstream that sends its head and 3 of 100 body bytes, then stalls.
    let stalling = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = stalling.local_addr().unwrap().port();
    let upstream = std::thread::spawn(move || {
        let (mut c, _) = stalling.accept().unwrap();
        let mut buf = [0u8; 4096];
        let _ = std::io::Read::read(&mut c, &mut buf);
        c.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nabc")
            .unwrap();
        std::thread::sleep(Duration::from_secs(3));
    });
    let config = Config::default().outgoing_between_bytes_timeout(ceiling);
    let (status, text, took) = fetch_slow(&e, config, port);
    assert_eq!((status, text.as_str()), (502, "upstream body failed\n"));
    assert!(in_time(took), "{took:?}");
    upstream.join().unwrap();
}

#[cfg(target_os = "linux")]
mod linux {
    use super::outgoing_connect_and_between_bytes_are_capped;
    both_engines!(outgoing_connect_and_between_bytes_are_capped);
}

both_engines!(
    guest_header_fields,
    body_sizes,
    host_resources,
    instances_alive,
    outgoing_timeouts_are_capped,
);
