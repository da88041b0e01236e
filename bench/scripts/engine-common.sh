# Sourced by docker-engine.sh and docker-engine-remote.sh: what the lab's two engines of a checkout share.
# Each checkout gets engines of its own: short names and paths follow from 8 hex of the checkout's path.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HASH="$(printf '%s' "$ROOT" | sha1sum | cut -c1-8)"

# engine_files DIR: an engine's files below the checkout's run/DIR (data-root, pid file, log).
engine_files() {
  RUN="$ROOT/run/$1"
  DATA="$RUN/data"
  PIDFILE="$RUN/dockerd.pid"
  LOG="$RUN/dockerd.log"
}

alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
answers() { timeout 5 docker info >/dev/null 2>&1; }
procs_naming() { # pids whose command line contains $1 (this engine's own paths only)
  local p
  for p in /proc/[0-9]*; do
    { tr '\0' ' ' < "$p/cmdline"; } 2>/dev/null | grep -qF -- "$1" && [ "${p#/proc/}" != "$$" ] && [ "${p#/proc/}" != "$BASHPID" ] && echo -n "${p#/proc/} "
  done
  return 0
}
