//! `wasi:http/types.{incoming-body, outgoing-body, future-trailers}`: the
//! resources that own a body's pipe ([`crate::pipe`], whose state machines
//! are documented there) and hand out its stream.
//!
//! An incoming body hands out one `input-stream` (a child: the body cannot
//! be finished while it lives); `finish` turns it into its trailers'
//! future. An outgoing body hands out one `output-stream` (a child too);
//! `finish` ends the HTTP body with the trailers, and dropping it unfinished
//! aborts the HTTP body.

use std::task::{Context, Poll};

use engine_abi::abi::typed::{Borrow, Own};
use engine_abi::engine::HostError;

use crate::error::ErrorCode;
use crate::fields::Fields;
use crate::io::{InputStream, OutputStream, Pollable, Subscribe, subscribe};
use crate::pipe::{SharedIn, SharedOut, locked};
use crate::state::State;
use crate::wit::Registry;

const HTTP: &str = "wasi:http/types";

/// `wasi:http/types.incoming-body`
pub struct IncomingBody {
    /// The body's bytes.
    pub pipe: SharedIn,
    /// Whether `stream` was called.
    pub stream_taken: bool,
}
wit_resource!(IncomingBody, "wasi:http/types@0.2.12", "incoming-body");

impl IncomingBody {
    /// A body reading `pipe`.
    pub fn new(pipe: SharedIn) -> IncomingBody {
        IncomingBody {
            pipe,
            stream_taken: false,
        }
    }
}

/// `wasi:http/types.outgoing-body`: dropped without `finish`, it aborts the
/// body.
pub struct OutgoingBody {
    /// The body's bytes.
    pub pipe: SharedOut,
    /// Whether `write` was called.
    pub stream_taken: bool,
    /// Whether this is a response body (for error-codes).
    pub response: bool,
}
wit_resource!(OutgoingBody, "wasi:http/types@0.2.12", "outgoing-body");

impl OutgoingBody {
    /// A body writing `pipe`; `response` says whether it is a response's.
    pub fn new(pipe: SharedOut, response: bool) -> OutgoingBody {
        OutgoingBody {
            pipe,
            stream_taken: false,
            response,
        }
    }
}

impl Drop for OutgoingBody {
    fn drop(&mut self) {
        locked(&self.pipe).abort(ErrorCode::internal(if self.response {
            "the guest dropped the response body without finishing it"
        } else {
            "the guest dropped the request body without finishing it"
        }));
    }
}

/// `wasi:http/types.future-trailers`
pub struct FutureTrailers {
    /// The body whose trailers these are.
    pub pipe: SharedIn,
    /// Whether `get` already returned them.
    pub consumed: bool,
}
wit_resource!(FutureTrailers, "wasi:http/types@0.2.12", "future-trailers");

/// Ready when the body ended (its trailers known).
struct TrailersReady(SharedIn);

impl Subscribe for TrailersReady {
    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        locked(&self.0).poll_end(cx)
    }
}

// ---- incoming-body ----

/// `[method]incoming-body.stream`
fn incoming_stream(
    s: &mut State,
    (body,): (Borrow<IncomingBody>,),
) -> Result<Result<Own<InputStream>, ()>, HostError> {
    let rep = body.rep();
    let b = s.table.get_mut::<IncomingBody>(rep)?;
    if b.stream_taken {
        return Ok(Err(()));
    }
    b.stream_taken = true;
    let pipe = b.pipe.clone();
    Ok(Ok(s.own_child(InputStream::Body(pipe), rep)?))
}

/// `[static]incoming-body.finish`
fn incoming_finish(
    s: &mut State,
    (body,): (Own<IncomingBody>,),
) -> Result<Own<FutureTrailers>, HostError> {
    let b = s.table.take::<IncomingBody>(body.rep())?;
    Ok(s.own(FutureTrailers {
        pipe: b.pipe,
        consumed: false,
    })?)
}

// ---- future-trailers ----

/// `[method]future-trailers.subscribe`
fn trailers_subscribe(
    s: &mut State,
    (f,): (Borrow<FutureTrailers>,),
) -> Result<Own<Pollable>, HostError> {
    let pipe = s.table.get::<FutureTrailers>(f.rep())?.pipe.clone();
    Ok(subscribe(s, TrailersReady(pipe), f.rep())?)
}

/// What `future-trailers.get` returns:
/// `option<result<result<option<trailers>, error-code>>>`.
type TrailersResult = Option<Result<Result<Option<Own<Fields>>, ErrorCode>, ()>>;

/// `[method]future-trailers.get`
fn trailers_get(
    s: &mut State,
    (f,): (Borrow<FutureTrailers>,),
) -> Result<TrailersResult, HostError> {
    let f = s.table.get_mut::<FutureTrailers>(f.rep())?;
    if f.consumed {
        return Ok(Some(Err(())));
    }
    let Some(result) = locked(&f.pipe).try_trailers() else {
        return Ok(None);
    };
    f.consumed = true;
    let inner = match result {
        Ok(None) => Ok(None),
        Ok(Some(t)) => Ok(Some(s.own(Fields::immutable(t))?)),
        Err(e) => Err(e),
    };
    Ok(Some(Ok(inner)))
}

// ---- outgoing-body ----

/// `[method]outgoing-body.write`
fn outgoing_write(
    s: &mut State,
    (body,): (Borrow<OutgoingBody>,),
) -> Result<Result<Own<OutputStream>, ()>, HostError> {
    let rep = body.rep();
    let b = s.table.get_mut::<OutgoingBody>(rep)?;
    if b.stream_taken {
        return Ok(Err(()));
    }
    b.stream_taken = true;
    let pipe = b.pipe.clone();
    Ok(Ok(s.own_child(OutputStream::Body(pipe), rep)?))
}

/// `[static]outgoing-body.finish`
fn outgoing_finish(
    s: &mut State,
    (body, trailers): (Own<OutgoingBody>, Option<Own<Fields>>),
) -> Result<Result<(), ErrorCode>, HostError> {
    let body = s.table.take::<OutgoingBody>(body.rep())?;
    let trailers = match trailers {
        Some(t) => Some(s.table.take::<Fields>(t.rep())?.into_map()),
        None => None,
    };
    let result = locked(&body.pipe).finish(trailers);
    drop(body);
    Ok(result)
}

/// Register `wasi:http/types.{incoming-body, outgoing-body, future-trailers}`.
pub fn register(r: &mut Registry<'_>) {
    r.resource::<IncomingBody>();
    r.resource::<OutgoingBody>();
    r.resource::<FutureTrailers>();
    r.typed(HTTP, "[method]incoming-body.stream", incoming_stream);
    r.typed(HTTP, "[static]incoming-body.finish", incoming_finish);
    r.typed(
        HTTP,
        "[method]future-trailers.subscribe",
        trailers_subscribe,
    );
    r.typed(HTTP, "[method]future-trailers.get", trailers_get);
    r.typed(HTTP, "[method]outgoing-body.write", outgoing_write);
    r.typed(HTTP, "[static]outgoing-body.finish", outgoing_finish);
}
