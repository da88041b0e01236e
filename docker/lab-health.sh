#!/bin/bash
# The images' health check (HEALTHCHECK CMD lab-health): the stack spec's check for the service, which the
# lab passes as LAB_HEALTH (common/src/stack-spec.ts: healthCheck, healthArgs), one of
#   http PORT PATH                     GET 127.0.0.1:PORT PATH answers with a 200 status line
#   tcp PORT                           127.0.0.1:PORT accepts a connection
#   mysql PORT USER PASSWORD DATABASE  the account opens the database on 127.0.0.1:PORT
# No curl in the images: HTTP and TCP go through bash's /dev/tcp.
set -eu
read -r -a h <<< "${LAB_HEALTH:?no LAB_HEALTH: the lab passes it (see .env)}"
case "${h[0]}" in
  http)
    exec 3<>"/dev/tcp/127.0.0.1/${h[1]}"
    printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "${h[2]}" >&3
    read -r -t 5 _proto status _rest <&3
    [ "$status" = 200 ];;
  tcp) exec 3<>"/dev/tcp/127.0.0.1/${h[1]}";;
  mysql) mariadb -h127.0.0.1 -P"${h[1]}" -u"${h[2]}" -p"${h[3]}" -D"${h[4]}" -e 'DO 1' >/dev/null;;
  *) echo "lab-health: unknown check '${h[0]}' in LAB_HEALTH" >&2; exit 2;;
esac
