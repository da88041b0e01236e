-- The lab's one database account, for the queue server, the loss check and every lab client, in both
-- runtimes: MariaDB's init step runs this file after schema.sql, with the values of DATABASE in
-- common/src/stack-spec.ts put in for the tokens (bench/src/lab/tokens.md).
-- Over TCP (127.0.0.1; skip-name-resolve is on), over the unix socket (localhost), and for a stack on a
-- remote engine from the generator's host (MYSQL_CLIENT_HOST; 127.0.0.1 again for a stack on this machine).
CREATE USER IF NOT EXISTS '@@MYSQL_USER@@'@'localhost' IDENTIFIED BY '@@MYSQL_PASSWORD@@';
CREATE USER IF NOT EXISTS '@@MYSQL_USER@@'@'127.0.0.1' IDENTIFIED BY '@@MYSQL_PASSWORD@@';
CREATE USER IF NOT EXISTS '@@MYSQL_USER@@'@'@@MYSQL_CLIENT_HOST@@' IDENTIFIED BY '@@MYSQL_PASSWORD@@';
GRANT ALL PRIVILEGES ON @@MYSQL_DATABASE@@.* TO '@@MYSQL_USER@@'@'localhost';
GRANT ALL PRIVILEGES ON @@MYSQL_DATABASE@@.* TO '@@MYSQL_USER@@'@'127.0.0.1';
GRANT ALL PRIVILEGES ON @@MYSQL_DATABASE@@.* TO '@@MYSQL_USER@@'@'@@MYSQL_CLIENT_HOST@@';
