//! [`Handler`]: a wasi:http component on whichever engine the registry
//! selects, behind one type, for apps that embed cohost.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use engine_abi::engine::EngineConfig;
use http_body::Body as HttpBody;

use crate::engines::{AnyComponent, EngineChoice, Selection};

/// Why a component could not be loaded: the engine is not built in or not
/// allowed here, the bytes are not a wasi:http component, or an import is
/// missing. The message names the cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// A wasi:http proxy component, compiled and linked on the engine
/// [`EngineChoice`] selected, ready to handle requests.
#[derive(Clone)]
pub struct Handler {
    inner: Inner,
    selection: Selection,
}

#[derive(Clone)]
enum Inner {
    #[cfg(feature = "jit")]
    Jit(host_http::Handler<backend_wasmtime::WasmtimeEngine>),
    #[cfg(feature = "interp")]
    Interp(host_http::Handler<backend_wasmi::WasmiEngine>),
}

/// A response: its head arrives when the guest sets it; the body streams.
pub type ResponseFuture = Pin<Box<dyn Future<Output = http::Response<host_http::Body>> + Send>>;

impl Handler {
    /// Load `bytes` on the engine `auto` selects: the JIT where it is built
    /// in and the OS allows executable memory, the interpreter otherwise.
    pub fn new(bytes: &[u8], config: host_http::Config) -> Result<Handler, Error> {
        Self::with_engine(EngineChoice::Auto, &EngineConfig::default(), bytes, config)
    }

    /// Load `bytes` on the engine `choice` selects, started with
    /// `engine_config` (an instance pool, a compile cache).
    pub fn with_engine(
        choice: EngineChoice,
        engine_config: &EngineConfig,
        bytes: &[u8],
        config: host_http::Config,
    ) -> Result<Handler, Error> {
        let (component, selection) =
            AnyComponent::load(choice, engine_config, bytes).map_err(Error)?;
        let link = |e: host_http::Error| Error(e.to_string());
        let inner = match component {
            #[cfg(feature = "jit")]
            AnyComponent::Jit(e, c) => {
                Inner::Jit(host_http::Handler::from_component(&e, &c, config).map_err(link)?)
            }
            #[cfg(feature = "interp")]
            AnyComponent::Interp(e, c) => {
                Inner::Interp(host_http::Handler::from_component(&e, &c, config).map_err(link)?)
            }
        };
        Ok(Handler { inner, selection })
    }

    /// The engine it runs on, and why that one.
    pub fn selection(&self) -> &Selection {
        &self.selection
    }

    /// Handle one request in a fresh instance (see
    /// [`host_http::Handler::handle`]). Must run inside a tokio runtime.
    pub fn handle<B>(&self, req: http::Request<B>) -> ResponseFuture
    where
        B: HttpBody<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        match &self.inner {
            #[cfg(feature = "jit")]
            Inner::Jit(h) => Box::pin(h.handle(req)),
            #[cfg(feature = "interp")]
            Inner::Interp(h) => Box::pin(h.handle(req)),
        }
    }
}
