// The runtime table of issue 12: CPU per enqueue of the C reference, the minimal node and Bun servers, and
// the queue server on each runtime in each shipped configuration (pure, + drain, + journal interval + drain,
// + journal always + drain), under the stack's own load shape: 12 clients (php-fpm's children), a new
// connection per request. Every cell is measured once per repetition, back to back, with the order reversed
// on odd repetitions, so that a drift in machine load does not favour one side; the ratio to the C reference
// is taken within each repetition and its median reported.
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { QueueRuntimeName } from '@eserver-lab/queue-server/runtime';
import { median } from '@eserver-lab/common/stats';
import { holdConnections, type HoldResult } from './hold.js';
import { startBenchDb, type BenchDb } from './mariadb.js';
import { measureCell, type ProtoCell } from './measure.js';
import { startMinServer, startQueueServer, startRefServer, type MinServerKind, type RunningServer } from './servers.js';

export const TABLE_CONFIGS = ['pure', 'drain', 'journal-interval+drain', 'journal-always+drain'] as const;
export type TableConfig = (typeof TABLE_CONFIGS)[number];

export const CONFIG_LABELS: Record<TableConfig, string> = {
  pure: 'pure queue',
  drain: '+ MySQL drain',
  'journal-interval+drain': '+ journal `interval` + drain',
  'journal-always+drain': '+ journal `always` + drain (the lab\'s configuration)',
};

export interface TableRow {
  kind: RunningServer['kind'];
  runtime?: QueueRuntimeName;
  config?: TableConfig;
  /** Set for the queue server on Bun through Bun's node:net layer instead of the Bun.listen adapter. */
  bunSockets?: 'node-net';
  label: string;
  cells: ProtoCell[];
  cpuUsMedian: number;
  cpuUsMin: number;
  cpuUsMax: number;
  /** Median over the repetitions of this row's CPU per enqueue ÷ the C reference's in the same repetition. */
  ratioToRef: number;
  reqPerSecMedian: number;
  failed: number;
}

export interface RuntimeTable {
  concurrency: number;
  durationMs: number;
  warmupMs: number;
  repeat: number;
  rows: TableRow[];
}

export interface RuntimeTableOptions {
  runDir: string;
  runtimes: QueueRuntimeName[];
  configs: TableConfig[];
  concurrency: number;
  durationMs: number;
  warmupMs: number;
  repeat: number;
  threads?: number;
  queueArgs: string[];
  log: (line: string) => void;
}

interface Entry {
  kind: RunningServer['kind'];
  runtime?: QueueRuntimeName;
  config?: TableConfig;
  bunSockets?: 'node-net';
  start: () => Promise<RunningServer>;
  cleanup?: () => void;
}

function queueArgsFor(config: TableConfig, db: BenchDb | null, journalDir: string): string[] {
  if (config === 'pure') return [];
  if (!db) throw new Error(`configuration ${config} needs MariaDB`);
  const drain = ['--mysql-url', db.url];
  if (config === 'drain') return drain;
  return [...drain, '--journal-dir', journalDir, '--fsync', config === 'journal-always+drain' ? 'always' : 'interval'];
}

const NODE_NET = { QUEUE_BUN_SOCKETS: 'node-net' };

export const minKindOf = (runtime: QueueRuntimeName): MinServerKind => (runtime === 'node' ? 'min-node' : 'min-bun');
export const minJournalKindOf = (runtime: QueueRuntimeName): MinServerKind => (runtime === 'node' ? 'min-node-journal' : 'min-bun-journal');

export async function runtimeTable(o: RuntimeTableOptions): Promise<RuntimeTable> {
  mkdirSync(o.runDir, { recursive: true });
  const needsDb = o.configs.some((c) => c !== 'pure');
  const db = needsDb ? await startBenchDb(o.runDir) : null;
  try {
    const entries: Entry[] = [{ kind: 'c-ref', start: () => startRefServer(o.runDir) }];
    for (const runtime of o.runtimes) entries.push({ kind: minKindOf(runtime), runtime, start: () => startMinServer(minKindOf(runtime)) });
    // With the shipped configuration in the table, the floor of its journal: the minimal server plus an O_DSYNC
    // group journal on the same disk.
    if (o.configs.includes('journal-always+drain')) {
      for (const runtime of o.runtimes) entries.push({ kind: minJournalKindOf(runtime), runtime, start: () => startMinServer(minJournalKindOf(runtime), { runDir: o.runDir }) });
    }
    for (const runtime of o.runtimes) {
      for (const config of o.configs) {
        const journalDir = join(o.runDir, `table-journal-${process.pid}`);
        entries.push({
          kind: 'ts',
          runtime,
          config,
          start: async () => {
            rmSync(journalDir, { recursive: true, force: true });
            mkdirSync(journalDir, { recursive: true });
            if (db) await db.emptyTables();
            return startQueueServer({ runtime, args: [...queueArgsFor(config, db, journalDir), ...o.queueArgs], label: `eserver-queue on ${runtime}, ${CONFIG_LABELS[config]}` });
          },
          cleanup: () => rmSync(journalDir, { recursive: true, force: true }),
        });
      }
    }
    // What the Bun.listen adapter saves: the pure queue on Bun through Bun's node:net layer.
    if (o.runtimes.includes('bun') && o.configs.includes('pure')) {
      entries.push({
        kind: 'ts',
        runtime: 'bun',
        config: 'pure',
        bunSockets: 'node-net',
        start: () => startQueueServer({ runtime: 'bun', args: [...o.queueArgs], env: NODE_NET, label: `eserver-queue on bun via node:net, ${CONFIG_LABELS.pure}` }),
      });
    }
    const cells = entries.map((): ProtoCell[] => []);
    for (let r = 0; r < o.repeat; r++) {
      const order = entries.map((_, i) => i);
      if (r % 2 === 1) order.reverse();
      for (const i of order) {
        const e = entries[i];
        const s = await e.start();
        try {
          const cell = await measureCell(s, { mode: 'conn-per-req', concurrency: o.concurrency, durationMs: o.durationMs, threads: o.threads, warmupMs: o.warmupMs });
          cells[i].push(cell);
          o.log(`table ${r + 1}/${o.repeat} ${s.label}: ${cell.cpuUsPerReq.toFixed(1)} µs CPU/enqueue, ${Math.round(cell.reqPerSec)} req/s, ${cell.failed} failed`);
        } finally {
          await s.stop();
          e.cleanup?.();
        }
      }
    }
    const ref = cells[0];
    const rows = entries.map((e, i): TableRow => {
      const us = cells[i].map((c) => c.cpuUsPerReq);
      return {
        kind: e.kind,
        runtime: e.runtime,
        config: e.config,
        bunSockets: e.bunSockets,
        label: cells[i][0]?.server ?? e.kind,
        cells: cells[i],
        cpuUsMedian: median(us),
        cpuUsMin: Math.min(...us),
        cpuUsMax: Math.max(...us),
        ratioToRef: median(cells[i].map((c, k) => c.cpuUsPerReq / ref[k].cpuUsPerReq)),
        reqPerSecMedian: median(cells[i].map((c) => c.reqPerSec)),
        failed: cells[i].reduce((n, c) => n + c.failed, 0),
      };
    });
    return { concurrency: o.concurrency, durationMs: o.durationMs, warmupMs: o.warmupMs, repeat: o.repeat, rows };
  } finally {
    await db?.destroy();
  }
}

export interface RuntimeHold extends HoldResult {
  kind: RunningServer['kind'];
  runtime: QueueRuntimeName;
  label: string;
}

/** RSS with N connections open, for the queue server (pure) and the minimal server of each runtime. */
export async function runtimeHolds(o: { runtimes: QueueRuntimeName[]; connections: number; queueArgs: string[]; log: (l: string) => void }): Promise<RuntimeHold[]> {
  const out: RuntimeHold[] = [];
  for (const runtime of o.runtimes) {
    const starts: Array<() => Promise<RunningServer>> = [
      () => startQueueServer({ runtime, args: [...o.queueArgs], label: `eserver-queue on ${runtime}, pure queue` }),
      ...(runtime === 'bun' ? [() => startQueueServer({ runtime, args: [...o.queueArgs], env: NODE_NET, label: 'eserver-queue on bun via node:net, pure queue' })] : []),
      () => startMinServer(minKindOf(runtime)),
    ];
    for (const start of starts) {
      const s = await start();
      try {
        const h = await holdConnections(s, o.connections);
        out.push({ ...h, kind: s.kind, runtime, label: s.label });
        o.log(`hold ${s.label}: ${h.open}/${o.connections} open, RSS ${(h.rssBytes / 1048576).toFixed(1)} MB (${(h.rssBeforeBytes / 1048576).toFixed(1)} MB idle)`);
      } finally {
        await s.stop();
      }
    }
  }
  return out;
}
