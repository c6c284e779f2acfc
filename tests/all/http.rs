//! wasi:http over real HTTP on 127.0.0.1: the fixtures (`hello.wasm`,
//! `echo.wasm`, every route of `rust-http.wasm`) served by host-http's
//! server (in-process, port 0) on both engines, with a plain HTTP/1.1
//! client (and hyper's HTTP/2 client for h2c); plus load errors (a
//! non-component, a missing import, a missing export). `cli.rs` runs the
//! same routes against the `cohost serve` process.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use engine_abi::engine::Engine;
use host_http::{Config, ErrorKind, Handler, Server, ServerConfig};

use crate::{fixture, interp, jit};

/// host-http's server on 127.0.0.1 (port 0), on its own thread (a
/// multi-thread tokio runtime with two workers), until dropped.
pub(crate) struct TestServer {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub(crate) fn serve_with<E: Engine>(
    engine: E,
    wasm: &str,
    config: Config,
    server: ServerConfig,
) -> TestServer {
    let bytes = fixture(wasm);
    let handler = Handler::new(&engine, &bytes, config).expect("the fixture loads");
    serve_handler(handler, server)
}

/// Serve `handler`. The host's log (warnings and errors: traps, the
/// guest's stderr; another level with `RUST_LOG=debug` etc.) goes to the
/// test's output, from the server's threads only.
pub(crate) fn serve_handler<E: Engine>(handler: Handler<E>, server: ServerConfig) -> TestServer {
    let level = std::env::var("RUST_LOG")
        .ok()
        .and_then(|l| l.parse().ok())
        .unwrap_or(tracing::Level::WARN);
    let log = tracing::Dispatch::new(
        tracing_subscriber::fmt()
            .with_max_level(level)
            .with_ansi(false)
            .with_test_writer()
            .finish(),
    );
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let worker_log = log.clone();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .on_thread_start(move || {
                // For the worker's whole life.
                std::mem::forget(tracing::dispatcher::set_default(&worker_log));
            })
            .build()
            .expect("tokio runtime");
        tracing::dispatcher::with_default(&log, || {
            rt.block_on(async move {
                let server = Server::bind("127.0.0.1:0".parse().unwrap(), handler, server)
                    .await
                    .expect("bind 127.0.0.1:0");
                addr_tx.send(server.local_addr()).unwrap();
                server
                    .run_until(async {
                        let _ = stopped.await;
                    })
                    .await
                    .expect("the server runs");
            })
        });
    });
    TestServer {
        addr: addr_rx.recv().expect("the server starts"),
        stop: Some(stop),
        thread: Some(thread),
    }
}

fn serve<E: Engine>(engine: E, wasm: &str) -> TestServer {
    serve_with(engine, wasm, Config::default(), ServerConfig::default())
}

/// A response as the client saw it.
#[derive(Debug)]
pub(crate) struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub trailers: Vec<(String, String)>,
    /// Whether the body ended as its framing says (not cut by the server).
    pub complete: bool,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One HTTP/1.1 connection.
pub(crate) struct Conn {
    r: BufReader<TcpStream>,
}

impl Conn {
    pub fn open(addr: SocketAddr) -> Conn {
        let s = TcpStream::connect(addr).unwrap();
        // Generous: big guests on the interpreter on a loaded machine.
        s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
        Conn {
            r: BufReader::new(s),
        }
    }

    pub fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) {
        let mut head = format!("{method} {path} HTTP/1.1\r\nhost: test.local\r\n");
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if let Some(b) = body {
            head.push_str(&format!("content-length: {}\r\n", b.len()));
        }
        head.push_str("\r\n");
        let s = self.r.get_mut();
        s.write_all(head.as_bytes()).unwrap();
        if let Some(b) = body {
            s.write_all(b).unwrap();
        }
    }

    fn line(&mut self) -> Option<String> {
        let mut l = String::new();
        match self.r.read_line(&mut l) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(l.trim_end_matches(['\r', '\n']).to_string()),
        }
    }

    fn fields(&mut self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        while let Some(l) = self.line() {
            if l.is_empty() {
                break;
            }
            let (k, v) = l.split_once(':').unwrap();
            out.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
        out
    }

    pub fn receive(&mut self) -> Response {
        let status_line = self.line().expect("a status line");
        let status: u16 = status_line.split(' ').nth(1).unwrap().parse().unwrap();
        let headers = self.fields();
        let mut resp = Response {
            status,
            headers,
            body: Vec::new(),
            trailers: Vec::new(),
            complete: true,
        };
        if let Some(n) = resp.header("content-length") {
            let n: usize = n.parse().unwrap();
            resp.body = vec![0; n];
            resp.complete = self.r.read_exact(&mut resp.body).is_ok();
        } else if resp.header("transfer-encoding") == Some("chunked") {
            loop {
                let Some(size) = self.line() else {
                    resp.complete = false;
                    break;
                };
                let size = usize::from_str_radix(size.split(';').next().unwrap(), 16).unwrap();
                if size == 0 {
                    resp.trailers = self.fields();
                    break;
                }
                let mut chunk = vec![0; size + 2];
                if self.r.read_exact(&mut chunk).is_err() {
                    resp.complete = false;
                    break;
                }
                resp.body.extend_from_slice(&chunk[..size]);
            }
        } else if status >= 200 && status != 204 && status != 304 {
            let _ = self.r.read_to_end(&mut resp.body);
        }
        resp
    }

    pub fn request(&mut self, method: &str, path: &str, body: Option<&[u8]>) -> Response {
        self.send(method, path, &[], body);
        self.receive()
    }
}

pub(crate) fn get(addr: SocketAddr, path: &str) -> Response {
    Conn::open(addr).request("GET", path, None)
}

/// `n` GETs of `path` at once, each on its own connection and thread.
pub(crate) fn get_at_once(addr: SocketAddr, path: &'static str, n: usize) -> Vec<Response> {
    let threads: Vec<_> = (0..n)
        .map(|_| std::thread::spawn(move || get(addr, path)))
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

both_engines!(
    hello,
    keep_alive,
    echo_small_and_1mib,
    inspect,
    status,
    stream_large,
    rust_echo_with_trailers,
    sleep,
    random,
    log,
    fetch_allowed_and_denied,
    outgoing_cap,
    https_outgoing,
    guest_header_errors,
    trap_then_next_request,
    trap_after_head,
    concurrency_cap,
    slow_client,
    h2c_prior_knowledge,
);

fn hello<E: Engine>(e: E) {
    let s = serve(e, "hello.wasm");
    let r = get(s.addr, "/");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(r.text(), "hello from cohost\n");
}

fn keep_alive<E: Engine>(e: E) {
    let s = serve(e, "hello.wasm");
    let mut c = Conn::open(s.addr);
    for _ in 0..5 {
        let r = c.request("GET", "/", None);
        assert_eq!((r.status, r.text().as_str()), (200, "hello from cohost\n"));
    }
}

fn echo_small_and_1mib<E: Engine>(e: E) {
    let s = serve(e, "echo.wasm");
    let r = Conn::open(s.addr).request("POST", "/", Some(b"ping"));
    assert_eq!((r.status, r.text().as_str()), (200, "ping"));
    let big: Vec<u8> = (0..1 << 20).map(|i| (i * 7 % 251) as u8).collect();
    // Write the body on another thread while reading the echo, as a real
    // client does (neither side buffers a whole MiB).
    let mut c = Conn::open(s.addr);
    c.send(
        "POST",
        "/",
        &[("content-length", &big.len().to_string())],
        None,
    );
    let mut w = c.r.get_ref().try_clone().unwrap();
    let body = big.clone();
    let writer = std::thread::spawn(move || w.write_all(&body).unwrap());
    let r = c.receive();
    writer.join().unwrap();
    assert_eq!(r.status, 200);
    assert!(r.complete);
    assert_eq!(r.body.len(), big.len());
    assert!(r.body == big, "1 MiB echo differs");
}

fn inspect<E: Engine>(e: E) {
    let s = serve(e, "rust-http.wasm");
    let mut c = Conn::open(s.addr);
    c.send(
        "PUT",
        "/inspect?x=1",
        &[("x-custom", "yes"), ("X-Two", "a")],
        None,
    );
    let r = c.receive();
    assert_eq!(r.status, 200);
    let text = r.text();
    let expected_head =
        "method: PUT\npath-with-query: /inspect?x=1\nscheme: http\nauthority: test.local\n\n";
    assert!(text.starts_with(expected_head), "{text}");
    assert!(text.contains("x-custom: yes\n"), "{text}");
    assert!(text.contains("x-two: a\n"), "{text}");
    // Forbidden headers never reach the guest.
    assert!(!text.contains("host:"), "{text}");
}

fn status<E: Engine>(e: E) {
    let s = serve(e, "rust-http.wasm");
    assert_eq!(get(s.addr, "/status/418").status, 418);
    assert_eq!(get(s.addr, "/status/204").status, 204);
    assert_eq!(get(s.addr, "/status/abc").status, 400);
    assert_eq!(get(s.addr, "/nope").status, 404);
}

fn stream_large<E: Engine>(e: E) {
    let s = serve(e, "rust-http.wasm");
    stream_large_on(&s);
}

fn stream_large_on(s: &TestServer) {
    let r = get(s.addr, "/stream/1000000");
    assert_eq!(r.status, 200);
    assert!(r.complete);
    assert_eq!(r.body.len(), 1_000_000);
    assert!(
        r.body
            .iter()
            .enumerate()
            .all(|(i, &b)| b == b'a' + (i % 26) as u8)
    );
}

fn rust_echo_with_trailers<E: Engine>(e: E) {
    let s = serve(e.clone(), "rust-http.wasm");
    let r = Conn::open(s.addr).request("POST", "/echo", Some(b"hello echo"));
    assert_eq!((r.status, r.text().as_str()), (200, "hello echo"));
    // A chunked request with trailers. (hyper's HTTP/1.1 server only sends
    // response trailers the response declared in a `trailer` header, which
    // the guest does not set: they are checked in-process below.)
    let mut c = Conn::open(s.addr);
    c.send(
        "POST",
        "/echo",
        &[
            ("transfer-encoding", "chunked"),
            ("trailer", "x-checksum"),
            ("te", "trailers"),
            ("content-type", "text/x-test"),
        ],
        None,
    );
    c.r.get_mut()
        .write_all(b"5\r\nabcde\r\n3\r\nfgh\r\n0\r\nx-checksum: 42\r\n\r\n")
        .unwrap();
    let r = c.receive();
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "abcdefgh");
    assert_eq!(r.header("content-type"), Some("text/x-test"));
    // Trailers both ways, through the embedding API.
    let handler = Handler::new(&e, &fixture("rust-http.wasm"), Config::default()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use http_body_util::BodyExt;
        let mut trailers = http::HeaderMap::new();
        trailers.insert("x-checksum", http::HeaderValue::from_static("42"));
        let body = http_body_util::Full::new(bytes::Bytes::from_static(b"with trailers"))
            .with_trailers(async move { Some(Ok(trailers)) });
        let req = http::Request::post("http://test.local/echo")
            .body(body)
            .unwrap();
        let resp = handler.handle(req).await;
        assert_eq!(resp.status(), 200);
        let collected = resp.into_body().collect().await.unwrap();
        let trailers = collected.trailers().cloned().expect("response trailers");
        assert_eq!(trailers.get("x-checksum").unwrap(), "42");
        assert_eq!(&collected.to_bytes()[..], b"with trailers");
    });
}

fn sleep<E: Engine>(e: E) {
    let s = serve(e, "rust-http.wasm");
    let t = Instant::now();
    let r = get(s.addr, "/sleep/50");
    assert_eq!((r.status, r.text().as_str()), (200, "slept 50"));
    assert!(t.elapsed() >= Duration::from_millis(50));
    // Sleeping guests park tasks, not threads: many at once take ~one sleep.
    let t = Instant::now();
    for r in get_at_once(s.addr, "/sleep/300", 20) {
        assert_eq!(r.status, 200);
    }
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
}

fn random<E: Engine>(e: E) {
    let s = serve(e, "rust-http.wasm");
    let a = get(s.addr, "/random/16");
    let b = get(s.addr, "/random/16");
    assert_eq!(a.status, 200);
    assert_eq!(a.body.len(), 32);
    assert!(a.body.iter().all(u8::is_ascii_hexdigit));
    assert_ne!(a.body, b.body);
}

fn log<E: Engine>(e: E) {
    let s = serve(e, "rust-http.wasm");
    let r = get(s.addr, "/log");
    assert_eq!((r.status, r.text().as_str()), (200, "logged"));
}

fn fetch_allowed_and_denied<E: Engine>(e: E) {
    let upstream = serve(e.clone(), "hello.wasm");
    let url = format!("http://127.0.0.1:{}/", upstream.addr.port());
    let allowed = serve_with(
        e.clone(),
        "rust-http.wasm",
        Config::default().allow_host(&url).unwrap(),
        ServerConfig::default(),
    );
    let path = format!("/fetch?url={url}");
    for _ in 0..3 {
        let r = get(allowed.addr, &path);
        assert_eq!((r.status, r.text().as_str()), (200, "hello from cohost\n"));
    }
    let denied = serve(e.clone(), "rust-http.wasm");
    let r = get(denied.addr, &path);
    assert_eq!(r.status, 502);
    assert_eq!(r.text(), "ErrorCode::HttpRequestDenied");
    // Allowed host, nothing listening: the guest gets the error-code.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let any = serve_with(
        e,
        "rust-http.wasm",
        Config::default().allow_host("http://127.0.0.1").unwrap(),
        ServerConfig::default(),
    );
    let r = get(any.addr, &format!("/fetch?url=http://127.0.0.1:{port}/"));
    assert_eq!(r.status, 502);
    assert_eq!(r.text(), "ErrorCode::ConnectionRefused");
}

/// The cap on concurrent outgoing requests holds per request: a guest that
/// starts more than `max_outgoing` requests before waiting for any gets
/// `connection-limit-reached` for the extra ones, and the next request
/// starts with the full allowance again.
fn outgoing_cap<E: Engine>(e: E) {
    let upstream = serve(e.clone(), "hello.wasm");
    let url = format!("http://127.0.0.1:{}/", upstream.addr.port());
    let capped = serve_with(
        e.clone(),
        "rust-http.wasm",
        Config::default().allow_host(&url).unwrap().max_outgoing(2),
        ServerConfig::default(),
    );
    for _ in 0..2 {
        let r = get(capped.addr, &format!("/fetch-many?n=3&url={url}"));
        assert_eq!(
            (r.status, r.text().as_str()),
            (200, "200\n200\nErrorCode::ConnectionLimitReached\n")
        );
    }
    let r = get(capped.addr, &format!("/fetch-many?n=2&url={url}"));
    assert_eq!((r.status, r.text().as_str()), (200, "200\n200\n"));
    let default = serve_with(
        e,
        "rust-http.wasm",
        Config::default().allow_host(&url).unwrap(),
        ServerConfig::default(),
    );
    let r = get(default.addr, &format!("/fetch-many?n=5&url={url}"));
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "200\n".repeat(5).as_str())
    );
}

/// For a test's upstream server: a one-worker runtime (serving what is
/// spawned on it until dropped) and a listener on 127.0.0.1 with its port.
pub(crate) fn upstream_listener() -> (tokio::runtime::Runtime, tokio::net::TcpListener, u16) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    (rt, listener, port)
}

/// An https server on 127.0.0.1 with the test certificate
/// (`tests/fixtures/tls/`, signed by its test CA), answering every request
/// `hello over tls`; until dropped.
pub(crate) struct TlsUpstream {
    pub port: u16,
    _rt: tokio::runtime::Runtime,
}

pub(crate) fn tls_upstream() -> TlsUpstream {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let certs = CertificateDer::pem_slice_iter(&fixture("tls/server.pem"))
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(&fixture("tls/server.key")).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let (rt, listener, port) = upstream_listener();
    rt.spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that rejects the certificate ends here.
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(|_| async {
                    Ok::<_, std::convert::Infallible>(http::Response::new(
                        http_body_util::Full::new(bytes::Bytes::from_static(b"hello over tls\n")),
                    ))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    TlsUpstream { port, _rt: rt }
}

/// Outgoing https: a server whose certificate chains to a root the handler
/// trusts (here the test CA, added with `add_root_certificates_pem`) is
/// reached; the same server without that root is refused with
/// `TLS-certificate-error`: certificates are verified.
fn https_outgoing<E: Engine>(e: E) {
    let upstream = tls_upstream();
    let url = format!("https://127.0.0.1:{}/", upstream.port);
    let trusting = serve_with(
        e.clone(),
        "rust-http.wasm",
        Config::default()
            .allow_host(&url)
            .unwrap()
            .add_root_certificates_pem(&fixture("tls/ca.pem"))
            .unwrap(),
        ServerConfig::default(),
    );
    for _ in 0..3 {
        let r = get(trusting.addr, &format!("/fetch?url={url}"));
        assert_eq!((r.status, r.text().as_str()), (200, "hello over tls\n"));
    }
    let untrusting = serve_with(
        e,
        "rust-http.wasm",
        Config::default().allow_host(&url).unwrap(),
        ServerConfig::default(),
    );
    let r = get(untrusting.addr, &format!("/fetch?url={url}"));
    assert_eq!(
        (r.status, r.text().as_str()),
        (502, "ErrorCode::TlsCertificateError")
    );
    // Not a certificate: a clear configuration error.
    let err = Config::default()
        .add_root_certificates_pem(b"not pem")
        .unwrap_err();
    assert!(err.to_string().contains("no CERTIFICATE"), "{err}");
}

/// Forbidden and invalid headers a guest tries to set are header-errors it
/// can handle, never a trap or a crash; the request's headers are
/// immutable. (tests/all/differential.rs checks the same against wasmtime.)
fn guest_header_errors<E: Engine>(e: E) {
    let s = serve(e, "rust-http.wasm");
    let r = get(s.addr, "/headers");
    assert_eq!(r.status, 200);
    let text = r.text();
    for line in [
        "append x-fine: Ok(())",
        "append connection: Err(HeaderError::Forbidden)",
        "append host: Err(HeaderError::Forbidden)",
        "append bad name: Err(HeaderError::InvalidSyntax)",
        "append newline value: Err(HeaderError::InvalidSyntax)",
        "from-list with proxy-connection: Err(HeaderError::Forbidden)",
        "append to request headers: Err(HeaderError::Immutable)",
        "entries: [(\"x-fine\", [111, 107])]",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing `{line}` in:\n{text}"
        );
    }
    // A parent resource dropped before its child traps the guest: 500,
    // and the server goes on.
    let r = get(s.addr, "/drop-parent-first");
    assert_eq!(r.status, 500, "{}", r.text());
    assert_eq!(get(s.addr, "/status/200").status, 200);
}

fn trap_then_next_request<E: Engine>(e: E) {
    let s = serve(e, "rust-http.wasm");
    let r = get(s.addr, "/trap");
    assert_eq!(r.status, 500);
    let r = get(s.addr, "/status/418");
    assert_eq!(r.status, 418);
}

fn trap_after_head<E: Engine>(e: E) {
    let s = serve(e, "rust-http.wasm");
    let r = get(s.addr, "/trap-after-head");
    assert_eq!(r.status, 200);
    assert!(!r.complete, "the body must end incomplete: {r:?}");
    assert!(r.text().starts_with("partial body") || r.body.is_empty());
    assert_eq!(get(s.addr, "/status/201").status, 201);
}

/// HTTP/2 over cleartext with prior knowledge: several streams on one
/// connection at once, each a fresh instance; bodies both ways.
fn h2c_prior_knowledge<E: Engine>(e: E) {
    use http_body_util::{BodyExt, Full};
    use hyper_util::rt::{TokioExecutor, TokioIo};

    let s = serve(e, "rust-http.wasm");
    let addr = s.addr;
    crate::block_on(async move {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (send, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
                .await
                .expect("an HTTP/2 handshake");
        tokio::spawn(conn);
        let request = |method: &str, path: &str, body: Vec<u8>| {
            let mut send = send.clone();
            let req = http::Request::builder()
                .method(method)
                .uri(format!("http://{addr}{path}"))
                .body(Full::new(bytes::Bytes::from(body)))
                .unwrap();
            tokio::spawn(async move {
                let resp = send.send_request(req).await.expect("a response");
                let (parts, body) = resp.into_parts();
                let body = body.collect().await.expect("a whole body").to_bytes();
                (parts.status.as_u16(), parts.version, body.to_vec())
            })
        };
        let sent: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
        // Started together: the sleeps overlap on one connection.
        let started = std::time::Instant::now();
        let sleeps: Vec<_> = (0..4)
            .map(|_| request("GET", "/sleep/300", vec![]))
            .collect();
        let inspect = request("GET", "/inspect?h2=1", vec![]);
        let echo = request("POST", "/echo", sent.clone());
        let stream = request("GET", "/stream/300000", vec![]);
        for s in sleeps {
            assert_eq!(s.await.unwrap().2, b"slept 300");
        }
        assert!(
            started.elapsed() < Duration::from_millis(1100),
            "4 x 300 ms sleeps on one connection took {:?}: not concurrent",
            started.elapsed()
        );
        let (status, version, body) = inspect.await.unwrap();
        assert_eq!((status, version), (200, http::Version::HTTP_2));
        let text = String::from_utf8(body).unwrap();
        assert!(
            text.contains("path-with-query: /inspect?h2=1\n")
                && text.contains(&format!("authority: {addr}\n")),
            "{text}"
        );
        assert_eq!(echo.await.unwrap().2, sent);
        assert_eq!(stream.await.unwrap().2.len(), 300_000);
    });
}

/// A client that never finishes its request head is disconnected at the
/// header timeout (hyper sends no response then); the server goes on.
fn slow_client<E: Engine>(e: E) {
    let s = serve_with(
        e,
        "hello.wasm",
        Config::default(),
        ServerConfig {
            header_read_timeout: Duration::from_millis(300),
            ..ServerConfig::default()
        },
    );
    let mut c = Conn::open(s.addr);
    c.r.get_mut()
        .write_all(b"GET / HTTP/1.1\r\nhost: slow")
        .unwrap();
    let started = Instant::now();
    assert_eq!(
        c.line(),
        None,
        "the connection is closed without a response"
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(20),
        "closed after {waited:?}"
    );
    assert_eq!(get(s.addr, "/").text(), "hello from cohost\n");
}

fn concurrency_cap<E: Engine>(e: E) {
    let s = serve_with(
        e,
        "rust-http.wasm",
        Config::default(),
        ServerConfig {
            max_concurrency: 1,
            ..ServerConfig::default()
        },
    );
    let addr = s.addr;
    let slow = std::thread::spawn(move || get(addr, "/sleep/500").status);
    std::thread::sleep(Duration::from_millis(150));
    assert_eq!(get(s.addr, "/status/200").status, 503);
    assert_eq!(slow.join().unwrap(), 200);
    assert_eq!(get(s.addr, "/status/200").status, 200);
}

/// The JIT with an instance pool, as `cohost serve` runs it: requests up to
/// the pool's size run at once; past it, instantiation fails and the client
/// gets a 503 with `retry-after` (the guest is not at fault), the pool is
/// not corrupted, and later requests are served from it again.
#[test]
fn pooled_jit() {
    let bytes = fixture("rust-http.wasm");
    let config = engine_abi::engine::EngineConfig {
        pool: Some(engine_abi::engine::PoolConfig {
            max_stores: 4,
            per_store: engine_abi::footprint_of(&bytes).unwrap(),
            max_memory_bytes: Config::DEFAULT_MAX_MEMORY_BYTES,
            max_table_elements: 10_000,
        }),
        cache_dir: None,
        ..engine_abi::engine::EngineConfig::default()
    };
    let engine = backend_wasmtime::WasmtimeEngine::with_config(&config).unwrap();
    let handler = Handler::new(&engine, &bytes, Config::default()).unwrap();
    let s = serve_handler(handler, ServerConfig::default());
    let at_once = |n: usize| get_at_once(s.addr, "/sleep/300", n);
    for r in at_once(4) {
        assert_eq!((r.status, r.text().as_str()), (200, "slept 300"));
    }
    let over = at_once(10);
    let failed: Vec<&Response> = over.iter().filter(|r| r.status != 200).collect();
    assert!(!failed.is_empty(), "10 requests fit a pool of 4");
    assert!(over.iter().filter(|r| r.status == 200).count() >= 4);
    for r in failed {
        assert_eq!(r.status, 503, "{}", r.text());
        assert!(r.text().contains("instance limit"), "{}", r.text());
        assert_eq!(r.header("retry-after"), Some("1"));
    }
    for _ in 0..50 {
        assert_eq!(get(s.addr, "/status/204").status, 204);
    }
    stream_large_on(&s);
}

#[test]
fn request_in_process_without_a_socket() {
    let engine = interp();
    let handler = Handler::new(&engine, &fixture("echo.wasm"), Config::default()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use http_body_util::BodyExt;
        let req = http::Request::post("/")
            .body(String::from("in process"))
            .unwrap();
        let resp = handler.handle(req).await;
        assert_eq!(resp.status(), 200);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"in process");
    });
}

#[test]
fn time_and_memory_limits() {
    let s = serve_with(
        interp(),
        "rust-http.wasm",
        Config::default()
            .timeout(Some(Duration::from_millis(200)))
            .max_memory_bytes(32 << 20),
        ServerConfig::default(),
    );
    let t = Instant::now();
    assert_eq!(get(s.addr, "/sleep/5000").status, 500);
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    // 100 MB of random bytes cannot fit a 32 MiB memory: a trap, a 500.
    assert_eq!(get(s.addr, "/random/100000000").status, 500);
    assert_eq!(get(s.addr, "/random/4").status, 200);
}

#[test]
fn request_body_limit() {
    let s = serve_with(
        jit(),
        "echo.wasm",
        Config::default().max_body_bytes(1000),
        ServerConfig::default(),
    );
    let r = Conn::open(s.addr).request("POST", "/", Some(&[b'x'; 999]));
    assert_eq!((r.status, r.body.len()), (200, 999));
    let r = Conn::open(s.addr).request("POST", "/", Some(&[b'x'; 5000]));
    // The guest sees a failed stream after 1000 bytes and ends its body.
    assert!(r.body.len() <= 1000, "{}", r.body.len());
}

#[test]
fn not_a_component_is_a_clear_error() {
    let e = Handler::new(&interp(), b"\0asm\x01\0\0\0", Config::default())
        .err()
        .expect("a core module is not a component");
    assert_eq!(e.kind(), ErrorKind::Load);
    let e = Handler::new(&interp(), b"hello", Config::default())
        .err()
        .unwrap();
    assert_eq!(e.kind(), ErrorKind::Load);
    assert!(e.to_string().starts_with("invalid component"), "{e}");
}

#[test]
fn missing_export_is_a_clear_error() {
    let e = Handler::new(&interp(), &fixture("rust-abi.wasm"), Config::default())
        .err()
        .unwrap();
    assert!(
        e.to_string().contains("wasi:http/incoming-handler") || e.kind() == ErrorKind::Link,
        "{e}"
    );
}

/// A wasi:http/proxy component in WAT whose handler does nothing, with
/// `extra` (imports, definitions, exports) at its root.
fn minimal_proxy(extra: &str) -> Vec<u8> {
    let wat = format!(
        r#"(component
        {extra}
        (core module $m
            (func (export "handle") (param i32 i32)))
        (core instance $i (instantiate $m))
        (import "wasi:http/types@0.2.12" (instance $types
            (export "incoming-request" (type (sub resource)))
            (export "response-outparam" (type (sub resource)))))
        (alias export $types "incoming-request" (type $ir))
        (alias export $types "response-outparam" (type $ro))
        (func $handle (param "request" (own $ir)) (param "response-out" (own $ro))
            (canon lift (core func $i "handle")))
        (instance $h (export "handle" (func $handle)))
        (export "wasi:http/incoming-handler@0.2.12" (instance $h))
    )"#
    );
    match wat::parse_str(&wat) {
        Ok(b) => b,
        Err(e) => panic!("test component: {e}"),
    }
}

#[test]
fn unknown_import_is_a_clear_error() {
    // A handler with one more import the host does not have.
    let bytes = minimal_proxy(
        r#"(import "cohost:missing/thing@1.0.0" (instance
            (export "frob" (func))))"#,
    );
    let e = Handler::new(&interp(), &bytes, Config::default())
        .err()
        .expect("an unknown import fails to link");
    assert_eq!(e.kind(), ErrorKind::Link, "{e}");
    assert!(e.to_string().contains("cohost:missing/thing"), "{e}");
}

/// What a wasi:http host does with root-level component imports and
/// exports it has no use for: a component that imports a component or a
/// core module is refused at load, naming the import (the host has none to
/// give; the component itself is valid); one that exports a component or
/// gives an import straight back as an export is refused as invalid, as
/// wasmtime refuses it; an extra exported function is left alone, as any
/// export but the handler is.
#[test]
fn root_component_imports_and_exports() {
    for (extra, name) in [
        (r#"(import "plugin" (component))"#, "plugin"),
        (r#"(import "blob" (core module))"#, "blob"),
    ] {
        let bytes = minimal_proxy(extra);
        for e in [
            Handler::new(&interp(), &bytes, Config::default()).err(),
            Handler::new(&jit(), &bytes, Config::default()).err(),
        ] {
            let e = e.expect("the host supplies no components or modules");
            assert_eq!(e.kind(), ErrorKind::Load, "{e}");
            let text = e.to_string();
            assert!(text.starts_with("component not supported: "), "{e}");
            assert!(
                text.contains(&format!("import `{name}`: the host cannot supply")),
                "{e}"
            );
        }
    }
    for (extra, expected) in [
        (
            r#"(component $extra) (export "extra" (component $extra))"#,
            "invalid component: exporting a component from the root component is not supported: \
             export `extra` is a component",
        ),
        (
            r#"(import "f" (func $f)) (export "f" (func $f))"#,
            "invalid component: component export `f` is a reexport of an imported function \
             which is not implemented",
        ),
    ] {
        let bytes = minimal_proxy(extra);
        for e in [
            Handler::new(&interp(), &bytes, Config::default()).err(),
            Handler::new(&jit(), &bytes, Config::default()).err(),
        ] {
            let e = e.expect("refused");
            assert_eq!(e.kind(), ErrorKind::Load, "{e}");
            assert_eq!(e.to_string(), expected);
        }
    }
    let bytes = minimal_proxy(
        r#"(core module $extra (func (export "f")))
           (core instance $extra (instantiate $extra))
           (func $f (canon lift (core func $extra "f")))
           (export "extra" (func $f))"#,
    );
    Handler::new(&interp(), &bytes, Config::default()).expect("an extra exported function");
    Handler::new(&jit(), &bytes, Config::default()).expect("an extra exported function");
}
