#!/usr/bin/env bash
# Builds the lab's base image with no registry: debootstrap a minimal Debian bookworm from the machine's
# own apt mirror, then `docker import` it as eserver-lab/bookworm-base:latest. The Dockerfiles take it via
# --build-arg BASE_IMAGE=eserver-lab/bookworm-base:latest (their default is debian:bookworm-slim, for
# machines that reach a registry). Skips when the image exists (FORCE=1 rebuilds).
#
# Env: DOCKER_HOST (defaults to the lab engine's socket), BASE_IMAGE_TAG, DEBIAN_MIRROR, FORCE, and APT_PROXY
# (an http:// proxy the image's apt goes through: the second engine of docker-engine-remote.sh has no other way out).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TAG="${BASE_IMAGE_TAG:-eserver-lab/bookworm-base:latest}"
export DOCKER_HOST="${DOCKER_HOST:-$(bash "$ROOT/bench/scripts/docker-engine.sh" host)}"

die() { echo "docker-base: $*" >&2; exit 1; }
timeout 5 docker info >/dev/null 2>&1 || die "no Docker engine answers on $DOCKER_HOST (start one with 'make docker-engine')"
if [ -z "${FORCE:-}" ] && docker image inspect "$TAG" >/dev/null 2>&1; then
  echo "docker-base: $TAG exists ($(docker image inspect -f '{{.Size}}' "$TAG") bytes); FORCE=1 rebuilds"; exit 0
fi

# The mirror this machine already uses (deb822 .sources first, then the one-line format).
mirror() {
  local f u
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    u="$(awk '/^URIs:/ {print $2}' "$f" | grep -v -e security -e nodesource -e google | head -n1)"
    [ -n "$u" ] && { echo "$u"; return; }
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    u="$(awk '$1=="deb" && $0 ~ /debian/ && $0 !~ /security/ {for (i=2;i<=NF;i++) if ($i ~ /^https?:/) {print $i; exit}}' "$f")"
    [ -n "$u" ] && { echo "$u"; return; }
  done
}
MIRROR="${DEBIAN_MIRROR:-$(mirror)}"
# This script carries no mirror host of its own: the machine's apt sources name one, or the user does.
[ -n "$MIRROR" ] || die "this machine's apt sources name no Debian mirror; set one, e.g. DEBIAN_MIRROR=http://<your-mirror>/debian make docker-base"
# Security updates too, so that the images get the same package versions as an up-to-date host.
SECURITY="${DEBIAN_SECURITY_MIRROR:-$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null | grep -E "^(URIs:|deb )" |
  grep -o 'https\?://[^ ]*debian-security' | head -n1 || true)}"

if timeout 10 docker pull -q debian:bookworm-slim >/dev/null 2>&1; then
  echo "docker-base: a registry answers; tagging debian:bookworm-slim as $TAG"
  docker tag debian:bookworm-slim "$TAG"; exit 0
fi

[ "$(id -u)" = 0 ] || die "debootstrap needs root"
command -v debootstrap >/dev/null || die "debootstrap not found: apt-get install -y debootstrap"
DIR="$(mktemp -d "${TMPDIR:-/tmp}/esl-base.XXXXXX")"
trap 'rm -rf "$DIR"' EXIT
t0=$(date +%s)
echo "docker-base: debootstrap --variant=minbase bookworm from $MIRROR"
# Downloaded .debs are kept under run/docker, so a rebuild (FORCE=1, or after wiping the engine) skips them.
mkdir -p "$ROOT/run/docker/debootstrap-cache"
debootstrap --variant=minbase --cache-dir="$ROOT/run/docker/debootstrap-cache" bookworm "$DIR" "$MIRROR" > "$DIR.log" 2>&1 || { tail -n 20 "$DIR.log" >&2; die "debootstrap failed (log: $DIR.log)"; }
rm -f "$DIR.log"
# Keep images small, and let the Dockerfiles' apt-get use the same mirror.
rm -rf "$DIR"/var/cache/apt/archives/*.deb "$DIR"/var/lib/apt/lists/*
echo "deb $MIRROR bookworm main" > "$DIR/etc/apt/sources.list"
echo "deb $MIRROR bookworm-updates main" >> "$DIR/etc/apt/sources.list"
if [ -n "$SECURITY" ]; then
  echo "deb $SECURITY bookworm-security main" >> "$DIR/etc/apt/sources.list"
else
  echo "docker-base: no security mirror in this machine's apt sources (DEBIAN_SECURITY_MIRROR sets one); the images get bookworm and bookworm-updates only"
fi
if [ -n "${APT_PROXY:-}" ]; then
  echo "Acquire::http::Proxy \"$APT_PROXY\";" > "$DIR/etc/apt/apt.conf.d/01eserver-lab-proxy"
  echo "docker-base: the image's apt goes through $APT_PROXY"
fi
# As in debian:bookworm-slim: no docs, man pages or translations. And dpkg without an fsync per file
# (what Debian's own image builders set for containers): the image builds unpack several hundred files.
cat > "$DIR/etc/dpkg/dpkg.cfg.d/docker-slim" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/lintian/*
force-unsafe-io
CFG
tar -C "$DIR" -c . | docker import -c 'CMD ["/bin/bash"]' - "$TAG" >/dev/null
echo "docker-base: imported $TAG in $(( $(date +%s) - t0 )) s"
