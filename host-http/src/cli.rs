//! `wasi:cli/{stdin, stdout, stderr}` and the other imports of the
//! `wasi:cli/imports` world that real toolchains (componentize-py) import
//! even for a proxy: an empty environment, `exit` as a trap, no terminals,
//! and no filesystem preopens.
//!
//! Guest stdout and stderr go to the host's log (`tracing`, targets
//! `guest::stdout` and `guest::stderr`), a line at a time, with the request
//! id. Stdin is empty.

use engine_abi::Trap;
use engine_abi::abi::Val;
use engine_abi::engine::HostError;

use crate::io::{LogTo, empty_input, log_stream};
use crate::state::{State, ret};

type HostResult = Result<Option<Val>, HostError>;

/// `stdin.get-stdin`
pub fn get_stdin(s: &mut State, _: &[Val]) -> HostResult {
    Ok(Some(empty_input(s)?))
}

/// `stdout.get-stdout`
pub fn get_stdout(s: &mut State, _: &[Val]) -> HostResult {
    Ok(Some(log_stream(s, LogTo::Stdout)?))
}

/// `stderr.get-stderr`
pub fn get_stderr(s: &mut State, _: &[Val]) -> HostResult {
    Ok(Some(log_stream(s, LogTo::Stderr)?))
}

/// `environment.get-environment`: empty.
pub fn get_environment(_: &mut State, _: &[Val]) -> HostResult {
    Ok(Some(Val::List(Vec::new())))
}

/// `environment.get-arguments`: empty.
pub fn get_arguments(_: &mut State, _: &[Val]) -> HostResult {
    Ok(Some(Val::List(Vec::new())))
}

/// `environment.initial-cwd`: none.
pub fn initial_cwd(_: &mut State, _: &[Val]) -> HostResult {
    Ok(Some(ret::none()))
}

/// `exit.exit`: ends the request's guest, as a trap naming the status.
pub fn exit(s: &mut State, args: &[Val]) -> HostResult {
    let ok = matches!(args[0], Val::Result(Ok(_)));
    tracing::info!(
        request = s.id,
        "guest called exit({})",
        if ok { "ok" } else { "err" }
    );
    Err(Trap::host(format!(
        "guest called wasi:cli/exit.exit({})",
        if ok { "ok" } else { "err" }
    ))
    .into())
}

/// `terminal-std{in,out,err}.get-terminal-std*`: no terminal.
pub fn no_terminal(_: &mut State, _: &[Val]) -> HostResult {
    Ok(Some(ret::none()))
}

/// `wasi:filesystem/preopens.get-directories`: none.
pub fn get_directories(_: &mut State, _: &[Val]) -> HostResult {
    Ok(Some(Val::List(Vec::new())))
}

/// `wasi:filesystem/types.filesystem-error-code`: none (there are no
/// filesystem streams).
pub fn filesystem_error_code(_: &mut State, _: &[Val]) -> HostResult {
    Ok(Some(ret::none()))
}
