#!/bin/bash
# Healthcheck without curl in the image: GET http://127.0.0.1:<port><path> over bash's /dev/tcp and
# succeed only on a 200 status line. Usage: http-ok <port> <path>
set -eu
exec 3<>"/dev/tcp/127.0.0.1/$1"
printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3
read -r -t 5 _proto status _rest <&3
[ "$status" = 200 ]
