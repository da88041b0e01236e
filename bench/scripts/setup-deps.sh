#!/usr/bin/env bash
# Installs the Debian packages the native stack needs, when they are missing.
# On a machine where that cannot be done (not Debian/Ubuntu, not root) it prints exactly what to install.
set -euo pipefail

# binary -> package that provides it
declare -A need=(
  [nginx]=nginx
  [php-fpm8.2]=php-fpm
  [php]=php-cli
  [mariadbd]=mariadb-server
  [mariadb-install-db]=mariadb-server
  [mariadb]=mariadb-client
  # the 2013-style queue server (bench/seed2013) of make calibrate, PROFILE=seed2013 and the CI gate
  [python3]=python3
)
missing=()
for bin in "${!need[@]}"; do
  if ! command -v "$bin" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$bin" ]; then
    missing+=("${need[$bin]}")
  fi
done
# php-fpm may be another minor version than 8.2 on other releases (the lab runner finds php-fpm8.x itself);
# it usually lives in /usr/sbin, which a non-root PATH lacks.
if printf '%s\n' "${missing[@]}" | grep -qx php-fpm \
   && { compgen -c | grep -qE '^php-fpm[0-9.]*$' || ls /usr/sbin/php-fpm* >/dev/null 2>&1; }; then
  missing=("${missing[@]/php-fpm}")
fi
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | grep -v '^$' | sort -u)
can_apt=false
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && grep -qiE 'debian|ubuntu' /etc/os-release; then
  can_apt=true
fi

# The Docker mode (and its end-to-end test) needs an engine, Compose and debootstrap. They are optional:
# installed when this machine can, otherwise the Docker test reports itself skipped with the reason.
docker_missing=()
command -v dockerd >/dev/null 2>&1 || [ -x /usr/sbin/dockerd ] || docker_missing+=(docker.io)
command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1 || docker_missing+=(docker-compose)
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || docker_missing+=(debootstrap)
# Compose v1 (Python) reaches an ssh:// engine, the way to a real server, only with paramiko: checked with
# the interpreter docker-compose runs on (its #! line; Debian's /usr/bin/python3, not a python3 first on PATH).
if ! docker compose version >/dev/null 2>&1; then
  compose_py=/usr/bin/python3
  if compose_bin="$(command -v docker-compose)"; then
    read -r first_line < "$compose_bin" || true
    case "$first_line" in '#!'*python*) compose_py="${first_line#\#!}";; esac
  fi
  # shellcheck disable=SC2086 # "/usr/bin/env python3" is two words
  $compose_py -c 'import paramiko' >/dev/null 2>&1 || docker_missing+=(python3-paramiko)
fi
if [ "${#docker_missing[@]}" -gt 0 ] && [ "${ESERVER_SKIP_DOCKER_SETUP:-}" != 1 ]; then
  if $can_apt; then
    missing+=("${docker_missing[@]}")
  else
    echo "setup: optional, for the Docker mode: apt-get install -y ${docker_missing[*]}" >&2
  fi
fi

if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup: nginx, php-fpm, php-cli, mariadb and python3 are installed"
  exit 0
fi

if $can_apt; then
  echo "setup: installing ${missing[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "setup: installed ${missing[*]}"
else
  echo "setup: missing Debian packages: ${missing[*]}" >&2
  echo "  install them as root with:  apt-get update && apt-get install -y ${missing[*]}" >&2
  echo "  (on other systems install nginx, PHP-FPM with the sockets extension, PHP CLI and MariaDB server)" >&2
  exit 1
fi
