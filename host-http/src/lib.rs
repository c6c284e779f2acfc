//! cohost's wasi:http host: serves `wasi:http/proxy` components on any core
//! engine of the engine trait (wasmtime JIT or wasmi interpreter), through
//! cohost's own component model ([`engine_abi`]).
//!
//! ```no_run
//! # async fn demo(bytes: Vec<u8>) -> Result<(), Box<dyn std::error::Error>> {
//! use host_http::{Config, Handler};
//! let engine = backend_wasmi::WasmiEngine::new();
//! let config = Config::default().allow_host("https://example.com")?;
//! let handler = Handler::new(&engine, &bytes, config)?;
//! let response = handler.handle(http::Request::new(String::new())).await;
//! println!("{}", response.status());
//! # Ok(()) }
//! ```
//!
//! | module | what |
//! |---|---|
//! | [`Handler`], [`Config`], [`Body`], [`GuestFailure`] | the embedding API: one request in, a streaming response out |
//! | [`Server`], [`ServerConfig`] | hyper 1 HTTP/1.1 server with a concurrency cap and graceful shutdown |
//! | [`OutgoingPolicy`], [`AllowedHost`] | what guests may fetch |
//! | [`ErrorCode`] | guest-visible `wasi:http/types.error-code` |
//! | [`Error`] | load, link and server errors |
//!
//! Inside, files are named after the WIT they implement, and each owns its
//! resource types and registers its own functions and resources. Files
//! import downward only, in these layers (bottom first):
//!
//! 1. `error.rs` (`error-code`, typed), `table.rs` (the generic resource
//!    table), `config.rs` (limits and outgoing policy), `macros.rs`;
//! 2. `pipe.rs` (the byte pipes between hyper and the guest's streams),
//!    `client.rs` (the hyper client);
//! 3. `state.rs` (per-request state: the table, the shared config and
//!    client);
//! 4. `wit.rs` (the vendored WIT, and the registry files register with);
//! 5. the interfaces: `io.rs` (`wasi:io`: pollables as a `Subscribe` trait
//!    other files implement, streams, errors), then `clocks.rs`,
//!    `random.rs`, `cli.rs`, `fields.rs` (`wasi:http/types.fields`),
//!    `body.rs` (bodies and trailers), `types_impl.rs` (requests, responses,
//!    request-options, response-outparam), `outgoing.rs`
//!    (`wasi:http/outgoing-handler`), each using only those before it;
//! 6. `imports.rs` (the linker: every interface's `register`);
//! 7. `handler.rs` (the embedding API), then `server.rs`.
//!
//! (`macros.rs` is textually first so that every file can use its macros;
//! `wit_resource!` expands in the interfaces' files, where the table's
//! `Entry` and wit's `WitResource` it implements are below them.
//! `testcx.rs`, for tests only, is the test side of the typed ABI.)

#[macro_use]
mod macros;

mod body;
mod cli;
mod client;
mod clocks;
mod config;
mod error;
mod fields;
mod handler;
mod imports;
mod io;
mod outgoing;
mod pipe;
mod random;
mod server;
mod state;
mod table;
#[cfg(test)]
mod testcx;
mod types_impl;
mod wit;

pub use config::{
    AllowedHost, Config, DEFAULT_BETWEEN_BYTES_TIMEOUT, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_FIRST_BYTE_TIMEOUT, DEFAULT_MAX_OUTGOING, OutgoingPolicy,
};
pub use error::{
    DnsErrorPayload, Error, ErrorCode, ErrorKind, FieldSizePayload, TlsAlertReceivedPayload,
};
pub use fields::FORBIDDEN_HEADERS;
pub use handler::{Body, GuestFailure, HANDLE_EXPORT, Handler};
pub use server::{Server, ServerConfig, shutdown_signal};

/// The interfaces of the `wasi:http/proxy` world the host implements, by
/// full name (for diagnostics).
pub fn proxy_imports() -> Vec<String> {
    wit::wit().interfaces(wit::PROXY_WORLD)
}
