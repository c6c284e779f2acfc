//! `wasi:io/{poll, streams, error}`.
//!
//! Every blocking call checks whether it can proceed; if not, it asks the
//! engine to suspend the guest on a future that resolves when it may
//! ([`HostError::Suspend`]), and runs again. So blocking parks the request's
//! task, never a thread.
//!
//! A [`Pollable`] holds what it waits for as a [`Subscribe`]: each file
//! implements it for what can be waited on there (a body pipe here and in
//! `body.rs`, a deadline in `clocks.rs`, a response in `outgoing.rs`), with
//! shared state only, so a readiness future borrows nothing from the store.
//!
//! Body bytes cross here: `write` lifts `list<u8>` into a `Vec<u8>` (the one
//! copy out of guest memory) that becomes the `Bytes` hyper sends, and
//! `read` lowers the `Bytes` hyper received straight into guest memory
//! ([`GuestBytes`]).

use std::future::poll_fn;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use engine_abi::Trap;
use engine_abi::abi::typed::{self, Borrow, Own, VariantType};
use engine_abi::abi::{AbiContext, ComponentType, Lower, StaticLayout};
use engine_abi::engine::{CoreVal, HostError, Readiness};
use engine_abi::types::{Type, Variant};
use tokio::time::Instant;

use crate::error::ErrorCode;
use crate::pipe::{OUT_PIPE_CAPACITY, SharedIn, SharedOut, WriteError, locked};
use crate::state::State;
use crate::wit::Registry;

/// The most bytes `blocking-write-and-flush` accepts, per the WIT.
pub const MAX_BLOCKING_WRITE: usize = 4096;
/// The most bytes one `read` returns.
pub const MAX_READ: u64 = 1 << 20;
/// Longest line the guest's stdout/stderr buffer before logging it.
pub const MAX_LOG_LINE: usize = 16 * 1024;

const POLL: &str = "wasi:io/poll";
const STREAMS: &str = "wasi:io/streams";
const ERROR: &str = "wasi:io/error";

// ---- pollables ----

/// What a pollable waits for.
pub trait Subscribe: Send + Sync + 'static {
    /// Ready, or not yet (then `cx`'s waker is woken when it may be).
    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()>;

    /// When it becomes ready by itself, if it is a timer: [`wait_any`]
    /// sleeps until the earliest one rather than polling it (a timer's
    /// `poll_ready` only compares the time, and registers no waker).
    fn deadline(&self) -> Option<Instant> {
        None
    }
}

/// Always ready (a stream that never blocks: stdin, the log streams).
pub struct Ready;

impl Subscribe for Ready {
    fn poll_ready(&self, _: &mut Context<'_>) -> Poll<()> {
        Poll::Ready(())
    }
}

/// `wasi:io/poll.pollable`
#[derive(Clone)]
pub struct Pollable(Arc<dyn Subscribe>);
wit_resource!(Pollable, "wasi:io/poll@0.2.12", "pollable");

impl Pollable {
    /// A pollable waiting for `source`.
    pub fn new(source: impl Subscribe) -> Pollable {
        Pollable(Arc::new(source))
    }

    /// Whether it is ready now.
    pub fn is_ready(&self) -> bool {
        self.0
            .poll_ready(&mut Context::from_waker(Waker::noop()))
            .is_ready()
    }
}

/// A future that resolves when any of `pollables` may be ready.
pub fn wait_any(pollables: Vec<Pollable>) -> Readiness {
    let deadline = pollables.iter().filter_map(|p| p.0.deadline()).min();
    Box::pin(async move {
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        let others = poll_fn(|cx| {
            for p in &pollables {
                if p.0.deadline().is_none() && p.0.poll_ready(cx).is_ready() {
                    return Poll::Ready(());
                }
            }
            Poll::Pending
        });
        tokio::select! {
            _ = sleep => {},
            _ = others => {},
        }
    })
}

/// Add a pollable for `source` as a child of resource `parent` (it cannot
/// outlive what it watches) and hand it to the guest.
pub fn subscribe(
    s: &mut State,
    source: impl Subscribe,
    parent: u32,
) -> Result<Own<Pollable>, Trap> {
    s.own_child(Pollable::new(source), parent)
}

/// Ready when an input pipe has bytes, ended or failed.
struct Readable(SharedIn);

impl Subscribe for Readable {
    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        locked(&self.0).poll_fill(cx)
    }
}

/// Ready when an output pipe may be written (or is closed).
struct Writable(SharedOut);

impl Subscribe for Writable {
    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        locked(&self.0).poll_writable(cx)
    }
}

fn suspend(source: impl Subscribe) -> HostError {
    HostError::Suspend(wait_any(vec![Pollable::new(source)]))
}

// ---- streams and errors ----

/// `wasi:io/streams.input-stream`
pub enum InputStream {
    /// A body's bytes.
    Body(SharedIn),
    /// Always at its end (stdin).
    Empty,
}
wit_resource!(InputStream, "wasi:io/streams@0.2.12", "input-stream");

/// Where a log stream goes.
#[derive(Clone, Copy, Debug)]
pub enum LogTo {
    /// `wasi:cli/stdout`
    Stdout,
    /// `wasi:cli/stderr`
    Stderr,
}

/// `wasi:io/streams.output-stream`
pub enum OutputStream {
    /// A body's bytes.
    Body(SharedOut),
    /// The guest's stdout or stderr: lines go to the host's log.
    Log {
        /// Which stream.
        to: LogTo,
        /// The request id.
        request: u64,
        /// The incomplete last line.
        line: Vec<u8>,
    },
}
wit_resource!(OutputStream, "wasi:io/streams@0.2.12", "output-stream");

impl OutputStream {
    /// A log stream for `wasi:cli/stdout` or `stderr` of request `request`.
    pub fn log(to: LogTo, request: u64) -> OutputStream {
        OutputStream::Log {
            to,
            request,
            line: Vec::new(),
        }
    }

    fn log_line(to: LogTo, request: u64, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        let text = text.trim_end_matches(['\n', '\r']);
        match to {
            LogTo::Stdout => tracing::info!(target: "guest::stdout", request, "{text}"),
            LogTo::Stderr => tracing::warn!(target: "guest::stderr", request, "{text}"),
        }
    }

    fn write_log(to: LogTo, request: u64, line: &mut Vec<u8>, data: &[u8]) {
        line.extend_from_slice(data);
        while let Some(i) = line.iter().position(|&b| b == b'\n') {
            let rest = line.split_off(i + 1);
            OutputStream::log_line(to, request, line);
            *line = rest;
        }
        if line.len() > MAX_LOG_LINE {
            OutputStream::log_line(to, request, line);
            line.clear();
        }
    }
}

impl Drop for OutputStream {
    fn drop(&mut self) {
        if let OutputStream::Log { to, request, line } = self
            && !line.is_empty()
        {
            OutputStream::log_line(*to, *request, line);
        }
    }
}

/// `wasi:io/error.error`: a message and, for HTTP failures, an error-code.
pub struct IoError {
    /// For `to-debug-string`.
    pub message: String,
    /// For `wasi:http/types.http-error-code`.
    pub code: Option<ErrorCode>,
}
wit_resource!(IoError, "wasi:io/error@0.2.12", "error");

/// `wasi:io/streams.stream-error`
#[derive(Debug, PartialEq)]
pub enum StreamError {
    /// `last-operation-failed(error)`
    LastOperationFailed(Own<IoError>),
    /// `closed`
    Closed,
}

impl StreamError {
    /// The WIT's name of the case.
    #[cfg(test)]
    pub fn case(&self) -> &'static str {
        match self {
            StreamError::LastOperationFailed(_) => "last-operation-failed",
            StreamError::Closed => "closed",
        }
    }
}

impl ComponentType for StreamError {
    const LAYOUT: StaticLayout = StaticLayout::variant(&[Some(<Own<IoError>>::LAYOUT), None]);
    fn ty() -> Type {
        Type::Variant(Variant::new([
            ("last-operation-failed", Some(<Own<IoError>>::ty())),
            ("closed", None),
        ]))
    }
}

impl VariantType for StreamError {
    const CASES: u32 = 2;
    const NAME: &'static str = "stream-error";
}

impl Lower for StreamError {
    fn lower_flat<C: AbiContext + ?Sized>(
        &self,
        cx: &mut C,
        dst: &mut Vec<CoreVal>,
    ) -> Result<(), Trap> {
        match self {
            StreamError::LastOperationFailed(e) => {
                typed::lower_variant_flat::<Self, _, _>(cx, 0, e, dst)
            }
            StreamError::Closed => typed::lower_variant_flat::<Self, _, _>(cx, 1, &(), dst),
        }
    }

    fn store<C: AbiContext + ?Sized>(&self, cx: &mut C, ptr: u32) -> Result<(), Trap> {
        match self {
            StreamError::LastOperationFailed(e) => {
                typed::store_variant::<Self, _, _>(cx, 0, e, ptr)
            }
            StreamError::Closed => typed::store_variant::<Self, _, _>(cx, 1, &(), ptr),
        }
    }
}

/// Bytes for the guest, lowered as `list<u8>` straight from the `Bytes`
/// hyper received: one copy, into guest memory.
#[derive(Debug, PartialEq)]
pub struct GuestBytes(pub Bytes);

impl ComponentType for GuestBytes {
    const LAYOUT: StaticLayout = <[u8]>::LAYOUT;
    fn ty() -> Type {
        <[u8]>::ty()
    }
}

impl Lower for GuestBytes {
    fn lower_flat<C: AbiContext + ?Sized>(
        &self,
        cx: &mut C,
        dst: &mut Vec<CoreVal>,
    ) -> Result<(), Trap> {
        self.0[..].lower_flat(cx, dst)
    }

    fn store<C: AbiContext + ?Sized>(&self, cx: &mut C, ptr: u32) -> Result<(), Trap> {
        self.0[..].store(cx, ptr)
    }
}

type StreamResult<T> = Result<Result<T, StreamError>, HostError>;

/// `stream-error.last-operation-failed(error)`, with a new `error` for
/// `code`.
fn failed<T>(s: &mut State, code: ErrorCode) -> StreamResult<T> {
    let error = s.own(IoError {
        message: code.to_string(),
        code: Some(code),
    })?;
    Ok(Err(StreamError::LastOperationFailed(error)))
}

fn write_error<T>(s: &mut State, e: WriteError) -> StreamResult<T> {
    match e {
        WriteError::Closed => Ok(Err(StreamError::Closed)),
        WriteError::Failed(code) => failed(s, code),
    }
}

// ---- wasi:io/poll ----

/// `[method]pollable.ready`
fn pollable_ready(s: &mut State, (p,): (Borrow<Pollable>,)) -> Result<bool, HostError> {
    Ok(s.table.get::<Pollable>(p.rep())?.is_ready())
}

/// `[method]pollable.block`
fn pollable_block(s: &mut State, (p,): (Borrow<Pollable>,)) -> Result<(), HostError> {
    let p = s.table.get::<Pollable>(p.rep())?;
    if p.is_ready() {
        Ok(())
    } else {
        Err(HostError::Suspend(wait_any(vec![p.clone()])))
    }
}

/// `poll`: the indices of the ready pollables, blocking until one is.
fn poll(s: &mut State, (list,): (Vec<Borrow<Pollable>>,)) -> Result<Vec<u32>, HostError> {
    if list.is_empty() {
        return Err(Trap::host("wasi:io/poll.poll called with an empty list").into());
    }
    let mut pollables = Vec::with_capacity(list.len());
    let mut ready = Vec::new();
    for (i, p) in (0..).zip(&list) {
        let p = s.table.get::<Pollable>(p.rep())?;
        if p.is_ready() {
            ready.push(i);
        }
        pollables.push(p.clone());
    }
    if ready.is_empty() {
        return Err(HostError::Suspend(wait_any(pollables)));
    }
    Ok(ready)
}

// ---- wasi:io/error ----

/// `[method]error.to-debug-string`
fn error_to_debug_string(s: &mut State, (e,): (Borrow<IoError>,)) -> Result<String, HostError> {
    Ok(s.table.get::<IoError>(e.rep())?.message.clone())
}

// ---- input-stream ----

/// What a read of an input stream gives.
enum Got {
    Bytes(Bytes),
    Closed,
    Failed(ErrorCode),
}

/// Read up to `len` bytes of stream `rep` (suspending until some come, if
/// `blocking`).
fn read_stream(s: &mut State, rep: u32, len: u64, blocking: bool) -> Result<Got, HostError> {
    let len = len.min(MAX_READ) as usize;
    let pipe = match s.table.get::<InputStream>(rep)? {
        InputStream::Empty => return Ok(Got::Closed),
        InputStream::Body(p) => p,
    };
    let got = locked(pipe).read(len);
    match got {
        Ok(bytes) if bytes.is_empty() && len > 0 && blocking => {
            Err(suspend(Readable(pipe.clone())))
        }
        Ok(bytes) => Ok(Got::Bytes(bytes)),
        Err(None) => Ok(Got::Closed),
        Err(Some(code)) => Ok(Got::Failed(code)),
    }
}

fn read_impl(
    s: &mut State,
    (stream, len): (Borrow<InputStream>, u64),
    blocking: bool,
) -> StreamResult<GuestBytes> {
    match read_stream(s, stream.rep(), len, blocking)? {
        Got::Bytes(b) => Ok(Ok(GuestBytes(b))),
        Got::Closed => Ok(Err(StreamError::Closed)),
        Got::Failed(code) => failed(s, code),
    }
}

fn skip_impl(
    s: &mut State,
    (stream, len): (Borrow<InputStream>, u64),
    blocking: bool,
) -> StreamResult<u64> {
    match read_stream(s, stream.rep(), len, blocking)? {
        Got::Bytes(b) => Ok(Ok(b.len() as u64)),
        Got::Closed => Ok(Err(StreamError::Closed)),
        Got::Failed(code) => failed(s, code),
    }
}

/// `[method]input-stream.subscribe`
fn input_subscribe(
    s: &mut State,
    (stream,): (Borrow<InputStream>,),
) -> Result<Own<Pollable>, HostError> {
    let rep = stream.rep();
    let p = match s.table.get::<InputStream>(rep)? {
        InputStream::Empty => subscribe(s, Ready, rep)?,
        InputStream::Body(p) => {
            let p = p.clone();
            subscribe(s, Readable(p), rep)?
        }
    };
    Ok(p)
}

// ---- output-stream ----

/// How many bytes stream `rep` takes now.
fn permit(s: &mut State, rep: u32) -> Result<Result<usize, WriteError>, Trap> {
    Ok(match s.table.get::<OutputStream>(rep)? {
        OutputStream::Log { .. } => Ok(MAX_READ as usize),
        OutputStream::Body(p) => locked(p).permit(),
    })
}

/// `[method]output-stream.check-write`
fn check_write(s: &mut State, (stream,): (Borrow<OutputStream>,)) -> StreamResult<u64> {
    match permit(s, stream.rep())? {
        Ok(n) => Ok(Ok(n as u64)),
        Err(e) => write_error(s, e),
    }
}

/// Write `data` to stream `rep`: at most what `check-write` permits, or,
/// if `blocking`, suspending until the stream takes all of it.
fn write_bytes(s: &mut State, rep: u32, data: Bytes, blocking: bool) -> StreamResult<()> {
    let id = s.id;
    let max_log = s.shared.config.max_log_bytes;
    let budget = &mut s.log;
    let result = match s.table.get_mut::<OutputStream>(rep)? {
        OutputStream::Log { to, line, .. } => {
            // A guest that floods its log is cut off once, with one line
            // saying so; its writes still succeed.
            let n = data
                .len()
                .min(usize::try_from(budget.left).unwrap_or(usize::MAX));
            OutputStream::write_log(*to, id, line, &data[..n]);
            budget.left -= n as u64;
            if n < data.len() && !budget.cut {
                budget.cut = true;
                if !line.is_empty() {
                    OutputStream::log_line(*to, id, line);
                    line.clear();
                }
                tracing::warn!(
                    request = id,
                    "the guest wrote more than {max_log} bytes to stdout and stderr: \
                     the rest of this request's output is dropped"
                );
            }
            Ok(())
        }
        OutputStream::Body(p) => {
            let mut pipe = locked(p);
            match pipe.permit() {
                Ok(n) if n < data.len() => {
                    if blocking {
                        drop(pipe);
                        let p = p.clone();
                        let want = data.len();
                        return Err(HostError::Suspend(Box::pin(poll_fn(move |cx| {
                            locked(&p).poll_permit(cx, want)
                        }))));
                    }
                    return Err(Trap::host(format!(
                        "output-stream.write of {} bytes, more than check-write permitted ({n})",
                        data.len()
                    ))
                    .into());
                }
                Ok(_) => pipe.write(data),
                Err(e) => Err(e),
            }
        }
    };
    match result {
        Ok(()) => Ok(Ok(())),
        Err(e) => write_error(s, e),
    }
}

/// `[method]output-stream.write`: the lifted `Vec` becomes the body's
/// `Bytes` without another copy.
fn write(s: &mut State, (stream, data): (Borrow<OutputStream>, Vec<u8>)) -> StreamResult<()> {
    write_bytes(s, stream.rep(), Bytes::from(data), false)
}

/// `[method]output-stream.blocking-write-and-flush`
fn blocking_write_and_flush(
    s: &mut State,
    (stream, data): (Borrow<OutputStream>, Vec<u8>),
) -> StreamResult<()> {
    if data.len() > MAX_BLOCKING_WRITE {
        return Err(Trap::host(format!(
            "blocking-write-and-flush of {} bytes, more than {MAX_BLOCKING_WRITE}",
            data.len()
        ))
        .into());
    }
    write_bytes(s, stream.rep(), Bytes::from(data), true)
}

/// `[method]output-stream.write-zeroes`
fn write_zeroes(s: &mut State, (stream, len): (Borrow<OutputStream>, u64)) -> StreamResult<()> {
    let n = len.min(MAX_READ) as usize;
    write_bytes(s, stream.rep(), Bytes::from(vec![0; n]), false)
}

/// `[method]output-stream.blocking-write-zeroes-and-flush`
fn blocking_write_zeroes_and_flush(
    s: &mut State,
    (stream, len): (Borrow<OutputStream>, u64),
) -> StreamResult<()> {
    if len > MAX_BLOCKING_WRITE as u64 {
        return Err(Trap::host(format!(
            "blocking-write-zeroes-and-flush of {len} bytes, more than {MAX_BLOCKING_WRITE}"
        ))
        .into());
    }
    write_bytes(s, stream.rep(), Bytes::from(vec![0; len as usize]), true)
}

/// `[method]output-stream.flush`: bytes written are already handed to the
/// HTTP body; this only reports the stream's state.
fn flush(s: &mut State, (stream,): (Borrow<OutputStream>,)) -> StreamResult<()> {
    match permit(s, stream.rep())? {
        Ok(_) => Ok(Ok(())),
        Err(e) => write_error(s, e),
    }
}

/// `[method]output-stream.blocking-flush`: waits until the HTTP body took
/// everything queued.
fn blocking_flush(s: &mut State, (stream,): (Borrow<OutputStream>,)) -> StreamResult<()> {
    let permit = match s.table.get::<OutputStream>(stream.rep())? {
        OutputStream::Log { .. } => Ok(0),
        OutputStream::Body(p) => {
            let pipe = locked(p);
            match pipe.permit() {
                Ok(n) if n < OUT_PIPE_CAPACITY => {
                    drop(pipe);
                    let p = p.clone();
                    return Err(HostError::Suspend(Box::pin(poll_fn(move |cx| {
                        locked(&p).poll_drained(cx)
                    }))));
                }
                other => other,
            }
        }
    };
    match permit {
        Ok(_) => Ok(Ok(())),
        Err(e) => write_error(s, e),
    }
}

/// `[method]output-stream.subscribe`
fn output_subscribe(
    s: &mut State,
    (stream,): (Borrow<OutputStream>,),
) -> Result<Own<Pollable>, HostError> {
    let rep = stream.rep();
    let p = match s.table.get::<OutputStream>(rep)? {
        OutputStream::Log { .. } => subscribe(s, Ready, rep)?,
        OutputStream::Body(p) => {
            let p = p.clone();
            subscribe(s, Writable(p), rep)?
        }
    };
    Ok(p)
}

/// `splice` and `blocking-splice`: read from `src` at most what `dst`
/// permits, and write it.
fn splice_impl(
    s: &mut State,
    (dst, src, len): (Borrow<OutputStream>, Borrow<InputStream>, u64),
    blocking: bool,
) -> StreamResult<u64> {
    let (out, input) = (dst.rep(), src.rep());
    let len = len.min(MAX_READ) as usize;
    let permit = match s.table.get::<OutputStream>(out)? {
        OutputStream::Log { .. } => Ok(len),
        OutputStream::Body(p) => {
            let permit = locked(p).permit();
            if blocking && len > 0 && matches!(permit, Ok(0)) {
                return Err(suspend(Writable(p.clone())));
            }
            permit
        }
    };
    let n = match permit {
        Ok(n) => len.min(n),
        Err(e) => return write_error(s, e),
    };
    match read_stream(s, input, n as u64, blocking)? {
        Got::Bytes(bytes) => {
            let count = bytes.len() as u64;
            Ok(write_bytes(s, out, bytes, false)?.map(|()| count))
        }
        Got::Closed => Ok(Err(StreamError::Closed)),
        Got::Failed(code) => failed(s, code),
    }
}

/// Register `wasi:io/{poll, error, streams}`.
pub fn register(r: &mut Registry<'_>) {
    r.resource::<Pollable>();
    r.resource::<IoError>();
    r.resource::<InputStream>();
    r.resource::<OutputStream>();

    r.typed(POLL, "[method]pollable.ready", pollable_ready);
    r.blocking(POLL, "[method]pollable.block", pollable_block);
    r.blocking(POLL, "poll", poll);

    r.typed(
        ERROR,
        "[method]error.to-debug-string",
        error_to_debug_string,
    );

    r.typed(STREAMS, "[method]input-stream.read", |s, a| {
        read_impl(s, a, false)
    });
    r.blocking(STREAMS, "[method]input-stream.blocking-read", |s, a| {
        read_impl(s, a, true)
    });
    r.typed(STREAMS, "[method]input-stream.skip", |s, a| {
        skip_impl(s, a, false)
    });
    r.blocking(STREAMS, "[method]input-stream.blocking-skip", |s, a| {
        skip_impl(s, a, true)
    });
    r.typed(STREAMS, "[method]input-stream.subscribe", input_subscribe);

    r.typed(STREAMS, "[method]output-stream.check-write", check_write);
    r.typed(STREAMS, "[method]output-stream.write", write);
    r.blocking(
        STREAMS,
        "[method]output-stream.blocking-write-and-flush",
        blocking_write_and_flush,
    );
    r.typed(STREAMS, "[method]output-stream.flush", flush);
    r.blocking(
        STREAMS,
        "[method]output-stream.blocking-flush",
        blocking_flush,
    );
    r.typed(STREAMS, "[method]output-stream.subscribe", output_subscribe);
    r.typed(STREAMS, "[method]output-stream.write-zeroes", write_zeroes);
    r.blocking(
        STREAMS,
        "[method]output-stream.blocking-write-zeroes-and-flush",
        blocking_write_zeroes_and_flush,
    );
    r.typed(STREAMS, "[method]output-stream.splice", |s, a| {
        splice_impl(s, a, false)
    });
    r.blocking(STREAMS, "[method]output-stream.blocking-splice", |s, a| {
        splice_impl(s, a, true)
    });
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;

    use super::*;
    use crate::pipe::{InPipe, OutPipe, PipeBody};
    use crate::testcx::{TestCx, check_labels, check_lowering, state, wit_type};
    use engine_abi::abi::typed::HostResource;
    use engine_abi::abi::{Resource, Val};
    use http_body::Body as _;
    use http_body_util::BodyExt;

    #[test]
    fn a_log_flood_is_cut_off_once_and_writes_still_succeed() {
        let mut s = state();
        s.log.left = 10;
        let rep = s.table.push(OutputStream::log(LogTo::Stdout, 0)).unwrap();
        let write = |s: &mut State, data: &'static [u8]| {
            write_bytes(s, rep, Bytes::from_static(data), false).is_ok()
        };
        assert!(write(&mut s, b"01234"));
        assert_eq!((s.log.left, s.log.cut), (5, false));
        assert!(write(&mut s, b"56789abcdef\n"));
        assert_eq!((s.log.left, s.log.cut), (0, true));
        assert!(write(&mut s, b"more\n"));
        assert_eq!((s.log.left, s.log.cut), (0, true));
        // What was cut is not kept either.
        let Ok(OutputStream::Log { line, .. }) = s.table.get::<OutputStream>(rep) else {
            panic!("a log stream")
        };
        assert!(line.is_empty());
    }

    #[test]
    fn stream_error_is_the_wits() {
        assert_eq!(StreamError::ty(), wit_type(STREAMS, "stream-error"));
        let failed = StreamError::LastOperationFailed(Own::new(5));
        let all = [failed, StreamError::Closed];
        check_labels(&all, StreamError::case);
        let error = Val::Own(Resource {
            ty: IoError::resource_type(),
            rep: 5,
        });
        for (e, payload) in all.into_iter().zip([Some(error), None]) {
            let v = Val::Variant(e.case().into(), payload.map(Box::new));
            check_lowering(&e, &v);
            let r: Result<GuestBytes, StreamError> = Err(e);
            check_lowering(&r, &Val::Result(Err(Some(Box::new(v)))));
        }
        let bytes = Bytes::from_static(b"\x00body\xff");
        let r: Result<GuestBytes, StreamError> = Ok(GuestBytes(bytes.clone()));
        check_lowering(
            &r,
            &Val::Result(Ok(Some(Box::new(Val::Bytes(bytes.to_vec()))))),
        );
    }

    /// The bytes a guest writes are copied once, out of its memory, by the
    /// lift; the `Bytes` the HTTP body yields is that very allocation.
    #[test]
    fn written_bytes_are_copied_once() {
        let mut s = state();
        let pipe = OutPipe::new(None, u64::MAX, ErrorCode::response_body_size);
        let rep = s.table.push(OutputStream::Body(pipe.clone())).unwrap();
        let mut cx = TestCx::new();
        let handle = cx.give(Resource {
            ty: OutputStream::resource_type(),
            rep,
        });
        let data: Vec<u8> = (0..OUT_PIPE_CAPACITY).map(|i| (i % 251) as u8).collect();
        let ptr = cx.alloc(1, data.len() as u32);
        cx.poke(ptr, &data);
        let flat = [handle, ptr, data.len() as u32].map(|v| CoreVal::I32(v as i32));
        let args: (Borrow<OutputStream>, Vec<u8>) = typed::lift_args(&mut cx, &flat).unwrap();
        let lifted_at = args.1.as_ptr();
        assert_eq!(write(&mut s, args).unwrap(), Ok(()));

        let mut body = PipeBody(pipe);
        let mut cx = Context::from_waker(Waker::noop());
        let Poll::Ready(Some(Ok(frame))) = Pin::new(&mut body).poll_frame(&mut cx) else {
            panic!("the body has a frame");
        };
        let chunk = frame.into_data().unwrap();
        assert_eq!(chunk, data);
        assert_eq!(
            chunk.as_ptr(),
            lifted_at,
            "the body's bytes were copied again"
        );
    }

    /// The bytes a guest reads are the `Bytes` hyper received, lowered
    /// straight into guest memory.
    #[test]
    fn read_bytes_are_lowered_from_the_received_bytes() {
        let mut s = state();
        let received = Bytes::from(vec![7u8; 1000]);
        let body = http_body_util::Full::new(received.clone())
            .map_err(|never| match never {})
            .boxed_unsync();
        let pipe = InPipe::new(body, u64::MAX, ErrorCode::request_body_size);
        let rep = s.table.push(InputStream::Body(pipe)).unwrap();
        let Ok(Ok(GuestBytes(first))) = read_impl(&mut s, (Borrow::new(rep), 600), false) else {
            panic!("a read of a full body gives bytes");
        };
        assert_eq!(
            first.as_ptr(),
            received.as_ptr(),
            "the read copied the bytes"
        );
        let Ok(Ok(GuestBytes(rest))) = read_impl(&mut s, (Borrow::new(rep), 600), false) else {
            panic!("the rest of the body");
        };
        assert_eq!(rest.len(), 400);
        assert!(matches!(
            read_impl(&mut s, (Borrow::new(rep), 600), false),
            Ok(Err(StreamError::Closed))
        ));

        let mut cx = TestCx::new();
        let mut flat = Vec::new();
        GuestBytes(first.clone())
            .lower_flat(&mut cx, &mut flat)
            .unwrap();
        assert_eq!(cx.reallocs.len(), 1, "one allocation in the guest");
        let [CoreVal::I32(at), CoreVal::I32(len)] = flat[..] else {
            panic!("a pointer and a length");
        };
        assert_eq!(&cx.mem[at as usize..][..len as usize], &first[..]);
    }

    #[test]
    fn polls_and_blocks() {
        let mut s = state();
        let pipe = OutPipe::new(None, u64::MAX, ErrorCode::response_body_size);
        let out = s.table.push(OutputStream::Body(pipe.clone())).unwrap();
        let ready = output_subscribe(&mut s, (Borrow::new(out),)).unwrap();
        assert!(pollable_ready(&mut s, (Borrow::new(ready.rep()),)).unwrap());
        // Fill the pipe: not writable, so blocking suspends.
        let full = vec![0; OUT_PIPE_CAPACITY];
        assert_eq!(write(&mut s, (Borrow::new(out), full)).unwrap(), Ok(()));
        assert!(!pollable_ready(&mut s, (Borrow::new(ready.rep()),)).unwrap());
        assert!(matches!(
            pollable_block(&mut s, (Borrow::new(ready.rep()),)),
            Err(HostError::Suspend(_))
        ));
        assert!(matches!(
            poll(&mut s, (vec![Borrow::new(ready.rep())],)),
            Err(HostError::Suspend(_))
        ));
        // A write past the permit is a trap, a blocking one suspends.
        assert!(matches!(
            write(&mut s, (Borrow::new(out), vec![1])),
            Err(HostError::Trap(_))
        ));
        assert!(matches!(
            blocking_write_and_flush(&mut s, (Borrow::new(out), vec![1])),
            Err(HostError::Suspend(_))
        ));
        // The stream cannot go while its pollable lives.
        assert!(s.table.take::<OutputStream>(out).is_err());
        // The reader gone, the stream is closed, and ready.
        drop(PipeBody(pipe));
        assert_eq!(
            check_write(&mut s, (Borrow::new(out),)).unwrap(),
            Err(StreamError::Closed)
        );
        assert_eq!(
            poll(&mut s, (vec![Borrow::new(ready.rep())],)).unwrap(),
            [0]
        );
        s.table.take::<Pollable>(ready.rep()).unwrap();
        s.table.take::<OutputStream>(out).unwrap();
        // An empty poll is a trap.
        assert!(matches!(poll(&mut s, (vec![],)), Err(HostError::Trap(_))));
    }
}
