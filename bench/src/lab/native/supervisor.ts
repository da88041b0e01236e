// The native lab's `Restart=always`: one small process per service that starts it, and starts it again
// with backoff whenever it exits, for any reason, until `lab down` stops this supervisor first.
//
// It runs outside the stack's cgroup (its memory and CPU are not the 2013 box's); the service enters the
// cgroup through the same `sh -c '<enter cgroup>; exec "$@"'` as an unsupervised one. The service gets its
// own process group, so `lab down` signals the service's group exactly as before. The current pid is
// published in a status file (one writer: this process), which `readState` overlays on the run's record.
//
// Usage (from procs.ts): node supervisor.js '<SupervisorConfig as JSON>'
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, closeSync, openSync, renameSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readProcStat } from '@eserver-lab/common/proc-stat';

export interface SupervisorConfig {
  name: string;
  argv: string[];
  /** The service's stdout/stderr (appended). */
  outFile: string;
  /** This supervisor's own log: one line per start and exit. */
  logFile: string;
  /** Where the current child's pid is published (SupervisedStatus as JSON). */
  statusFile: string;
  /** Shell prefix that moves the shell into the stack's cgroup before the exec (may be empty). */
  enterScript: string;
}

export interface SupervisedStatus {
  name: string;
  pid: number;
  startTime: string;
  /** Starts after the first one. */
  restarts: number;
  lastExit: string | null;
}

/** Backoff before restart n (1-based), as systemd's RestartSec with a cap: 100 ms doubling up to 5 s. */
export function restartDelayMs(consecutive: number): number {
  return Math.min(5000, 100 * 2 ** Math.max(0, consecutive - 1));
}

/** A child that ran this long is healthy enough that its next crash restarts the backoff. */
const STABLE_MS = 10_000;

function main(cfg: SupervisorConfig): void {
  let child: ChildProcess | null = null;
  let restarts = 0;
  let consecutive = 0;
  let lastExit: string | null = null;
  let stopping = false;
  const log = (line: string) => appendFileSync(cfg.logFile, `${new Date().toISOString()} supervisor[${process.pid}] ${cfg.name}: ${line}\n`);

  const publish = (pid: number) => {
    const status: SupervisedStatus = { name: cfg.name, pid, startTime: readProcStat(pid)?.startTime ?? '', restarts, lastExit };
    const tmp = `${cfg.statusFile}.tmp`;
    writeFileSync(tmp, JSON.stringify(status));
    renameSync(tmp, cfg.statusFile);
  };

  const start = () => {
    if (stopping) return;
    const fd = openSync(cfg.outFile, 'a');
    const startedAt = Date.now();
    try {
      child = spawn('/bin/sh', ['-c', `${cfg.enterScript}exec "$@"`, 'sh', ...cfg.argv], { detached: true, stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd);
    }
    const c = child;
    c.on('error', (err) => log(`could not start: ${err.message}`));
    if (c.pid !== undefined) {
      publish(c.pid);
      log(`started pid ${c.pid}${restarts > 0 ? ` (restart #${restarts})` : ''}`);
    }
    c.on('exit', (code, signal) => {
      if (stopping) return;
      lastExit = signal ? `signal ${signal}` : `exit code ${code}`;
      consecutive = Date.now() - startedAt >= STABLE_MS ? 1 : consecutive + 1;
      const delay = restartDelayMs(consecutive);
      restarts++;
      log(`pid ${c.pid} ended (${lastExit}) after ${Date.now() - startedAt} ms; restarting in ${delay} ms`);
      setTimeout(start, delay);
    });
  };

  // `lab down` stops this process first, then the service by its published pid: the service is not
  // signalled from here, so its stop (grace period, group kill) stays in one place (procs.stopProcess).
  const stop = (sig: string) => {
    stopping = true;
    log(`${sig}: no more restarts; leaving pid ${child?.pid ?? '?'} to lab down`);
    child?.unref();
    process.exit(0);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => {});
  start();
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1]) && process.argv[2]) {
  main(JSON.parse(process.argv[2]) as SupervisorConfig);
}
