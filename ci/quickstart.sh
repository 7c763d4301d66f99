#!/usr/bin/env bash
# The main job on a fresh machine: build watt and watt-stub, install examples/api, and pack it
# into api.tar.zst with built-in defaults. Extra arguments go to `watt build`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. ci/setup.sh
. ci/release-flags.sh
"${WATT_BUILD[@]}" -p watt-pack -p watt-stub
(cd examples/api && npm ci --no-audit --no-fund --loglevel=error)
exec "target/$WATT_TARGET/release/watt" build examples/api -o api.tar.zst "$@"
