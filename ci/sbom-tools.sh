#!/usr/bin/env bash
# SBOM checkers for tests/sbom.rs, installed once per run into .cache/tools: cyclonedx-python-lib
# (its CycloneDX 1.5 JSON schema validator) and spdx-tools (`pyspdxtools`) from PyPI in a venv,
# and @cyclonedx/cyclonedx-npm from npm (the reference package list the test compares with).
# Source it or run it; idempotent.
set -euo pipefail
SBOM_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SBOM_TOOLS="$SBOM_REPO/.cache/tools"
CDX_PY_VERSION=11.12.0
SPDX_TOOLS_VERSION=0.8.5
CDX_NPM_VERSION=6.0.1
if [[ ! -f "$SBOM_TOOLS/sbom-py/.installed-$CDX_PY_VERSION-$SPDX_TOOLS_VERSION" ]]; then
  echo "sbom-tools: installing cyclonedx-python-lib $CDX_PY_VERSION and spdx-tools $SPDX_TOOLS_VERSION" >&2
  if ! python3 -c 'import ensurepip' 2>/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  fi
  rm -rf "$SBOM_TOOLS/sbom-py"
  python3 -m venv "$SBOM_TOOLS/sbom-py"
  "$SBOM_TOOLS/sbom-py/bin/pip" install --quiet --disable-pip-version-check \
    "cyclonedx-python-lib[json-validation]==$CDX_PY_VERSION" "spdx-tools==$SPDX_TOOLS_VERSION" >&2
  touch "$SBOM_TOOLS/sbom-py/.installed-$CDX_PY_VERSION-$SPDX_TOOLS_VERSION"
fi
if [[ ! -x "$SBOM_TOOLS/cdx/node_modules/.bin/cyclonedx-npm" ]] ||
  ! grep -q "\"version\": \"$CDX_NPM_VERSION\"" "$SBOM_TOOLS/cdx/node_modules/@cyclonedx/cyclonedx-npm/package.json"; then
  echo "sbom-tools: installing @cyclonedx/cyclonedx-npm $CDX_NPM_VERSION" >&2
  npm install --silent --no-audit --no-fund --prefix "$SBOM_TOOLS/cdx" "@cyclonedx/cyclonedx-npm@$CDX_NPM_VERSION" >&2
fi
