#!/usr/bin/env bash
# The release tarball: target/release-dist/watt-<version>-x86_64-unknown-linux-gnu.tar.gz and its
# .sha256 (arguments go to `xtask release`, e.g. `--out DIR`). Builds what ci/test.sh builds,
# with its flags, so the two share one build cache and the tarball carries those binaries.
# Same commit, same bytes; SOURCE_DATE_EPOCH, when set, replaces the commit time as file time.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. ci/release-flags.sh
"${WATT_BUILD[@]}" --workspace --bins
exec "target/$WATT_TARGET/release/xtask" release "$@"
