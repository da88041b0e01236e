#!/bin/bash
# Runs INSIDE a one-off container on the Docker host of a remote stack (bench/src/lab/docker/
# remote-host.ts pipes it to `docker run -i --rm --cgroupns host --network host --cap-add NET_ADMIN
# -v /sys/fs/cgroup:/sys/fs/cgroup ... bash -s -- <command>`): what the lab does with this machine's own
# files for a local stack, done on that host through its engine.
#
#   facts                                       the CPU model, as one JSON line
#   setup QUOTA PERIOD SHARES WEIGHT MEM MIN    run with --cgroup-parent <parent>: limit that parent (the stack's
#                                               budget, shared by its four containers: cgroup v1 quota, period,
#                                               shares, memory; v2 cpu.max, cpu.weight, memory.max), raise the
#                                               listen-queue sysctls to MIN; print what the kernel now holds
#   remove DIR...                               remove the parent's directories (after the containers are gone)
#   listen                                      (with --network host) the host's /proc/net/netstat, then a line
#                                               "sysctl SOMAXCONN TCP_MAX_SYN_BACKLOG": its listen queues
#   cpustat DIR                                 the parent's cpu.stat (its CFS periods and throttled periods)
#   busy                                        the host's /proc/stat "cpu" line, then again 0.5 s later
set -euo pipefail
CG=/sys/fs/cgroup
die() { echo "remote-host: $*" >&2; exit 1; }

# The directory of a /proc/self/cgroup line's hierarchy in the mounted tree ("" = v2/unified).
mount_of() {
  local ctrls="$1"
  if [ -z "$ctrls" ]; then
    if [ -f "$CG/cgroup.controllers" ]; then echo "$CG"; elif [ -d "$CG/unified" ]; then echo "$CG/unified"; fi
    return 0
  fi
  local name="${ctrls#name=}"
  if [ -d "$CG/$name" ]; then echo "$CG/$name"; elif [ -d "$CG/${name%%,*}" ]; then echo "$CG/${name%%,*}"; fi
}

setup() {
  local quota="$1" period="$2" shares="$3" weight="$4" mem="$5" min="$6" version parents=() cpu="" memdir="" line
  # This container was created in the parent (--cgroup-parent): its own cgroup's directory is the parent's child.
  while IFS= read -r line; do
    local ctrls path mnt
    ctrls="$(cut -d: -f2 <<< "$line")"; path="$(cut -d: -f3- <<< "$line")"
    mnt="$(mount_of "$ctrls")"
    [ -n "$mnt" ] && [ -d "$mnt$path" ] || continue
    local parent; parent="$(dirname "$mnt$path")"
    parents+=("$parent")
    case ",$ctrls," in *,cpu,*) cpu="$parent";; esac
    case ",$ctrls," in *,memory,*) memdir="$parent";; esac
    if [ -z "$ctrls" ] && [ "$mnt" = "$CG" ]; then cpu="$parent"; memdir="$parent"; fi
  done < /proc/self/cgroup
  [ -n "$cpu" ] || die "no cpu cgroup of this container under $CG (is /sys/fs/cgroup mounted from the host?)"
  if [ -f "$CG/cgroup.controllers" ]; then
    version=v2
    echo "$quota $period" > "$cpu/cpu.max"
    echo "$weight" > "$cpu/cpu.weight"
    echo "$mem" > "$cpu/memory.max"
    read -r q p < "$cpu/cpu.max"
    [ "$q" = max ] && q=null
    local w m; w="$(cat "$cpu/cpu.weight")"; m="$(cat "$cpu/memory.max")"; [ "$m" = max ] && m=null
  else
    version=v1
    # Quota off first, then the period, then the quota (the kernel checks the quota against the period in force).
    echo -1 > "$cpu/cpu.cfs_quota_us"
    echo "$period" > "$cpu/cpu.cfs_period_us"
    echo "$quota" > "$cpu/cpu.cfs_quota_us"
    echo "$shares" > "$cpu/cpu.shares"
    [ -n "$memdir" ] && echo "$mem" > "$memdir/memory.limit_in_bytes"
    local q p w m
    q="$(cat "$cpu/cpu.cfs_quota_us")"; p="$(cat "$cpu/cpu.cfs_period_us")"; w="$(cat "$cpu/cpu.shares")"
    [ "$q" -lt 0 ] && q=null
    m=null; [ -n "$memdir" ] && m="$(cat "$memdir/memory.limit_in_bytes")"
  fi
  local k f
  for k in net.core.somaxconn net.ipv4.tcp_max_syn_backlog; do
    f="/proc/sys/${k//.//}"
    [ "$(cat "$f")" -ge "$min" ] || echo "$min" > "$f" || true
  done
  local list; list="$(printf '"%s",' "${parents[@]}")"
  printf '{"version":"%s","cpu":"%s","memory":"%s","parents":[%s],"quota_us":%s,"period_us":%s,"weight":%s,"memory_bytes":%s,"somaxconn":%s,"tcp_max_syn_backlog":%s}\n' \
    "$version" "$cpu" "$memdir" "${list%,}" "$q" "$p" "$w" "$m" "$(cat /proc/sys/net/core/somaxconn)" "$(cat /proc/sys/net/ipv4/tcp_max_syn_backlog)"
}

remove() {
  local d i left=()
  # Deepest first; a group whose last container has just gone may stay busy for a moment.
  for d in $(printf '%s\n' "$@" | sort -r); do
    [ -d "$d" ] || continue
    for i in $(seq 1 50); do rmdir "$d" 2>/dev/null && break; sleep 0.1; done
    [ -d "$d" ] && left+=("$d")
  done
  [ "${#left[@]}" -eq 0 ] || die "still in use: ${left[*]}"
}

facts() {
  local model; model="$(grep -m1 -E '^(model name|Model|cpu model)' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//;s/"/\\"/g' || true)"
  printf '{"cpu_model":"%s"}\n' "${model:-unknown}"
}

busy() {
  head -n 1 /proc/stat; sleep 0.5; head -n 1 /proc/stat
}

cpustat() {
  [ -f "$1/cpu.stat" ] || die "no cpu.stat in $1 (is /sys/fs/cgroup mounted from the host?)"
  cat "$1/cpu.stat"
}

listen() {
  cat /proc/net/netstat
  echo "sysctl $(cat /proc/sys/net/core/somaxconn) $(cat /proc/sys/net/ipv4/tcp_max_syn_backlog)"
}

case "${1:-}" in
  facts) facts;;
  listen) listen;;
  setup) shift; [ "$#" -eq 6 ] || die "usage: setup QUOTA PERIOD SHARES WEIGHT MEM MIN"; setup "$@";;
  remove) shift; remove "$@";;
  busy) busy;;
  cpustat) [ "$#" -eq 2 ] || die "usage: cpustat DIR"; cpustat "$2";;
  *) die "usage: facts | setup QUOTA PERIOD SHARES WEIGHT MEM MIN | remove DIR... | listen | cpustat DIR | busy";;
esac
