#!/bin/bash
# Renders my.cnf (its @@TOKENS@@, if any, from LAB_* variables), creates the datadir, loads schema.sql and the
# lab's user in bootstrap mode (no network, no second start), then becomes mariadbd. As in the native runner,
# the per-run values (port, socket, datadir, pid file) are passed on the command line; the error log goes to
# stderr, so `docker logs` shows it.
set -euo pipefail
R="$LAB_RUN_DIR"
M="$R/mysql"
CNF="$M/my.cnf"
DATA="$M/data"
mkdir -p "$M" "$R/logs" "$DATA"
render-tokens /srv/eserver-lab/mysql/my.cnf "$CNF"
chown -R mysql:mysql "$M" "$R/logs"
run=(--defaults-file="$CNF" --user=mysql --datadir="$DATA" --socket="$M/mysql.sock" --pid-file="$M/mariadb.pid")
if [ ! -d "$DATA/mysql" ]; then
  mariadb-install-db "${run[@]}" --skip-test-db --auth-root-authentication-method=socket \
    > "$R/logs/mariadb-install.log" 2>&1 || { cat "$R/logs/mariadb-install.log" >&2; exit 1; }
  # The lab's user, for the queue server and the tests (over TCP on 127.0.0.1, and over the socket).
  u="$LAB_MYSQL_USER" p="${LAB_MYSQL_PASSWORD//\'/\'\'}"
  {
    # Bootstrap runs with the grant tables off; loading them makes CREATE USER possible.
    echo "FLUSH PRIVILEGES;"
    cat /srv/eserver-lab/mysql/schema.sql
    echo
    for h in localhost 127.0.0.1; do
      echo "CREATE USER IF NOT EXISTS '$u'@'$h' IDENTIFIED BY '$p';"
      echo "GRANT ALL PRIVILEGES ON eserver.* TO '$u'@'$h';"
    done
  } | mariadbd "${run[@]}" --bootstrap --skip-networking > "$R/logs/mariadb-bootstrap.log" 2>&1 \
    || { cat "$R/logs/mariadb-bootstrap.log" >&2; exit 1; }
fi
exec mariadbd "${run[@]}" --port="$LAB_MYSQL_PORT" --bind-address=127.0.0.1
