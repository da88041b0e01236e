#!/bin/bash
# Becomes the queue server (node as the container's main process, so SIGTERM from `down` reaches it and
# it drains or journals). Extra arguments from the compose command / `docker run` are passed through.
set -euo pipefail
R="$LAB_RUN_DIR"
mkdir -p "$R/journal"
args=(--host 127.0.0.1 --port "$LAB_QUEUE_PORT" --metrics-port "$LAB_METRICS_PORT"
      --mysql-url "mysql://$LAB_MYSQL_USER:$LAB_MYSQL_PASSWORD@127.0.0.1:$LAB_MYSQL_PORT/eserver"
      --journal-dir "$R/journal" --backlog "${LAB_LISTEN_BACKLOG:-65535}")
[ -n "${LAB_QUEUE_FSYNC:-}" ] && args+=(--fsync "$LAB_QUEUE_FSYNC")
[ -n "${LAB_QUEUE_EXTRA_ARGS:-}" ] && read -r -a extra <<< "$LAB_QUEUE_EXTRA_ARGS" && args+=("${extra[@]}")
exec node /srv/eserver-lab/queue-server/dist/src/cli.js "${args[@]}" "$@"
