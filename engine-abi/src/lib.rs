//! cohost's component model, written once for every core engine.

pub mod abi;
pub mod engine;
pub mod error;
pub mod types;
