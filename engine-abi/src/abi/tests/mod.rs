//! Tests of the canonical ABI over [`cx::TestCx`], a context with a
//! `Vec<u8>` memory, a bump allocator and a simple handle table.

mod cx;
mod func;
mod golden;
mod layout;
mod roundtrip;
mod strategy;
mod strings;
mod traps;
mod typed;
