// After a profile: wait for the queue to drain into MySQL, then check that every acknowledged
// enqueue (8001 ack) became exactly one row. The check is on the stack's totals (a bench run starts a
// fresh stack, so rows and acks both start at 0): per-profile deltas cannot be cut exactly, because
// php-fpm keeps working through its backlog (and enqueuing) after the load stops. The deltas are
// recorded beside the totals for reading.
import mysql from 'mysql2/promise';
import type { MysqlEndpoint } from '../lab/types.js';
import { fetchQueueMetrics, type QueueMetrics } from '../metrics/queue-metrics.js';

export interface Counts {
  acked: number;
  rows: number;
  distinct: number;
}

export interface LossCheck {
  /** Stack totals: what `ok` is decided on. */
  acked: number;
  rows: number;
  distinct: number;
  /** The same counts over this profile only (from its start to the end of the drain). */
  profile: Counts;
  ok: boolean;
  /** Whether the queue reported itself drained before the bounded wait ran out. */
  drained: boolean;
  wait_s: number;
  /** Strict successes of the page (HTTP 200 + "ok") never exceed acks; else the page lies. */
  strict_ok_le_acked: boolean | null;
  note?: string;
}

type Conn = mysql.Connection;

export async function connectMysql(m: MysqlEndpoint): Promise<Conn> {
  return mysql.createConnection({
    host: m.host, port: m.port, user: m.user, password: m.password, database: m.database,
    ...(m.socket ? { socketPath: m.socket } : {}),
  });
}

export async function countRows(c: Conn): Promise<{ rows: number; distinct: number }> {
  const [r] = await c.query('SELECT COUNT(*) AS n, COUNT(DISTINCT num) AS d FROM bench_events');
  const row = (r as Array<{ n: number | string; d: number | string }>)[0];
  return { rows: Number(row.n), distinct: Number(row.d) };
}

/** Acks and rows read as one consistent pair: acks before and after the count must agree (a few tries). */
export async function readCounts(m: MysqlEndpoint, q: { host: string; metricsPort: number }): Promise<Counts> {
  const c = await connectMysql(m);
  try {
    let out: Counts = { acked: 0, rows: 0, distinct: 0 };
    for (let i = 0; i < 10; i++) {
      const a = await fetchQueueMetrics(q.host, q.metricsPort);
      const { rows, distinct } = await countRows(c);
      const b = await fetchQueueMetrics(q.host, q.metricsPort);
      out = { acked: b?.enqueued ?? 0, rows, distinct };
      if (a?.enqueued === b?.enqueued) break;
    }
    return out;
  } finally {
    await c.end();
  }
}

function isDrained(m: QueueMetrics | null): boolean {
  if (!m || m.depth === null) return false;
  if (m.depth !== 0) return false;
  // With the drain's commit metric, "drained" means committed up to the last acked sequence.
  if (m.committedSeq !== null && m.nextSeq !== null) return m.committedSeq >= m.nextSeq - 1;
  return true;
}

export interface LossCheckOptions {
  mysql: MysqlEndpoint;
  queue: { host: string; metricsPort: number };
  before: Counts;
  strictOk: number | null;
  timeoutS?: number;
  log?: (line: string) => void;
}

export async function lossCheck(o: LossCheckOptions): Promise<LossCheck> {
  const started = Date.now();
  const deadline = started + (o.timeoutS ?? 120) * 1000;
  const c = await connectMysql(o.mysql);
  try {
    let drained = false;
    let lastLog = 0;
    let m: QueueMetrics | null = null;
    let prevAcked: number | null = null;
    let prevRows: number | null = null;
    let quiet = 0;
    let counts = await countRows(c);
    for (;;) {
      // Acks read before and after the row count, and unchanged since the previous poll: php-fpm
      // still works through its backlog (and still enqueues) for a while after the load stops.
      const m1 = await fetchQueueMetrics(o.queue.host, o.queue.metricsPort);
      counts = await countRows(c);
      m = await fetchQueueMetrics(o.queue.host, o.queue.metricsPort);
      drained = isDrained(m);
      const ackedNow = m?.enqueued ?? null;
      const stable = ackedNow !== null && m1?.enqueued === ackedNow && prevAcked === ackedNow && prevRows === counts.rows;
      prevAcked = ackedNow;
      prevRows = counts.rows;
      quiet = drained && stable ? quiet + 1 : 0;
      if (quiet >= 1 && counts.rows === ackedNow) break;
      // Nothing moves any more (3 s) yet the counts differ: waiting longer will not help.
      if (quiet >= 6) break;
      if (Date.now() >= deadline) break;
      if (o.log && Date.now() - lastLog >= 2000) {
        lastLog = Date.now();
        o.log(`loss check: waiting for the drain (depth ${m?.depth ?? '?'}, ${counts.rows} rows of ${ackedNow ?? '?'} acked)`);
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    const acked = m?.enqueued ?? 0;
    const profile = { acked: acked - o.before.acked, rows: counts.rows - o.before.rows, distinct: counts.distinct - o.before.distinct };
    const strictLe = o.strictOk === null ? null : o.strictOk <= profile.acked;
    const ok = m !== null && drained && counts.rows === acked && counts.distinct === counts.rows && strictLe !== false;
    const out: LossCheck = {
      acked, rows: counts.rows, distinct: counts.distinct, profile, ok, drained,
      wait_s: Math.round((Date.now() - started) / 100) / 10,
      strict_ok_le_acked: strictLe,
    };
    if (m === null) out.note = 'the queue metrics endpoint did not answer';
    else if (!drained) out.note = `the queue did not drain within ${o.timeoutS ?? 120} s (depth ${m.depth})`;
    return out;
  } finally {
    await c.end();
  }
}

export function lossLine(l: LossCheck): string {
  return `Loss check: ${l.acked} acked, ${l.rows} rows, ${l.distinct} distinct: ${l.ok ? 'OK, nothing lost' : 'FAILED'}${l.note ? ` (${l.note})` : ''} (this profile: ${l.profile.acked} acked, ${l.profile.rows} rows).`;
}
