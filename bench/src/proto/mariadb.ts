// A throwaway MariaDB for the drain benchmark: its own datadir, socket and port under the run directory,
// started from Debian's mariadb-server binaries and stopped by pid. Uses the project's mysql/my.cnf when it
// exists (so the drain is measured on the tuned server the stack uses), else MariaDB's defaults.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { track } from './children.js';
import { existsSync, mkdirSync, rmSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';
import { freePort } from './ports.js';
import { REPO_ROOT } from './servers.js';

const run = promisify(execFile);

export interface BenchDb {
  host: string;
  port: number;
  socket: string;
  user: string;
  password: string;
  database: string;
  pid: number;
  /** mysql://user:pass@127.0.0.1:port/eserver, for the queue server's --mysql-url. */
  url: string;
  stop(): Promise<void>;
}

async function waitPing(socket: string, child: ChildProcess, errLog: string, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`mariadbd exited ${child.exitCode}: ${existsSync(errLog) ? readFileSync(errLog, 'utf8').slice(-2000) : ''}`);
    try {
      const c = await mysql.createConnection({ socketPath: socket, user: 'root' });
      await c.end();
      return;
    } catch {
      if (Date.now() > until) throw new Error(`mariadbd did not answer on ${socket} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

export async function startBenchDb(runDir: string): Promise<BenchDb> {
  const dir = join(runDir, `mariadb-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  const datadir = join(dir, 'data');
  mkdirSync(datadir, { recursive: true });
  await run('mariadb-install-db', ['--no-defaults', '--user=root', `--datadir=${datadir}`, '--auth-root-authentication-method=normal', '--skip-test-db'], { maxBuffer: 1 << 24 });
  const port = await freePort();
  const socket = join(dir, 'mysqld.sock');
  const errLog = join(dir, 'error.log');
  const cnf = join(REPO_ROOT, 'mysql', 'my.cnf');
  const args = [
    existsSync(cnf) ? `--defaults-file=${cnf}` : '--no-defaults',
    `--datadir=${datadir}`,
    `--socket=${socket}`,
    `--port=${port}`,
    '--bind-address=127.0.0.1',
    `--pid-file=${join(dir, 'mysqld.pid')}`,
    `--log-error=${errLog}`,
    '--user=root',
    '--skip-name-resolve',
    '--skip-log-bin',
  ];
  const child = track(spawn('mariadbd', args, { stdio: 'ignore' }));
  const stop = (): Promise<void> =>
    new Promise((res) => {
      const done = (): void => {
        rmSync(dir, { recursive: true, force: true });
        res();
      };
      if (child.exitCode !== null || child.signalCode !== null) return done();
      const t = setTimeout(() => child.kill('SIGKILL'), 20_000);
      child.once('exit', () => {
        clearTimeout(t);
        done();
      });
      child.kill('SIGTERM');
    });
  try {
    await waitPing(socket, child, errLog);
    const admin = await mysql.createConnection({ socketPath: socket, user: 'root', multipleStatements: true });
    await admin.query(readFileSync(join(REPO_ROOT, 'mysql', 'schema.sql'), 'utf8'));
    await admin.query("CREATE USER IF NOT EXISTS 'bench'@'127.0.0.1' IDENTIFIED BY 'bench'; GRANT ALL ON eserver.* TO 'bench'@'127.0.0.1';");
    await admin.end();
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    host: '127.0.0.1',
    port,
    socket,
    user: 'bench',
    password: 'bench',
    database: 'eserver',
    pid: child.pid!,
    url: `mysql://bench:bench@127.0.0.1:${port}/eserver`,
    stop,
  };
}

export async function truncateBench(db: BenchDb): Promise<void> {
  const c = await mysql.createConnection({ socketPath: db.socket, user: 'root', database: 'eserver' });
  await c.query('TRUNCATE bench_events');
  await c.query('TRUNCATE queue_offsets');
  await c.query('TRUNCATE dead_letters');
  await c.end();
}
