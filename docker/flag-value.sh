#!/bin/bash
# Prints the value of one flag in a command line (`--name=value` or `-n value`), so that an entrypoint
# prepares the very paths its program is given instead of knowing them a second time; fails when absent.
# Usage: flag-value <flag> <args...>   e.g. flag-value --datadir "$@", flag-value -c "$@"
set -eu
flag="$1"; shift
while [ "$#" -gt 0 ]; do
  case "$1" in
    "$flag="*) echo "${1#*=}"; exit 0;;
    "$flag") [ "$#" -gt 1 ] && { echo "$2"; exit 0; };;
  esac
  shift
done
echo "flag-value: the command line has no $flag" >&2
exit 1
