//! [`Handler`]: a wasi:http component on whichever engine the registry
//! selects, behind one type, for apps that embed cohost.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use std::sync::Arc;

use bytes::Bytes;
use engine_abi::Component;
use engine_abi::engine::{Engine, EngineConfig};
use http_body::Body as HttpBody;
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;

use crate::engines::{AnyComponent, EngineChoice, Selection, WithComponent};

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
    inner: Arc<dyn DynHandler>,
    selection: Selection,
}

/// A response: its head arrives when the guest sets it; the body streams.
pub type ResponseFuture = Pin<Box<dyn Future<Output = http::Response<host_http::Body>> + Send>>;

/// A request body of any type, boxed so that one engine-free [`Handler`]
/// serves every engine of the registry.
type AnyBody = UnsyncBoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// [`host_http::Handler`] on some engine.
trait DynHandler: Send + Sync {
    fn handle(&self, req: http::Request<AnyBody>) -> ResponseFuture;
}

impl<E: Engine> DynHandler for host_http::Handler<E> {
    fn handle(&self, req: http::Request<AnyBody>) -> ResponseFuture {
        Box::pin(host_http::Handler::handle(self, req))
    }
}

/// Links a compiled component into a [`host_http::Handler`] on its engine.
struct Link(host_http::Config);

impl WithComponent for Link {
    type Output = Result<Arc<dyn DynHandler>, host_http::Error>;
    fn run<E: Engine>(self, engine: E, component: Component<E>) -> Self::Output {
        let handler = host_http::Handler::from_component(&engine, &component, self.0)?;
        Ok(Arc::new(handler))
    }
}

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
        let inner = component
            .run(Link(config))
            .map_err(|e| Error(e.to_string()))?;
        Ok(Handler { inner, selection })
    }

    /// The engine it runs on, and why that one.
    pub fn selection(&self) -> &Selection {
        &self.selection
    }

    /// Handle one request (see [`host_http::Handler::handle`]). Must run
    /// inside a tokio runtime.
    pub fn handle<B>(&self, req: http::Request<B>) -> ResponseFuture
    where
        B: HttpBody<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        self.inner
            .handle(req.map(|b| b.map_err(Into::into).boxed_unsync()))
    }
}
