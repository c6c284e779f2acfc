//! What one request costs the host, in-process: cohost on its JIT (wasmtime's
//! core API) and on its interpreter (wasmi), side by side with wasmtime's own
//! wasi:http host (wasmtime-wasi-http 48) on Cranelift and on Pulley,
//! wasmtime's interpreter. Every request runs in a fresh instance, as under
//! `cohost serve`; there is no socket, so what is measured is the host, not
//! the network stack.
//!
//! One group per part of a request's cost:
//! - `request`: `GET /` to `examples/hello.wasm`, the response read whole:
//!   instantiation plus a tiny handler, the per-request overhead;
//! - `echo`: 1 MiB posted to `tests/fixtures/echo.wasm` and streamed back
//!   (throughput: MiB echoed per second), request and response bodies
//!   through wasi:io streams;
//! - `stream`: 4 MiB from the Rust fixture's `/stream` route, written in
//!   64 KiB chunks (response body throughput).
//!
//! `cargo bench --bench http` runs all; `cargo bench --bench http -- echo`
//! one group. Under `cargo test` each runs once, as a check.

#[path = "../tests/all/reference.rs"]
#[allow(dead_code)]
mod reference;

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http_body_util::{BodyExt, Full};
use reference::{Backend, Reference};

fn read(path: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// What a benchmark sends.
struct Send {
    method: &'static str,
    path: String,
    body: Bytes,
}

impl Send {
    fn request(&self) -> http::Request<Full<Bytes>> {
        http::Request::builder()
            .method(self.method)
            .uri(&self.path)
            .header("host", "bench.local")
            .header("content-length", self.body.len())
            .body(Full::new(self.body.clone()))
            .unwrap()
    }
}

/// One host answering one request: the response body's length.
type Serve = Box<dyn Fn(http::Request<Full<Bytes>>) -> Pin<Box<dyn Future<Output = usize>>>>;

fn cohost<E: engine_abi::engine::Engine>(engine: E, wasm: &[u8]) -> Serve {
    let handler = host_http::Handler::new(&engine, wasm, host_http::Config::default())
        .expect("cohost loads the component");
    Box::new(move |req| {
        let handler = handler.clone();
        Box::pin(async move {
            let resp = handler.handle(req).await;
            assert_eq!(resp.status(), 200);
            body_len(resp.into_body()).await
        })
    })
}

/// Read a body to its end as a client would, dropping each chunk once seen:
/// collecting the whole body would measure the allocator (holding and
/// then freeing megabytes makes glibc trim and regrow its heap) more than
/// the host.
async fn body_len<B: http_body::Body + Unpin>(mut body: B) -> usize
where
    B::Error: std::fmt::Debug,
{
    let mut n = 0;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.unwrap().into_data() {
            n += bytes::Buf::remaining(&data);
        }
    }
    n
}

fn wasmtime_host(backend: Backend, wasm: &[u8]) -> Serve {
    let host = Arc::new(Reference::pooled(wasm, backend));
    Box::new(move |req| {
        let host = host.clone();
        Box::pin(async move {
            let (resp, task) = host.handle(req).await;
            let resp = resp.expect("wasmtime's host gets a response");
            assert_eq!(resp.status(), 200);
            let n = body_len(resp.into_body()).await;
            task.await.unwrap().unwrap();
            n
        })
    })
}

/// cohost's JIT with an instance pool, as `cohost serve` runs it (sized for
/// a few requests at once: the benchmark runs one at a time).
fn pooled_jit(wasm: &[u8]) -> backend_wasmtime::WasmtimeEngine {
    let per_store = engine_abi::footprint_of(wasm).expect("the component parses");
    let config = engine_abi::engine::EngineConfig {
        pool: Some(engine_abi::engine::PoolConfig {
            max_stores: 16,
            per_store,
            max_memory_bytes: host_http::Config::DEFAULT_MAX_MEMORY_BYTES,
            max_table_elements: engine_abi::engine::StoreLimits::DEFAULT_MAX_TABLE_ELEMENTS,
        }),
        cache_dir: None,
        ..engine_abi::engine::EngineConfig::default()
    };
    backend_wasmtime::WasmtimeEngine::with_config(&config).expect("wasmtime starts with a pool")
}

fn hosts(wasm: &[u8]) -> Vec<(&'static str, Serve)> {
    vec![
        ("cohost-jit", cohost(pooled_jit(wasm), wasm)),
        (
            "cohost-interp",
            cohost(backend_wasmi::WasmiEngine::new(), wasm),
        ),
        ("wasmtime", wasmtime_host(Backend::Cranelift, wasm)),
        ("wasmtime-pulley", wasmtime_host(Backend::Pulley, wasm)),
    ]
}

/// Benchmark `send` to the component at `wasm` on every host, after
/// checking once that each answers with `expect_len` bytes.
fn group(
    c: &mut Criterion,
    name: &str,
    wasm: &str,
    send: Send,
    expect_len: usize,
    throughput: Option<u64>,
) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let wasm = read(wasm);
    let mut g = c.benchmark_group(name);
    if let Some(bytes) = throughput {
        g.throughput(Throughput::Bytes(bytes));
    }
    for (host, serve) in hosts(&wasm) {
        let n = rt.block_on(serve(send.request()));
        assert_eq!(n, expect_len, "{name} on {host}: response length");
        g.bench_function(host, |b| {
            b.to_async(&rt).iter(|| serve(send.request()));
        });
    }
    g.finish();
}

fn request(c: &mut Criterion) {
    let send = Send {
        method: "GET",
        path: "/".into(),
        body: Bytes::new(),
    };
    group(
        c,
        "request",
        "examples/hello.wasm",
        send,
        "hello from cohost\n".len(),
        None,
    );
}

fn echo(c: &mut Criterion) {
    const N: usize = 1 << 20;
    let body: Vec<u8> = (0..N).map(|i| (i % 251) as u8).collect();
    let send = Send {
        method: "POST",
        path: "/".into(),
        body: body.into(),
    };
    group(
        c,
        "echo",
        "tests/fixtures/echo.wasm",
        send,
        N,
        Some(N as u64),
    );
}

fn stream(c: &mut Criterion) {
    const N: usize = 4 << 20;
    let send = Send {
        method: "GET",
        path: format!("/stream/{N}"),
        body: Bytes::new(),
    };
    group(
        c,
        "stream",
        "tests/fixtures/rust-http.wasm",
        send,
        N,
        Some(N as u64),
    );
}

criterion_group!(benches, request, echo, stream);
criterion_main!(benches);
