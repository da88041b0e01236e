// Which runtime and fsync policy the stack's queue server really runs with, read back from the running
// stack rather than trusted from what was asked: the executable behind its pid (/proc/<pid>/exe) and the
// policy its own start-up log line states ({"event":"listening", "journal": <policy>}). A stack on a remote
// engine is read over the network instead: the runtime its /metrics names (eserver_runtime_info), the log
// through the engine. What cannot be read back is recorded as asked and marked so.
import fs from 'node:fs';
import path from 'node:path';
import type { FsyncPolicy } from '@eserver-lab/queue-server';
import { QUEUE_RUNTIMES, type QueueRuntimeName } from '@eserver-lab/queue-server/runtime';
import { FSYNC_POLICIES, type QueueSetup } from '../plan/queue-matrix.js';
import { scrapeQueueServer } from '../metrics/queue-metrics.js';
import type { StackInfo } from '../lab/types.js';

export interface QueueServerRecord {
  /** ours ('ts') or the 2013-style stand-in. */
  impl: 'ts' | 'seed2013';
  /** The runtime that ran our server (read back when `read_back.runtime`); null for the 2013-style one. */
  runtime: QueueRuntimeName | null;
  /** The journal's fsync policy (read back when `read_back.fsync`); null for the 2013-style one (no journal). */
  fsync: FsyncPolicy | null;
  /** What the run asked for; null for the 2013-style server. */
  requested: QueueSetup | null;
  /** /proc/<pid>/exe of the queue server when the load started, null when unreadable. */
  exe: string | null;
  read_back: { runtime: boolean; fsync: boolean };
}

/** node or bun from an executable's path (bun's package ships `bin/bun`), else null. */
export function runtimeOfExe(exe: string): QueueRuntimeName | null {
  const base = path.basename(exe).replace(/ \(deleted\)$/, '');
  return (QUEUE_RUNTIMES as readonly string[]).find((r) => base === r || base.startsWith(`${r}-`) || base.startsWith(`${r}.`)) as QueueRuntimeName | undefined ?? null;
}

/** A log line as the server wrote it: itself, or unwrapped from Docker's json-file record ({"log": ...}). */
function serverRecord(line: string): { event?: unknown; journal?: unknown } | null {
  try {
    const rec = JSON.parse(line) as { event?: unknown; journal?: unknown; log?: unknown };
    return typeof rec.log === 'string' ? serverRecord(rec.log) : rec;
  } catch {
    return null; // not a JSON line (a runtime's own warning)
  }
}

/** The policy named by the last `listening` line of a queue server log (JSON lines), or null. */
export function fsyncOfLog(text: string): FsyncPolicy | null {
  const lines = text.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const l = lines[i]!;
    if (!l.includes('listening')) continue;
    const rec = serverRecord(l);
    if (rec?.event !== 'listening') continue;
    return (FSYNC_POLICIES as readonly unknown[]).includes(rec.journal) ? (rec.journal as FsyncPolicy) : null;
  }
  return null;
}

function readExe(pid: number | null): string | null {
  if (pid === null) return null;
  try {
    return fs.readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return null;
  }
}

function readLog(file: string | undefined): string | null {
  if (!file) return null;
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

export function observeQueueServer(stack: StackInfo, requested: QueueSetup | null): QueueServerRecord {
  const svc = stack.services.find((s) => s.name === 'queue-server');
  const exe = readExe(svc?.pid ?? null);
  return record(requested, exe, exe === null ? null : runtimeOfExe(exe), readLog(svc?.logFile));
}

/** The runtime a queue server's /metrics names (eserver_runtime_info), or null when it cannot be read. */
async function runtimeOfMetrics(host: string, metricsPort: number): Promise<QueueRuntimeName | null> {
  try {
    const r = (await scrapeQueueServer(host, metricsPort)).find((s) => s.name === 'eserver_runtime_info')?.labels?.runtime;
    return (QUEUE_RUNTIMES as readonly string[]).includes(r ?? '') ? (r as QueueRuntimeName) : null;
  } catch {
    return null;
  }
}

/**
 * The same record for a stack on a remote engine, whose pids and log files are that host's: the runtime from
 * its /metrics over the network, the policy from its container's log as `containerLog` (the engine) gives it.
 */
export async function observeRemoteQueueServer(
  stack: StackInfo, requested: QueueSetup | null, containerLog: (id: string) => Promise<string>,
): Promise<QueueServerRecord> {
  const id = stack.remote?.containers['queue-server'];
  const [runtime, log] = await Promise.all([
    runtimeOfMetrics(stack.queue.host, stack.queue.metricsPort),
    id ? containerLog(id).catch(() => null) : Promise.resolve(null),
  ]);
  return record(requested, null, runtime, log);
}

function record(requested: QueueSetup | null, exe: string | null, runtime: QueueRuntimeName | null, log: string | null): QueueServerRecord {
  if (requested === null) {
    return { impl: 'seed2013', runtime: null, fsync: null, requested: null, exe, read_back: { runtime: false, fsync: false } };
  }
  const fsync = log === null ? null : fsyncOfLog(log);
  return {
    impl: 'ts',
    runtime: runtime ?? requested.runtime,
    fsync: fsync ?? requested.fsync,
    requested,
    exe,
    read_back: { runtime: runtime !== null, fsync: fsync !== null },
  };
}

/** Why the record contradicts the request, or null: the run would be labelled with a setup it did not have. */
export function mismatch(r: QueueServerRecord): string | null {
  if (!r.requested) return null;
  const bad: string[] = [];
  if (r.runtime !== r.requested.runtime) bad.push(`runtime ${r.runtime} (${r.exe}) instead of ${r.requested.runtime}`);
  if (r.fsync !== r.requested.fsync) bad.push(`fsync ${r.fsync} instead of ${r.requested.fsync}`);
  return bad.length > 0 ? `the queue server ran with ${bad.join(' and ')}` : null;
}
