#!/bin/bash
# Renders php-fpm.conf's @@TOKENS@@ from LAB_* variables, then becomes the php-fpm master.
# Log files named in the config point at stderr, so `docker logs` shows them.
set -euo pipefail
R="$LAB_RUN_DIR"
mkdir -p "$R/php-fpm" "$R/logs"
ln -sf /dev/stderr "$R/logs/php-fpm.log"
ln -sf /dev/stderr "$R/logs/php-errors.log"
render-tokens /srv/eserver-lab/php-client/php-fpm.conf "$R/php-fpm/php-fpm.conf"
exec php-fpm -F -R -y "$R/php-fpm/php-fpm.conf"
