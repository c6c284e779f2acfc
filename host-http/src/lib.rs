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
//! Inside, files are named after the WIT they implement: `types_impl.rs`
//! (`wasi:http/types`), `body.rs` (bodies and their state machines),
//! `outgoing.rs` (`wasi:http/outgoing-handler`), `io.rs` (`wasi:io`),
//! `clocks.rs`, `random.rs`, `cli.rs`; `wit.rs` turns the vendored WIT into
//! the host's function types and `imports.rs` lists the implementations.

mod body;
mod cli;
mod clocks;
mod error;
mod handler;
mod imports;
mod io;
mod outgoing;
mod random;
mod server;
mod state;
mod types_impl;
mod wit;

pub use error::{Error, ErrorCode, ErrorKind};
pub use handler::{Body, Config, GuestFailure, HANDLE_EXPORT, Handler};
pub use outgoing::{
    AllowedHost, DEFAULT_BETWEEN_BYTES_TIMEOUT, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_FIRST_BYTE_TIMEOUT, DEFAULT_MAX_OUTGOING, OutgoingPolicy,
};
pub use server::{Server, ServerConfig, shutdown_signal};
pub use types_impl::FORBIDDEN_HEADERS;

/// The interfaces of the `wasi:http/proxy` world the host implements, by
/// full name (for diagnostics).
pub fn proxy_imports() -> Vec<String> {
    wit::wit().interfaces(wit::PROXY_WORLD)
}
