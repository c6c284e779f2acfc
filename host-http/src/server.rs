//! The HTTP server: hyper 1 on tokio, HTTP/1.1 with keep-alive and HTTP/2
//! over cleartext with prior knowledge (h2c: a connection that opens with
//! the HTTP/2 preface is served as HTTP/2), a cap on concurrent requests
//! (over it: 503), and graceful shutdown (stop accepting, let in-flight
//! requests finish, close idle connections).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use engine_abi::engine::Engine;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::error::Error;
use crate::handler::{Body, Handler};

/// Settings of the server itself (the guest's limits are in
/// [`crate::Config`]).
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Requests handled at once; more get 503.
    pub max_concurrency: usize,
    /// How long an HTTP/1.1 client may take to send a request head; the
    /// connection of a slower one is closed (hyper logs it at debug level).
    pub header_read_timeout: Duration,
    /// Largest request head a client may send, in bytes: the request line
    /// and the header fields (name, value and 4 bytes of separators each,
    /// as HTTP/1.1 sends them). A bigger one gets 431. HTTP/2's
    /// header-list-size setting is set from it too, and hyper's HTTP/1.1
    /// read buffer holds at least this much, so a head that never ends is
    /// cut while it is read.
    pub max_request_head_bytes: usize,
    /// Most header fields in a client's request; more get 431.
    pub max_request_headers: usize,
}

impl ServerConfig {
    /// The default cap on concurrent requests.
    pub const DEFAULT_MAX_CONCURRENCY: usize = 1000;
    /// The default time to send a request head: 30 s.
    pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
    /// The default request head limit: 64 KiB.
    pub const DEFAULT_MAX_REQUEST_HEAD_BYTES: usize = 64 * 1024;
    /// The default cap on request header fields: 100, as hyper's (whose
    /// parser keeps up to 100 on the stack).
    pub const DEFAULT_MAX_REQUEST_HEADERS: usize = 100;
}

/// hyper's default HTTP/1.1 buffer limit (read and write; about 400 KiB).
/// A smaller one would also cap how much of a response body hyper buffers
/// before writing, so it is only ever raised, for a bigger head limit.
const HYPER_BUFFER: usize = 8192 + 4096 * 100;
/// The header count up to which hyper's HTTP/1.1 parser needs no heap.
const HYPER_STACK_HEADERS: usize = 100;

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_concurrency: Self::DEFAULT_MAX_CONCURRENCY,
            header_read_timeout: Self::DEFAULT_HEADER_READ_TIMEOUT,
            max_request_head_bytes: Self::DEFAULT_MAX_REQUEST_HEAD_BYTES,
            max_request_headers: Self::DEFAULT_MAX_REQUEST_HEADERS,
        }
    }
}

/// A bound server, not yet accepting.
pub struct Server<E: Engine> {
    handler: Handler<E>,
    listener: TcpListener,
    config: ServerConfig,
}

impl<E: Engine> Server<E> {
    /// Bind `addr`.
    pub async fn bind(
        addr: SocketAddr,
        handler: Handler<E>,
        config: ServerConfig,
    ) -> Result<Self, Error> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| Error::io(&format!("cannot listen on {addr}"), e))?;
        Ok(Server {
            handler,
            listener,
            config,
        })
    }

    /// The address it listens on (with the port chosen when binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serve until `shutdown` resolves, then finish the requests in flight.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
        let Server {
            handler,
            listener,
            config,
        } = self;
        let permits = Arc::new(Semaphore::new(config.max_concurrency));
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut connections = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                _ = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: keep going.
                        tracing::warn!("accept: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                        continue;
                    }
                },
            };
            while connections.try_join_next().is_some() {}
            let _ = stream.set_nodelay(true);
            let handler = handler.clone();
            let permits = permits.clone();
            let mut stop = stop_rx.clone();
            let config = config.clone();
            connections.spawn(async move {
                let max_headers = config.max_request_headers;
                let max_head_bytes = config.max_request_head_bytes;
                let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let handler = handler.clone();
                    let permits = permits.clone();
                    let too_big = head_too_big(&req, max_headers, max_head_bytes);
                    async move {
                        if let Some(why) = too_big {
                            tracing::warn!("{why}: 431");
                            let mut r = http::Response::new(Body::from(
                                "431 request header fields too large\n",
                            ));
                            *r.status_mut() = http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE;
                            return Ok::<_, Infallible>(r);
                        }
                        let Ok(permit) = permits.try_acquire_owned() else {
                            tracing::warn!("over the concurrency cap: 503");
                            let mut r = http::Response::new(Body::from(
                                "503 service unavailable: too many requests\n",
                            ));
                            *r.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
                            return Ok::<_, Infallible>(r);
                        };
                        let resp = handler.handle(req).await;
                        Ok(resp.map(|b| b.with_guard(permit)))
                    }
                });
                // HTTP/1.1 (keep-alive is hyper's default) or, on the
                // HTTP/2 preface, h2c; each HTTP/2 stream is a request.
                let mut builder = auto::Builder::new(TokioExecutor::new());
                let mut http1 = builder.http1();
                http1
                    .timer(TokioTimer::new())
                    .header_read_timeout(config.header_read_timeout)
                    .max_buf_size(config.max_request_head_bytes.max(HYPER_BUFFER));
                // The parser's default array holds 100 fields on the stack;
                // a bigger one is allocated per request, so only when asked.
                if config.max_request_headers > HYPER_STACK_HEADERS {
                    http1.max_headers(config.max_request_headers);
                }
                builder.http2().max_header_list_size(
                    u32::try_from(config.max_request_head_bytes).unwrap_or(u32::MAX),
                );
                let conn = builder.serve_connection(TokioIo::new(stream), service);
                tokio::pin!(conn);
                tokio::select! {
                    r = conn.as_mut() => {
                        if let Err(e) = r {
                            tracing::debug!("connection from {peer}: {e}");
                        }
                    }
                    _ = async { stop.wait_for(|s| *s).await.is_ok() } => {
                        conn.as_mut().graceful_shutdown();
                        if let Err(e) = conn.await {
                            tracing::debug!("connection from {peer}: {e}");
                        }
                    }
                }
            });
        }
        drop(listener);
        tracing::info!(
            "shutting down: finishing {} connection(s)",
            connections.len()
        );
        let _ = stop_tx.send(true);
        while connections.join_next().await.is_some() {}
        Ok(())
    }
}

/// Why the head of `req` is over the limits (`None`: it is not). hyper's
/// HTTP/1.1 read buffer only bounds a head roughly (it checks when a read
/// leaves the head incomplete), so the size is checked here exactly: the
/// request line, and each field's name and value with 4 bytes of
/// separators, as HTTP/1.1 sends them.
fn head_too_big<B>(req: &http::Request<B>, max_fields: usize, max_bytes: usize) -> Option<String> {
    let fields = req.headers().len();
    if fields > max_fields {
        return Some(format!(
            "a request with {fields} header fields, over the cap of {max_fields}"
        ));
    }
    let target = req.uri().path_and_query().map_or(1, |p| p.as_str().len());
    let line = req.method().as_str().len() + 1 + target + " HTTP/1.1\r\n".len();
    let bytes = req
        .headers()
        .iter()
        .fold(line, |n, (k, v)| n + k.as_str().len() + v.len() + 4);
    (bytes > max_bytes)
        .then(|| format!("a request head of {bytes} bytes, over the limit of {max_bytes}"))
}

/// Resolves on SIGINT or SIGTERM (Ctrl-C elsewhere).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
