#!/bin/bash
# Becomes the queue server (node as the container's main process, so SIGTERM from `down` reaches it and
# it drains or journals). Its flags are the container's command (Compose's command:), which the lab renders
# from its stack spec (common/src/stack-spec.ts: queueServerArgs); the server creates its journal itself.
set -euo pipefail
[ "$#" -gt 0 ] || { echo "queue-server: no flags given: the lab passes them (QUEUE_SERVER_ARGS in .env)" >&2; exit 2; }
exec node /srv/eserver-lab/queue-server/dist/src/cli.js "$@"
