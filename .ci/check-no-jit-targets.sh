#!/usr/bin/env bash
# Checks that cohost's no-JIT configuration compiles for targets where a JIT
# is forbidden or beside the point, from this Linux machine:
#
# 1. aarch64-apple-ios: the engine stack an iOS app embeds (engine-abi, the
#    canonical ABI and component model, and backend-wasmi), pure Rust.
#    host-http and the cohost library also need `ring` (rustls, for
#    outgoing https), whose C and assembly build only with Apple's SDK
#    (xcrun/clang), which exists on macOS alone; run step 3 with
#    --target aarch64-apple-ios there.
# 2. aarch64-apple-ios: the interp-only dependency tree for that target has
#    no code generator (no wasmtime, cranelift, winch, pulley).
# 3. aarch64-unknown-linux-gnu: the whole interp-only cohost library and
#    binary (host-http, hyper, rustls/ring with Debian's cross gcc).
#
# Installs the rustup targets and Debian's gcc-aarch64-linux-gnu if missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need_target() {
    rustup target list --installed | grep -qx "$1" || rustup target add "$1"
}

echo "== 1. engine-abi + backend-wasmi for aarch64-apple-ios"
need_target aarch64-apple-ios
cargo check -p engine-abi -p backend-wasmi --target aarch64-apple-ios

echo "== 2. no code generator in the interp-only tree for aarch64-apple-ios"
tree=$(cargo tree -p cohost --no-default-features --features interp \
    --target aarch64-apple-ios -e normal --prefix none)
if grep -E 'wasmtime|cranelift|winch|pulley' <<< "$tree"; then
    echo "a code generator is in the interp-only tree" >&2
    exit 1
fi
echo "ok: $(sort -u <<< "$tree" | wc -l) crates, none of them a code generator"

echo "== 3. the interp-only cohost for aarch64-unknown-linux-gnu"
need_target aarch64-unknown-linux-gnu
if ! command -v aarch64-linux-gnu-gcc > /dev/null; then
    apt-get update -qq && apt-get install -y -qq gcc-aarch64-linux-gnu
fi
CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc \
    cargo check -p cohost --no-default-features --features interp \
    --lib --bins --examples --target aarch64-unknown-linux-gnu
echo "== all checked"
