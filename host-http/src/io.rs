//! `wasi:io/{poll, streams, error}`.
//!
//! Every blocking call checks whether it can proceed; if not, it asks the
//! engine to suspend the guest on a future that resolves when it may
//! ([`HostError::Suspend`]), and runs again. So blocking parks the request's
//! task, never a thread.
//!
//! Pollables hold a [`PollSource`]: a clone of the shared state they watch
//! (a body pipe, a response slot, a deadline), so they outlive nothing and
//! the readiness future borrows nothing from the store.

use std::future::poll_fn;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use engine_abi::Trap;
use engine_abi::abi::Val;
use engine_abi::engine::{HostError, Readiness};
use tokio::time::Instant;

use crate::body::{SharedIn, SharedOut, WriteError, locked};
use crate::error::ErrorCode;
use crate::outgoing::SharedResponse;
use crate::state::{Entry, R, State, arg, ret};

/// The most bytes `blocking-write-and-flush` accepts, per the WIT.
pub const MAX_BLOCKING_WRITE: usize = 4096;
/// The most bytes one `read` returns.
pub const MAX_READ: u64 = 1 << 20;
/// Longest line the guest's stdout/stderr buffer before logging it.
pub const MAX_LOG_LINE: usize = 16 * 1024;

/// What a pollable waits for.
#[derive(Clone)]
pub enum PollSource {
    /// Always ready.
    Ready,
    /// Ready at this instant.
    Deadline(Instant),
    /// Ready when the input stream has bytes, ended or failed.
    Input(SharedIn),
    /// Ready when the output stream may be written (or is closed).
    Output(SharedOut),
    /// Ready when the body ended (trailers known).
    Trailers(SharedIn),
    /// Ready when the response of an outgoing request arrived.
    Response(SharedResponse),
}

impl PollSource {
    /// Poll readiness (deadlines are handled by [`wait_any`]).
    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        match self {
            PollSource::Ready => Poll::Ready(()),
            PollSource::Deadline(d) => {
                if Instant::now() >= *d {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            }
            PollSource::Input(p) => locked(p).poll_fill(cx),
            PollSource::Output(p) => locked(p).poll_writable(cx),
            PollSource::Trailers(p) => locked(p).poll_end(cx),
            PollSource::Response(r) => crate::outgoing::poll_response(r, cx),
        }
    }

    /// Whether it is ready now.
    pub fn is_ready(&self) -> bool {
        self.poll_ready(&mut Context::from_waker(Waker::noop()))
            .is_ready()
    }
}

/// A future that resolves when any of `sources` may be ready.
pub fn wait_any(sources: Vec<PollSource>) -> Readiness {
    let deadline = sources
        .iter()
        .filter_map(|s| match s {
            PollSource::Deadline(d) => Some(*d),
            _ => None,
        })
        .min();
    Box::pin(async move {
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        let others = poll_fn(|cx| {
            for s in &sources {
                if !matches!(s, PollSource::Deadline(_)) && s.poll_ready(cx).is_ready() {
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

/// Suspend until `source` may be ready.
pub fn suspend(source: PollSource) -> HostError {
    HostError::Suspend(wait_any(vec![source]))
}

/// `wasi:io/poll.pollable`
pub struct Pollable(pub PollSource);

/// `wasi:io/streams.input-stream`
pub enum InputStream {
    /// A body's bytes.
    Body(SharedIn),
    /// Always at its end (stdin).
    Empty,
}

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

impl OutputStream {
    /// A stream writing to `pipe`.
    pub fn body(pipe: SharedOut) -> OutputStream {
        OutputStream::Body(pipe)
    }

    fn log(to: LogTo, request: u64, line: &[u8]) {
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
            OutputStream::log(to, request, line);
            *line = rest;
        }
        if line.len() > MAX_LOG_LINE {
            OutputStream::log(to, request, line);
            line.clear();
        }
    }
}

impl Drop for OutputStream {
    fn drop(&mut self) {
        if let OutputStream::Log { to, request, line } = self
            && !line.is_empty()
        {
            OutputStream::log(*to, *request, line);
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

/// `stream-error.closed`
fn closed() -> Val {
    ret::err(Val::Variant("closed".into(), None))
}

/// `stream-error.last-operation-failed(error)`
fn failed(s: &mut State, code: ErrorCode) -> Result<Val, Trap> {
    let e = s.own(
        &R.io_error,
        Entry::IoError(IoError {
            message: code.to_string(),
            code: Some(code),
        }),
    )?;
    Ok(ret::err(Val::Variant(
        "last-operation-failed".into(),
        Some(Box::new(e)),
    )))
}

fn write_error(s: &mut State, e: WriteError) -> Result<Val, Trap> {
    match e {
        WriteError::Closed => Ok(closed()),
        WriteError::Failed(code) => failed(s, code),
    }
}

type HostResult = Result<Option<Val>, HostError>;

// ---- wasi:io/poll ----

/// `[method]pollable.ready`
pub fn pollable_ready(s: &mut State, args: &[Val]) -> HostResult {
    let p = s.table.pollable(arg::rep(&args[0])?)?;
    Ok(Some(Val::Bool(p.0.is_ready())))
}

/// `[method]pollable.block`
pub fn pollable_block(s: &mut State, args: &[Val]) -> HostResult {
    let p = s.table.pollable(arg::rep(&args[0])?)?;
    if p.0.is_ready() {
        Ok(None)
    } else {
        Err(suspend(p.0.clone()))
    }
}

/// `poll`: the indices of the ready pollables, blocking until one is.
pub fn poll(s: &mut State, args: &[Val]) -> HostResult {
    let list = arg::list(&args[0])?;
    if list.is_empty() {
        return Err(Trap::host("wasi:io/poll.poll called with an empty list").into());
    }
    let mut sources = Vec::with_capacity(list.len());
    let mut ready = Vec::new();
    for (i, p) in list.iter().enumerate() {
        let src = s.table.pollable(arg::rep(p)?)?.0.clone();
        if src.is_ready() {
            ready.push(Val::U32(i as u32));
        }
        sources.push(src);
    }
    if ready.is_empty() {
        return Err(HostError::Suspend(wait_any(sources)));
    }
    Ok(Some(Val::List(ready)))
}

// ---- wasi:io/error ----

/// `[method]error.to-debug-string`
pub fn error_to_debug_string(s: &mut State, args: &[Val]) -> HostResult {
    let e = s.table.io_error(arg::rep(&args[0])?)?;
    Ok(Some(Val::String(e.message.clone())))
}

/// `wasi:http/types.http-error-code`
pub fn http_error_code(s: &mut State, args: &[Val]) -> HostResult {
    let e = s.table.io_error(arg::rep(&args[0])?)?;
    Ok(Some(match &e.code {
        Some(c) => ret::some(c.to_val()),
        None => ret::none(),
    }))
}

// ---- input-stream ----

fn read_impl(s: &mut State, args: &[Val], blocking: bool, skip: bool) -> HostResult {
    let rep = arg::rep(&args[0])?;
    let len = arg::u64(&args[1])?.min(MAX_READ) as usize;
    let pipe = match s.table.input_stream(rep)? {
        InputStream::Empty => return Ok(Some(closed())),
        InputStream::Body(p) => p.clone(),
    };
    let got = locked(&pipe).read(len);
    match got {
        Ok(bytes) if bytes.is_empty() && len > 0 && blocking => {
            Err(suspend(PollSource::Input(pipe)))
        }
        Ok(bytes) => Ok(Some(if skip {
            ret::ok(Val::U64(bytes.len() as u64))
        } else {
            ret::ok(Val::Bytes(bytes.to_vec()))
        })),
        Err(None) => Ok(Some(closed())),
        Err(Some(code)) => Ok(Some(failed(s, code)?)),
    }
}

/// `[method]input-stream.read`
pub fn input_read(s: &mut State, args: &[Val]) -> HostResult {
    read_impl(s, args, false, false)
}
/// `[method]input-stream.blocking-read`
pub fn input_blocking_read(s: &mut State, args: &[Val]) -> HostResult {
    read_impl(s, args, true, false)
}
/// `[method]input-stream.skip`
pub fn input_skip(s: &mut State, args: &[Val]) -> HostResult {
    read_impl(s, args, false, true)
}
/// `[method]input-stream.blocking-skip`
pub fn input_blocking_skip(s: &mut State, args: &[Val]) -> HostResult {
    read_impl(s, args, true, true)
}

/// `[method]input-stream.subscribe`
pub fn input_subscribe(s: &mut State, args: &[Val]) -> HostResult {
    let rep = arg::rep(&args[0])?;
    let src = match s.table.input_stream(rep)? {
        InputStream::Empty => PollSource::Ready,
        InputStream::Body(p) => PollSource::Input(p.clone()),
    };
    Ok(Some(s.own_child(
        &R.pollable,
        Entry::Pollable(Pollable(src)),
        rep,
    )?))
}

// ---- output-stream ----

/// `[method]output-stream.check-write`
pub fn output_check_write(s: &mut State, args: &[Val]) -> HostResult {
    let permit = match s.table.output_stream(arg::rep(&args[0])?)? {
        OutputStream::Log { .. } => Ok(MAX_READ as usize),
        OutputStream::Body(p) => locked(p).permit(),
    };
    Ok(Some(match permit {
        Ok(n) => ret::ok(Val::U64(n as u64)),
        Err(e) => write_error(s, e)?,
    }))
}

fn write_bytes(s: &mut State, rep: u32, data: Bytes, blocking: bool) -> HostResult {
    let id = s.id;
    let result = match s.table.output_stream(rep)? {
        OutputStream::Log { to, line, .. } => {
            OutputStream::write_log(*to, id, line, &data);
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
    Ok(Some(match result {
        Ok(()) => ret::ok_unit(),
        Err(e) => write_error(s, e)?,
    }))
}

/// `[method]output-stream.write`
pub fn output_write(s: &mut State, args: &[Val]) -> HostResult {
    let data = Bytes::from(arg::bytes(&args[1])?);
    write_bytes(s, arg::rep(&args[0])?, data, false)
}

/// `[method]output-stream.blocking-write-and-flush`
pub fn output_blocking_write_and_flush(s: &mut State, args: &[Val]) -> HostResult {
    let data = Bytes::from(arg::bytes(&args[1])?);
    if data.len() > MAX_BLOCKING_WRITE {
        return Err(Trap::host(format!(
            "blocking-write-and-flush of {} bytes, more than {MAX_BLOCKING_WRITE}",
            data.len()
        ))
        .into());
    }
    write_bytes(s, arg::rep(&args[0])?, data, true)
}

/// `[method]output-stream.write-zeroes`
pub fn output_write_zeroes(s: &mut State, args: &[Val]) -> HostResult {
    let n = arg::u64(&args[1])?.min(MAX_READ) as usize;
    write_bytes(s, arg::rep(&args[0])?, Bytes::from(vec![0; n]), false)
}

/// `[method]output-stream.blocking-write-zeroes-and-flush`
pub fn output_blocking_write_zeroes_and_flush(s: &mut State, args: &[Val]) -> HostResult {
    let n = arg::u64(&args[1])?;
    if n > MAX_BLOCKING_WRITE as u64 {
        return Err(Trap::host("blocking-write-zeroes-and-flush of more than 4096 bytes").into());
    }
    write_bytes(
        s,
        arg::rep(&args[0])?,
        Bytes::from(vec![0; n as usize]),
        true,
    )
}

/// `[method]output-stream.flush`: bytes written are already handed to the
/// HTTP body; this only reports the stream's state.
pub fn output_flush(s: &mut State, args: &[Val]) -> HostResult {
    let permit = match s.table.output_stream(arg::rep(&args[0])?)? {
        OutputStream::Log { .. } => Ok(0),
        OutputStream::Body(p) => locked(p).permit(),
    };
    Ok(Some(match permit {
        Ok(_) => ret::ok_unit(),
        Err(e) => write_error(s, e)?,
    }))
}

/// `[method]output-stream.blocking-flush`: waits until the HTTP body took
/// everything queued.
pub fn output_blocking_flush(s: &mut State, args: &[Val]) -> HostResult {
    let permit = match s.table.output_stream(arg::rep(&args[0])?)? {
        OutputStream::Log { .. } => Ok(0),
        OutputStream::Body(p) => {
            let pipe = locked(p);
            match pipe.permit() {
                Ok(n) if n < crate::body::OUT_PIPE_CAPACITY => {
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
    Ok(Some(match permit {
        Ok(_) => ret::ok_unit(),
        Err(e) => write_error(s, e)?,
    }))
}

/// `[method]output-stream.subscribe`
pub fn output_subscribe(s: &mut State, args: &[Val]) -> HostResult {
    let rep = arg::rep(&args[0])?;
    let src = match s.table.output_stream(rep)? {
        OutputStream::Log { .. } => PollSource::Ready,
        OutputStream::Body(p) => PollSource::Output(p.clone()),
    };
    Ok(Some(s.own_child(
        &R.pollable,
        Entry::Pollable(Pollable(src)),
        rep,
    )?))
}

fn splice_impl(s: &mut State, args: &[Val], blocking: bool) -> HostResult {
    let out = arg::rep(&args[0])?;
    let input = arg::rep(&args[1])?;
    let len = arg::u64(&args[2])?.min(MAX_READ) as usize;
    let permit = match s.table.output_stream(out)? {
        OutputStream::Log { .. } => Ok(len),
        OutputStream::Body(p) => locked(p).permit(),
    };
    let permit = match permit {
        Ok(0) if blocking && len > 0 => {
            if let OutputStream::Body(p) = s.table.output_stream(out)? {
                return Err(suspend(PollSource::Output(p.clone())));
            }
            0
        }
        Ok(n) => n,
        Err(e) => return Ok(Some(write_error(s, e)?)),
    };
    let n = len.min(permit);
    let pipe = match s.table.input_stream(input)? {
        InputStream::Empty => return Ok(Some(closed())),
        InputStream::Body(p) => p.clone(),
    };
    let got = locked(&pipe).read(n);
    match got {
        Ok(bytes) if bytes.is_empty() && n > 0 && blocking => Err(suspend(PollSource::Input(pipe))),
        Ok(bytes) => {
            let count = bytes.len() as u64;
            let r = write_bytes(s, out, bytes, false)?;
            match r {
                Some(Val::Result(Ok(_))) => Ok(Some(ret::ok(Val::U64(count)))),
                other => Ok(other),
            }
        }
        Err(None) => Ok(Some(closed())),
        Err(Some(code)) => Ok(Some(failed(s, code)?)),
    }
}

/// `[method]output-stream.splice`
pub fn output_splice(s: &mut State, args: &[Val]) -> HostResult {
    splice_impl(s, args, false)
}
/// `[method]output-stream.blocking-splice`
pub fn output_blocking_splice(s: &mut State, args: &[Val]) -> HostResult {
    splice_impl(s, args, true)
}

/// A new log stream for `wasi:cli/stdout` or `stderr`.
pub fn log_stream(s: &mut State, to: LogTo) -> Result<Val, Trap> {
    let request = s.id;
    s.own(
        &R.output_stream,
        Entry::OutputStream(OutputStream::Log {
            to,
            request,
            line: Vec::new(),
        }),
    )
}

/// An empty input stream for `wasi:cli/stdin`.
pub fn empty_input(s: &mut State) -> Result<Val, Trap> {
    s.own(&R.input_stream, Entry::InputStream(InputStream::Empty))
}
