//! `wasi:http/outgoing-handler` and `wasi:http/types.future-incoming-response`:
//! the guest's outgoing requests, through a hyper client (http, and https
//! with rustls), under the handler's outgoing policy:
//!
//! - an **allowed-hosts list** (default: nothing allowed); a request to any
//!   other host gets `HTTP-request-denied` and a log line;
//! - a **cap on concurrent outgoing requests** per request's instance; past
//!   it, `connection-limit-reached`. A request holds its slot until its
//!   response body is dropped;
//! - `request-options` timeouts: connect, first byte, between bytes (with
//!   the `DEFAULT_*` values when unset);
//! - idle HTTP/1.1 connections are kept per scheme + authority and reused;
//! - https servers are verified against the Mozilla roots (webpki-roots)
//!   plus any the policy adds (a private CA); a certificate that does not
//!   verify gets `TLS-certificate-error`.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use engine_abi::abi::Val;
use engine_abi::engine::HostError;
use http_body::{Body as HttpBody, Frame};
use http_body_util::BodyExt;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use crate::body::{HyperBody, InPipe, PipeBody, locked};
use crate::error::ErrorCode;
use crate::io::{PollSource, Pollable};
use crate::state::{Entry, R, State, arg, ret};
use crate::types_impl::{IncomingResponse, RequestOptions, Scheme, strip_forbidden};

type HostResult = Result<Option<Val>, HostError>;

/// Connecting (TCP and TLS), when `request-options` does not say.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Waiting for the response head, when `request-options` does not say.
pub const DEFAULT_FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(60);
/// Waiting between response body chunks, when `request-options` does not say.
pub const DEFAULT_BETWEEN_BYTES_TIMEOUT: Duration = Duration::from_secs(60);
/// Concurrent outgoing requests per incoming request, by default.
pub const DEFAULT_MAX_OUTGOING: usize = 8;
/// Idle connections kept per scheme + authority.
pub const MAX_IDLE_PER_HOST: usize = 8;

/// One entry of the allowed-hosts list: a scheme (or any), a host (or `*`)
/// and a port (or any).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedHost {
    scheme: Option<String>,
    host: String,
    port: Option<u16>,
}

impl FromStr for AllowedHost {
    type Err = String;

    /// `http://127.0.0.1:8080`, `https://example.com`, `example.com` (any
    /// scheme and port), `*` (anything).
    fn from_str(s: &str) -> Result<Self, String> {
        let (scheme, rest) = match s.split_once("://") {
            Some((sc, rest)) => (Some(sc.to_ascii_lowercase()), rest),
            None => (None, s),
        };
        if let Some(sc) = &scheme
            && sc != "http"
            && sc != "https"
        {
            return Err(format!("allowed host `{s}`: scheme must be http or https"));
        }
        let rest = rest.trim_end_matches('/');
        if rest.contains('/') {
            return Err(format!("allowed host `{s}` has a path"));
        }
        if rest == "*" {
            return Ok(AllowedHost {
                scheme,
                host: "*".into(),
                port: None,
            });
        }
        let auth =
            http::uri::Authority::from_str(rest).map_err(|e| format!("allowed host `{s}`: {e}"))?;
        Ok(AllowedHost {
            scheme,
            host: auth.host().to_ascii_lowercase(),
            port: auth.port_u16(),
        })
    }
}

impl fmt::Display for AllowedHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(s) = &self.scheme {
            write!(f, "{s}://")?;
        }
        f.write_str(&self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        Ok(())
    }
}

impl AllowedHost {
    fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        self.scheme.as_deref().is_none_or(|s| s == scheme)
            && (self.host == "*" || self.host.eq_ignore_ascii_case(host))
            && self.port.is_none_or(|p| p == port)
    }
}

/// What the guest may fetch.
#[derive(Clone, Debug)]
pub struct OutgoingPolicy {
    /// The hosts it may reach; empty: none.
    pub allowed_hosts: Vec<AllowedHost>,
    /// Concurrent outgoing requests per incoming request.
    pub max_concurrent: usize,
    /// Certificates (DER) trusted as roots for https, besides the Mozilla
    /// roots: a private CA.
    pub extra_roots: Vec<Vec<u8>>,
}

impl Default for OutgoingPolicy {
    fn default() -> Self {
        OutgoingPolicy {
            allowed_hosts: Vec::new(),
            max_concurrent: DEFAULT_MAX_OUTGOING,
            extra_roots: Vec::new(),
        }
    }
}

impl OutgoingPolicy {
    /// Whether a request to `scheme://host:port` is allowed.
    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        self.allowed_hosts
            .iter()
            .any(|a| a.allows(scheme, host, port))
    }
}

// ---- the response slot and its future ----

/// Where a spawned outgoing request puts its response.
#[derive(Default)]
pub struct ResponseSlot {
    result: Option<Result<IncomingResponse, ErrorCode>>,
    done: bool,
    waker: Option<Waker>,
}

/// A shared response slot.
pub type SharedResponse = Arc<Mutex<ResponseSlot>>;

/// Ready when the response (or its error) arrived.
pub fn poll_response(slot: &SharedResponse, cx: &mut Context<'_>) -> Poll<()> {
    let mut s = locked(slot);
    if s.done {
        Poll::Ready(())
    } else {
        s.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// A task aborted when dropped.
pub struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// `wasi:http/types.future-incoming-response`
pub struct FutureIncomingResponse {
    slot: SharedResponse,
    taken: bool,
    _task: Option<AbortOnDrop>,
}

/// `[method]future-incoming-response.subscribe`
pub fn future_incoming_response_subscribe(s: &mut State, args: &[Val]) -> HostResult {
    let rep = arg::rep(&args[0])?;
    let f = s.table.future_incoming_response(rep)?;
    let src = PollSource::Response(f.slot.clone());
    Ok(Some(s.own_child(
        &R.pollable,
        Entry::Pollable(Pollable(src)),
        rep,
    )?))
}

/// `[method]future-incoming-response.get`:
/// `option<result<result<incoming-response, error-code>>>`
pub fn future_incoming_response_get(s: &mut State, args: &[Val]) -> HostResult {
    let f = s.table.future_incoming_response(arg::rep(&args[0])?)?;
    if f.taken {
        return Ok(Some(ret::some(ret::err_unit())));
    }
    let mut slot = locked(&f.slot);
    if !slot.done {
        return Ok(Some(ret::none()));
    }
    let result = slot.result.take();
    drop(slot);
    f.taken = true;
    let inner = match result {
        Some(Ok(resp)) => ret::ok(s.own(&R.incoming_response, Entry::IncomingResponse(resp))?),
        Some(Err(e)) => ret::err(e.to_val()),
        None => ret::err(ErrorCode::internal("response lost").to_val()),
    };
    Ok(Some(ret::some(ret::ok(inner))))
}

// ---- outgoing-handler.handle ----

/// `wasi:http/outgoing-handler.handle`
pub fn handle(s: &mut State, args: &[Val]) -> HostResult {
    let req = s.table.take_outgoing_request(arg::rep(&args[0])?)?;
    let options = match arg::option(&args[1])? {
        Some(o) => s.table.take_request_options(arg::rep(o)?)?,
        None => RequestOptions::default(),
    };
    let err = |e: ErrorCode| Ok(Some(ret::err(e.to_val())));
    let scheme = req.scheme.clone().unwrap_or(Scheme::Https);
    let tls = match scheme {
        Scheme::Http => false,
        Scheme::Https => true,
        Scheme::Other(_) => return err(ErrorCode::HTTP_PROTOCOL_ERROR),
    };
    let Some(authority) = req
        .authority
        .as_deref()
        .and_then(|a| http::uri::Authority::from_str(a).ok())
    else {
        return err(ErrorCode::HTTP_REQUEST_URI_INVALID);
    };
    let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let host = authority.host().to_string();
    if !s
        .shared
        .config
        .outgoing
        .allows(scheme.as_str(), &host, port)
    {
        tracing::warn!(
            request = s.id,
            "outgoing request to {}://{authority} denied: not in the allowed hosts",
            scheme.as_str()
        );
        return err(ErrorCode::HTTP_REQUEST_DENIED);
    }
    let Ok(permit) = s.outgoing.clone().try_acquire_owned() else {
        tracing::warn!(
            request = s.id,
            "outgoing request to {authority} refused: {} already in flight",
            s.shared.config.outgoing.max_concurrent
        );
        return err(ErrorCode::CONNECTION_LIMIT_REACHED);
    };
    let path = req.path_with_query.as_deref().unwrap_or("/");
    let Ok(path) = http::uri::PathAndQuery::from_str(if path.is_empty() { "/" } else { path })
    else {
        return err(ErrorCode::HTTP_REQUEST_URI_INVALID);
    };
    let body: HyperBody = match req.body.clone() {
        Some(pipe) => PipeBody(pipe).boxed_unsync(),
        None => {
            let cl = req
                .headers
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
            if cl.is_some_and(|n| n != 0) {
                return err(ErrorCode::request_body_size(Some(0)));
            }
            http_body_util::Empty::new()
                .map_err(|never| match never {})
                .boxed_unsync()
        }
    };
    let mut builder = http::Request::builder()
        .method(req.method.clone())
        .uri(path)
        .header(http::header::HOST, authority.as_str());
    for (k, v) in req.headers.iter() {
        builder = builder.header(k, v);
    }
    let request = match builder.body(body) {
        Ok(r) => r,
        Err(e) => return err(ErrorCode::internal(e.to_string())),
    };
    tracing::debug!(
        request = s.id,
        "outgoing {} {}://{authority}{}",
        req.method,
        scheme.as_str(),
        request.uri()
    );
    let slot: SharedResponse = Arc::default();
    let task_slot = slot.clone();
    let shared = s.shared.clone();
    let key = (tls, authority.to_string(), host, port);
    let max_body = shared.config.max_body_bytes;
    let task = tokio::spawn(async move {
        let result =
            send(&shared.client, key, request, options)
                .await
                .map(|(status, headers, body)| {
                    let pipe = InPipe::new(body, max_body, ErrorCode::response_body_size);
                    locked(&pipe).hold(Box::new(permit));
                    IncomingResponse {
                        status,
                        headers: Arc::new(headers),
                        body: Some(pipe),
                    }
                });
        let mut slot = locked(&task_slot);
        slot.result = Some(result);
        slot.done = true;
        if let Some(w) = slot.waker.take() {
            w.wake();
        }
    });
    let fut = FutureIncomingResponse {
        slot,
        taken: false,
        _task: Some(AbortOnDrop(task)),
    };
    let v = s.own(
        &R.future_incoming_response,
        Entry::FutureIncomingResponse(fut),
    )?;
    Ok(Some(ret::ok(v)))
}

// ---- the client ----

/// (tls, authority, host, port)
type Key = (bool, String, String, u16);
/// Idle connections are kept per (tls, authority).
type PoolKey = (bool, String);
/// An idle HTTP/1.1 connection.
type Sender = SendRequest<HyperBody>;

/// The hyper client of a handler: its TLS configuration and idle
/// connections by scheme + authority.
pub struct Client {
    tls: Arc<rustls::ClientConfig>,
    idle: Mutex<HashMap<PoolKey, Vec<Sender>>>,
}

impl Client {
    /// A client trusting the Mozilla roots and `policy.extra_roots`; an
    /// extra root that is not a usable certificate is an error.
    pub fn new(policy: &OutgoingPolicy) -> Result<Client, String> {
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.into(),
        };
        for der in &policy.extra_roots {
            roots
                .add(rustls::pki_types::CertificateDer::from(der.clone()))
                .map_err(|e| format!("not a usable root certificate: {e}"))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Client {
            tls: Arc::new(tls),
            idle: Mutex::default(),
        })
    }
}

/// The error-code of a failed TLS handshake.
fn tls_error(e: &std::io::Error) -> ErrorCode {
    match e.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
        Some(rustls::Error::InvalidCertificate(_)) => ErrorCode::TLS_CERTIFICATE_ERROR,
        _ => ErrorCode::TLS_PROTOCOL_ERROR,
    }
}

fn connect_error(e: &std::io::Error) -> ErrorCode {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => ErrorCode::CONNECTION_REFUSED,
        std::io::ErrorKind::TimedOut => ErrorCode::CONNECTION_TIMEOUT,
        std::io::ErrorKind::NotFound | std::io::ErrorKind::AddrNotAvailable => {
            ErrorCode::DESTINATION_NOT_FOUND
        }
        _ if e.to_string().contains("lookup") => ErrorCode::DESTINATION_NOT_FOUND,
        _ => ErrorCode::internal(format!("connect: {e}")),
    }
}

impl Client {
    fn take_idle(&self, key: &(bool, String)) -> Option<SendRequest<HyperBody>> {
        let mut idle = locked(&self.idle);
        let list = idle.get_mut(key)?;
        while let Some(s) = list.pop() {
            if !s.is_closed() && s.is_ready() {
                return Some(s);
            }
        }
        None
    }

    fn put_idle(&self, key: (bool, String), sender: SendRequest<HyperBody>) {
        if sender.is_closed() {
            return;
        }
        let mut idle = locked(&self.idle);
        let list = idle.entry(key).or_default();
        if list.len() < MAX_IDLE_PER_HOST {
            list.push(sender);
        }
    }

    async fn connect(
        &self,
        tls: bool,
        host: &str,
        port: u16,
    ) -> Result<SendRequest<HyperBody>, ErrorCode> {
        let host_port = if host.starts_with('[') {
            format!("{host}:{port}")
        } else if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let tcp = TcpStream::connect(&host_port)
            .await
            .map_err(|e| connect_error(&e))?;
        let _ = tcp.set_nodelay(true);
        if tls {
            let name = host.trim_start_matches('[').trim_end_matches(']');
            let name = rustls::pki_types::ServerName::try_from(name.to_string())
                .map_err(|_| ErrorCode::HTTP_REQUEST_URI_INVALID)?;
            let stream = tokio_rustls::TlsConnector::from(self.tls.clone())
                .connect(name, tcp)
                .await
                .map_err(|e| {
                    tracing::warn!("outgoing TLS to {host_port}: {e}");
                    tls_error(&e)
                })?;
            handshake(TokioIo::new(stream)).await
        } else {
            handshake(TokioIo::new(tcp)).await
        }
    }
}

async fn handshake<T>(io: T) -> Result<SendRequest<HyperBody>, ErrorCode>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| ErrorCode::from_hyper(&e))?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!("outgoing connection: {e}");
        }
    });
    Ok(sender)
}

async fn send(
    client: &Arc<Client>,
    (tls, authority, host, port): Key,
    request: http::Request<HyperBody>,
    options: RequestOptions,
) -> Result<(u16, http::HeaderMap, HyperBody), ErrorCode> {
    let connect_timeout = options.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT);
    let first_byte = options
        .first_byte_timeout
        .unwrap_or(DEFAULT_FIRST_BYTE_TIMEOUT);
    let between = options
        .between_bytes_timeout
        .unwrap_or(DEFAULT_BETWEEN_BYTES_TIMEOUT)
        .max(Duration::from_nanos(1));
    let pool_key = (tls, authority);
    let mut sender = match client.take_idle(&pool_key) {
        Some(s) => s,
        None => tokio::time::timeout(connect_timeout, client.connect(tls, &host, port))
            .await
            .map_err(|_| ErrorCode::CONNECTION_TIMEOUT)??,
    };
    let response = tokio::time::timeout(first_byte, sender.send_request(request))
        .await
        .map_err(|_| ErrorCode::CONNECTION_READ_TIMEOUT)?
        .map_err(|e| ErrorCode::from_hyper(&e))?;
    let (parts, incoming) = response.into_parts();
    let mut headers = parts.headers;
    strip_forbidden(&mut headers);
    let body = TimedBody {
        inner: incoming,
        between,
        sleep: Box::pin(tokio::time::sleep(between)),
        reuse: Some((client.clone(), pool_key, sender)),
    };
    Ok((parts.status.as_u16(), headers, body.boxed_unsync()))
}

/// A response body with a between-bytes timeout, returning its connection
/// to the idle pool when it ends cleanly.
struct TimedBody {
    inner: hyper::body::Incoming,
    between: Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
    reuse: Option<(Arc<Client>, PoolKey, Sender)>,
}

impl HttpBody for TimedBody {
    type Data = Bytes;
    type Error = ErrorCode;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ErrorCode>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(None) => {
                if let Some((client, key, sender)) = this.reuse.take() {
                    client.put_idle(key, sender);
                }
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => {
                this.reuse = None;
                Poll::Ready(Some(Err(ErrorCode::from_hyper(&e))))
            }
            Poll::Ready(Some(Ok(frame))) => {
                let deadline = tokio::time::Instant::now() + this.between;
                this.sleep.as_mut().reset(deadline);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => match this.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    this.reuse = None;
                    Poll::Ready(Some(Err(ErrorCode::CONNECTION_READ_TIMEOUT)))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_hosts() {
        let p = OutgoingPolicy {
            allowed_hosts: vec![
                "http://127.0.0.1:8080".parse().unwrap(),
                "https://Example.com".parse().unwrap(),
                "any.org".parse().unwrap(),
            ],
            ..OutgoingPolicy::default()
        };
        assert!(p.allows("http", "127.0.0.1", 8080));
        assert!(!p.allows("http", "127.0.0.1", 8081));
        assert!(!p.allows("https", "127.0.0.1", 8080));
        assert!(p.allows("https", "example.com", 443));
        assert!(p.allows("https", "example.com", 8443));
        assert!(!p.allows("http", "example.com", 80));
        assert!(p.allows("http", "any.org", 1));
        assert!(!OutgoingPolicy::default().allows("http", "127.0.0.1", 80));
        assert!("ftp://x".parse::<AllowedHost>().is_err());
        assert!("http://x/path".parse::<AllowedHost>().is_err());
        let star: AllowedHost = "*".parse().unwrap();
        assert!(star.allows("https", "anything", 1));
    }
}
