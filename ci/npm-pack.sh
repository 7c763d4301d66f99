#!/usr/bin/env bash
# Packs the npm distribution of watt from the release binaries: `watt-pack` (the `watt` and
# `watt-pack` commands, a JS launcher) and `watt-pack-linux-x64` (bin/watt and bin/watt-stub),
# both at the workspace version, into OUT_DIR (default target/npm). Prints each tarball's path
# and size in bytes, one a line. Builds nothing: the binaries come from the release build
# (override with WATT_BIN / WATT_STUB). Same binaries and sources → byte-identical tarballs.
#
#   ci/npm-pack.sh [OUT_DIR]
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET=x86_64-unknown-linux-gnu
BUILD_CMD="RUSTFLAGS=\"-C target-feature=+crt-static\" cargo build --locked --release --target $TARGET --workspace --bins"
WATT_BIN="${WATT_BIN:-$REPO/target/$TARGET/release/watt}"
WATT_STUB="${WATT_STUB:-$REPO/target/$TARGET/release/watt-stub}"
OUT_DIR="${1:-$REPO/target/npm}"

die() {
  echo "npm-pack: $*" >&2
  exit 1
}

command -v node >/dev/null || die "node not found on PATH (source ci/setup.sh)"
command -v npm >/dev/null || die "npm not found on PATH (source ci/setup.sh)"
for bin in "$WATT_BIN" "$WATT_STUB"; do
  [[ -f $bin ]] || die "$bin not found; build the release binaries first (in $REPO): $BUILD_CMD
(or point WATT_BIN / WATT_STUB at them)"
done

# The platform package promises any x86-64 Linux whatever its libc: only a static x86-64 ELF
# (no PT_INTERP, i.e. no dynamic loader to find) keeps that promise. A plain `cargo build`
# without the RUSTFLAGS above gives a glibc-linked one, which must not ship.
node - "$WATT_BIN" "$WATT_STUB" <<'EOF' || die "rebuild with: $BUILD_CMD"
const fs = require('fs');
for (const file of process.argv.slice(2)) {
  const b = fs.readFileSync(file);
  const bad = (why) => { console.error(`npm-pack: ${file}: ${why}`); process.exit(1); };
  if (b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 2 || b[5] !== 1) bad('not a 64-bit little-endian ELF');
  if (b.readUInt16LE(18) !== 0x3e) bad('not an x86-64 executable');
  const phoff = Number(b.readBigUInt64LE(32)), size = b.readUInt16LE(54), count = b.readUInt16LE(56);
  for (let i = 0; i < count; i++) {
    if (b.readUInt32LE(phoff + i * size) === 3) bad('dynamically linked (has an ELF interpreter); the npm package needs static binaries');
  }
}
EOF

# The one version: the workspace's, which both Cargo packages inherit.
VERSION="$(awk '
  /^\[/ { section = $0 }
  section == "[workspace.package]" && $1 == "version" { gsub(/"/, "", $3); print $3; exit }
' "$REPO/Cargo.toml")"
[[ $VERSION =~ ^[0-9]+\.[0-9]+\.[0-9]+ ]] || die "no [workspace.package] version in $REPO/Cargo.toml (got '$VERSION')"

STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT
cp -R "$REPO/npm/watt-pack" "$REPO/npm/watt-pack-linux-x64" "$STAGE/"
mkdir -p "$STAGE/watt-pack-linux-x64/bin"
# npm ships a package's LICENSE whatever `files` says; the Apache-2.0 text goes with both.
if [[ -f $REPO/LICENSE ]]; then
  cp "$REPO/LICENSE" "$STAGE/watt-pack/LICENSE"
  cp "$REPO/LICENSE" "$STAGE/watt-pack-linux-x64/LICENSE"
fi
cp "$WATT_BIN" "$STAGE/watt-pack-linux-x64/bin/watt"
cp "$WATT_STUB" "$STAGE/watt-pack-linux-x64/bin/watt-stub"
# npm packs the execute bits it finds (and never clears a umask's 0600): set every mode, so
# the checkout's umask does not reach the tarballs and the binaries stay executable.
find "$STAGE" -type d -exec chmod 0755 {} +
find "$STAGE" -type f -exec chmod 0644 {} +
chmod 0755 "$STAGE/watt-pack/bin/watt.js" "$STAGE/watt-pack-linux-x64/bin/watt" \
  "$STAGE/watt-pack-linux-x64/bin/watt-stub"

node - "$STAGE" "$VERSION" <<'EOF'
const fs = require('fs');
const [stage, version] = process.argv.slice(2);
for (const name of ['watt-pack', 'watt-pack-linux-x64']) {
  const file = `${stage}/${name}/package.json`;
  const pkg = JSON.parse(fs.readFileSync(file, 'utf8'));
  pkg.version = version;
  // Exact pins: the launcher runs only the binary released with it.
  for (const dep of Object.keys(pkg.optionalDependencies || {})) pkg.optionalDependencies[dep] = version;
  fs.writeFileSync(file, JSON.stringify(pkg, null, 2) + '\n');
}
EOF

mkdir -p "$OUT_DIR"
OUT_DIR="$(cd "$OUT_DIR" && pwd)"
for name in watt-pack-linux-x64 watt-pack; do
  # A user's or CI's npm config must not add scripts or change what is packed.
  (cd "$STAGE/$name" && npm pack --ignore-scripts --pack-destination "$OUT_DIR" >/dev/null) ||
    die "npm pack of $name failed"
  tgz="$OUT_DIR/$name-$VERSION.tgz"
  [[ -f $tgz ]] || die "npm pack did not write $tgz"
  echo "$tgz $(stat -c %s "$tgz")"
done
