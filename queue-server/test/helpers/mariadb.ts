// A throwaway MariaDB for tests: temp datadir, own socket, a free TCP port, Debian's mariadbd with the repo's
// mysql/my.cnf and mysql/schema.sql. Processes are stopped by pid and the directory removed by destroy().
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import mysql from 'mysql2/promise';

export interface MariaDb {
  url: string;
  port: number;
  socket: string;
  dir: string;
  /** Connects as the test user (database eserver). */
  connect(): Promise<mysql.Connection>;
  /** Runs SQL as root through the socket, e.g. to empty tables between tests. */
  exec(sql: string): Promise<void>;
  /** Graceful shutdown (SIGTERM, waits for exit); the datadir stays for start(). */
  stop(): Promise<void>;
  /** SIGKILL, like a crash; the datadir stays. */
  kill(): Promise<void>;
  /** SIGSTOP / SIGCONT: a server that hangs without closing its connections. */
  pause(): void;
  resume(): void;
  /** Starts again on the same datadir, port and socket. */
  start(): Promise<void>;
  /** Stops (if running) and removes the temp dir. */
  destroy(): Promise<void>;
}

const MARIADBD_CANDIDATES = ['/usr/sbin/mariadbd', '/usr/sbin/mysqld', '/usr/bin/mariadbd'];
const INSTALL_DB_CANDIDATES = ['/usr/bin/mariadb-install-db', '/usr/bin/mysql_install_db', '/usr/sbin/mariadb-install-db'];
const CLIENT_CANDIDATES = ['/usr/bin/mariadb', '/usr/bin/mysql'];

export function repoRoot(): string {
  let d = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    if (fs.existsSync(path.join(d, 'mysql', 'schema.sql'))) return d;
    d = path.dirname(d);
  }
  throw new Error('repo root (with mysql/schema.sql) not found');
}

function firstExisting(paths: string[]): string | null {
  for (const p of paths) if (fs.existsSync(p)) return p;
  return null;
}

/** Why MariaDB can't be used here, or null when it can. Tests skip with this reason. */
export function mariadbUnavailable(): string | null {
  if (firstExisting(MARIADBD_CANDIDATES) === null) return 'mariadbd not installed (apt-get install mariadb-server)';
  if (firstExisting(INSTALL_DB_CANDIDATES) === null) return 'mariadb-install-db not installed';
  if (firstExisting(CLIENT_CANDIDATES) === null) return 'mariadb client not installed';
  return null;
}

export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function runClient(socket: string, sql: string): void {
  const client = firstExisting(CLIENT_CANDIDATES)!;
  const r = spawnSync(client, ['--no-defaults', '-uroot', `--socket=${socket}`], { input: sql, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mariadb client failed: ${r.stderr}`);
}

export interface MariaDbOptions {
  /** Use my.cnf's own InnoDB sizes (512 MB pool) instead of the small test ones; for benchmarks. */
  fullSize?: boolean;
}

export async function startMariaDb(opts: MariaDbOptions = {}): Promise<MariaDb> {
  const reason = mariadbUnavailable();
  if (reason !== null) throw new Error(reason);
  const root = repoRoot();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eserver-mdb-'));
  const datadir = path.join(dir, 'data');
  const socket = path.join(dir, 'mysqld.sock');
  const pidFile = path.join(dir, 'mysqld.pid');
  const logFile = path.join(dir, 'error.log');
  const install = spawnSync(
    firstExisting(INSTALL_DB_CANDIDATES)!,
    ['--no-defaults', '--user=root', `--datadir=${datadir}`, '--auth-root-authentication-method=normal', '--skip-test-db', '--skip-name-resolve'],
    { encoding: 'utf8' },
  );
  if (install.status !== 0) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw new Error(`mariadb-install-db failed: ${install.stderr || install.stdout}`);
  }
  const port = await freePort();
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();

  const start = async (): Promise<void> => {
    const c = spawn(
      firstExisting(MARIADBD_CANDIDATES)!,
      [
        `--defaults-file=${path.join(root, 'mysql', 'my.cnf')}`,
        `--datadir=${datadir}`,
        `--socket=${socket}`,
        `--port=${port}`,
        '--bind-address=127.0.0.1',
        `--pid-file=${pidFile}`,
        `--log-error=${logFile}`,
        '--user=root',
        // Tests don't need a big pool; keeps startup and RSS small on a shared box.
        ...(opts.fullSize ? [] : ['--innodb-buffer-pool-size=64M', '--innodb-log-file-size=64M']),
      ],
      { stdio: 'ignore' },
    );
    child = c;
    exited = new Promise((resolve) => c.once('exit', () => resolve()));
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (c.exitCode !== null || c.signalCode !== null) {
        throw new Error(`mariadbd exited during startup: ${fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').slice(-2000) : ''}`);
      }
      try {
        const conn = await mysql.createConnection({ socketPath: socket, user: 'root', connectTimeout: 1000 });
        await conn.end();
        return;
      } catch {
        if (Date.now() > deadline) throw new Error('mariadbd did not answer within 30 s');
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  };

  const signal = async (sig: NodeJS.Signals): Promise<void> => {
    const c = child as ChildProcess | null;
    if (c === null || c.exitCode !== null || c.signalCode !== null) return;
    c.kill('SIGCONT'); // a paused server would not act on SIGTERM
    c.kill(sig);
    const t = setTimeout(() => c.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(t);
    child = null;
  };

  await start();
  const schema = fs.readFileSync(path.join(root, 'mysql', 'schema.sql'), 'utf8');
  runClient(
    socket,
    schema +
      "\nCREATE USER IF NOT EXISTS 'eserver'@'127.0.0.1' IDENTIFIED BY 'eserver';" +
      "\nCREATE USER IF NOT EXISTS 'eserver'@'localhost' IDENTIFIED BY 'eserver';" +
      "\nGRANT ALL ON eserver.* TO 'eserver'@'127.0.0.1';" +
      "\nGRANT ALL ON eserver.* TO 'eserver'@'localhost';\n",
  );

  const url = `mysql://eserver:eserver@127.0.0.1:${port}/eserver`;
  return {
    url,
    port,
    socket,
    dir,
    connect: () => mysql.createConnection({ host: '127.0.0.1', port, user: 'eserver', password: 'eserver', database: 'eserver' }),
    exec: async (sql) => runClient(socket, sql),
    stop: () => signal('SIGTERM'),
    kill: () => signal('SIGKILL'),
    start,
    pause: () => {
      (child as ChildProcess | null)?.kill('SIGSTOP');
    },
    resume: () => {
      (child as ChildProcess | null)?.kill('SIGCONT');
    },
    destroy: async () => {
      await signal('SIGTERM');
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
