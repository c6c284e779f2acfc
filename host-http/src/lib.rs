//! cohost's wasi:http host: serves `wasi:http/proxy` components on any core
//! engine of the engine trait (wasmtime JIT or wasmi interpreter), through
//! cohost's own component model ([`engine_abi`]).
//!
//! Embedding: load a component from bytes once, then handle requests
//! in-process, without sockets, with limits and an outgoing policy. On the
//! interpreter shown here there is no code generator and no executable
//! memory (as on iOS); `backend_wasmtime::WasmtimeEngine` is the JIT.
//! (`cohost::Handler` picks the engine the way `cohost serve --engine auto`
//! does; `examples/embed.rs` is this example on it.)
//!
//! ```
//! use std::time::Duration;
//! use bytes::Bytes;
//! use http_body_util::{BodyExt, Full};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let bytes = include_bytes!("../../examples/hello.wasm");
//! let config = host_http::Config::default()
//!     .max_memory_bytes(32 << 20)
//!     .timeout(Some(Duration::from_secs(2)))
//!     .max_body_bytes(1 << 20)
//!     .allow_host("https://api.example.com")?;
//! let engine = backend_wasmi::WasmiEngine::new();
//! let handler = host_http::Handler::new(&engine, bytes, config)?;
//!
//! // The guest runs on tokio tasks; a current-thread runtime is enough.
//! let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! rt.block_on(async {
//!     for path in ["/", "/hello/embedder"] {
//!         let req = http::Request::get(path)
//!             .header(http::header::HOST, "app.local")
//!             .body(Full::new(Bytes::new()))?;
//!         let resp = handler.handle(req).await;
//!         let status = resp.status();
//!         let body = resp.into_body().collect().await?.to_bytes();
//!         println!("GET {path} -> {status}: {}", String::from_utf8_lossy(&body).trim_end());
//!         assert_eq!(status, 200);
//!     }
//!     Ok(())
//! })
//! # }
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
//! 7. `reuse.rs` (warm instances kept for reuse), `handler.rs` (the
//!    embedding API), then `server.rs`.
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
mod reuse;
mod server;
mod state;
mod table;
#[cfg(test)]
mod testcx;
mod types_impl;
mod wit;

pub use config::{
    AllowedHost, Config, DEFAULT_BETWEEN_BYTES_TIMEOUT, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_FIRST_BYTE_TIMEOUT, DEFAULT_MAX_OUTGOING, OutgoingPolicy, OutgoingTimeouts,
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
