#!/usr/bin/env bash
# Container tools for the image tests (tests/image_*.rs), from Debian, installed once:
# podman (configured as this kind of machine needs), skopeo, umoci, oci-image-tool, runc,
# docker.io (engine + CLI; the tests start their own dockerd) and docker-registry.
# Run as root; idempotent. Source it or run it.
set -euo pipefail
need=()
for pair in podman:podman skopeo:skopeo umoci:umoci oci-image-tool:oci-image-tool runc:runc \
  dockerd:docker.io docker-registry:docker-registry htpasswd:apache2-utils; do
  command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}")
done
if ((${#need[@]})); then
  echo "containers: apt-get install ${need[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# Debian starts these as services where systemd runs; the tests start their own instances.
# podman on these machines: crun rejects the hybrid cgroup setup and raising rlimits is refused.
mkdir -p /etc/containers
conf=/etc/containers/containers.conf
if ! grep -q 'watt-pack' "$conf" 2>/dev/null; then
  cat >"$conf" <<'CONF'
# watt-pack ci/containers.sh: what podman needs on the CI machines
[containers]
netns = "host"
default_ulimits = ["nofile=1024:1024", "nproc=1000:1000"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
fi
