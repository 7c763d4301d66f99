#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what it needs (ci/setup.sh), builds the
# workspace once (release, statically linked: the binaries the archives carry), installs each
# example once, then runs every test.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. ci/setup.sh
# The suite needs about 10 GB (target/, every example's node_modules, builds under /tmp). Say so
# up front: an ENOSPC deep inside npm or cargo reads as anything but a full disk.
free_gb=$(df -Pk . /tmp | awk 'NR > 1 { g = int($4 / 1048576); if (min == "" || g < min) min = g } END { print min }')
echo "== free disk: ${free_gb} GB (here and in /tmp)"
if (( free_gb < 10 )); then
  echo "!! less than 10 GB free: the suite may fail with ENOSPC; free some space first" >&2
fi
test_apt=()
# libfaketime: tests/determinism.rs builds one copy of each example with the clock days ahead.
command -v faketime >/dev/null || test_apt+=(faketime)
# Tests compile small native addons (shared objects) with cc.
command -v cc >/dev/null || test_apt+=(gcc)
# tests/docs_examples.rs runs the docs' curl commands.
command -v curl >/dev/null || test_apt+=(curl)
if ((${#test_apt[@]})); then
  echo "test: apt-get install ${test_apt[*]}" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${test_apt[@]}" >/dev/null
fi
# podman, docker, skopeo, umoci, oci-image-tool, docker-registry for tests/image_*.rs
bash ci/containers.sh
# cyclonedx-python-lib, spdx-tools (PyPI) and cyclonedx-npm for tests/sbom.rs
bash ci/sbom-tools.sh
# kubernetes-validate (PyPI) checks `watt k8s` output offline (packer/tests/k8s.rs), in its own venv.
if [[ ! -x "$TOOLS/bin/kubernetes-validate" ]]; then
  echo "setup: installing kubernetes-validate into $TOOLS/py" >&2
  if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  fi
  python3 -m venv "$TOOLS/py"
  "$TOOLS/py/bin/pip" install --quiet --disable-pip-version-check kubernetes-validate >&2
  mkdir -p "$TOOLS/bin"
  ln -sf ../py/bin/kubernetes-validate "$TOOLS/bin/kubernetes-validate"
fi

. ci/release-flags.sh
TARGET=$WATT_TARGET
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
# One retry per app: a registry hiccup on a cold cache must not cost the whole run. A failure
# that stays names the app and shows the error lines of npm's own log, which `--loglevel=error`
# alone reduces to "see the log".
npm_ci() {
  local dir=$1 attempt log
  for attempt in 1 2 3; do
    if (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error); then
      return 0
    fi
    log=$(ls -t "$(npm config get cache)/_logs/"*-debug-*.log 2>/dev/null | head -1)
    echo "!! npm ci in $dir failed (attempt $attempt of 3); from $log:" >&2
    [[ -n $log ]] && grep -E ' (error|warn|http fetch .* (4|5)[0-9][0-9]) ' "$log" | tail -40 >&2
    sleep $((attempt * 10))
  done
  echo "!! npm ci in $dir failed three times; giving up" >&2
  return 1
}
for ex in examples/*/ tests/fixtures/*/; do
  if [[ -f "$ex/package-lock.json" ]]; then
    echo "-- $ex"
    npm_ci "$ex"
  fi
done

echo "== test"
# --no-fail-fast: one failing test binary must not hide the others' results.
"${CARGO[@]}" test --release --target "$TARGET" --workspace --no-fail-fast "$@"
