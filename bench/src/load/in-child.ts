// The load generator in a process of its own. A process cannot hold more than 20,000 open files here, so
// two loads of 10,000 clients each (two stacks side by side) need one process each. Loads started
// together agree on one starting instant once every one of them has loaded its clients.
import { fork, type ChildProcess } from 'node:child_process';
import { track } from '../host/on-signal.js';
import type { CommandWrap } from '../host/netns.js';
import type { HttpLoadOptions, HttpLoadResult, Progress } from './generator.js';

/** What runs in the child: everything but the callbacks, which stay here. */
export type ChildLoadOptions = Omit<HttpLoadOptions, 'onProgress' | 'startAt'>;

export type ChildMsg =
  | { type: 'ready' }
  | { type: 'progress'; progress: Progress }
  | { type: 'result'; result: HttpLoadResult; pid: number }
  | { type: 'error'; message: string };
export type ParentMsg = { type: 'run'; options: ChildLoadOptions } | { type: 'start'; startAt: number };

const ENTRY = new URL('./child-entry.js', import.meta.url);

/** A load's result, and the process that ran it. */
export type ChildLoadResult = HttpLoadResult & { pid: number };

interface Running {
  child: ChildProcess;
  ready: Promise<void>;
  result: Promise<ChildLoadResult>;
}

/**
 * What a load's process answers: its readiness, its progress, then its result or its error. The result is
 * awaited until the IPC channel closes ('close'), not until the process exits: a process that sends a large
 * result and exits at once can be reaped before its last message has been read ('exit' first), and a
 * finished load would then read as lost.
 */
export function childResult(child: ChildProcess, what: string, onReady: () => void, onProgress?: (p: Progress) => void): Promise<ChildLoadResult> {
  return new Promise<ChildLoadResult>((resolve, reject) => {
    let settled = false;
    child.on('message', (m: ChildMsg) => {
      if (m.type === 'ready') onReady();
      else if (m.type === 'progress') onProgress?.(m.progress);
      else if (m.type === 'result') {
        settled = true;
        resolve({ ...m.result, pid: m.pid });
      } else {
        settled = true;
        reject(new Error(`the load on ${what} failed: ${m.message}`));
      }
    });
    child.once('close', (code, signal) => {
      if (!settled) reject(new Error(`the load process for ${what} ended (${signal ?? code}) before its result`));
    });
  });
}

function spawnLoad(options: ChildLoadOptions, onProgress?: (p: Progress) => void, inside?: CommandWrap): Running {
  // Elsewhere (a load namespace): node runs under the wrapper, which execs it with the IPC channel's fd kept.
  const w = inside?.(process.execPath, process.execArgv);
  const child = track(fork(ENTRY, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], ...(w ? { execPath: w.cmd, execArgv: w.args } : {}) }));
  let onReady!: () => void;
  const ready = new Promise<void>((r) => (onReady = r));
  const result = childResult(child, options.url, onReady, onProgress);
  // A load that fails before it is ready must not leave the others waiting for it.
  result.catch(() => onReady());
  child.send({ type: 'run', options } satisfies ParentMsg);
  return { child, ready, result };
}

/**
 * Runs the loads at once, each in a process of its own, all starting at the same instant (given to
 * `onStart`, e.g. to time a measured window). Progress is reported for the first load only (one line on
 * the terminal). `inside`: where the processes run (default here; a load namespace's nsenter).
 */
export async function runLoadsTogether(
  loads: ChildLoadOptions[], onProgress?: (p: Progress) => void, onStart?: (startAt: number) => void, inside?: CommandWrap,
): Promise<ChildLoadResult[]> {
  const running = loads.map((o, i) => spawnLoad(o, i === 0 ? onProgress : undefined, inside));
  try {
    await Promise.all(running.map((r) => r.ready));
    const startAt = Date.now();
    onStart?.(startAt);
    for (const r of running) if (r.child.connected) r.child.send({ type: 'start', startAt } satisfies ParentMsg);
    return await Promise.all(running.map((r) => r.result));
  } finally {
    for (const r of running) if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL');
  }
}
