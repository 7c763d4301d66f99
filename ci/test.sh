#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what it needs (ci/setup.sh), builds the
# workspace once (release, statically linked: the binaries the archives carry), installs each
# example once, then runs every test.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. ci/setup.sh
# podman, docker, skopeo, umoci, oci-image-tool, docker-registry for tests/image_*.rs
bash ci/containers.sh
# cyclonedx-python-lib, spdx-tools (PyPI) and cyclonedx-npm for tests/sbom.rs
bash ci/sbom-tools.sh

TARGET=x86_64-unknown-linux-gnu
# Static glibc: the stub must start on any Linux, whatever libc the host or image has.
# With an explicit --target, RUSTFLAGS reach only target code, so proc-macros still build.
export RUSTFLAGS="-C target-feature=+crt-static"
export CARGO_TERM_COLOR=never
CARGO=(cargo --locked)
[[ -f Cargo.lock ]] || CARGO=(cargo)

echo "== cargo fmt --check"
cargo fmt --all --check

echo "== build (release, $TARGET, static)"
"${CARGO[@]}" build --release --target "$TARGET" --workspace --bins
"${CARGO[@]}" test --release --target "$TARGET" --workspace --no-run
export WATT_BIN="$PWD/target/$TARGET/release/watt"
export WATT_STUB="$PWD/target/$TARGET/release/watt-stub"

echo "== install examples and test fixtures"
for ex in examples/*/ tests/fixtures/*/; do
  if [[ -f "$ex/package-lock.json" ]]; then
    (cd "$ex" && npm ci --no-audit --no-fund --loglevel=error)
  fi
done

echo "== test"
# --no-fail-fast: one failing test binary must not hide the others' results.
"${CARGO[@]}" test --release --target "$TARGET" --workspace --no-fail-fast "$@"
