// Runs the parts of the protocol benchmark that were asked for and collects them into one report.
import { cpus, release } from 'node:os';
import { mkdirSync } from 'node:fs';
import { measureCell, type ProtoCell } from './measure.js';
import type { ProtoMode } from './load-worker.js';
import { startBenchDb } from './mariadb.js';
import { rawInsertRate, drainRate } from './drain.js';
import { fsyncCells } from './fsync.js';
import { clockTicksPerSecond } from '@eserver-lab/common/proc-stat';
import { startControlServer, startQueueServer, startRefServer, startSeed2013Server, type RunningServer } from './servers.js';
import { runtimeHolds, runtimeTable, type TableConfig } from './runtimes.js';
import type { ProtoReport } from './report.js';
import type { QueueRuntimeName } from '@eserver-lab/queue-server/runtime';

export type ProtoPart = 'table' | 'proto' | 'hold' | 'drain' | 'fsync';
export type ServerKind = 'ts' | 'c-ref' | 'seed2013' | 'control';

export interface ProtoBenchOptions {
  parts: ProtoPart[];
  servers: ServerKind[];
  modes: ProtoMode[];
  concurrency: number[];
  durationMs: number;
  /** Unmeasured load before each proto cell (default 1 s). */
  warmupMs?: number;
  threads?: number;
  holdConnections: number;
  drainRows: number;
  fsyncConcurrency: number;
  fsyncMode: ProtoMode;
  runDir: string;
  /** Extra flags for every queue server started (e.g. the test-only CPU burn hook). */
  queueArgs: string[];
  /** Runtimes of the runtime table and of the hold part. */
  runtimes: QueueRuntimeName[];
  table: { configs: TableConfig[]; concurrency: number; durationMs: number; warmupMs: number; repeat: number };
  command: string;
  log: (line: string) => void;
}

async function withServer<T>(start: () => Promise<RunningServer>, fn: (s: RunningServer) => Promise<T>): Promise<T> {
  const s = await start();
  try {
    return await fn(s);
  } finally {
    await s.stop();
  }
}

export async function runProtoBench(o: ProtoBenchOptions): Promise<ProtoReport> {
  mkdirSync(o.runDir, { recursive: true });
  const report: ProtoReport = {
    startedAt: new Date().toISOString(),
    command: o.command,
    machine: { cpus: cpus().length, kernel: release(), node: process.version, clkTck: clockTicksPerSecond() },
    settings: { ...o, log: undefined },
    cells: [],
    notes: [],
  };
  const tsArgs = [...o.queueArgs];
  if (o.parts.includes('table')) {
    report.table = await runtimeTable({ runDir: o.runDir, runtimes: o.runtimes, queueArgs: o.queueArgs, threads: o.threads, log: o.log, ...o.table });
  }
  if (o.parts.includes('proto')) {
    for (const c of o.concurrency) {
      for (const mode of o.modes) {
        // The two servers run back to back for each cell, so machine noise hits both alike.
        for (const kind of o.servers) {
          const starts: Record<ServerKind, () => Promise<RunningServer>> = {
            ts: () => startQueueServer({ args: tsArgs }),
            'c-ref': () => startRefServer(o.runDir),
            seed2013: () => startSeed2013Server(o.runDir),
            control: () => startControlServer(o.runDir),
          };
          const cell: ProtoCell = await withServer(starts[kind], (s) => measureCell(s, { mode, concurrency: c, durationMs: o.durationMs, warmupMs: o.warmupMs, threads: o.threads }));
          o.log(`${cell.server} ${mode} C=${c}: ${Math.round(cell.reqPerSec)} req/s, ${cell.failed} failed, ${cell.cpuUsPerReq.toFixed(1)} µs CPU/req`);
          report.cells.push(cell);
        }
      }
    }
  }
  if (o.parts.includes('hold')) {
    report.holds = await runtimeHolds({ runtimes: o.runtimes, connections: o.holdConnections, queueArgs: tsArgs, log: o.log });
  }
  if (o.parts.includes('fsync')) {
    report.fsync = await fsyncCells(o.runDir, { concurrency: o.fsyncConcurrency, durationMs: o.durationMs, mode: o.fsyncMode, threads: o.threads, extraArgs: o.queueArgs });
    for (const c of report.fsync) o.log(`fsync ${c.policy}: ${Math.round(c.reqPerSec)} req/s, ${c.failed} failed`);
  }
  if (o.parts.includes('drain')) {
    const db = await startBenchDb(o.runDir);
    try {
      const raw = await rawInsertRate(db, o.drainRows);
      o.log(`raw mysql2 multi-row INSERT: ${Math.round(raw.rowsPerSec)} rows/s`);
      const drain = await drainRate(db, o.runDir, o.drainRows, o.queueArgs);
      o.log(`drain: ${Math.round(drain.rowsPerSec)} rows/s, lost ${drain.lostRows}`);
      report.drain = { raw, drain, ratio: drain.rowsPerSec / raw.rowsPerSec };
    } finally {
      await db.destroy();
    }
  }
  return report;
}
