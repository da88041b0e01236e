#!/usr/bin/env bash
# A private Docker engine for the lab: Debian's dockerd (docker.io) with its data under the repo's run/
# directory, its own socket, no bridge and no iptables (every service uses the host network), and its own
# containerd, which dockerd starts and stops as a child.
#
#   docker-engine.sh start            start it (no-op when it already answers); prints the DOCKER_HOST
#   docker-engine.sh stop             stop it by pid, wait, verify that dockerd and containerd are gone
#   docker-engine.sh status           exit 0 and print DOCKER_HOST when it answers, exit 1 otherwise
#   docker-engine.sh host             print the DOCKER_HOST value (whether or not it runs)
#
# The stack's parent cgroup (CGROUP_PARENT, below dockerd's own cgroup) is not this script's: the lab writes
# it at every `up` from the resolved budget and removes it at `down` (bench/src/lab/docker/engine.ts, through
# bench/src/host/cgroup.ts), so no budget has a default here.
# Paths: data-root and socket live in <repo>/run/docker. The exec-root (containerd's sockets and the
# runtime state) must be short because unix socket paths are limited to 108 bytes, so it lives in
# /run/esl-docker-<8 hex of the repo path>: short, and distinct for each checkout.
set -euo pipefail
# ROOT, HASH, engine_files, alive, answers, procs_naming.
source "$(dirname "${BASH_SOURCE[0]}")/engine-common.sh"
engine_files docker
SOCK="$RUN/docker.sock"
EXEC_ROOT="/run/esl-docker-$HASH"
export DOCKER_HOST="unix://$SOCK"
die() { echo "docker-engine: $*" >&2; exit 1; }
dockerd_pid() { [ -f "$PIDFILE" ] && cat "$PIDFILE" || true; }
children_of() { cat /proc/"$1"/task/*/children 2>/dev/null | tr ' ' '\n' | grep -E '^[0-9]+$' || true; }

start() {
  local pid; pid="$(dockerd_pid)"
  if alive "$pid" && answers; then echo "docker-engine: already running (pid $pid)"; echo "DOCKER_HOST=$DOCKER_HOST"; return 0; fi
  [ "$(id -u)" = 0 ] || die "dockerd needs root; run as root or point DOCKER_HOST at an existing engine"
  command -v dockerd >/dev/null || die "dockerd not found: apt-get install -y docker.io (Debian/Ubuntu)"
  command -v docker >/dev/null || die "docker CLI not found: apt-get install -y docker.io"
  alive "$pid" && die "a dockerd (pid $pid) runs but does not answer on $SOCK; run '$0 stop' first"
  mkdir -p "$DATA" "$EXEC_ROOT"
  rm -f "$PIDFILE" "$SOCK"
  local t0; t0=$(date +%s.%N)
  # setsid: its own session, so a Ctrl-C in the calling shell does not reach it.
  setsid dockerd --iptables=false --ip-masq=false --bridge=none \
    --data-root "$DATA" --exec-root "$EXEC_ROOT" --pidfile "$PIDFILE" -H "$DOCKER_HOST" \
    --exec-opt native.cgroupdriver=cgroupfs >"$LOG" 2>&1 < /dev/null &
  local bgpid=$!
  local i
  for i in $(seq 1 300); do
    answers && break
    alive "$bgpid" || { tail -n 20 "$LOG" >&2; die "dockerd exited during start (log: $LOG)"; }
    sleep 0.1
  done
  answers || { tail -n 20 "$LOG" >&2; kill "$bgpid" 2>/dev/null || true; die "dockerd did not answer within 30 s (log: $LOG)"; }
  local t1; t1=$(date +%s.%N)
  echo "docker-engine: dockerd pid $(dockerd_pid) answered after $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}') s" \
       "(storage $(docker info -f '{{.Driver}}'), cgroup driver $(docker info -f '{{.CgroupDriver}}'))"
  echo "DOCKER_HOST=$DOCKER_HOST"
  echo "(use it: export DOCKER_HOST=$DOCKER_HOST)"
}

stop() {
  local pid; pid="$(dockerd_pid)"
  if ! alive "$pid"; then echo "docker-engine: not running"; rm -f "$PIDFILE"; return 0; fi
  # dockerd's children: the containerd it manages. Remember them to verify they are gone too.
  local kids; kids="$(children_of "$pid")"
  kill -TERM "$pid"
  local i
  for i in $(seq 1 300); do alive "$pid" || break; sleep 0.1; done
  if alive "$pid"; then echo "docker-engine: dockerd $pid ignored SIGTERM for 30 s; killing" >&2; kill -KILL "$pid"; sleep 0.5; fi
  local k
  for k in $kids; do
    for i in $(seq 1 100); do alive "$k" || break; sleep 0.1; done
    if alive "$k"; then echo "docker-engine: child $k still alive; killing" >&2; kill -KILL "$k" 2>/dev/null || true; fi
  done
  alive "$pid" && die "dockerd $pid is still alive"
  for k in $kids; do alive "$k" && die "child $k of dockerd is still alive"; done
  # containerd-shims are not dockerd's children (they daemonize); any left names our exec-root.
  local shims; shims="$(procs_naming "$EXEC_ROOT")"
  if [ -n "$shims" ]; then
    echo "docker-engine: killing leftover shims $shims" >&2
    kill -KILL $shims 2>/dev/null || true; sleep 0.5
  fi
  shims="$(procs_naming "$EXEC_ROOT")"
  [ -z "$shims" ] || die "processes of this engine are still alive: $shims"
  rm -f "$PIDFILE" "$SOCK"
  # Leftover mounts would keep the data dir busy; dockerd unmounts on a clean exit, this is belt and braces.
  grep -F " $EXEC_ROOT" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$EXEC_ROOT"
  echo "docker-engine: stopped (dockerd and containerd gone)"
}

case "${1:-}" in
  start) start;;
  stop) stop;;
  status) if alive "$(dockerd_pid)" && answers; then echo "running (pid $(dockerd_pid))"; echo "DOCKER_HOST=$DOCKER_HOST"; else echo "not running"; exit 1; fi;;
  host) echo "$DOCKER_HOST";;
  *) echo "usage: $0 start|stop|status|host" >&2; exit 2;;
esac
