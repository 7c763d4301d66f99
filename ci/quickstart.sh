#!/usr/bin/env bash
# The main job on a fresh machine: build watt and watt-stub, install examples/api, and pack it
# into api.tar.zst with built-in defaults. Extra arguments go to `watt build`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. ci/setup.sh
TARGET=x86_64-unknown-linux-gnu
RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --target "$TARGET" -p watt-pack -p watt-stub
(cd examples/api && npm ci --no-audit --no-fund --loglevel=error)
exec "target/$TARGET/release/watt" build examples/api -o api.tar.zst "$@"
