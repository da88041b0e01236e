#!/bin/bash
# Renders nginx.conf's @@TOKENS@@ from LAB_* variables to the file its -c flag names, then becomes nginx
# (master + 8 workers) with the flags it is given (the container's command, rendered by the lab from its
# stack spec: common/src/stack-spec.ts, nginxArgs). The error log (-e) points at stderr (`docker logs`).
set -euo pipefail
[ "$#" -gt 0 ] || { echo "nginx: no flags given: the lab passes them (NGINX_ARGS in .env)" >&2; exit 2; }
CONF="$(flag-value -c "$@")"
ERR="$(flag-value -e "$@")"
mkdir -p "$(flag-value -p "$@")" "$(dirname "$ERR")" "$LAB_RUN_DIR/logs"
ln -sf /dev/stderr "$ERR"
render-tokens /srv/eserver-lab/nginx/nginx.conf "$CONF"
nginx -t -q "$@"
exec nginx "$@"
