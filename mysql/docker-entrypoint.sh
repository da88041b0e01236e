#!/bin/bash
# Prepares MariaDB for the flags it is given (the container's command, rendered by the lab from its stack
# spec: common/src/stack-spec.ts, mariadbdArgs), then becomes mariadbd with them. On a fresh datadir it
# runs the init step in bootstrap mode (no network, no second start): the system tables, schema.sql and the
# lab's account (lab-user.sql, from the LAB_MYSQL_* tokens). The error log goes to stderr (`docker logs`).
set -euo pipefail
[ "$#" -gt 0 ] || { echo "mysql: no mariadbd flags given: the lab passes them (MYSQL_ARGS in .env)" >&2; exit 2; }
CNF="$(flag-value --defaults-file "$@")"
DATA="$(flag-value --datadir "$@")"
SOCK="$(flag-value --socket "$@")"
TMPD="$(flag-value --tmpdir "$@")"
OS_USER="$(flag-value --user "$@")"
LOGS="$LAB_RUN_DIR/logs"
USER_SQL="$(dirname "$CNF")/lab-user.sql"
mkdir -p "$DATA" "$(dirname "$SOCK")" "$TMPD" "$LOGS"
render-tokens /srv/eserver-lab/mysql/my.cnf "$CNF"
render-tokens /srv/eserver-lab/mysql/lab-user.sql "$USER_SQL"
chown -R "$OS_USER:" "$DATA" "$(dirname "$SOCK")" "$TMPD" "$LOGS"
if [ ! -d "$DATA/mysql" ]; then
  mariadb-install-db "$@" --skip-test-db --auth-root-authentication-method=socket \
    > "$LOGS/mariadb-install.log" 2>&1 || { cat "$LOGS/mariadb-install.log" >&2; exit 1; }
  # Bootstrap runs with the grant tables off; loading them makes CREATE USER possible.
  { echo "FLUSH PRIVILEGES;"; cat /srv/eserver-lab/mysql/schema.sql; echo; cat "$USER_SQL"; } \
    | mariadbd "$@" --bootstrap --skip-networking > "$LOGS/mariadb-bootstrap.log" 2>&1 \
    || { cat "$LOGS/mariadb-bootstrap.log" >&2; exit 1; }
fi
exec mariadbd "$@"
