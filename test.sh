#!/usr/bin/env bash
# Runs every test of the workspace: unit tests of each crate and the one
# integration test binary (tests/all: components, ABI round trips, the
# component .wast suite and the HTTP tests, each on both engines). Installs
# nothing by hand: the JS/Python guest toolchains are fetched by
# tests/fixtures/big/build.sh from the package registries into target/.
set -euo pipefail
cd "$(dirname "$0")"
cargo test --workspace --all-targets "$@"
# The crate docs' examples (host-http's runs the embedding example).
cargo test --workspace --doc "$@"
