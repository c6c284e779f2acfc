//! cohost's component model, written once for every core engine.
//!
//! - [`engine`]: the small core-engine trait the backends implement.
//! - [`component`]: components parsed once into an instantiation plan,
//!   linked against host functions, instantiated per request.
//! - [`abi`]: the canonical ABI, lifting and lowering every value type.
//! - [`types`]: component value types with layouts computed once.
//! - [`error`]: [`Error`] and [`Trap`], kept apart.

pub mod abi;
pub mod component;
pub mod engine;
pub mod error;
pub mod names;
pub mod types;

pub use component::{
    Component, Func, ImportItem, Instance, InstancePre, Linker, Producer, Store, footprint_of,
};
pub use error::{Error, ErrorKind, Result, Trap, TrapKind};
