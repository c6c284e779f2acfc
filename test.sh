#!/usr/bin/env bash
# Runs every test of the workspace: unit tests of each crate, the one
# integration test binary (tests/all), the component .wast suite on both
# engines, and checks that the benches still compile. Installs nothing by
# hand: guest toolchains for the big JS/Python guests are fetched by their
# build script from the package registries into target/.
set -euo pipefail
cd "$(dirname "$0")"
cargo test --workspace --all-targets "$@"
