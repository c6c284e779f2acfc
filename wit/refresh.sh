#!/usr/bin/env bash
# Refresh the vendored WIT of wasi:http (and its deps) from the
# `wasmtime-wasi-http` crate source on crates.io. Copies the crate's `wit/`
# directory unchanged into this directory (world.wit + deps/*.wit).
#
# Usage: wit/refresh.sh [VERSION]     (default: the pinned version below)
set -euo pipefail

VERSION="${1:-48.0.8}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

SCRATCH="$(mktemp -d)"
trap 'rm -rf "$SCRATCH"' EXIT

# A scratch crate outside the workspace whose only job is `cargo fetch`.
mkdir -p "$SCRATCH/fetch-wit/src"
cat > "$SCRATCH/fetch-wit/Cargo.toml" <<TOML
[package]
name = "fetch-wit"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
wasmtime-wasi-http = "=$VERSION"

[workspace]
TOML
echo "" > "$SCRATCH/fetch-wit/src/lib.rs"

# Use the same CARGO_HOME as the caller so an already-fetched crate is reused.
( cd "$SCRATCH/fetch-wit" && cargo fetch --quiet )

CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"
SRC=""
for d in "$CARGO_HOME"/registry/src/*/wasmtime-wasi-http-"$VERSION"/wit; do
  if [ -f "$d/world.wit" ]; then SRC="$d"; break; fi
done
if [ -z "$SRC" ]; then
  echo "error: wasmtime-wasi-http-$VERSION/wit not found under $CARGO_HOME/registry/src" >&2
  exit 1
fi

# Replace the vendored .wit files (README.md and refresh.sh stay).
rm -rf "$HERE/deps"
rm -f "$HERE"/*.wit
cp "$SRC"/*.wit "$HERE"/
cp -r "$SRC/deps" "$HERE/deps"

echo "vendored WIT from $SRC into $HERE:"
( cd "$HERE" && find . -name '*.wit' | sort )
