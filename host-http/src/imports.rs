//! The table of implementations: every function the host implements, by
//! unversioned interface and WIT name. Types come from the WIT
//! ([`crate::wit`]); a function of the proxy world missing here fails the
//! test `wit::tests::proxy_world_is_fully_implemented`.

use crate::wit::{HostFn, Impls};
use crate::{body, cli, clocks, io, outgoing, random, types_impl as t};

/// Every implemented function.
pub fn table() -> Impls {
    const HTTP: &str = "wasi:http/types";
    const STREAMS: &str = "wasi:io/streams";
    let entries: &[(&'static str, &'static str, HostFn)] = &[
        // wasi:http/types: fields
        (HTTP, "[constructor]fields", t::fields_new),
        (HTTP, "[static]fields.from-list", t::fields_from_list),
        (HTTP, "[method]fields.get", t::fields_get),
        (HTTP, "[method]fields.has", t::fields_has),
        (HTTP, "[method]fields.set", t::fields_set),
        (HTTP, "[method]fields.delete", t::fields_delete),
        (HTTP, "[method]fields.append", t::fields_append),
        (HTTP, "[method]fields.entries", t::fields_entries),
        (HTTP, "[method]fields.clone", t::fields_clone),
        // incoming-request
        (
            HTTP,
            "[method]incoming-request.method",
            t::incoming_request_method,
        ),
        (
            HTTP,
            "[method]incoming-request.path-with-query",
            t::incoming_request_path_with_query,
        ),
        (
            HTTP,
            "[method]incoming-request.scheme",
            t::incoming_request_scheme,
        ),
        (
            HTTP,
            "[method]incoming-request.authority",
            t::incoming_request_authority,
        ),
        (
            HTTP,
            "[method]incoming-request.headers",
            t::incoming_request_headers,
        ),
        (
            HTTP,
            "[method]incoming-request.consume",
            t::incoming_request_consume,
        ),
        // outgoing-request
        (
            HTTP,
            "[constructor]outgoing-request",
            t::outgoing_request_new,
        ),
        (
            HTTP,
            "[method]outgoing-request.body",
            t::outgoing_request_body,
        ),
        (
            HTTP,
            "[method]outgoing-request.method",
            t::outgoing_request_method,
        ),
        (
            HTTP,
            "[method]outgoing-request.set-method",
            t::outgoing_request_set_method,
        ),
        (
            HTTP,
            "[method]outgoing-request.path-with-query",
            t::outgoing_request_path_with_query,
        ),
        (
            HTTP,
            "[method]outgoing-request.set-path-with-query",
            t::outgoing_request_set_path_with_query,
        ),
        (
            HTTP,
            "[method]outgoing-request.scheme",
            t::outgoing_request_scheme,
        ),
        (
            HTTP,
            "[method]outgoing-request.set-scheme",
            t::outgoing_request_set_scheme,
        ),
        (
            HTTP,
            "[method]outgoing-request.authority",
            t::outgoing_request_authority,
        ),
        (
            HTTP,
            "[method]outgoing-request.set-authority",
            t::outgoing_request_set_authority,
        ),
        (
            HTTP,
            "[method]outgoing-request.headers",
            t::outgoing_request_headers,
        ),
        // request-options
        (HTTP, "[constructor]request-options", t::request_options_new),
        (
            HTTP,
            "[method]request-options.connect-timeout",
            t::request_options_connect_timeout,
        ),
        (
            HTTP,
            "[method]request-options.set-connect-timeout",
            t::request_options_set_connect_timeout,
        ),
        (
            HTTP,
            "[method]request-options.first-byte-timeout",
            t::request_options_first_byte_timeout,
        ),
        (
            HTTP,
            "[method]request-options.set-first-byte-timeout",
            t::request_options_set_first_byte_timeout,
        ),
        (
            HTTP,
            "[method]request-options.between-bytes-timeout",
            t::request_options_between_bytes_timeout,
        ),
        (
            HTTP,
            "[method]request-options.set-between-bytes-timeout",
            t::request_options_set_between_bytes_timeout,
        ),
        // response-outparam
        (
            HTTP,
            "[static]response-outparam.set",
            t::response_outparam_set,
        ),
        // incoming-response
        (
            HTTP,
            "[method]incoming-response.status",
            t::incoming_response_status,
        ),
        (
            HTTP,
            "[method]incoming-response.headers",
            t::incoming_response_headers,
        ),
        (
            HTTP,
            "[method]incoming-response.consume",
            t::incoming_response_consume,
        ),
        // incoming-body, future-trailers
        (
            HTTP,
            "[method]incoming-body.stream",
            body::incoming_body_stream,
        ),
        (
            HTTP,
            "[static]incoming-body.finish",
            body::incoming_body_finish,
        ),
        (
            HTTP,
            "[method]future-trailers.subscribe",
            body::future_trailers_subscribe,
        ),
        (
            HTTP,
            "[method]future-trailers.get",
            body::future_trailers_get,
        ),
        // outgoing-response
        (
            HTTP,
            "[constructor]outgoing-response",
            t::outgoing_response_new,
        ),
        (
            HTTP,
            "[method]outgoing-response.status-code",
            t::outgoing_response_status_code,
        ),
        (
            HTTP,
            "[method]outgoing-response.set-status-code",
            t::outgoing_response_set_status_code,
        ),
        (
            HTTP,
            "[method]outgoing-response.headers",
            t::outgoing_response_headers,
        ),
        (
            HTTP,
            "[method]outgoing-response.body",
            t::outgoing_response_body,
        ),
        // outgoing-body
        (
            HTTP,
            "[method]outgoing-body.write",
            body::outgoing_body_write,
        ),
        (
            HTTP,
            "[static]outgoing-body.finish",
            body::outgoing_body_finish,
        ),
        // future-incoming-response
        (
            HTTP,
            "[method]future-incoming-response.subscribe",
            outgoing::future_incoming_response_subscribe,
        ),
        (
            HTTP,
            "[method]future-incoming-response.get",
            outgoing::future_incoming_response_get,
        ),
        (HTTP, "http-error-code", io::http_error_code),
        // wasi:http/outgoing-handler
        ("wasi:http/outgoing-handler", "handle", outgoing::handle),
        // wasi:io/poll
        ("wasi:io/poll", "[method]pollable.ready", io::pollable_ready),
        ("wasi:io/poll", "[method]pollable.block", io::pollable_block),
        ("wasi:io/poll", "poll", io::poll),
        // wasi:io/error
        (
            "wasi:io/error",
            "[method]error.to-debug-string",
            io::error_to_debug_string,
        ),
        // wasi:io/streams
        (STREAMS, "[method]input-stream.read", io::input_read),
        (
            STREAMS,
            "[method]input-stream.blocking-read",
            io::input_blocking_read,
        ),
        (STREAMS, "[method]input-stream.skip", io::input_skip),
        (
            STREAMS,
            "[method]input-stream.blocking-skip",
            io::input_blocking_skip,
        ),
        (
            STREAMS,
            "[method]input-stream.subscribe",
            io::input_subscribe,
        ),
        (
            STREAMS,
            "[method]output-stream.check-write",
            io::output_check_write,
        ),
        (STREAMS, "[method]output-stream.write", io::output_write),
        (
            STREAMS,
            "[method]output-stream.blocking-write-and-flush",
            io::output_blocking_write_and_flush,
        ),
        (STREAMS, "[method]output-stream.flush", io::output_flush),
        (
            STREAMS,
            "[method]output-stream.blocking-flush",
            io::output_blocking_flush,
        ),
        (
            STREAMS,
            "[method]output-stream.subscribe",
            io::output_subscribe,
        ),
        (
            STREAMS,
            "[method]output-stream.write-zeroes",
            io::output_write_zeroes,
        ),
        (
            STREAMS,
            "[method]output-stream.blocking-write-zeroes-and-flush",
            io::output_blocking_write_zeroes_and_flush,
        ),
        (STREAMS, "[method]output-stream.splice", io::output_splice),
        (
            STREAMS,
            "[method]output-stream.blocking-splice",
            io::output_blocking_splice,
        ),
        // wasi:clocks
        ("wasi:clocks/monotonic-clock", "now", clocks::monotonic_now),
        (
            "wasi:clocks/monotonic-clock",
            "resolution",
            clocks::monotonic_resolution,
        ),
        (
            "wasi:clocks/monotonic-clock",
            "subscribe-instant",
            clocks::subscribe_instant,
        ),
        (
            "wasi:clocks/monotonic-clock",
            "subscribe-duration",
            clocks::subscribe_duration,
        ),
        ("wasi:clocks/wall-clock", "now", clocks::wall_now),
        (
            "wasi:clocks/wall-clock",
            "resolution",
            clocks::wall_resolution,
        ),
        // wasi:random
        (
            "wasi:random/random",
            "get-random-bytes",
            random::get_random_bytes,
        ),
        (
            "wasi:random/random",
            "get-random-u64",
            random::get_random_u64,
        ),
        (
            "wasi:random/insecure",
            "get-insecure-random-bytes",
            random::get_insecure_random_bytes,
        ),
        (
            "wasi:random/insecure",
            "get-insecure-random-u64",
            random::get_insecure_random_u64,
        ),
        (
            "wasi:random/insecure-seed",
            "insecure-seed",
            random::insecure_seed,
        ),
        // wasi:cli
        ("wasi:cli/stdin", "get-stdin", cli::get_stdin),
        ("wasi:cli/stdout", "get-stdout", cli::get_stdout),
        ("wasi:cli/stderr", "get-stderr", cli::get_stderr),
        (
            "wasi:cli/environment",
            "get-environment",
            cli::get_environment,
        ),
        ("wasi:cli/environment", "get-arguments", cli::get_arguments),
        ("wasi:cli/environment", "initial-cwd", cli::initial_cwd),
        ("wasi:cli/exit", "exit", cli::exit),
        (
            "wasi:cli/terminal-stdin",
            "get-terminal-stdin",
            cli::no_terminal,
        ),
        (
            "wasi:cli/terminal-stdout",
            "get-terminal-stdout",
            cli::no_terminal,
        ),
        (
            "wasi:cli/terminal-stderr",
            "get-terminal-stderr",
            cli::no_terminal,
        ),
        (
            "wasi:filesystem/preopens",
            "get-directories",
            cli::get_directories,
        ),
        (
            "wasi:filesystem/types",
            "filesystem-error-code",
            cli::filesystem_error_code,
        ),
    ];
    entries.iter().map(|&(i, n, f)| ((i, n), f)).collect()
}
