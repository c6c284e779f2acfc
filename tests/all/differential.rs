//! Differential tests against wasmtime's own wasi:http host: the same
//! requests to the same fixtures through `wasmtime-wasi-http` 48 (wasmtime's
//! component model, in-process, the reference; on Cranelift, checked
//! against Pulley) and through cohost's [`host_http::Handler`] on jit and
//! on interp. Status, headers (minus
//! date-like ones), body and trailers must be the same; so must the way a
//! response fails (no response at all, or a body cut after the head).
//!
//! Both hosts are driven at the embedding level, `http::Request` in and a
//! streaming `http::Response` out, so what is compared is what each host
//! makes of the guest's calls, before any server adds framing headers.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use engine_abi::engine::Engine;
use http_body::{Body as HttpBody, Frame};
use http_body_util::BodyExt;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use crate::reference::{Backend, Reference};
use crate::{block_on, fixture, interp, jit};

/// A request body given whole, with optional trailers, that both hosts can
/// take.
struct TestBody {
    frames: VecDeque<Frame<Bytes>>,
}

impl HttpBody for TestBody {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.frames.pop_front().map(Ok))
    }
    fn is_end_stream(&self) -> bool {
        self.frames.is_empty()
    }
}

/// One request of a case.
#[derive(Clone)]
struct Req {
    method: &'static str,
    path: String,
    headers: Vec<(&'static str, &'static str)>,
    body: Vec<u8>,
    trailers: Vec<(&'static str, &'static str)>,
}

impl Req {
    fn get(path: &str) -> Req {
        Req {
            method: "GET",
            path: path.to_string(),
            headers: vec![],
            body: vec![],
            trailers: vec![],
        }
    }
    fn post(path: &str, body: Vec<u8>) -> Req {
        Req {
            method: "POST",
            body,
            ..Req::get(path)
        }
    }
    fn header(mut self, name: &'static str, value: &'static str) -> Req {
        self.headers.push((name, value));
        self
    }
    fn trailer(mut self, name: &'static str, value: &'static str) -> Req {
        self.trailers.push((name, value));
        self
    }

    /// The request as a server hands it to a host: an origin-form URI and a
    /// `host` header.
    fn build(&self) -> http::Request<TestBody> {
        let mut builder = http::Request::builder()
            .method(self.method)
            .uri(&self.path)
            .header("host", "test.local");
        for (k, v) in &self.headers {
            builder = builder.header(*k, *v);
        }
        if !self.body.is_empty() {
            builder = builder.header("content-length", self.body.len().to_string());
        }
        let mut frames = VecDeque::new();
        if !self.body.is_empty() {
            // In pieces, as a network would deliver it.
            for piece in self.body.chunks(16 * 1024) {
                frames.push_back(Frame::data(Bytes::copy_from_slice(piece)));
            }
        }
        if !self.trailers.is_empty() {
            let mut map = http::HeaderMap::new();
            for (k, v) in &self.trailers {
                map.append(*k, http::HeaderValue::from_static(v));
            }
            frames.push_back(Frame::trailers(map));
        }
        builder.body(TestBody { frames }).unwrap()
    }
}

/// What to compare of a body.
#[derive(Clone, Copy, PartialEq)]
enum Check {
    /// Every byte.
    Exact,
    /// Only its length (random bytes).
    Length,
    /// Only the head: status and headers. For a guest that traps after
    /// setting the head. cohost then ends the body with an error (the
    /// server aborts the connection, so the client sees an incomplete
    /// body), as wasi:http says of an `outgoing-body` dropped without
    /// `finish` ("the implementation should treat the body as incomplete").
    /// wasmtime-wasi-http 48 ends it cleanly when the store goes away
    /// without the guest dropping the body, so a client takes the partial
    /// body for a whole one; that is the one place the hosts differ.
    Head,
}

/// What a host made of one request.
#[derive(Debug, PartialEq)]
enum Outcome {
    /// The guest set a response.
    Response {
        status: u16,
        /// Sorted by name; values of one name in order.
        headers: Vec<(String, Vec<u8>)>,
        /// The body, or its length with [`Check::Length`]; `None` if it
        /// ended with an error after the head (its bytes are then not
        /// compared: how much of a cut body arrives depends on buffering).
        body: Option<Vec<u8>>,
        trailers: Vec<(String, Vec<u8>)>,
    },
    /// The guest gave no response: it trapped first, returned without
    /// setting one, or set an error-code.
    NoResponse,
}

/// Headers that legitimately differ between hosts.
const IGNORED_HEADERS: &[&str] = &["date"];

fn sorted(map: &http::HeaderMap) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = map
        .iter()
        .filter(|(k, _)| !IGNORED_HEADERS.contains(&k.as_str()))
        .map(|(k, v)| (k.as_str().to_string(), v.as_bytes().to_vec()))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

async fn outcome<B>(resp: http::Response<B>, check: Check) -> Outcome
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: std::fmt::Debug,
{
    let (parts, mut body) = resp.into_parts();
    let mut data = Vec::new();
    let mut trailers = Vec::new();
    let mut failed = false;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => match frame.into_data() {
                Ok(d) => data.extend_from_slice(&d),
                Err(frame) => {
                    if let Ok(t) = frame.into_trailers() {
                        trailers = sorted(&t);
                    }
                }
            },
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    let body = match (failed, check) {
        (true, _) => None,
        (false, Check::Exact | Check::Head) => Some(data),
        (false, Check::Length) => Some(data.len().to_string().into_bytes()),
    };
    Outcome::Response {
        status: parts.status.as_u16(),
        headers: sorted(&parts.headers),
        body,
        trailers,
    }
}

// ------------------------------------------------------------- reference

async fn reference(host: &Reference, req: &Req, check: Check) -> Outcome {
    let (resp, task) = host.handle(req.build()).await;
    let result = match resp {
        Some(resp) => outcome::<HyperOutgoingBody>(resp, check).await,
        None => Outcome::NoResponse,
    };
    // The guest may still run after its body ended; let it finish (a trap
    // here is what some cases are about).
    let _ = task.await;
    result
}

// ------------------------------------------------------------- cohost

async fn cohost<E: Engine>(handler: &host_http::Handler<E>, req: &Req, check: Check) -> Outcome {
    let resp = handler.handle(req.build()).await;
    if resp.extensions().get::<host_http::GuestFailure>().is_some() {
        return Outcome::NoResponse;
    }
    outcome(resp, check).await
}

/// What of `o` a check compares.
fn compared(o: &Outcome, check: Check) -> Outcome {
    match (o, check) {
        (
            Outcome::Response {
                status, headers, ..
            },
            Check::Head,
        ) => Outcome::Response {
            status: *status,
            headers: headers.clone(),
            body: None,
            trailers: vec![],
        },
        (
            Outcome::Response {
                status,
                headers,
                body,
                trailers,
            },
            _,
        ) => Outcome::Response {
            status: *status,
            headers: headers.clone(),
            body: body.clone(),
            trailers: trailers.clone(),
        },
        (Outcome::NoResponse, _) => Outcome::NoResponse,
    }
}

/// The outcomes of one request on each host.
struct Outcomes {
    reference: Outcome,
    jit: Outcome,
    interp: Outcome,
}

/// Run every request on wasmtime's host, cohost jit and cohost interp and
/// compare what `check` says to compare.
fn differential(wasm: &str, cases: &[(Req, Check)]) -> Vec<Outcomes> {
    differential_bytes(wasm, &fixture(wasm), cases)
}

/// [`differential`] of the component `bytes`, called `wasm` in messages.
fn differential_bytes(wasm: &str, bytes: &[u8], cases: &[(Req, Check)]) -> Vec<Outcomes> {
    let wasmtime_host = Reference::new(bytes, Backend::Cranelift);
    let pulley_host = Reference::new(bytes, Backend::Pulley);
    let config = host_http::Config::default;
    let on_jit = host_http::Handler::new(&jit(), bytes, config()).unwrap();
    let on_interp = host_http::Handler::new(&interp(), bytes, config()).unwrap();
    block_on(async {
        let mut outcomes = Vec::new();
        for (req, check) in cases {
            let what = format!("{wasm}: {} {}", req.method, req.path);
            let o = Outcomes {
                reference: reference(&wasmtime_host, req, *check).await,
                jit: cohost(&on_jit, req, *check).await,
                interp: cohost(&on_interp, req, *check).await,
            };
            let want = compared(&o.reference, *check);
            // wasmtime's interpreter agrees with its JIT: the reference
            // does not depend on how code runs.
            assert_eq!(
                compared(&reference(&pulley_host, req, *check).await, *check),
                want,
                "{what}: wasmtime on Pulley vs on Cranelift"
            );
            assert_eq!(
                compared(&o.jit, *check),
                want,
                "{what}: cohost jit vs wasmtime-wasi-http"
            );
            assert_eq!(
                compared(&o.interp, *check),
                want,
                "{what}: cohost interp vs wasmtime-wasi-http"
            );
            outcomes.push(o);
        }
        outcomes
    })
}

/// Bytes that are not all alike, so a misplaced chunk shows.
fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}

fn status(o: &Outcomes) -> Option<u16> {
    match o.reference {
        Outcome::Response { status, .. } => Some(status),
        Outcome::NoResponse => None,
    }
}

#[test]
fn hello() {
    let out = differential(
        "hello.wasm",
        &[
            (Req::get("/"), Check::Exact),
            (Req::get("/some/path?q=1"), Check::Exact),
            (Req::post("/", pattern(1000)), Check::Exact),
        ],
    );
    assert_eq!(status(&out[0]), Some(200));
}

#[test]
fn echo() {
    let out = differential(
        "echo.wasm",
        &[
            (Req::post("/", pattern(1 << 20)), Check::Exact),
            (Req::post("/", vec![]), Check::Exact),
            (Req::get("/"), Check::Exact),
        ],
    );
    let Outcome::Response { body, .. } = &out[0].reference else {
        panic!("{:?}", out[0].reference)
    };
    assert_eq!(body.as_deref(), Some(&pattern(1 << 20)[..]));
}

#[test]
fn rust_guest() {
    let cases = [
        (
            Req::get("/inspect?a=1&b=two")
                .header("x-one", "1")
                .header("x-many", "first")
                .header("x-many", "second")
                .header("user-agent", "differential/1"),
            Check::Exact,
        ),
        (
            Req {
                method: "PUT",
                ..Req::get("/inspect")
            },
            Check::Exact,
        ),
        // Hop-by-hop and other headers a guest may not see or set.
        (
            Req::get("/inspect")
                .header("connection", "keep-alive")
                .header("keep-alive", "timeout=5")
                .header("proxy-authorization", "Basic eA==")
                .header("http2-settings", "AAMAAABkAAQAoAAAAAIAAAAA")
                .header("x-after", "kept"),
            Check::Exact,
        ),
        (Req::get("/status/200"), Check::Exact),
        (Req::get("/status/201"), Check::Exact),
        (Req::get("/status/204"), Check::Exact),
        (Req::get("/status/404"), Check::Exact),
        (Req::get("/status/418"), Check::Exact),
        (Req::get("/status/503"), Check::Exact),
        (Req::get("/status/abc"), Check::Exact),
        (Req::get("/stream/0"), Check::Exact),
        (Req::get("/stream/1"), Check::Exact),
        (Req::get("/stream/300000"), Check::Exact),
        (
            Req::post("/echo", pattern(300_000))
                .header("content-type", "application/x-test")
                .trailer("x-checksum", "abc")
                .trailer("x-second", "2"),
            Check::Exact,
        ),
        (Req::post("/echo", pattern(10)), Check::Exact),
        (Req::get("/echo"), Check::Exact),
        (Req::get("/sleep/20"), Check::Exact),
        (Req::get("/random/64"), Check::Length),
        (Req::get("/log"), Check::Exact),
        (Req::get("/trap"), Check::Exact),
        (Req::get("/trap-after-head"), Check::Head),
        (Req::get("/no-such-route"), Check::Exact),
        // Forbidden and invalid headers from the guest: header-errors, not
        // traps; the request's headers are immutable.
        (Req::get("/headers"), Check::Exact),
        // A parent resource dropped before its child traps.
        (Req::post("/drop-parent-first", pattern(100)), Check::Exact),
    ];
    let out = differential("rust-http.wasm", &cases);
    // The reference itself behaved as the fixture says (so agreeing with
    // it means something).
    assert_eq!(status(&out[6]), Some(404));
    assert_eq!(out[19].reference, Outcome::NoResponse, "/trap");
    let Outcome::Response { trailers, .. } = &out[13].reference else {
        panic!("/echo: {:?}", out[13].reference)
    };
    assert_eq!(trailers.len(), 2, "/echo trailers");
    assert_eq!(out[23].reference, Outcome::NoResponse, "/drop-parent-first");
    let Outcome::Response {
        body: Some(body), ..
    } = &out[22].reference
    else {
        panic!("/headers: {:?}", out[22].reference)
    };
    let body = String::from_utf8_lossy(body);
    assert!(
        body.contains("append connection: Err(HeaderError::Forbidden)"),
        "{body}"
    );
    // A body cut by a trap is an error on both cohost engines (see
    // `Check::Head`).
    for got in [&out[20].jit, &out[20].interp] {
        assert!(
            matches!(
                got,
                Outcome::Response {
                    status: 200,
                    body: None,
                    ..
                }
            ),
            "/trap-after-head: {got:?}"
        );
    }
}

/// The C guest (`c-http.wasm`: wit-bindgen's C bindings, wasi-libc and the
/// wasi_snapshot_preview1 proxy adapter; see tests/fixtures/README.md).
#[test]
fn c_guest() {
    let cases = [
        (Req::get("/hello"), Check::Exact),
        (Req::get("/hello?x=1"), Check::Exact),
        // Streamed back in 64 KiB reads and 4 KiB writes, with the
        // request's content-type.
        (
            Req::post("/echo", pattern(400_000)).header("content-type", "application/x-test"),
            Check::Exact,
        ),
        (Req::post("/echo", vec![]), Check::Exact),
        (Req::post("/echo", pattern(10)), Check::Exact),
        (
            Req::get("/headers")
                .header("x-one", "1")
                .header("x-many", "first")
                .header("x-many", "second")
                .header("user-agent", "differential/1"),
            Check::Exact,
        ),
        (Req::get("/status/200"), Check::Exact),
        (Req::get("/status/201"), Check::Exact),
        (Req::get("/status/204"), Check::Exact),
        (Req::get("/status/418"), Check::Exact),
        (Req::get("/status/503"), Check::Exact),
        // Not a status the host takes: the guest falls back to 500.
        (Req::get("/status/99"), Check::Exact),
        // Not a u16: 400 from the guest.
        (Req::get("/status/70000"), Check::Exact),
        (Req::get("/status/abc"), Check::Exact),
        (Req::get("/sleep/20"), Check::Exact),
        // wasi-libc's stdio through the adapter's fd_write.
        (Req::get("/log"), Check::Exact),
        (Req::get("/no-such-route"), Check::Exact),
        // Routes are per method.
        (
            Req {
                method: "PUT",
                ..Req::get("/hello")
            },
            Check::Exact,
        ),
        (Req::get("/echo"), Check::Exact),
    ];
    let out = differential("c-http.wasm", &cases);
    // The reference itself behaved as the fixture says (so agreeing with
    // it means something).
    let response = |i: usize| match &out[i].reference {
        Outcome::Response {
            status,
            headers,
            body: Some(body),
            ..
        } => (*status, headers.clone(), body.clone()),
        other => panic!("{} {}: {other:?}", cases[i].0.method, cases[i].0.path),
    };
    let text_plain = vec![("content-type".to_string(), b"text/plain".to_vec())];
    assert_eq!(
        response(0),
        (200, text_plain.clone(), b"hello from C\n".to_vec())
    );
    assert_eq!(response(1), response(0));
    assert_eq!(
        response(2),
        (
            200,
            vec![("content-type".to_string(), b"application/x-test".to_vec())],
            pattern(400_000)
        )
    );
    assert_eq!(response(3), (200, vec![], vec![]));
    assert_eq!(response(4), (200, vec![], pattern(10)));
    let (status, headers, body) = response(5);
    assert_eq!((status, headers), (200, text_plain.clone()));
    let body = String::from_utf8(body).unwrap();
    for line in [
        "x-one: 1\n",
        "x-many: first\nx-many: second\n",
        "user-agent: differential/1\n",
    ] {
        assert!(body.contains(line), "/headers: {body:?}");
    }
    let statuses: Vec<u16> = (6..14).map(|i| response(i).0).collect();
    assert_eq!(statuses, [200, 201, 204, 418, 503, 500, 400, 400]);
    for i in 6..12 {
        assert_eq!((response(i).1, response(i).2), (vec![], vec![]), "{i}");
    }
    assert_eq!(response(14), (200, text_plain.clone(), b"slept".to_vec()));
    assert_eq!(response(15), (200, text_plain.clone(), b"logged".to_vec()));
    for i in 16..19 {
        assert_eq!(
            response(i),
            (404, text_plain.clone(), b"not found\n".to_vec())
        );
    }
}

#[test]
fn example_hello() {
    let out = differential(
        "../../examples/hello.wasm",
        &[
            (Req::get("/"), Check::Exact),
            (Req::get("/hello/world?x=1"), Check::Exact),
            (Req::post("/other", pattern(5000)), Check::Exact),
        ],
    );
    assert_eq!(status(&out[1]), Some(200));
}

/// `hello.wat` built as a guest of an older wasi:http 0.2.x is: against the
/// vendored WIT renamed to `version` (functions `@since` a later version
/// gated off, as they were then; a later type alias such as 0.2.1's
/// `field-name` stays, ungated, as older items now use it and an alias
/// changes no import), componentized here with wit-component.
fn hello_at(version: &str) -> Vec<u8> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = std::env::temp_dir().join(format!("cohost-wit-{version}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("deps")).unwrap();
    let minor: u32 = version.rsplit('.').next().unwrap().parse().unwrap();
    let rename = |text: &str| {
        let text = text.replace("@0.2.12", &format!("@{version}"));
        let lines: Vec<&str> = text.lines().collect();
        let mut out = String::new();
        for (i, line) in lines.iter().enumerate() {
            let later = line
                .trim()
                .strip_prefix("@since(version = 0.2.")
                .and_then(|rest| rest.strip_suffix(')'))
                .and_then(|n| n.parse::<u32>().ok())
                .filter(|n| *n > minor);
            let gates_a_func = lines.get(i + 1).is_some_and(|next| next.contains("func("));
            match later {
                Some(n) if gates_a_func => {
                    out.push_str(&format!("@unstable(feature = since-0-2-{n})\n"))
                }
                // wit-parser refuses a `@since` past the package's version.
                Some(_) => {}
                None => {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        out
    };
    for (from, to) in [("wit", ""), ("wit/deps", "deps")] {
        for entry in std::fs::read_dir(root.join(from)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "wit") {
                let text = std::fs::read_to_string(&path).unwrap();
                let to = dir.join(to).join(path.file_name().unwrap());
                std::fs::write(to, rename(&text)).unwrap();
            }
        }
    }
    let wat = String::from_utf8(fixture("hello.wat"))
        .unwrap()
        .replace("@0.2.12", &format!("@{version}"));
    let component = crate::proxy_component(&wat, &dir, version);
    std::fs::remove_dir_all(&dir).unwrap();
    component
}

/// Guests built against older wasi:http 0.2.x versions link (interfaces
/// match semver-compatibly) and behave as on wasmtime's host.
#[test]
fn guests_of_older_0_2_versions() {
    for version in ["0.2.0", "0.2.3", "0.2.9"] {
        let bytes = hello_at(version);
        let what = format!("hello.wat against wasi:http@{version}");
        // It really imports that version.
        let text = String::from_utf8_lossy(&bytes).into_owned();
        assert!(
            text.contains(&format!("wasi:http/types@{version}")),
            "{what}"
        );
        let out = differential_bytes(&what, &bytes, &[(Req::get("/"), Check::Exact)]);
        let Outcome::Response { status, body, .. } = &out[0].reference else {
            panic!("{what}: {:?}", out[0].reference)
        };
        assert_eq!(
            (*status, body.as_deref()),
            (200, Some(&b"hello from cohost\n"[..])),
            "{what}"
        );
    }
}
