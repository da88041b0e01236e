// The drain benchmark: rows/s that the queue server writes into MariaDB for the seed statement, next to
// what raw mysql2 multi-row INSERTs reach on the same database in the same run (the ceiling).
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import type { BenchDb } from './mariadb.js';
import { preload } from './preload.js';
import { startQueueServer, scrapeMetric } from './servers.js';

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
  serverCpuUsPerRow?: number;
}

/**
 * Fills the queue while MariaDB is paused (SIGSTOP: the writer's first batch simply waits, no error and no
 * backoff), then resumes it and times the drain from the server's own eserver_drained_total counter.
 */
export async function drainRate(db: BenchDb, runDir: string, rows: number, extraArgs: string[] = []): Promise<DrainResult> {
  await db.emptyTables();
  const journal = join(runDir, `drain-journal-${process.pid}`);
  rmSync(journal, { recursive: true, force: true });
  mkdirSync(journal, { recursive: true });
  const server = await startQueueServer({
    args: ['--mysql-url', db.url, '--journal-dir', journal, '--fsync', 'off', '--capacity', String(Math.max(1_000_000, rows)), ...extraArgs],
    label: 'eserver-queue drain',
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
    process.kill(db.pid, 'SIGCONT');
    paused = false;
    let t0 = 0;
    let d0 = 0;
    let last = base;
    const deadline = Date.now() + 120_000;
    for (;;) {
      const d = (await scrapeMetric(server.host, metricsPort, 'eserver_drained_total')) ?? 0;
      const now = performance.now();
      if (t0 === 0 && d > base) {
        // The first batch to land was already in flight before the pause; time from here.
        t0 = now;
        d0 = d;
      }
      last = d;
      if (d >= pre.acked) break;
      if (Date.now() > deadline) throw new Error(`drain stalled at ${d}/${pre.acked} rows:\n${server.logTail()}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    const drainSeconds = (performance.now() - t0) / 1000;
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
    };
  } finally {
    if (paused) process.kill(db.pid, 'SIGCONT');
    await server.stop();
    rmSync(journal, { recursive: true, force: true });
  }
}
