//! wasi:http for cohost (see issue #4); for now only the crate exists.
