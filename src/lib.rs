//! cohost as a library: the engine registry ([`engines`]) and an embedding
//! [`Handler`] that picks its engine the way `cohost serve` does.
//!
//! ```no_run
//! # async fn demo(bytes: Vec<u8>) -> Result<(), cohost::Error> {
//! let config = host_http::Config::default();
//! let handler = cohost::Handler::new(&bytes, config)?;
//! println!("{}", handler.selection()); // engine: jit (executable memory allowed)
//! let response = handler.handle(http::Request::new(String::new())).await;
//! println!("{}", response.status());
//! # Ok(()) }
//! ```
//!
//! | item | what |
//! |---|---|
//! | [`Handler`] | a wasi:http component on the engine `auto` (or a given choice) selects |
//! | [`engines`] | which engines are built in, the executable-memory probe, selection and dispatch |
//! | [`Error`] | why a component could not be loaded |
//!
//! Cargo features: `jit` (wasmtime) and `interp` (wasmi), both on by
//! default. Built with `--no-default-features --features interp`, cohost
//! contains no code generator at all.

#[cfg(not(any(feature = "jit", feature = "interp")))]
compile_error!("cohost needs an engine: enable the `jit` or `interp` feature (or both)");

pub mod engines;
mod handler;

pub use handler::{Error, Handler};
