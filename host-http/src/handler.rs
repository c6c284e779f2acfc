//! The embedding API: a [`Handler`] built once from component bytes, an
//! engine and a [`Config`], then [`Handler::handle`] per request.
//!
//! Each request runs on its own tokio task, in a fresh instance (a new
//! store, the plan run again), or, with [`Config::max_instance_reuse_count`]
//! above 1, in an idle instance that served earlier requests:
//!
//! - the response head is returned as soon as the guest calls
//!   `response-outparam.set`; its body streams from the guest's writes while
//!   the guest still runs ([`Body`]);
//! - the request body streams into the guest as it reads (pulled from the
//!   body: backpressure without buffering);
//! - a guest that traps, runs out of time, or returns without setting a
//!   response gives a 500; one that traps or runs out of time after setting
//!   it ends the body with an error (the server then aborts the connection,
//!   as HTTP/1.1 requires for an incomplete body);
//! - every request has an id, on a `tracing` span and on the guest's log
//!   lines.
//!
//! Instance reuse. What lives in the store's data ([`State`]: the request's
//! resource table, its outparam, its bodies, its outgoing budget and id) is
//! made per request and replaced before the next; the instance (its
//! memories, globals, handle tables) persists, so state a guest keeps in
//! its own memory is seen by the requests it serves after. An instance is
//! reused only when the request it served ended cleanly: it returned, set
//! its response, hit no memory or table limit, and holds no handle to the
//! request's host resources (a body, a stream, a pollable, a future kept
//! across requests). Otherwise it is dropped and the next request gets a
//! fresh one, so a handle of one request can never reach another's
//! resources (each request's table numbers its resources from the start).
//! A time-out, a trap or a task failure drops it too. The time budget
//! restarts for each request.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};

use bytes::Bytes;
use engine_abi::abi::typed::HostResource;
use engine_abi::abi::{Resource, Val};
use engine_abi::engine::{Engine, StoreLimits};
use engine_abi::names::semver_compatible;
use engine_abi::{Component, Func, Instance, InstancePre, Linker, Store};
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::BodyExt;
use tokio::sync::oneshot;
use tracing::Instrument;

use crate::client::Client;
use crate::config::Config;
use crate::error::{Error, ErrorCode};
use crate::fields::strip_forbidden;
use crate::pipe::{InPipe, PipeBody};
use crate::reuse::WarmPool;
use crate::state::{LogBudget, Shared, State};
use crate::table::Table;
use crate::types_impl::{IncomingRequest, Method, ResponseOutparam, ResponseResult, Scheme};

/// The export every proxy component has.
pub const HANDLE_EXPORT: &str = "wasi:http/incoming-handler@0.2.12#handle";

static LINKER: LazyLock<Linker<State>> = LazyLock::new(crate::imports::linker);

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A wasi:http proxy component ready to serve requests.
pub struct Handler<E: Engine> {
    engine: E,
    pre: InstancePre<E, State>,
    shared: Arc<Shared>,
    /// Idle instances, when instances are reused.
    warm: Option<Arc<WarmPool<Warm<E>>>>,
    /// Guest tasks still running (their response may have been sent).
    running: Arc<AtomicUsize>,
    /// Instances alive, running or idle: at most `Config::max_instances`.
    alive: Arc<AtomicUsize>,
}

impl<E: Engine> Clone for Handler<E> {
    fn clone(&self) -> Self {
        Handler {
            engine: self.engine.clone(),
            pre: self.pre.clone(),
            shared: self.shared.clone(),
            warm: self.warm.clone(),
            alive: self.alive.clone(),
            running: self.running.clone(),
        }
    }
}

/// An instance with its store, between the requests it serves.
struct Warm<E: Engine> {
    store: Store<E, State>,
    instance: Instance,
    handle: Func,
    /// How many requests it has served.
    served: u32,
    /// Counts it in [`Handler::alive_instances`] until it is dropped.
    _alive: Alive,
}

/// A place among the instances alive (`Config::max_instances`), given back
/// when dropped.
struct Alive(Arc<AtomicUsize>);

impl Alive {
    /// A place, if fewer than `max` are taken.
    fn claim(count: &Arc<AtomicUsize>, max: usize) -> Option<Alive> {
        count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| Alive(count.clone()))
    }
}

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Toolchains whose components answer one request per instance: reusing
/// their instances would fail every request after the first. The
/// `producers` entry that identifies them, and why.
const SINGLE_USE_TOOLCHAINS: &[(&str, &str, &str)] = &[(
    "processed-by",
    "ComponentizeJS",
    "StarlingMonkey answers one fetch event per instance (a second request \
     fails: \"FetchEvent#respondWith can't be called twice\")",
)];

/// Why `component` must not be reused, if its toolchain is known not to
/// allow it.
fn single_use<E: Engine>(component: &Component<E>) -> Option<String> {
    component.producers().iter().find_map(|p| {
        SINGLE_USE_TOOLCHAINS
            .iter()
            .find(|(field, name, _)| p.field == *field && p.name == *name)
            .map(|(_, name, why)| format!("{name} {}: {why}", p.version))
    })
}

/// How a guest's run ended.
enum Outcome {
    Returned,
    Failed,
    /// The engine had no room for another instance (a full instance
    /// pool): the guest never ran.
    Busy,
}

impl<E: Engine> Handler<E> {
    /// Load `bytes` (a component), check that it exports
    /// `wasi:http/incoming-handler@0.2.x#handle` and that the host provides
    /// every import, and compile it, once.
    pub fn new(engine: &E, bytes: &[u8], config: Config) -> Result<Self, Error> {
        let component = Component::new(engine, bytes).map_err(Error::load)?;
        Self::from_component(engine, &component, config)
    }

    /// A handler for a component already compiled on `engine`: check that
    /// it exports `wasi:http/incoming-handler@0.2.x#handle` and that the
    /// host provides every import, as [`Handler::new`] does, without
    /// compiling it again. So one compiled [`Component`] (cheap to clone,
    /// shared between stores and threads) can serve several handlers or be
    /// inspected first: compiling a large guest (a JavaScript or Python
    /// runtime) on the JIT takes seconds.
    pub fn from_component(
        engine: &E,
        component: &Component<E>,
        config: Config,
    ) -> Result<Self, Error> {
        let (iface, func) = HANDLE_EXPORT.split_once('#').unwrap_or_default();
        let exported = component.exported_funcs().iter().any(|(n, _)| {
            n.split_once('#')
                .is_some_and(|(i, f)| f == func && semver_compatible(i, iface))
        });
        if !exported {
            return Err(Error::export(format!(
                "the component does not export `{HANDLE_EXPORT}` (is it a wasi:http/proxy component?)"
            )));
        }
        let pre = LINKER.instantiate_pre(component).map_err(Error::link)?;
        let client = Arc::new(Client::new(&config.outgoing).map_err(Error::config)?);
        let mut reuse = config.max_instance_reuse_count > 1;
        if reuse && let Some(why) = single_use(component) {
            tracing::warn!(
                "instance reuse is off for this component, each request gets a fresh \
                 instance: {why}"
            );
            reuse = false;
        }
        let warm = reuse.then(|| {
            let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
            WarmPool::new(workers, config.idle_instance_timeout)
        });
        Ok(Handler {
            engine: engine.clone(),
            pre,
            shared: Arc::new(Shared { config, client }),
            warm,
            running: Arc::default(),
            alive: Arc::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// Whether instances serve more than one request (a
    /// [`Config::max_instance_reuse_count`] above 1, and a component whose
    /// toolchain allows it).
    pub fn reuses_instances(&self) -> bool {
        self.warm.is_some()
    }

    /// How many guests are still running: requests whose instance has not
    /// finished yet (a response may be out while its guest still writes
    /// the body or runs after it). A reused instance is idle again once
    /// its guest finished.
    pub fn running(&self) -> usize {
        self.running.load(Ordering::Acquire)
    }

    /// How many instances are alive, running a request or idle (at most
    /// [`Config::max_instances`]).
    pub fn alive_instances(&self) -> usize {
        self.alive.load(Ordering::Acquire)
    }

    /// How many instances are idle, kept for reuse.
    pub fn idle_instances(&self) -> usize {
        self.warm.as_ref().map_or(0, |w| w.idle())
    }

    /// The engine's name: `jit` or `interp`.
    pub fn engine_name(&self) -> &'static str {
        self.engine.name()
    }

    /// Handle one request, in a fresh instance or a reused one (see the
    /// module docs). The future resolves with the response head as soon as
    /// the guest sets it; the body streams after.
    /// Must run inside a tokio runtime (the guest runs on a spawned task).
    pub fn handle<B>(
        &self,
        req: http::Request<B>,
    ) -> impl Future<Output = http::Response<Body>> + Send + 'static
    where
        B: HttpBody<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let this = self.clone();
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        // A span at debug level: made (and its fields formatted) only when
        // debug logging is on. The warnings and errors below carry the
        // request id themselves, as the guest's log lines do.
        let span = tracing::debug_span!("request", id);
        async move {
            tracing::debug!("{} {}", req.method(), req.uri());
            let (tx, rx) = oneshot::channel();
            let state = this.request_state(id, req, tx);
            let running = Running::start(&this.running);
            let task = tokio::spawn(this.clone().run(state, running).in_current_span());
            match rx.await {
                Ok(Ok(resp)) => {
                    tracing::debug!("{} head sent", resp.status());
                    resp.map(Body::pipe)
                }
                Ok(Err(code)) => {
                    tracing::warn!(request = id, "the guest responded with error-code {code}");
                    failure_response(format!("the component responded with error-code {code}"))
                }
                Err(_) => {
                    let why = match task.await {
                        Ok(Outcome::Returned) => {
                            "the component returned without setting a response"
                        }
                        Ok(Outcome::Failed) => "the component failed",
                        Ok(Outcome::Busy) => return busy_response(),
                        Err(_) => "the component's task failed",
                    };
                    failure_response(why.to_string())
                }
            }
        }
        .instrument(span)
    }

    fn request_state<B>(
        &self,
        id: u64,
        req: http::Request<B>,
        tx: oneshot::Sender<ResponseResult>,
    ) -> (State, u32, u32)
    where
        B: HttpBody<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let config = &self.shared.config;
        let (parts, body) = req.into_parts();
        let body = body
            .map_err(|e| {
                let e: Box<dyn std::error::Error + Send + Sync> = e.into();
                match e.downcast_ref::<hyper::Error>() {
                    Some(h) => ErrorCode::from_hyper(h),
                    None => ErrorCode::internal(e.to_string()),
                }
            })
            .boxed_unsync();
        let authority = parts.uri.authority().map(|a| a.to_string()).or_else(|| {
            parts
                .headers
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_string)
        });
        let scheme = match parts.uri.scheme_str() {
            None | Some("http") => Scheme::Http,
            Some("https") => Scheme::Https,
            Some(other) => Scheme::Other(other.to_string()),
        };
        let path_with_query = parts
            .uri
            .path_and_query()
            .map_or("/".to_string(), |p| p.as_str().to_string());
        let mut headers = parts.headers;
        strip_forbidden(&mut headers);
        let request = IncomingRequest {
            method: Method::from_http(&parts.method),
            path_with_query: Some(path_with_query),
            scheme: Some(scheme),
            authority,
            headers: Arc::new(headers),
            body: Some(InPipe::new(
                body,
                config.max_body_bytes,
                ErrorCode::request_body_size,
            )),
        };
        let mut state = State {
            table: Table::with_limit(config.max_host_resources),
            shared: self.shared.clone(),
            id,
            response_set: false,
            outgoing: Arc::new(tokio::sync::Semaphore::new(config.outgoing.max_concurrent)),
            log: LogBudget {
                left: config.max_log_bytes,
                cut: false,
            },
        };
        let req_rep = state.table.push(request).expect("an empty table has room");
        let out_rep = state
            .table
            .push(ResponseOutparam { tx: Some(tx) })
            .expect("an empty table has room");
        (state, req_rep, out_rep)
    }

    /// A fresh instance in a fresh store holding `state`.
    async fn fresh(&self, mut state: State) -> Result<Warm<E>, (String, bool)> {
        let config = &self.shared.config;
        // The engines enforce the budget on a guest that computes (epoch or
        // fuel slices); the caller's timeout covers one blocked in a host
        // call.
        let limits = StoreLimits {
            max_memory_bytes: config.max_memory_bytes,
            time_budget: config.timeout,
            ..StoreLimits::default()
        };
        // A place among the instances alive: an idle one may give up its
        // own; if none is idle, the server is at its instance limit.
        let alive = loop {
            if let Some(alive) = Alive::claim(&self.alive, config.max_instances) {
                break alive;
            }
            if !self.warm.as_ref().is_some_and(|w| w.evict_oldest()) {
                let n = config.max_instances;
                return Err((format!("{n} instances are alive (max-instances)"), true));
            }
        };
        let (store, instance) = loop {
            let mut store = Store::with_limits(&self.engine, state, limits);
            match self.pre.instantiate(&mut store).await {
                Ok(instance) => break (store, instance),
                // A full instance pool may be full of idle instances: make
                // room, and try again in a fresh store (the failed attempt
                // may have left a half-made instance in this one).
                Err(e) if e.is_busy() && self.warm.as_ref().is_some_and(|w| w.evict_oldest()) => {
                    state = store.into_data();
                }
                Err(e) => return Err((format!("instantiation failed: {e}"), e.is_busy())),
            }
        };
        let handle = instance
            .func(&store, HANDLE_EXPORT)
            .ok_or_else(|| (format!("no export {HANDLE_EXPORT}"), false))?;
        Ok(Warm {
            store,
            instance,
            handle,
            served: 0,
            _alive: alive,
        })
    }

    async fn run(self, (state, req, out): (State, u32, u32), _running: Running) -> Outcome {
        let config = &self.shared.config;
        let id = state.id;
        let mut slot: Option<Warm<E>> = None;
        let mut busy = false;
        let result = {
            let call = async {
                let warm = match self.warm.as_ref().and_then(|w| w.take()) {
                    Some(mut warm) => {
                        *warm.store.data_mut() = state;
                        warm.store.set_time_budget(config.timeout);
                        tracing::debug!("reusing an instance ({} served)", warm.served);
                        warm
                    }
                    None => self.fresh(state).await.map_err(|(msg, b)| {
                        busy = b;
                        msg
                    })?,
                };
                let warm = slot.insert(warm);
                let args = [
                    Val::Own(Resource {
                        ty: IncomingRequest::resource_type(),
                        rep: req,
                    }),
                    Val::Own(Resource {
                        ty: ResponseOutparam::resource_type(),
                        rep: out,
                    }),
                ];
                warm.handle
                    .call(&mut warm.store, &args)
                    .await
                    .map_err(|e| match e.trap() {
                        Some(t) => format!("the guest trapped: {t}"),
                        None => e.to_string(),
                    })?;
                Ok::<(), String>(())
            };
            match config.timeout {
                Some(t) => match tokio::time::timeout(t, call).await {
                    Ok(r) => r,
                    Err(_) => Err(format!("the guest ran out of its time budget ({t:?})")),
                },
                None => call.await,
            }
        };
        if busy {
            tracing::warn!(
                request = id,
                "{}: responding 503",
                result.err().unwrap_or_default()
            );
            return Outcome::Busy;
        }
        let set = slot.as_ref().is_some_and(|w| w.store.data().response_set);
        let outcome = match result {
            Ok(()) => {
                if !set {
                    tracing::warn!(
                        request = id,
                        "the guest returned without setting a response: responding 500"
                    );
                }
                Outcome::Returned
            }
            Err(msg) => {
                if set {
                    tracing::error!(
                        request = id,
                        "{msg}, after sending the response head: aborting the body"
                    );
                } else {
                    tracing::error!(request = id, "{msg}: responding 500");
                }
                Outcome::Failed
            }
        };
        if let (Some(pool), Some(mut warm), Outcome::Returned) = (&self.warm, slot, &outcome) {
            warm.served += 1;
            match self.retire_reason(&warm, set) {
                None => pool.put(warm),
                Some(why) => tracing::debug!("dropping the instance: {why}"),
            }
        }
        outcome
    }

    /// Why an instance that served a request and returned must not serve
    /// another (`None`: it may).
    fn retire_reason(&self, warm: &Warm<E>, response_set: bool) -> Option<&'static str> {
        if !response_set {
            Some("it returned without setting a response")
        } else if warm.served >= self.shared.config.max_instance_reuse_count {
            Some("it served its maximum number of requests")
        } else if warm.store.limit_hit() {
            Some("it hit a memory or table limit")
        } else if !warm.store.data().table.is_empty()
            || warm.instance.holds_host_resources(&warm.store)
        {
            Some("it keeps resources of the request it served")
        } else {
            None
        }
    }
}

/// Counts a guest task in [`Handler::running`] until dropped (when the task
/// ends, however it ends).
struct Running(Arc<AtomicUsize>);

impl Running {
    fn start(count: &Arc<AtomicUsize>) -> Running {
        count.fetch_add(1, Ordering::AcqRel);
        Running(count.clone())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// In the extensions of a response the host made because the guest gave
/// none: it trapped, ran out of time or memory before setting
/// `response-outparam`, returned without setting it, or set an
/// `error-code`. Such a response is a 500 whose body says why; this marker
/// tells it apart from a 500 the guest chose (`cohost request` exits
/// non-zero on it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuestFailure {
    /// Why there is no guest response, for logs.
    pub reason: String,
}

fn failure_response(reason: String) -> http::Response<Body> {
    let mut r = http::Response::new(Body::from(format!("500 internal server error: {reason}\n")));
    *r.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain"),
    );
    r.extensions_mut().insert(GuestFailure { reason });
    r
}

/// The answer when the engine has no room for another instance: 503, so a
/// client (or a load balancer) retries elsewhere or later.
fn busy_response() -> http::Response<Body> {
    let mut r = http::Response::new(Body::from(
        "503 service unavailable: the server is at its instance limit\n",
    ));
    *r.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain"),
    );
    r.headers_mut().insert(
        http::header::RETRY_AFTER,
        http::HeaderValue::from_static("1"),
    );
    r.extensions_mut().insert(GuestFailure {
        reason: "the engine had no room for another instance".into(),
    });
    r
}

/// A response body: bytes the guest streams (or a fixed body the host
/// made). Its error means the body is incomplete.
pub struct Body {
    kind: Kind,
    _guard: Option<Box<dyn Send + Sync>>,
}

enum Kind {
    Full(Option<Bytes>),
    Pipe(PipeBody),
}

impl Body {
    /// An empty body.
    pub fn empty() -> Body {
        Body {
            kind: Kind::Full(None),
            _guard: None,
        }
    }

    fn pipe(pipe: PipeBody) -> Body {
        Body {
            kind: Kind::Pipe(pipe),
            _guard: None,
        }
    }

    /// Keep `guard` alive until the body is dropped (e.g. a concurrency
    /// permit).
    pub fn with_guard(mut self, guard: impl Send + Sync + 'static) -> Body {
        self._guard = Some(Box::new(guard));
        self
    }
}

impl From<Bytes> for Body {
    fn from(b: Bytes) -> Body {
        Body {
            kind: Kind::Full((!b.is_empty()).then_some(b)),
            _guard: None,
        }
    }
}

impl From<String> for Body {
    fn from(s: String) -> Body {
        Body::from(Bytes::from(s))
    }
}

impl From<&'static str> for Body {
    fn from(s: &'static str) -> Body {
        Body::from(Bytes::from_static(s.as_bytes()))
    }
}

impl HttpBody for Body {
    type Data = Bytes;
    type Error = ErrorCode;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ErrorCode>>> {
        match &mut self.kind {
            Kind::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Kind::Pipe(p) => Pin::new(p).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full(b) => b.is_none(),
            Kind::Pipe(p) => p.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::Pipe(p) => p.size_hint(),
        }
    }
}
