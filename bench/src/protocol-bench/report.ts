// Markdown rendering of a protocol benchmark run.
import type { ProtoCell } from './measure.js';
import type { QueueRuntimeName } from '@eserver-lab/queue-server/runtime';
import type { RuntimeHold, RuntimeTable, TableRow } from './runtimes.js';
import { CONFIG_LABELS, minJournalKindOf, minKindOf } from './runtimes.js';
import { median } from '@eserver-lab/common/stats';
import type { DrainResult, RawInsertResult } from './drain.js';
import type { FsyncCell } from './fsync.js';

export interface ProtoReport {
  startedAt: string;
  command: string;
  machine: { cpus: number; kernel: string; node: string; clkTck: number };
  settings: Record<string, unknown>;
  cells: ProtoCell[];
  /** Issue 12's table: every server and configuration at the stack's load shape, on each runtime. */
  table?: RuntimeTable;
  /** RSS with N connections open, per runtime (the queue server and the minimal server). */
  holds?: RuntimeHold[];
  drain?: { raw: RawInsertResult; drain: DrainResult; ratio: number };
  fsync?: FsyncCell[];
  notes: string[];
}

const f0 = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
const f1 = (n: number): string => (Number.isFinite(n) ? n.toFixed(1) : 'n/a');
const ms = (us: number): string => (us >= 100_000 ? (us / 1000).toFixed(0) : (us / 1000).toFixed(2));
const mb = (b: number): string => (b / 1048576).toFixed(1);

export function cpuRatios(cells: ProtoCell[]): Array<{ mode: string; concurrency: number; ratio: number }> {
  const out: Array<{ mode: string; concurrency: number; ratio: number }> = [];
  for (const ts of cells.filter((c) => c.serverKind === 'ts')) {
    const ref = cells.find((c) => c.serverKind === 'c-ref' && c.mode === ts.mode && c.concurrency === ts.concurrency);
    if (ref) out.push({ mode: ts.mode, concurrency: ts.concurrency, ratio: ts.cpuUsPerReq / ref.cpuUsPerReq });
  }
  return out;
}

/** Median over the repetitions of a per-repetition difference b - a, in µs per enqueue. */
function medianDiff(a: TableRow, b: TableRow): number {
  return median(a.cells.map((c, k) => (b.cells[k]?.cpuUsPerReq ?? NaN) - c.cpuUsPerReq));
}

/**
 * What the pure queue plus the cheapest journal this runtime can have (the minimal server's O_DSYNC group
 * journal, over the minimal server alone) plus our drain (over the pure queue) costs, as a multiple of the
 * pure queue: the shipped ratio cannot go below it without a cheaper durable write or drain.
 */
function shippedFloor(t: RuntimeTable, runtime: QueueRuntimeName, pure: TableRow, drain: TableRow | undefined): string | null {
  const min = t.rows.find((x) => x.kind === minKindOf(runtime));
  const minJournal = t.rows.find((x) => x.kind === minJournalKindOf(runtime));
  if (!min || !minJournal) return null;
  const journalUs = medianDiff(min, minJournal);
  const drainUs = drain ? medianDiff(pure, drain) : 0;
  const floor = (pure.cpuUsMedian + journalUs + Math.max(0, drainUs)) / pure.cpuUsMedian;
  if (!Number.isFinite(floor)) return null;
  return (
    `the minimal server's O_DSYNC group journal costs ${f1(journalUs)} µs per enqueue (${f1(minJournal.cpuUsMedian)} against ${f1(min.cpuUsMedian)})` +
    (drain ? `, the drain ${f1(drainUs)} µs over the pure queue` : '') +
    `; the pure queue plus ${drain ? 'both' : 'that journal'} is ${floor.toFixed(2)}× the pure queue.`
  );
}

export function renderRuntimeTable(t: RuntimeTable): string[] {
  const L: string[] = [];
  L.push(`| server | runtime | configuration | CPU µs per enqueue (median of ${t.repeat}) | min-max | ratio to the C reference | req/s | failed |`);
  L.push('|---|---|---|---|---|---|---|---|');
  for (const row of t.rows) {
    const name = row.kind === 'ts' ? `eserver-queue (this server${row.bunSockets ? ", through Bun's node:net layer" : row.runtime === 'bun' ? ', Bun.listen adapter' : ''})` : row.label;
    const config = row.config ? CONFIG_LABELS[row.config] : '';
    L.push(`| ${name} | ${row.runtime ?? '-'} | ${config} | ${f1(row.cpuUsMedian)} | ${f1(row.cpuUsMin)}-${f1(row.cpuUsMax)} | ${row.ratioToRef.toFixed(2)} | ${f0(row.reqPerSecMedian)} | ${row.failed} |`);
  }
  L.push('');
  L.push(`${t.concurrency} clients, a new connection per request (the stack's shape: php-fpm's children), ${t.durationMs / 1000} s per cell after ${t.warmupMs / 1000} s of warm-up, ${t.repeat} repetition(s), each cell back to back in reversed order on odd repetitions. The ratio is the median of the per-repetition ratios.`);
  const empty = t.rows.filter((x) => !Number.isFinite(x.cpuUsMedian));
  if (empty.length) {
    L.push(`- No figure for ${empty.map((x) => x.label).join('; ')}: no request was answered in the measured window (seen with 2 s cells on a heavily loaded machine; raise --table-duration).`);
  }
  const find = (runtime: string, config: string): TableRow | undefined => t.rows.find((x) => x.kind === 'ts' && x.runtime === runtime && x.config === config && !x.bunSockets);
  const bunPure = find('bun', 'pure');
  const minBun = t.rows.find((x) => x.kind === 'min-bun');
  if (bunPure) {
    const met = bunPure.ratioToRef <= 1.3;
    L.push(`- Pure configuration on Bun: ${bunPure.ratioToRef.toFixed(2)}× the C reference (goal ≤ 1.3×: ${Number.isFinite(bunPure.ratioToRef) ? (met ? 'met' : 'missed') : 'no figure'}${minBun ? `; the minimal Bun server, the floor of this runtime, is at ${minBun.ratioToRef.toFixed(2)}×` : ''}).`);
  }
  const viaNodeNet = t.rows.find((x) => x.bunSockets === 'node-net');
  if (bunPure && viaNodeNet) {
    L.push(`- The Bun.listen adapter against Bun's node:net layer, pure queue: ${f1(bunPure.cpuUsMedian)} against ${f1(viaNodeNet.cpuUsMedian)} µs per enqueue (${(bunPure.cpuUsMedian / viaNodeNet.cpuUsMedian).toFixed(2)}×).`);
  }
  for (const runtime of ['node', 'bun'] as const) {
    const pure = find(runtime, 'pure');
    const shipped = find(runtime, 'journal-always+drain');
    if (pure && shipped) {
      const k = shipped.cpuUsMedian / pure.cpuUsMedian;
      L.push(`- Shipped configuration (journal \`always\` + drain) ÷ pure on ${runtime}: ${k.toFixed(2)} (goal ≤ 1.25: ${Number.isFinite(k) ? (k <= 1.25 ? 'met' : 'missed') : 'no figure'}).`);
      const floor = shippedFloor(t, runtime, pure, find(runtime, 'drain'));
      if (floor) L.push(`  - Its floor on this disk: ${floor}`);
    }
  }
  return L;
}

export function renderMarkdown(r: ProtoReport): string {
  const L: string[] = [];
  L.push(`Protocol benchmark, ${r.startedAt} (${r.machine.cpus} CPUs, Linux ${r.machine.kernel}, Node ${r.machine.node}).`);
  L.push(`Command: \`${r.command}\``);
  L.push('');
  if (r.table) {
    L.push(...renderRuntimeTable(r.table));
    L.push('');
  }
  if (r.cells.length) {
    L.push('| server | mode | C | req/s | failed | p50 ms | p99 ms | p99.9 ms | server CPU µs/req | server CPU (cores) | server RSS peak MB |');
    L.push('|---|---|---|---|---|---|---|---|---|---|---|');
    for (const c of r.cells) {
      L.push(`| ${c.server} | ${c.mode} | ${c.concurrency} | ${f0(c.reqPerSec)} | ${c.failed} | ${ms(c.latencyUs.p50)} | ${ms(c.latencyUs.p99)} | ${ms(c.latencyUs.p999)} | ${f1(c.cpuUsPerReq)} | ${c.cpuCores.toFixed(2)} | ${mb(c.rssPeakBytes)} |`);
    }
    const ratios = cpuRatios(r.cells);
    if (ratios.length) {
      L.push('');
      L.push('Server CPU per request, TypeScript ÷ C reference (target ≤ 1.5× for a new connection per request):');
      for (const x of ratios) L.push(`- ${x.mode}, C=${x.concurrency}: ${x.ratio.toFixed(2)}×${x.mode === 'conn-per-req' ? (x.ratio <= 1.5 ? ' (target met)' : ` (target missed by ${((x.ratio / 1.5 - 1) * 100).toFixed(0)}%)`) : ''}`);
    }
    L.push('');
    L.push('The C reference is `bench/ref/eserver-ref.c`, a minimal epoll server written for this project (same framing, same 22-byte 8001 reply, no JSON parsing, no storage), compiled with `cc -O2` at bench time.');
  }
  if (r.holds?.length) {
    const n = r.holds[0].target;
    L.push('');
    L.push(`| RSS with ${n.toLocaleString('en-US')} connections open (each served one 8001) | runtime | open | failed | idle RSS MB | RSS MB | KB per connection | target ≤ 64 MB |`);
    L.push('|---|---|---|---|---|---|---|---|');
    for (const h of r.holds) {
      const perConn = h.open > 0 ? (h.rssBytes - h.rssBeforeBytes) / h.open / 1024 : NaN;
      const goal = h.kind === 'ts' ? (h.rssBytes <= 64 * 1048576 ? 'met' : 'missed') : '(floor)';
      L.push(`| ${h.label} | ${h.runtime} | ${h.open.toLocaleString('en-US')} | ${h.failed} | ${mb(h.rssBeforeBytes)} | **${mb(h.rssBytes)}** | ${f1(perConn)} | ${goal} |`);
    }
  }
  if (r.drain) {
    const { raw, drain, ratio } = r.drain;
    L.push('');
    L.push('| drain into MariaDB | rows | seconds | rows/s |');
    L.push('|---|---|---|---|');
    L.push(`| raw mysql2 multi-row INSERT (${raw.batchRows} rows/statement, ${raw.connections} connections), the ceiling | ${f0(raw.rows)} | ${raw.seconds.toFixed(2)} | ${f0(raw.rowsPerSec)} |`);
    L.push(`| eserver-queue drain of the seed statement (queue preloaded, then timed) | ${f0(drain.enqueued)} | ${drain.drainSeconds.toFixed(2)} | ${f0(drain.rowsPerSec)} |`);
    L.push('');
    L.push(`Drain ÷ raw: ${ratio.toFixed(2)}. Target ≥ 200,000 rows/s: ${drain.rowsPerSec >= 200_000 ? 'met' : `missed by ${((1 - drain.rowsPerSec / 200_000) * 100).toFixed(0)}%`}. Rows in table ${f0(drain.rowsInTable)}, distinct ${f0(drain.distinctNums)}, lost ${drain.lostRows}.`);
  }
  if (r.fsync?.length) {
    const off = r.fsync.find((c) => c.policy === 'off');
    L.push('');
    L.push('| fsync policy | mode | C | enqueue req/s | failed | p50 ms | p99 ms | server CPU µs/req | off ÷ this |');
    L.push('|---|---|---|---|---|---|---|---|---|');
    for (const c of r.fsync) {
      L.push(`| ${c.policy} | ${c.mode} | ${c.concurrency} | ${f0(c.reqPerSec)} | ${c.failed} | ${ms(c.latencyUs.p50)} | ${ms(c.latencyUs.p99)} | ${f1(c.cpuUsPerReq)} | ${off ? (off.reqPerSec / c.reqPerSec).toFixed(2) : 'n/a'} |`);
    }
    const always = r.fsync.find((c) => c.policy === 'always');
    if (off && always) {
      const k = off.reqPerSec / always.reqPerSec;
      L.push('');
      L.push(`Enqueue req/s, \`off\` ÷ \`always\` = ${k.toFixed(2)} (target: \`always\` within 2× of \`off\`, i.e. ≤ 2: ${k <= 2 ? 'met' : 'missed'}).`);
    }
  }
  for (const n of r.notes) {
    L.push('');
    L.push(`Note: ${n}`);
  }
  return L.join('\n') + '\n';
}
