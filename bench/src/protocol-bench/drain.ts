// The drain benchmark: rows/s that the queue server writes into MariaDB for the seed statement, next to
// what raw mysql2 multi-row INSERTs reach on the same database in the same run (the ceiling).
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import type { BenchDb } from './mariadb.js';
import { preload } from './preload.js';
import { startQueueServer } from './servers.js';
import { scrapeMetric } from '../metrics/queue-metrics.js';
import { sampleProc } from './procstat.js';
import { clockTicksPerSecond } from '@eserver-lab/common/proc-stat';

export interface RawInsertResult {
  rows: number;
  batchRows: number;
  connections: number;
  seconds: number;
  rowsPerSec: number;
}

/** Multi-row INSERTs of batchRows rows each, one autocommit statement each, over a few connections. */
export async function rawInsertRate(db: BenchDb, rows: number, opts: { batchRows?: number; connections?: number } = {}): Promise<RawInsertResult> {
  const batchRows = opts.batchRows ?? 5000;
  const connections = opts.connections ?? 2;
  await db.emptyTables();
  // Statements are built before the clock starts: this measures the database path, not string building.
  const stmts: string[] = [];
  for (let first = 1; first <= rows; first += batchRows) {
    const last = Math.min(rows, first + batchRows - 1);
    const vals: string[] = [];
    for (let v = first; v <= last; v++) vals.push(`(${v})`);
    stmts.push(`insert into bench_events (num) values ${vals.join(',')}`);
  }
  const pool = mysql.createPool({ host: db.host, port: db.port, user: db.user, password: db.password, database: db.database, connectionLimit: connections });
  try {
    await Promise.all(Array.from({ length: connections }, () => pool.query('select 1')));
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: connections }, async () => {
        while (next < stmts.length) await pool.query(stmts[next++]);
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    return { rows, batchRows, connections, seconds, rowsPerSec: rows / seconds };
  } finally {
    await pool.end();
  }
}

export interface DrainResult {
  rows: number;
  enqueued: number;
  enqueueFailed: number;
  preloadSeconds: number;
  /** From the first drained batch after MariaDB resumed to the last row committed. */
  drainSeconds: number;
  rowsPerSec: number;
  /** Rows in bench_events afterwards, and how many distinct nums (duplicates would differ). */
  rowsInTable: number;
  distinctNums: number;
  lostRows: number;
  /** CPU over the timed drain, s: the queue server's and MariaDB's (ticks of /proc, every thread). */
  cpuS: { server: number; db: number };
  /** Rows drained per CPU-second of the two together: what the drain costs, whatever share of the machine it got. */
  rowsPerCpuS: number;
}

/**
 * Fills the queue while MariaDB is paused (SIGSTOP: the writer's first batch simply waits, no error and no
 * backoff), then resumes it and times the drain from the server's own eserver_drained_total counter.
 */
export interface DrainOptions {
  /** The queue server's CLI script (default this checkout's). */
  entry?: string;
  /** Tells drains measured side by side apart (their journal directories). */
  name?: string;
  /**
   * Called once the queue is full and before MariaDB is resumed: drains measured side by side wait for each
   * other here, so that their MariaDBs resume, and their drains run, at the same time.
   */
  beforeResume?: () => Promise<void>;
}

export async function drainRate(db: BenchDb, runDir: string, rows: number, extraArgs: string[] = [], o: DrainOptions = {}): Promise<DrainResult> {
  await db.emptyTables();
  const journal = join(runDir, `drain-journal-${process.pid}${o.name ? `-${o.name}` : ''}`);
  rmSync(journal, { recursive: true, force: true });
  mkdirSync(journal, { recursive: true });
  const server = await startQueueServer({
    args: ['--mysql-url', db.url, '--journal-dir', journal, '--fsync', 'off', '--capacity', String(Math.max(1_000_000, rows)), ...extraArgs],
    label: 'eserver-queue drain',
    ...(o.entry ? { entry: o.entry } : {}),
  });
  let paused = false;
  try {
    const metricsPort = server.metricsPort!;
    // Let the writer connect its pool before the pause, so no connect timeout is in the way.
    await new Promise((r) => setTimeout(r, 300));
    process.kill(db.pid, 'SIGSTOP');
    paused = true;
    const pre = await preload(server.host, server.port, rows);
    const base = (await scrapeMetric(server.host, metricsPort, 'eserver_drained_total')) ?? 0;
    await o.beforeResume?.();
    process.kill(db.pid, 'SIGCONT');
    paused = false;
    let t0 = 0;
    let d0 = 0;
    let last = base;
    const ticks = () => ({ server: sampleProc(server.pid).cpuTicks, db: sampleProc(db.pid).cpuTicks });
    let cpu0 = ticks();
    const deadline = Date.now() + 120_000;
    for (;;) {
      const d = (await scrapeMetric(server.host, metricsPort, 'eserver_drained_total')) ?? 0;
      const now = performance.now();
      if (t0 === 0 && d > base) {
        // The first batch to land was already in flight before the pause; time from here.
        t0 = now;
        d0 = d;
        cpu0 = ticks();
      }
      last = d;
      if (d >= pre.acked) break;
      if (Date.now() > deadline) throw new Error(`drain stalled at ${d}/${pre.acked} rows:\n${server.logTail()}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    const drainSeconds = (performance.now() - t0) / 1000;
    const cpu1 = ticks();
    const hz = clockTicksPerSecond();
    const cpuS = { server: (cpu1.server - cpu0.server) / hz, db: (cpu1.db - cpu0.db) / hz };
    const c = await mysql.createConnection({ socketPath: db.socket, user: 'root', database: db.database });
    const [res] = await c.query('select count(*) as n, count(distinct num) as d from bench_events');
    await c.end();
    const { n, d } = (res as Array<{ n: number; d: number }>)[0];
    return {
      rows,
      enqueued: pre.acked,
      enqueueFailed: pre.failed,
      preloadSeconds: pre.seconds,
      drainSeconds,
      rowsPerSec: drainSeconds > 0 ? (last - d0) / drainSeconds : NaN,
      rowsInTable: Number(n),
      distinctNums: Number(d),
      lostRows: pre.acked - Number(d),
      cpuS,
      rowsPerCpuS: cpuS.server + cpuS.db > 0 ? (last - d0) / (cpuS.server + cpuS.db) : NaN,
    };
  } finally {
    if (paused) process.kill(db.pid, 'SIGCONT');
    await server.stop();
    rmSync(journal, { recursive: true, force: true });
  }
}
