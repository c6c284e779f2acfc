//! The pipes that carry body bytes between hyper and the guest's streams
//! (no WIT of their own: `wasi:io/streams` reads and writes them, the
//! bodies of `wasi:http/types` own them).
//!
//! # Incoming bodies (request bodies into the guest, responses of outgoing
//! requests)
//!
//! An [`InPipe`] owns the hyper body and is *pulled*: the guest's `read`
//! polls the body (with a no-op waker), and a guest waiting on the stream's
//! pollable polls it with the task's waker. So hyper reads from the socket
//! only as fast as the guest consumes: backpressure without a buffer or a
//! task. Its state, [`InState`]:
//!
//! ```text
//! Open ──data──▶ Open (bytes buffered until read)
//!   │ ──trailers frame──▶ Open (trailers kept)
//!   └──end──▶ Done   └──error / size limit──▶ Failed(error-code) ──reported──▶ Done
//! ```
//!
//! # Outgoing bodies (the guest's response body, bodies of outgoing requests)
//!
//! An [`OutPipe`] is a bounded queue of chunks: the guest writes (at most
//! `check-write` bytes, [`OUT_PIPE_CAPACITY`] minus what is queued) and hyper
//! takes chunks through [`PipeBody`]. Its state, [`OutState`]:
//!
//! ```text
//! Open ──outgoing-body.finish(trailers)──▶ Finished (then trailers, then end)
//!   └──outgoing-body dropped unfinished / guest trapped / size mismatch──▶ Aborted (hyper sees an error)
//! ```
//!
//! An outgoing body is dropped unfinished when the guest drops it without
//! `finish`, or traps: the HTTP body then ends with an error, so hyper aborts
//! the connection (HTTP/1.1 has no other way to say "incomplete").

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;

use crate::error::ErrorCode;

/// A boxed body of bytes whose errors are error-codes.
pub type HyperBody = UnsyncBoxBody<Bytes, ErrorCode>;

/// Most bytes queued in an outgoing pipe: `check-write` permits up to this.
pub const OUT_PIPE_CAPACITY: usize = 64 * 1024;

/// Lock a pipe. A panic while it was locked leaves nothing half-done
/// that matters more than serving on, so a poisoned lock is taken as is.
pub fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The state of an incoming pipe.
#[derive(Debug, Clone, PartialEq)]
pub enum InState {
    /// More frames may come.
    Open,
    /// The body ended (its trailers, if any, were received).
    Done,
    /// The body failed; the next read reports it, then the stream is closed.
    Failed(ErrorCode),
}

/// An incoming body, pulled from hyper by the guest.
pub struct InPipe {
    body: Option<HyperBody>,
    buf: Bytes,
    trailers: Option<HeaderMap>,
    state: InState,
    received: u64,
    limit: u64,
    too_big: fn(Option<u64>) -> ErrorCode,
    /// Held while the body is alive (e.g. an outgoing-request slot).
    _guard: Option<Box<dyn Send>>,
}

/// A shared incoming pipe.
pub type SharedIn = Arc<Mutex<InPipe>>;

impl InPipe {
    /// A pipe over `body`, failing with `too_big` past `limit` bytes.
    pub fn new(body: HyperBody, limit: u64, too_big: fn(Option<u64>) -> ErrorCode) -> SharedIn {
        Arc::new(Mutex::new(InPipe {
            body: Some(body),
            buf: Bytes::new(),
            trailers: None,
            state: InState::Open,
            received: 0,
            limit,
            too_big,
            _guard: None,
        }))
    }

    /// Keep `guard` alive as long as this pipe.
    pub fn hold(&mut self, guard: Box<dyn Send>) {
        self._guard = Some(guard);
    }

    /// Make progress until bytes are buffered or the body ended or failed.
    pub fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if !self.buf.is_empty() || self.state != InState::Open {
                return Poll::Ready(());
            }
            let Some(body) = self.body.as_mut() else {
                self.state = InState::Done;
                continue;
            };
            match Pin::new(body).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => {
                    self.body = None;
                    self.state = InState::Done;
                }
                Poll::Ready(Some(Err(e))) => {
                    self.body = None;
                    self.state = InState::Failed(e);
                }
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => {
                        self.received += data.len() as u64;
                        if self.received > self.limit {
                            self.body = None;
                            self.state = InState::Failed((self.too_big)(Some(self.received)));
                        } else {
                            self.buf = data;
                        }
                    }
                    Err(frame) => {
                        if let Ok(t) = frame.into_trailers() {
                            match &mut self.trailers {
                                Some(all) => all.extend(t),
                                None => self.trailers = Some(t),
                            }
                        }
                    }
                },
            }
        }
    }

    /// Poll once without a waker: whatever is available now.
    pub fn try_fill(&mut self) -> bool {
        self.poll_fill(&mut Context::from_waker(Waker::noop()))
            .is_ready()
    }

    /// Make progress until the body ended or failed, discarding its data.
    pub fn poll_end(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            match self.poll_fill(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(()) => {
                    if self.state != InState::Open {
                        self.buf.clear();
                        return Poll::Ready(());
                    }
                    self.buf.clear();
                }
            }
        }
    }

    /// Read up to `n` bytes of what is available now: empty if nothing is;
    /// `Err(None)` at the end, `Err(Some(code))` once if the body failed.
    pub fn read(&mut self, n: usize) -> Result<Bytes, Option<ErrorCode>> {
        self.try_fill();
        if !self.buf.is_empty() {
            let n = n.min(self.buf.len());
            return Ok(self.buf.split_to(n));
        }
        match std::mem::replace(&mut self.state, InState::Open) {
            InState::Open => Ok(Bytes::new()),
            InState::Done => {
                self.state = InState::Done;
                Err(None)
            }
            InState::Failed(e) => {
                self.state = InState::Done;
                Err(Some(e))
            }
        }
    }
}

impl InPipe {
    /// Once the body ended (its data read or discarded): its trailers
    /// (`Ok(None)` if it had none) or its error, once. `None` while it may
    /// still send frames.
    pub fn try_trailers(&mut self) -> Option<Result<Option<HeaderMap>, ErrorCode>> {
        if self
            .poll_end(&mut Context::from_waker(Waker::noop()))
            .is_pending()
        {
            return None;
        }
        Some(match std::mem::replace(&mut self.state, InState::Done) {
            InState::Failed(e) => Err(e),
            _ => Ok(self.trailers.take()),
        })
    }
}

/// The state of an outgoing pipe.
#[derive(Debug, Clone, PartialEq)]
pub enum OutState {
    /// The guest may write.
    Open,
    /// `outgoing-body.finish` was called: the queued bytes, then the
    /// trailers, then the end.
    Finished,
    /// The body is incomplete: the reader sees this error after the queued
    /// bytes.
    Aborted(ErrorCode),
}

/// An outgoing body: the guest writes, hyper reads through [`PipeBody`].
pub struct OutPipe {
    chunks: VecDeque<Bytes>,
    queued: usize,
    state: OutState,
    trailers: Option<HeaderMap>,
    reader_gone: bool,
    error_deferred: bool,
    reader: Option<Waker>,
    writer: Option<Waker>,
    written: u64,
    content_length: Option<u64>,
    limit: u64,
    too_big: fn(Option<u64>) -> ErrorCode,
}

/// A shared outgoing pipe.
pub type SharedOut = Arc<Mutex<OutPipe>>;

/// Why a write to an outgoing pipe failed.
pub enum WriteError {
    /// The reader is gone or the body finished: the stream is closed.
    Closed,
    /// The body failed with this error-code.
    Failed(ErrorCode),
}

impl OutPipe {
    /// An open pipe; `content_length` is the declared length, if any.
    pub fn new(
        content_length: Option<u64>,
        limit: u64,
        too_big: fn(Option<u64>) -> ErrorCode,
    ) -> SharedOut {
        Arc::new(Mutex::new(OutPipe {
            chunks: VecDeque::new(),
            queued: 0,
            state: OutState::Open,
            trailers: None,
            reader_gone: false,
            error_deferred: false,
            reader: None,
            writer: None,
            written: 0,
            content_length,
            limit,
            too_big,
        }))
    }

    /// A pipe that is already finished with no bytes.
    pub fn empty() -> SharedOut {
        let p = OutPipe::new(None, 0, ErrorCode::response_body_size);
        locked(&p).state = OutState::Finished;
        p
    }

    fn wake_reader(&mut self) {
        if let Some(w) = self.reader.take() {
            w.wake();
        }
    }

    /// How many bytes the guest may write now.
    pub fn permit(&self) -> Result<usize, WriteError> {
        match &self.state {
            OutState::Open if !self.reader_gone => {
                Ok(OUT_PIPE_CAPACITY.saturating_sub(self.queued))
            }
            OutState::Aborted(e) => Err(WriteError::Failed(e.clone())),
            _ => Err(WriteError::Closed),
        }
    }

    /// Queue `data` (the caller checked it fits the permit).
    pub fn write(&mut self, data: Bytes) -> Result<(), WriteError> {
        self.permit()?;
        if data.is_empty() {
            return Ok(());
        }
        let written = self.written + data.len() as u64;
        let max = self.content_length.unwrap_or(self.limit).min(self.limit);
        if written > max {
            let e = (self.too_big)(Some(written));
            self.abort(e.clone());
            return Err(WriteError::Failed(e));
        }
        self.written = written;
        self.queued += data.len();
        self.chunks.push_back(data);
        self.wake_reader();
        Ok(())
    }

    /// Ready when the guest may write again (or the stream is closed).
    pub fn poll_writable(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.poll_permit(cx, 1)
    }

    /// Ready when the guest may write `n` bytes (or the stream is closed).
    pub fn poll_permit(&mut self, cx: &mut Context<'_>, n: usize) -> Poll<()> {
        match self.permit() {
            Ok(p) if p < n => {
                self.writer = Some(cx.waker().clone());
                Poll::Pending
            }
            _ => Poll::Ready(()),
        }
    }

    /// Ready when everything queued was taken by the reader (or the
    /// stream is closed).
    pub fn poll_drained(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.queued == 0 || self.permit().is_err() {
            Poll::Ready(())
        } else {
            self.writer = Some(cx.waker().clone());
            Poll::Pending
        }
    }

    /// End the body with `trailers`; an error if fewer bytes than the
    /// declared content-length were written (the body is then aborted).
    pub fn finish(&mut self, trailers: Option<HeaderMap>) -> Result<(), ErrorCode> {
        if let OutState::Aborted(e) = &self.state {
            return Err(e.clone());
        }
        if let Some(cl) = self.content_length
            && cl != self.written
        {
            let e = (self.too_big)(Some(self.written));
            self.abort(e.clone());
            return Err(e);
        }
        self.state = OutState::Finished;
        self.trailers = trailers;
        self.wake_reader();
        Ok(())
    }

    /// Mark the body incomplete, if it is still open.
    pub fn abort(&mut self, e: ErrorCode) {
        if self.state == OutState::Open {
            self.state = OutState::Aborted(e);
            self.wake_reader();
        }
    }
}

/// The reading end of an [`OutPipe`], as an HTTP body.
pub struct PipeBody(pub SharedOut);

impl HttpBody for PipeBody {
    type Data = Bytes;
    type Error = ErrorCode;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ErrorCode>>> {
        let mut p = locked(&self.0);
        if let Some(first) = p.chunks.pop_front() {
            // Coalesce small writes into one frame.
            let data = if p.chunks.is_empty() || first.len() >= 16 * 1024 {
                first
            } else {
                let mut b = BytesMut::with_capacity(p.queued);
                b.extend_from_slice(&first);
                while let Some(c) = p.chunks.pop_front() {
                    b.extend_from_slice(&c);
                }
                b.freeze()
            };
            p.queued -= data.len();
            if let Some(w) = p.writer.take() {
                w.wake();
            }
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        match p.state.clone() {
            OutState::Open => {
                p.reader = Some(cx.waker().clone());
                Poll::Pending
            }
            OutState::Finished => match p.trailers.take() {
                Some(t) if !t.is_empty() => Poll::Ready(Some(Ok(Frame::trailers(t)))),
                _ => Poll::Ready(None),
            },
            OutState::Aborted(e) => {
                // Let the server flush what it has (the head, the bytes
                // before the failure) before it sees the error and aborts.
                if !p.error_deferred {
                    p.error_deferred = true;
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Poll::Ready(Some(Err(e)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        let p = locked(&self.0);
        p.chunks.is_empty() && p.state == OutState::Finished && p.trailers.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        let p = locked(&self.0);
        match p.content_length {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}

impl Drop for PipeBody {
    fn drop(&mut self) {
        let mut p = locked(&self.0);
        p.reader_gone = true;
        p.chunks.clear();
        p.queued = 0;
        if let Some(w) = p.writer.take() {
            w.wake();
        }
    }
}
