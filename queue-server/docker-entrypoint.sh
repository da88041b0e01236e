#!/bin/bash
# Becomes the queue server (bun or node as the container's main process, so SIGTERM from `down` reaches it
# and it drains or journals). Its flags are the container's command (Compose's command:) and its runtime the
# container's QUEUE_RUNTIME, both rendered by the lab from its stack spec (common/src/stack-spec.ts:
# queueServerArgs; the default runtime: queue-server/src/runtime.ts). The server creates its journal itself.
set -euo pipefail
[ "$#" -gt 0 ] || { echo "queue-server: no flags given: the lab passes them (QUEUE_SERVER_ARGS in .env)" >&2; exit 2; }
case "${QUEUE_RUNTIME:-}" in
  bun|node) ;;
  '') echo "queue-server: no QUEUE_RUNTIME given: the lab passes it (QUEUE_RUNTIME in .env); set QUEUE_RUNTIME=bun or QUEUE_RUNTIME=node" >&2; exit 2;;
  *) echo "queue-server: QUEUE_RUNTIME=${QUEUE_RUNTIME} is not a runtime of this image: use QUEUE_RUNTIME=bun or QUEUE_RUNTIME=node" >&2; exit 2;;
esac
exec "$QUEUE_RUNTIME" /srv/eserver-lab/queue-server/dist/src/cli.js "$@"
