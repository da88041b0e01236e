#!/usr/bin/env bash
# A private Docker engine for the lab: Debian's dockerd (docker.io) with its data under the repo's run/
# directory, its own socket, no bridge and no iptables (every service uses the host network), and its own
# containerd, which dockerd starts and stops as a child.
#
#   docker-engine.sh start            start it (no-op when it already answers); prints the DOCKER_HOST
#   docker-engine.sh stop             stop it by pid, wait, verify that dockerd and containerd are gone
#   docker-engine.sh status           exit 0 and print DOCKER_HOST when it answers, exit 1 otherwise
#   docker-engine.sh host             print the DOCKER_HOST value (whether or not it runs)
#   docker-engine.sh cgroup CPUS MEM [PERIOD_US QUOTA_US SHARES]
#                                     create/limit the parent cgroup shared by the four services (the lab
#                                     passes its budget, common/src/stack-spec.ts, and the quota and
#                                     period computed by bench/src/host/cgroup.ts at every `up`)
#   docker-engine.sh cgroup-remove    remove that parent cgroup (after the containers are gone)
#
# Paths: data-root and socket live in <repo>/run/docker. The exec-root (containerd's sockets and the
# runtime state) must be short because unix socket paths are limited to 108 bytes, so it lives in
# /run/esl-docker-<8 hex of the repo path>: short, and distinct for each checkout.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RUN="$ROOT/run/docker"
DATA="$RUN/data"
SOCK="$RUN/docker.sock"
PIDFILE="$RUN/dockerd.pid"
LOG="$RUN/dockerd.log"
HASH="$(printf '%s' "$ROOT" | sha1sum | cut -c1-8)"
EXEC_ROOT="/run/esl-docker-$HASH"
export DOCKER_HOST="unix://$SOCK"
# Name of the parent cgroup, relative: runc resolves a relative cgroup_parent below its own cgroup in each
# controller, i.e. below the cgroup this script (and so dockerd) runs in. Must match CGROUP_PARENT in the
# compose file / .env.
CG_NAME="${CGROUP_PARENT:-eserver-lab}"
# Where the cgroup filesystem is: /sys/fs/cgroup; tests point it at a scratch tree.
CG_ROOT="${CGROUP_ROOT:-/sys/fs/cgroup}"

die() { echo "docker-engine: $*" >&2; exit 1; }
alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
answers() { timeout 5 docker info >/dev/null 2>&1; }
dockerd_pid() { [ -f "$PIDFILE" ] && cat "$PIDFILE" || true; }
procs_naming() { # pids whose command line contains $1 (this engine's own paths only)
  local p
  for p in /proc/[0-9]*; do
    { tr '\0' ' ' < "$p/cmdline"; } 2>/dev/null | grep -qF -- "$1" && [ "${p#/proc/}" != "$$" ] && [ "${p#/proc/}" != "$BASHPID" ] && echo -n "${p#/proc/} "
  done
  return 0
}
children_of() { cat /proc/"$1"/task/*/children 2>/dev/null | tr ' ' '\n' | grep -E '^[0-9]+$' || true; }

# The cgroup (per v1 controller) that dockerd runs in; runc puts relative parents below it.
own_cgroup() { # $1 = controller, $2 = pid
  awk -F: -v c="$1" '{ n=split($2, a, ","); for (i=1;i<=n;i++) if (a[i]==c) print $3 }' /proc/"$2"/cgroup
}

norm() { printf %s "$1" | tr -s /; }

parse_mem() { # 2g / 2048m / bytes -> bytes
  local v="${1,,}"
  case "$v" in
    *g) echo $(( ${v%g} * 1024 * 1024 * 1024 ));;
    *m) echo $(( ${v%m} * 1024 * 1024 ));;
    *k) echo $(( ${v%k} * 1024 ));;
    *)  echo "$v";;
  esac
}

cgroup_setup() {
  local cpus="${1:?cgroup: give the CPUs, e.g. cgroup 2 2g}" mem; mem="$(parse_mem "${2:?cgroup: give the memory, e.g. cgroup 2 2g}")"
  local pid; pid="$(dockerd_pid)"; alive "$pid" || pid=$$
  # Period, quota and weight come from the lab (bench/src/host/cgroup.ts: quotaFor, STACK_CPU_SHARES);
  # by hand the same defaults: a 20 ms period, the default weight.
  local period="${3:-20000}" quota="${4:-}" shares="${5:-1024}"
  [ -n "$quota" ] || quota="$(awk -v c="$cpus" -v p="$period" 'BEGIN { printf "%d", c * p }')"
  if [ -d "$CG_ROOT/cpu" ] && [ -d "$CG_ROOT/memory" ]; then
    local cpu_dir mem_dir set_dir
    cpu_dir="$(norm "$CG_ROOT/cpu$(own_cgroup cpu "$pid")/$CG_NAME")"
    mem_dir="$(norm "$CG_ROOT/memory$(own_cgroup memory "$pid")/$CG_NAME")"
    mkdir -p "$cpu_dir" "$mem_dir" || die "cannot create $cpu_dir / $mem_dir (need root)"
    # A shorter period under the old quota may be refused (quota > period x CPUs): quota off first.
    echo -1 > "$cpu_dir/cpu.cfs_quota_us"
    echo "$period" > "$cpu_dir/cpu.cfs_period_us"
    echo "$quota" > "$cpu_dir/cpu.cfs_quota_us"
    echo "$shares" > "$cpu_dir/cpu.shares"
    echo "$mem" > "$mem_dir/memory.limit_in_bytes"
    # runc also creates the cpuset parent; give it the machine's cpus/mems so children can inherit them.
    if [ -d "$CG_ROOT/cpuset" ]; then
      set_dir="$CG_ROOT/cpuset$(own_cgroup cpuset "$pid")"
      mkdir -p "$set_dir/$CG_NAME"
      [ -s "$set_dir/$CG_NAME/cpuset.cpus" ] || cat "$set_dir/cpuset.cpus" > "$set_dir/$CG_NAME/cpuset.cpus"
      [ -s "$set_dir/$CG_NAME/cpuset.mems" ] || cat "$set_dir/cpuset.mems" > "$set_dir/$CG_NAME/cpuset.mems"
    fi
    echo "cgroup v1: $cpu_dir (cpu.cfs_quota_us=$(cat "$cpu_dir/cpu.cfs_quota_us") cpu.cfs_period_us=$(cat "$cpu_dir/cpu.cfs_period_us") cpu.shares=$(cat "$cpu_dir/cpu.shares"))," \
         "$mem_dir (memory.limit_in_bytes=$(cat "$mem_dir/memory.limit_in_bytes"))"
  elif [ -f "$CG_ROOT/cgroup.controllers" ]; then
    local dir="$CG_ROOT$(awk -F: '$1=="0"{print $3}' /proc/"$pid"/cgroup)"
    mkdir -p "$dir/$CG_NAME" || die "cannot create $dir/$CG_NAME (need root)"
    # cgroup v2's no-internal-processes rule: this fails when $dir itself holds processes (dockerd).
    echo "+cpu +memory" > "$dir/cgroup.subtree_control" 2>/dev/null ||
      echo "docker-engine: WARNING cannot enable cpu/memory controllers in $dir; limits will not apply" >&2
    echo "$quota $period" > "$dir/$CG_NAME/cpu.max" 2>/dev/null || true
    awk -v s="$shares" 'BEGIN { w = int(s * 100 / 1024 + 0.5); print (w < 1 ? 1 : (w > 10000 ? 10000 : w)) }' > "$dir/$CG_NAME/cpu.weight" 2>/dev/null || true
    echo "$mem" > "$dir/$CG_NAME/memory.max" 2>/dev/null || true
    echo "cgroup v2: $dir/$CG_NAME"
  else
    die "no cgroup filesystem found under /sys/fs/cgroup"
  fi
}

# runc creates the parent in every hierarchy (pids, blkio, freezer, systemd, unified, ...), not only in the
# ones this script limits: remove it from all of them, deepest first (only empty groups can go).
cgroup_remove() {
  local pid; pid="$(dockerd_pid)"; alive "$pid" || pid=$$
  local d base own
  for d in /sys/fs/cgroup/*/; do
    d="${d%/}"; base="${d##*/}"
    own="$(awk -F: -v c="$base" '{ n=split($2, a, ","); for (i=1;i<=n;i++) if (a[i]==c || a[i]=="name="c) { print $3; exit } }
                                 c=="unified" && $1=="0" { print $3; exit }' /proc/"$pid"/cgroup)"
    [ -n "$own" ] || continue
    rm_tree "$(norm "$d$own/$CG_NAME")"
  done
  [ -f /sys/fs/cgroup/cgroup.controllers ] && rm_tree "$(norm "/sys/fs/cgroup$(awk -F: '$1=="0"{print $3}' /proc/"$pid"/cgroup)/$CG_NAME")"
  return 0
}

rm_tree() {
  [ -d "$1" ] || return 0
  find "$1" -mindepth 1 -depth -type d -exec rmdir {} \; 2>/dev/null || true
  rmdir "$1" 2>/dev/null || echo "docker-engine: $1 still in use" >&2
}

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
  # The lab limits the parent at every `up`, with the stack spec's budget; LAB_CPUS and LAB_MEMORY do it
  # here too, for a by-hand `docker-compose up`.
  if [ -n "${LAB_CPUS:-}${LAB_MEMORY:-}" ]; then cgroup_setup "${LAB_CPUS:?also LAB_CPUS}" "${LAB_MEMORY:?also LAB_MEMORY}"; fi
  echo "DOCKER_HOST=$DOCKER_HOST"
  echo "(use it: export DOCKER_HOST=$DOCKER_HOST)"
}

stop() {
  local pid; pid="$(dockerd_pid)"
  if ! alive "$pid"; then echo "docker-engine: not running"; rm -f "$PIDFILE"; cgroup_remove; return 0; fi
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
  pid=$$; cgroup_remove
  echo "docker-engine: stopped (dockerd and containerd gone)"
}

case "${1:-}" in
  start) start;;
  stop) stop;;
  status) if alive "$(dockerd_pid)" && answers; then echo "running (pid $(dockerd_pid))"; echo "DOCKER_HOST=$DOCKER_HOST"; else echo "not running"; exit 1; fi;;
  host) echo "$DOCKER_HOST";;
  cgroup) shift; cgroup_setup "$@";;
  cgroup-remove) cgroup_remove;;
  *) echo "usage: $0 start|stop|status|host|cgroup [cpus] [mem] [period_us quota_us shares]|cgroup-remove" >&2; exit 2;;
esac
