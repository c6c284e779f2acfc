//! `wasi:http/outgoing-handler` and `wasi:http/types.future-incoming-response`:
//! the guest's outgoing requests, through the hyper client of
//! [`crate::client`] (http, and https with rustls), under the handler's
//! outgoing policy:
//!
//! - an **allowed-hosts list** (default: nothing allowed); a request to any
//!   other host gets `HTTP-request-denied` and a log line;
//! - a **cap on concurrent outgoing requests** per request's instance; past
//!   it, `connection-limit-reached`. A request holds its slot until its
//!   response body is dropped;
//! - `request-options` timeouts: connect, first byte, between bytes, each
//!   within the policy's ceiling ([`crate::OutgoingTimeouts`]: what an
//!   unset one gets, and the most a guest may ask for);
//! - idle HTTP/1.1 connections are kept per scheme + authority and reused;
//! - https servers are verified against the Mozilla roots (webpki-roots)
//!   plus any the policy adds (a private CA); a certificate that does not
//!   verify gets `TLS-certificate-error`.

use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use engine_abi::abi::typed::{Borrow, Own};
use engine_abi::engine::HostError;
use http_body_util::BodyExt;
use tokio::task::JoinHandle;

use crate::client::{Timeouts, send};
use crate::error::ErrorCode;
use crate::fields::strip_forbidden;
use crate::io::{Pollable, Subscribe, subscribe};
use crate::pipe::{HyperBody, InPipe, PipeBody, locked};
use crate::state::State;
use crate::types_impl::{IncomingResponse, OutgoingRequest, RequestOptions, Scheme};
use crate::wit::Registry;

// ---- the response slot and its future ----

/// Where a spawned outgoing request puts its response.
#[derive(Default)]
struct ResponseSlot {
    result: Option<Result<IncomingResponse, ErrorCode>>,
    done: bool,
    waker: Option<Waker>,
}

/// A shared response slot.
type SharedResponse = Arc<Mutex<ResponseSlot>>;

/// Ready when the response (or its error) arrived.
struct ResponseReady(SharedResponse);

impl Subscribe for ResponseReady {
    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut s = locked(&self.0);
        if s.done {
            Poll::Ready(())
        } else {
            s.waker = Some(cx.waker().clone());
            Poll::Pending
        }
    }
}

/// A task aborted when dropped.
struct AbortOnDrop(JoinHandle<()>);

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
wit_resource!(
    FutureIncomingResponse,
    "wasi:http/types@0.2.12",
    "future-incoming-response"
);

/// `[method]future-incoming-response.subscribe`
fn future_subscribe(
    s: &mut State,
    (f,): (Borrow<FutureIncomingResponse>,),
) -> Result<Own<Pollable>, HostError> {
    let slot = s.table.get::<FutureIncomingResponse>(f.rep())?.slot.clone();
    Ok(subscribe(s, ResponseReady(slot), f.rep())?)
}

/// What `future-incoming-response.get` returns:
/// `option<result<result<incoming-response, error-code>>>`.
type FutureResult = Option<Result<Result<Own<IncomingResponse>, ErrorCode>, ()>>;

/// `[method]future-incoming-response.get`
fn future_get(
    s: &mut State,
    (f,): (Borrow<FutureIncomingResponse>,),
) -> Result<FutureResult, HostError> {
    let f = s.table.get_mut::<FutureIncomingResponse>(f.rep())?;
    if f.taken {
        return Ok(Some(Err(())));
    }
    let mut slot = locked(&f.slot);
    if !slot.done {
        return Ok(None);
    }
    let result = slot.result.take();
    drop(slot);
    f.taken = true;
    let inner = match result {
        Some(Ok(resp)) => Ok(s.own(resp)?),
        Some(Err(e)) => Err(e),
        None => Err(ErrorCode::internal("response lost")),
    };
    Ok(Some(Ok(inner)))
}

// ---- outgoing-handler.handle ----

/// `wasi:http/outgoing-handler.handle`
fn handle(
    s: &mut State,
    (req, options): (Own<OutgoingRequest>, Option<Own<RequestOptions>>),
) -> Result<Result<Own<FutureIncomingResponse>, ErrorCode>, HostError> {
    let req = s.table.take::<OutgoingRequest>(req.rep())?;
    let asked = match options {
        Some(o) => s.table.take::<RequestOptions>(o.rep())?.0,
        None => Timeouts::default(),
    };
    let timeouts = asked.within(s.shared.config.outgoing.timeouts);
    let err = |e: ErrorCode| Ok(Err(e));
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
        let result = send(&shared.client, key, request, timeouts).await.map(
            |(status, mut headers, body)| {
                strip_forbidden(&mut headers);
                let pipe = InPipe::new(body, max_body, ErrorCode::response_body_size);
                locked(&pipe).hold(Box::new(permit));
                IncomingResponse {
                    status,
                    headers: Arc::new(headers),
                    body: Some(pipe),
                }
            },
        );
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
    Ok(Ok(s.own(fut)?))
}

/// Register `wasi:http/outgoing-handler` and
/// `wasi:http/types.future-incoming-response`.
pub fn register(r: &mut Registry<'_>) {
    const HTTP: &str = "wasi:http/types";
    r.resource::<FutureIncomingResponse>();
    r.typed(
        HTTP,
        "[method]future-incoming-response.subscribe",
        future_subscribe,
    );
    r.typed(HTTP, "[method]future-incoming-response.get", future_get);
    r.typed("wasi:http/outgoing-handler", "handle", handle);
}
