// A throwaway MariaDB for tests and benchmarks: its own directory (laid out as a lab run directory's MariaDB
// part), a free TCP port, Debian's mariadbd with the repo's mysql/my.cnf and mysql/schema.sql, and the lab's
// account. The account, the database and mariadbd's flags are the stack spec's, as in the lab.
// Stopped by pid; destroy() removes the directory.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';
import { freePort } from './free-port.js';
import { mariadbBinaries } from './mariadb-binaries.js';
import { renderTemplate } from './render.js';
import { repoRoot } from './repo-root.js';
import { DATABASE, LOOPBACK, accountTokens, mariadbdArgs, mysqlUrl, runLayout } from './stack-spec.js';

export { mariadbUnavailable } from './mariadb-binaries.js';

const run = promisify(execFile);

export interface MariaDb {
  host: string;
  port: number;
  socket: string;
  /** The directory that holds everything of this server. */
  dir: string;
  user: string;
  password: string;
  database: string;
  /** mysql://user:pass@127.0.0.1:port/database (the stack spec's mysqlUrl), for the queue server's --mysql-url. */
  url: string;
  /** The running mariadbd's pid (throws while it is stopped). */
  readonly pid: number;
  /** Connects as the user (database eserver). */
  connect(): Promise<mysql.Connection>;
  /** Runs SQL (several statements allowed) as root through the socket, e.g. to empty tables between tests. */
  exec(sql: string): Promise<void>;
  /** Empties the schema's tables (events, offsets, dead letters): a test or benchmark cell starts from nothing. */
  emptyTables(): Promise<void>;
  /** Graceful shutdown (SIGTERM, waits for exit); the datadir stays for start(). */
  stop(): Promise<void>;
  /** SIGKILL, like a crash; the datadir stays. */
  kill(): Promise<void>;
  /** SIGSTOP / SIGCONT: a server that hangs without closing its connections. */
  pause(): void;
  resume(): void;
  /** Starts again on the same datadir, port and socket. */
  start(): Promise<void>;
  /** Stops (if running) and removes the directory. */
  destroy(): Promise<void>;
}

export interface MariaDbOptions {
  /** Where the server's directory is made (default: the OS temp dir). */
  parent?: string;
  /** my.cnf's own InnoDB sizes (512 MB pool) instead of small test ones; for benchmarks. */
  fullSize?: boolean;
  /** Called with every mariadbd started, e.g. to kill it when the benchmark is interrupted. */
  onSpawn?: (child: ChildProcess) => void;
}

async function install(installDb: string, datadir: string, tmp: string): Promise<void> {
  try {
    // Not my.cnf: with its 256 MB redo log, install-db would write it out in full.
    await run(installDb, ['--no-defaults', '--user=root', `--datadir=${datadir}`, `--tmpdir=${tmp}`, '--auth-root-authentication-method=normal', '--skip-test-db', '--skip-name-resolve'], {
      maxBuffer: 1 << 24,
    });
  } catch (e) {
    const err = e as { stderr?: string; stdout?: string; message: string };
    throw new Error(`mariadb-install-db failed: ${err.stderr || err.stdout || err.message}`);
  }
}

export async function startMariaDb(opts: MariaDbOptions = {}): Promise<MariaDb> {
  const bins = mariadbBinaries();
  const parent = opts.parent ?? tmpdir();
  mkdirSync(parent, { recursive: true });
  const dir = mkdtempSync(join(parent, 'eserver-mdb-'));
  const layout = runLayout(dir);
  const datadir = layout.datadir;
  const socket = layout.mysqlSocket;
  const logFile = join(dir, 'error.log');
  // A private tmpdir: a starting mariadbd deletes every #sql* file in its tmpdir, so servers sharing /tmp
  // delete each other's live temporary tables (install-db's among them, which then fails).
  const tmp = layout.mysqlTmp;
  mkdirSync(tmp, { recursive: true });
  const myCnf = join(repoRoot, 'mysql', 'my.cnf');
  let port = 0;
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();

  const start = async (): Promise<void> => {
    const c = spawn(
      bins.mariadbd,
      [
        ...mariadbdArgs({ defaultsFile: existsSync(myCnf) ? myCnf : null, osUser: 'root', layout, port, errorLog: logFile }),
        '--skip-name-resolve',
        // Tests don't need a big pool; keeps startup and RSS small on a shared box.
        ...(opts.fullSize ? [] : ['--innodb-buffer-pool-size=64M', '--innodb-log-file-size=64M']),
      ],
      { stdio: 'ignore' },
    );
    child = c;
    opts.onSpawn?.(c);
    exited = new Promise((resolve) => c.once('exit', () => resolve()));
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (c.exitCode !== null || c.signalCode !== null) {
        throw new Error(`mariadbd exited during startup: ${existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-2000) : '(no log)'}`);
      }
      try {
        const conn = await mysql.createConnection({ socketPath: socket, user: 'root', connectTimeout: 1000 });
        await conn.end();
        return;
      } catch {
        if (Date.now() > deadline) throw new Error(`mariadbd did not answer on ${socket} within 30 s; its log: ${logFile}`);
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

  const exec = async (sql: string): Promise<void> => {
    const c = await mysql.createConnection({ socketPath: socket, user: 'root', multipleStatements: true });
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };

  try {
    await install(bins.installDb, datadir, tmp);
    port = await freePort();
    await start();
    // The lab's init step: the schema, then the account (mysql/lab-user.sql with the spec's values).
    const accountSql = join(repoRoot, 'mysql', 'lab-user.sql');
    await exec(readFileSync(join(repoRoot, 'mysql', 'schema.sql'), 'utf8') + '\n' + renderTemplate(readFileSync(accountSql, 'utf8'), accountTokens(), accountSql));
  } catch (e) {
    await signal('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }

  return {
    host: LOOPBACK,
    port,
    socket,
    dir,
    ...DATABASE,
    url: mysqlUrl(port),
    get pid(): number {
      const c = child as ChildProcess | null;
      if (c?.pid === undefined) throw new Error('mariadbd is not running');
      return c.pid;
    },
    connect: () => mysql.createConnection({ host: LOOPBACK, port, ...DATABASE }),
    exec,
    emptyTables: () => exec(`USE ${DATABASE.database}; TRUNCATE bench_events; TRUNCATE queue_offsets; TRUNCATE dead_letters;`),
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
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
