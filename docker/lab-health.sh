#!/bin/bash
# The images' health check (HEALTHCHECK CMD lab-health): the stack spec's check for the service, which the
# lab passes as LAB_HEALTH (common/src/stack-spec.ts: healthCheck, healthArgs), one of
#   http HOST PORT PATH                     GET HOST:PORT PATH answers with a 200 status line
#   tcp HOST PORT                           HOST:PORT accepts a connection
#   mysql HOST PORT USER PASSWORD DATABASE  the account opens the database on HOST:PORT
# No curl in the images: HTTP and TCP go through bash's /dev/tcp.
set -eu
read -r -a h <<< "${LAB_HEALTH:?no LAB_HEALTH: the lab passes it (see .env)}"
case "${h[0]}" in
  http)
    exec 3<>"/dev/tcp/${h[1]}/${h[2]}"
    printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "${h[3]}" "${h[1]}" >&3
    read -r -t 5 _proto status _rest <&3
    [ "$status" = 200 ];;
  tcp) exec 3<>"/dev/tcp/${h[1]}/${h[2]}";;
  mysql) mariadb -h"${h[1]}" -P"${h[2]}" -u"${h[3]}" -p"${h[4]}" -D"${h[5]}" -e 'DO 1' >/dev/null;;
  *) echo "lab-health: unknown check '${h[0]}' in LAB_HEALTH" >&2; exit 2;;
esac
