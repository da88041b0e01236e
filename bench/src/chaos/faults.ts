// The faults that make chaos injects. Each one signals a service's main process by its host pid (the
// native lab's, or a container's main process seen from the host), so that the same fault goes through
// the same path on both runtimes: the process dies or stops, and the runtime's restart policy (the
// native supervisor, Compose's restart: always) has to bring it back.
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LabRuntime } from '../lab/types.js';
import { isRunning } from '@eserver-lab/common/proc-stat';
import type { ServiceName } from '@eserver-lab/common/stack-spec';

export type FaultKind = 'kill-queue' | 'restart-mysql' | 'stop-mysql' | 'restart-fpm' | 'full-disk';

export interface FaultContext {
  runtime: LabRuntime;
  runDir: string;
  /** The small filesystem under the journal (full-disk only). */
  journalDir?: string;
  /** How long a stopped MySQL or a full disk lasts. */
  holdMs: number;
  log: (line: string) => void;
}

/** The service's current main pid (it changes with every restart). */
export async function servicePid(ctx: FaultContext, name: ServiceName): Promise<number> {
  let pid: number | null | undefined;
  if (ctx.runtime.name === 'docker') {
    // Loaded only for Docker runs, as the lab itself does.
    const { dockerServicePid } = await import('../lab/docker/index.js');
    pid = await dockerServicePid(ctx.runDir, name);
  } else {
    const st = await ctx.runtime.status(ctx.runDir);
    pid = st?.services.find((s) => s.name === name)?.pid;
  }
  if (!pid) throw new Error(`chaos: no running ${name} to inject a fault into`);
  return pid;
}

/**
 * Fills the filesystem under `dir` until ENOSPC with one file, and returns its path. Writes in 1 MiB
 * chunks, then smaller ones, so that the disk is full to the last block.
 */
export function fillDisk(dir: string): { file: string; bytes: number } {
  const file = join(dir, 'chaos-filler');
  const fd = openSync(file, 'w');
  let bytes = 0;
  try {
    for (let chunk = 1 << 20; chunk >= 512; chunk >>= 1) {
      const buf = Buffer.alloc(chunk, 0x5a);
      for (;;) {
        try {
          bytes += writeSync(fd, buf);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw err;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return { file, bytes };
}

/** Resolves once `pid` has exited (gone, or a zombie left to its parent), bounded. */
export async function waitGone(pid: number, timeoutMs = 60_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!isRunning(pid)) return true;
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
}

/**
 * Injects one fault; resolves when the fault is over: the process has died (so a recovery probe cannot
 * see the old one still serving), or the hold has ended.
 */
export async function inject(kind: FaultKind, ctx: FaultContext): Promise<string> {
  switch (kind) {
    case 'kill-queue': {
      const pid = await servicePid(ctx, 'queue-server');
      process.kill(pid, 'SIGKILL');
      await waitGone(pid);
      return `kill -9 queue server pid ${pid}`;
    }
    case 'restart-mysql': {
      // A clean shutdown, as a restart by an operator; the restart policy starts it again.
      const pid = await servicePid(ctx, 'mysql');
      process.kill(pid, 'SIGTERM');
      if (!(await waitGone(pid))) throw new Error(`mariadbd pid ${pid} did not stop within 60 s of SIGTERM`);
      return `SIGTERM mariadbd pid ${pid} (restarted by the runtime)`;
    }
    case 'stop-mysql': {
      const pid = await servicePid(ctx, 'mysql');
      process.kill(pid, 'SIGSTOP');
      try {
        await sleep(ctx.holdMs);
      } finally {
        process.kill(pid, 'SIGCONT');
      }
      return `SIGSTOP mariadbd pid ${pid} for ${ctx.holdMs / 1000} s, then SIGCONT`;
    }
    case 'restart-fpm': {
      // SIGQUIT is php-fpm's graceful stop; the restart policy starts it again.
      const pid = await servicePid(ctx, 'php-fpm');
      process.kill(pid, 'SIGQUIT');
      if (!(await waitGone(pid))) throw new Error(`php-fpm pid ${pid} did not stop within 60 s of SIGQUIT`);
      return `SIGQUIT php-fpm master pid ${pid} (restarted by the runtime)`;
    }
    case 'full-disk': {
      if (!ctx.journalDir) throw new Error('chaos: full-disk needs the journal on its own small filesystem');
      const { file, bytes } = fillDisk(ctx.journalDir);
      try {
        await sleep(ctx.holdMs);
      } finally {
        rmSync(file, { force: true });
      }
      return `filled the journal filesystem (${(bytes / 1048576).toFixed(1)} MiB) for ${ctx.holdMs / 1000} s, then freed it`;
    }
  }
}
