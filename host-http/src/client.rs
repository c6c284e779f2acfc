//! The hyper client outgoing requests go through (no WIT of its own:
//! `wasi:http/outgoing-handler` uses it): http, and https with rustls,
//! verified against the Mozilla roots (webpki-roots) plus any the policy
//! adds; idle HTTP/1.1 connections kept per scheme + authority and reused;
//! connect, first-byte and between-bytes timeouts.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame};
use http_body_util::BodyExt;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::config::{OutgoingPolicy, OutgoingTimeouts};
use crate::error::ErrorCode;
use crate::pipe::{HyperBody, locked};

/// Idle connections kept per scheme + authority.
pub const MAX_IDLE_PER_HOST: usize = 8;

/// The timeouts a guest asked for one outgoing request
/// (`wasi:http/types.request-options`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Timeouts {
    /// Connecting (TCP and TLS).
    pub connect: Option<Duration>,
    /// From sending the request to the response head.
    pub first_byte: Option<Duration>,
    /// Between body chunks of the response.
    pub between_bytes: Option<Duration>,
}

impl Timeouts {
    /// What the guest asked, each within the policy's ceiling (unset: the
    /// ceiling itself).
    pub fn within(self, ceiling: OutgoingTimeouts) -> OutgoingTimeouts {
        let cap = |asked: Option<Duration>, max: Duration| asked.map_or(max, |a| a.min(max));
        OutgoingTimeouts {
            connect: cap(self.connect, ceiling.connect),
            first_byte: cap(self.first_byte, ceiling.first_byte),
            between_bytes: cap(self.between_bytes, ceiling.between_bytes),
        }
    }
}

/// (tls, authority, host, port)
pub type Key = (bool, String, String, u16);

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

/// Send `request` on an idle connection to its host or a new one, within
/// `timeouts`: the response's status, headers (as received) and
/// body (returning its connection to the pool when it ends cleanly).
pub async fn send(
    client: &Arc<Client>,
    (tls, authority, host, port): Key,
    request: http::Request<HyperBody>,
    timeouts: OutgoingTimeouts,
) -> Result<(u16, http::HeaderMap, HyperBody), ErrorCode> {
    let connect_timeout = timeouts.connect;
    let first_byte = timeouts.first_byte;
    let between = timeouts.between_bytes.max(Duration::from_nanos(1));
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
    let headers = parts.headers;
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
