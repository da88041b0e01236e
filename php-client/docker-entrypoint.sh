#!/bin/bash
# Renders php-fpm.conf's @@TOKENS@@ from LAB_* variables to the file its -y flag names, then becomes the
# php-fpm master with the flags it is given (the container's command, rendered by the lab from its stack
# spec: common/src/stack-spec.ts, phpFpmArgs). Its log files point at stderr (`docker logs`).
set -euo pipefail
[ "$#" -gt 0 ] || { echo "php-fpm: no flags given: the lab passes them (PHP_FPM_ARGS in .env)" >&2; exit 2; }
R="$LAB_RUN_DIR"
mkdir -p "$R/php-fpm" "$R/logs"
ln -sf /dev/stderr "$R/logs/php-fpm.log"
ln -sf /dev/stderr "$R/logs/php-errors.log"
render-tokens /srv/eserver-lab/php-client/php-fpm.conf "$(flag-value -y "$@")"
exec php-fpm "$@"
