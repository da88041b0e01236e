#!/usr/bin/env bash
# A second Docker host on this machine, for testing the lab against a remote engine (issue 25): Debian's
# dockerd in a network namespace of its own, whose only link is a veth pair to this host, with addresses
# from 198.18.0.0/15 (RFC 2544's benchmarking range) and nothing else. The engine listens on TCP on its end
# of the pair only, runs with no bridge and no iptables (containers use the namespace's host network, as the
# local stack uses the host's), and has its own data-root, exec-root and containerd.
# Its image builds reach the machine's apt mirror through apt-proxy.js (GET/HEAD to that mirror only) on
# this host's end of the pair; the base image it is given at start carries that proxy in its apt config.
#
#   docker-engine-remote.sh start     netns + veth + proxy + dockerd + base image; prints DOCKER_HOST
#   docker-engine-remote.sh stop      dockerd, shims, proxy, netns and veth, each by pid or name; verified gone
#   docker-engine-remote.sh status    exit 0 and print DOCKER_HOST when the engine answers, exit 1 otherwise
#   docker-engine-remote.sh host      print the DOCKER_HOST value (whether or not it runs)
#   docker-engine-remote.sh names     print the namespace, the two veth ends and the addresses (tests)
#
# Names and addresses follow from the checkout's path (8 hex of its hash), so two checkouts get two
# engines; ESL_REMOTE_NET=198.18.N or 198.19.N picks the /30 (198.18.N.0/30) by hand.
set -euo pipefail
# ROOT, HASH, engine_files, alive, answers, procs_naming.
source "$(dirname "${BASH_SOURCE[0]}")/engine-common.sh"
engine_files docker-remote
PROXY_PIDFILE="$RUN/apt-proxy.pid"
NS="esl-remote-$HASH"
VETH_HOST="eslr$HASH"
VETH_NS="eslp$HASH"
EXEC_ROOT="/run/esl-drem-$HASH"
NET="${ESL_REMOTE_NET:-198.18.$((16#${HASH:0:2}))}"
[[ "$NET" =~ ^198\.(18|19)\.([0-9]{1,3})$ ]] && [ "${BASH_REMATCH[2]}" -le 255 ] ||
  { echo "docker-engine-remote: ESL_REMOTE_NET=$NET is not 198.18.N or 198.19.N (RFC 2544's range only)" >&2; exit 2; }
HOST_ADDR="$NET.1"
ENGINE_ADDR="$NET.2"
ENGINE_PORT=2375
PROXY_PORT=3142
export DOCKER_HOST="tcp://$ENGINE_ADDR:$ENGINE_PORT"
BASE_TAG="eserver-lab/bookworm-base:latest"

die() { echo "docker-engine-remote: $*" >&2; exit 1; }
say() { echo "docker-engine-remote: $*"; }
pid_of() { [ -f "$1" ] && cat "$1" || true; }
ns_exists() { ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$NS"; }
link_exists() { ip link show "$1" >/dev/null 2>&1; }
# The hosts of this machine's apt sources: the only ones the proxy forwards to.
apt_hosts() {
  { cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null || true; } |
    { grep -E '^(URIs:|deb )' || true; } | { grep -o 'http://[^/ ]*' || true; } | sed 's#http://##' | sort -u | paste -sd, -
}
kill_wait() { # pid, what: TERM, up to 30 s, then KILL
  local pid="$1" i
  alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 300); do alive "$pid" || return 0; sleep 0.1; done
  echo "docker-engine-remote: $2 ($pid) ignored SIGTERM for 30 s; killing" >&2
  kill -KILL "$pid" 2>/dev/null || true; sleep 0.5
}

start() {
  local pid; pid="$(pid_of "$PIDFILE")"
  if alive "$pid" && answers; then say "already running (pid $pid)"; echo "DOCKER_HOST=$DOCKER_HOST"; return 0; fi
  [ "$(id -u)" = 0 ] || die "a network namespace and dockerd need root"
  command -v ip >/dev/null && ip netns list >/dev/null 2>&1 || die "'ip netns' does not work here (iproute2 and root needed)"
  command -v nsenter >/dev/null || die "nsenter not found: apt-get install -y util-linux"
  command -v dockerd >/dev/null || die "dockerd not found: apt-get install -y docker.io (Debian/Ubuntu)"
  [ -f "$ROOT/bench/dist/src/lab/docker/apt-proxy.js" ] || die "the apt proxy is not built: run 'make build'"
  # Leftovers of a run that was killed outright are this engine's own: take them down first.
  if alive "$pid" || ns_exists || link_exists "$VETH_HOST" || alive "$(pid_of "$PROXY_PIDFILE")"; then
    say "taking down what a previous start left"; stop
  fi
  if ip -4 -o addr show | grep -qE " ($HOST_ADDR|$ENGINE_ADDR)/"; then
    die "$NET.0/30 is already in use on this machine (another checkout's engine?); pick another with ESL_REMOTE_NET=198.18.N"
  fi
  mkdir -p "$DATA" "$EXEC_ROOT"
  rm -f "$PIDFILE"
  local t0; t0=$(date +%s.%N)
  # A failure or a Ctrl-C half way must not leave a namespace, a veth or a process behind.
  trap 'echo "docker-engine-remote: start failed; cleaning up" >&2; stop >&2 || true' ERR
  trap 'trap - ERR; echo "docker-engine-remote: interrupted; cleaning up" >&2; stop >&2 || true; exit 130' INT TERM
  ip netns add "$NS"
  ip link add "$VETH_HOST" type veth peer name "$VETH_NS"
  ip link set "$VETH_NS" netns "$NS"
  ip addr add "$HOST_ADDR/30" dev "$VETH_HOST"
  ip link set "$VETH_HOST" up
  ip -n "$NS" addr add "$ENGINE_ADDR/30" dev "$VETH_NS"
  ip -n "$NS" link set "$VETH_NS" up
  ip -n "$NS" link set lo up
  # The proxy and dockerd get their own sessions, so a Ctrl-C in the calling shell does not reach them.
  local hosts; hosts="$(apt_hosts)"
  [ -n "$hosts" ] || die "this machine's apt sources name no http:// mirror for the engine's image builds"
  setsid node "$ROOT/bench/dist/src/lab/docker/apt-proxy.js" --listen "$HOST_ADDR:$PROXY_PORT" --allow "$hosts" \
    >"$RUN/apt-proxy.log" 2>&1 < /dev/null &
  echo $! > "$PROXY_PIDFILE"
  # nsenter --net, not `ip netns exec`: the latter remounts /sys, which hides the cgroup tree from dockerd.
  # --tls=false says on purpose what dockerd otherwise delays its start 15 s to warn about: plain TCP, here on
  # a link that only this machine's root can reach.
  setsid nsenter --net="/run/netns/$NS" -- dockerd --iptables=false --ip-masq=false --bridge=none \
    --data-root "$DATA" --exec-root "$EXEC_ROOT" --pidfile "$PIDFILE" -H "$DOCKER_HOST" --tls=false \
    --exec-opt native.cgroupdriver=cgroupfs >"$LOG" 2>&1 < /dev/null &
  local bgpid=$! i
  for i in $(seq 1 600); do
    answers && break
    alive "$bgpid" || { tail -n 20 "$LOG" >&2; false; }
    sleep 0.1
  done
  answers || { tail -n 20 "$LOG" >&2; echo "docker-engine-remote: dockerd did not answer on $DOCKER_HOST within 60 s (log: $LOG)" >&2; false; }
  local t1; t1=$(date +%s.%N)
  say "dockerd pid $(pid_of "$PIDFILE") in netns $NS answered on $DOCKER_HOST after $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}') s"
  # The second host's base image, with apt going through the proxy (skipped when its data-root has it).
  APT_PROXY="http://$HOST_ADDR:$PROXY_PORT" bash "$ROOT/bench/scripts/docker-base.sh"
  trap - ERR INT TERM
  echo "DOCKER_HOST=$DOCKER_HOST"
  echo "(use it: make bench RUNTIME=docker DOCKER_HOST=$DOCKER_HOST)"
}

stop() {
  local pid; pid="$(pid_of "$PIDFILE")"
  kill_wait "$pid" dockerd
  alive "$pid" && die "dockerd $pid is still alive"
  # containerd (dockerd's child) and the shims (daemonized) all name this engine's exec-root.
  local left; left="$(procs_naming "$EXEC_ROOT")"
  if [ -n "$left" ]; then
    local k; for k in $left; do kill_wait "$k" "process of this engine"; done
  fi
  left="$(procs_naming "$EXEC_ROOT")"
  [ -z "$left" ] || die "processes of this engine are still alive: $left"
  kill_wait "$(pid_of "$PROXY_PIDFILE")" apt-proxy
  rm -f "$PIDFILE" "$PROXY_PIDFILE"
  grep -F " $EXEC_ROOT" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$EXEC_ROOT"
  # Deleting the namespace deletes its end of the pair, and with it the other end.
  if ns_exists; then ip netns del "$NS"; fi
  if link_exists "$VETH_HOST"; then ip link del "$VETH_HOST"; fi
  local i; for i in $(seq 1 50); do link_exists "$VETH_HOST" || break; sleep 0.1; done
  ns_exists && die "network namespace $NS is still there"
  link_exists "$VETH_HOST" && die "veth $VETH_HOST is still there"
  say "stopped (dockerd, containerd, apt-proxy, netns $NS and veth $VETH_HOST gone)"
}

case "${1:-}" in
  start) start;;
  stop) stop;;
  status) if alive "$(pid_of "$PIDFILE")" && answers; then echo "running (pid $(pid_of "$PIDFILE"))"; echo "DOCKER_HOST=$DOCKER_HOST"; else echo "not running"; exit 1; fi;;
  host) echo "$DOCKER_HOST";;
  names) echo "NS=$NS VETH_HOST=$VETH_HOST VETH_NS=$VETH_NS HOST_ADDR=$HOST_ADDR ENGINE_ADDR=$ENGINE_ADDR EXEC_ROOT=$EXEC_ROOT";;
  *) echo "usage: $0 start|stop|status|host|names" >&2; exit 2;;
esac
