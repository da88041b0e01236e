#!/bin/bash
# Renders nginx.conf's @@TOKENS@@ from LAB_* variables, then becomes nginx (master + 8 workers).
# Log files named in the config point at stderr, so `docker logs` shows them.
set -euo pipefail
R="$LAB_RUN_DIR"
mkdir -p "$R/nginx" "$R/logs"
ln -sf /dev/stderr "$R/logs/nginx-error.log"
render-tokens /srv/eserver-lab/nginx/nginx.conf "$R/nginx/nginx.conf"
nginx -t -q -c "$R/nginx/nginx.conf" -e "$R/logs/nginx-error.log"
exec nginx -c "$R/nginx/nginx.conf" -e "$R/logs/nginx-error.log"
