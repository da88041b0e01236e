// Enqueue throughput under each journal fsync policy, same load for each: how much group commit saves.
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { measureCell, type ProtoCell } from './measure.js';
import type { ProtoMode } from './load-worker.js';
import { startQueueServer } from './servers.js';
import type { FsyncPolicy } from '@eserver-lab/queue-server';

export interface FsyncCell extends ProtoCell {
  policy: FsyncPolicy;
}

export async function fsyncCells(runDir: string, opts: { concurrency: number; durationMs: number; mode: ProtoMode; threads?: number; extraArgs?: string[] }): Promise<FsyncCell[]> {
  const out: FsyncCell[] = [];
  for (const policy of ['off', 'interval', 'always'] as const) {
    const journal = join(runDir, `fsync-${policy}-${process.pid}`);
    rmSync(journal, { recursive: true, force: true });
    mkdirSync(journal, { recursive: true });
    const server = await startQueueServer({ args: ['--journal-dir', journal, '--fsync', policy, ...(opts.extraArgs ?? [])], label: `eserver-queue --fsync ${policy}` });
    try {
      const cell = await measureCell(server, { mode: opts.mode, concurrency: opts.concurrency, durationMs: opts.durationMs, threads: opts.threads });
      out.push({ ...cell, policy });
    } finally {
      await server.stop();
      rmSync(journal, { recursive: true, force: true });
    }
  }
  return out;
}
