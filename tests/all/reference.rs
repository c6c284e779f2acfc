//! wasmtime's own wasi:http host, in-process: its component model,
//! wasmtime-wasi and wasmtime-wasi-http 48, a fresh store per request. The
//! reference the differential tests compare cohost with, and the one the
//! benchmarks measure it against, on Cranelift or on Pulley (wasmtime's
//! interpreter). Also compiled into `benches/http.rs` (`#[path]`).

use http_body::Body as HttpBody;
use wasmtime::component::{Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

pub struct RefState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
}

impl WasiView for RefState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for RefState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: Default::default(),
        }
    }
}

/// Which wasmtime backend runs the guest.
#[derive(Clone, Copy, Debug)]
pub enum Backend {
    /// Cranelift, to native code.
    Cranelift,
    /// Pulley, wasmtime's portable interpreter (no executable memory).
    Pulley,
}

/// A component ready for per-request instances on wasmtime's host.
pub struct Reference {
    pre: ProxyPre<RefState>,
}

/// A response from [`Reference::handle`], and the guest's task, which may
/// still run (streaming the body).
pub type Handled = (
    Option<http::Response<HyperOutgoingBody>>,
    tokio::task::JoinHandle<wasmtime::Result<()>>,
);

impl Reference {
    /// Compile `bytes` on `backend` and link it against wasmtime-wasi and
    /// wasmtime-wasi-http.
    pub fn new(bytes: &[u8], backend: Backend) -> Reference {
        Self::with_config(bytes, backend, wasmtime::Config::new())
    }

    /// As [`Reference::new`], with wasmtime's pooling allocator sized as
    /// `wasmtime serve` sizes it by default: how `wasmtime serve` runs.
    #[allow(
        dead_code,
        reason = "used by benches/http.rs, which includes this file"
    )]
    pub fn pooled(bytes: &[u8], backend: Backend) -> Reference {
        let mut config = wasmtime::Config::new();
        config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(
            wasmtime::PoolingAllocationConfig::default(),
        ));
        Self::with_config(bytes, backend, config)
    }

    fn with_config(bytes: &[u8], backend: Backend, mut config: wasmtime::Config) -> Reference {
        if let Backend::Pulley = backend {
            config.target("pulley64").expect("pulley64 is a target");
        }
        let engine = wasmtime::Engine::new(&config).expect("a wasmtime engine");
        let component = wasmtime::component::Component::new(&engine, bytes)
            .expect("wasmtime compiles the component");
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).unwrap();
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).unwrap();
        let pre = ProxyPre::new(linker.instantiate_pre(&component).unwrap()).unwrap();
        Reference { pre }
    }

    /// Handle `req` in a fresh instance on a spawned task. The response is
    /// `None` when the guest gave none (it trapped first, returned without
    /// setting one, or set an error-code).
    pub async fn handle<B>(&self, req: http::Request<B>) -> Handled
    where
        B: HttpBody<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let mut store = wasmtime::Store::new(
            self.pre.engine(),
            RefState {
                wasi: WasiCtx::builder().build(),
                http: WasiHttpCtx::new(),
                table: ResourceTable::new(),
            },
        );
        let (tx, rx) = tokio::sync::oneshot::channel();
        let request = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, req)
            .unwrap();
        let out = store.data_mut().http().new_response_outparam(tx).unwrap();
        let pre = self.pre.clone();
        let task = tokio::spawn(async move {
            let proxy = pre.instantiate_async(&mut store).await?;
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, request, out)
                .await
        });
        match rx.await {
            Ok(Ok(resp)) => (Some(resp), task),
            Ok(Err(_)) | Err(_) => (None, task),
        }
    }
}
