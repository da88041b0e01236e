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
)
missing=()
for bin in "${!need[@]}"; do
  if ! command -v "$bin" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$bin" ]; then
    missing+=("${need[$bin]}")
  fi
done
# php-fpm may be another minor version than 8.2 on other releases.
if printf '%s\n' "${missing[@]}" | grep -qx php-fpm && compgen -c | grep -qE '^php-fpm[0-9.]+$'; then
  missing=("${missing[@]/php-fpm}")
fi
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | grep -v '^$' | sort -u)
if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup: nginx, php-fpm, php-cli and mariadb are installed"
  exit 0
fi

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && grep -qiE 'debian|ubuntu' /etc/os-release; then
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
