//! `wasi:cli/{stdin, stdout, stderr}` and the other imports of the
//! `wasi:cli/imports` world that real toolchains (componentize-py) import
//! even for a proxy: an empty environment, `exit` as a trap, no terminals,
//! and no filesystem preopens.
//!
//! Guest stdout and stderr go to the host's log (`tracing`, targets
//! `guest::stdout` and `guest::stderr`), a line at a time, with the request
//! id. Stdin is empty.
//!
//! The terminal and filesystem functions stay on the dynamic ABI: they only
//! ever answer "none", and typing them would take Rust types for resources
//! (terminals, descriptors) and an enum (`filesystem.error-code`) the host
//! never makes.

use engine_abi::Trap;
use engine_abi::abi::Val;
use engine_abi::abi::typed::Own;
use engine_abi::engine::HostError;

use crate::io::{InputStream, LogTo, OutputStream};
use crate::state::State;
use crate::wit::Registry;

fn log_stream(s: &mut State, to: LogTo) -> Result<Own<OutputStream>, HostError> {
    let request = s.id;
    Ok(s.own(OutputStream::log(to, request))?)
}

/// `exit.exit`: ends the request's guest, as a trap naming the status.
fn exit(s: &mut State, (status,): (Result<(), ()>,)) -> Result<(), HostError> {
    let status = if status.is_ok() { "ok" } else { "err" };
    tracing::info!(request = s.id, "guest called exit({status})");
    Err(Trap::host(format!("guest called wasi:cli/exit.exit({status})")).into())
}

/// Register the `wasi:cli` interfaces and `wasi:filesystem/preopens`.
pub fn register(r: &mut Registry<'_>) {
    r.typed("wasi:cli/stdin", "get-stdin", |s, (): ()| {
        Ok(s.own(InputStream::Empty)?)
    });
    r.typed("wasi:cli/stdout", "get-stdout", |s, (): ()| {
        log_stream(s, LogTo::Stdout)
    });
    r.typed("wasi:cli/stderr", "get-stderr", |s, (): ()| {
        log_stream(s, LogTo::Stderr)
    });
    r.typed("wasi:cli/environment", "get-environment", |_, (): ()| {
        Ok(Vec::<(String, String)>::new())
    });
    r.typed("wasi:cli/environment", "get-arguments", |_, (): ()| {
        Ok(Vec::<String>::new())
    });
    r.typed("wasi:cli/environment", "initial-cwd", |_, (): ()| {
        Ok(None::<String>)
    });
    r.typed("wasi:cli/exit", "exit", exit);

    let none = |_: &mut State, _: &[Val]| Ok(Some(Val::Option(None)));
    r.dynamic("wasi:cli/terminal-stdin", "get-terminal-stdin", none);
    r.dynamic("wasi:cli/terminal-stdout", "get-terminal-stdout", none);
    r.dynamic("wasi:cli/terminal-stderr", "get-terminal-stderr", none);
    r.dynamic("wasi:filesystem/preopens", "get-directories", |_, _| {
        Ok(Some(Val::List(Vec::new())))
    });
    // There are no filesystem streams, so no error is one of theirs.
    r.dynamic("wasi:filesystem/types", "filesystem-error-code", none);
}
