// Starting and stopping the stack's processes by pid. Each service runs in its own session/process group
// (detached), so it outlives a `lab up` that returns, and `down` can signal the whole group (nginx and
// php-fpm workers, mariadbd) from the pid recorded in the run directory.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { enterScript, type CgroupRecord } from '../../host/cgroup.js';
import type { SupervisedStatus, SupervisorConfig } from './supervisor.js';
import { readProcStat } from '@eserver-lab/common/proc-stat';

export interface ProcRecord {
  pid: number;
  /** Start time from /proc/<pid>/stat, so a recycled pid is never mistaken for ours. */
  startTime: string;
}

export function startTimeOf(pid: number): string | null {
  return readProcStat(pid)?.startTime ?? null;
}

/** True while the recorded process (same pid AND same start time) exists and is not a zombie. */
export function isAlive(rec: ProcRecord): boolean {
  const s = readProcStat(rec.pid);
  return s !== null && s.startTime === rec.startTime && s.state !== 'Z';
}

/**
 * Starts `argv` inside the cgroup (the shell writes its own pid into cgroup.procs, then execs, so the
 * service's pid is the shell's pid and every byte it allocates is charged to the group). Output goes
 * to `logFile`. The process is detached and unref'd: it keeps running when the runner exits.
 */
export async function spawnService(
  argv: string[],
  logFile: string,
  cgroup: CgroupRecord | null,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ProcRecord> {
  const fd = openSync(logFile, 'a');
  try {
    const child = spawn('/bin/sh', ['-c', `${enterScript(cgroup)}exec "$@"`, 'sh', ...argv], {
      detached: true,
      stdio: ['ignore', fd, fd],
      env,
    });
    const pid = child.pid;
    if (pid === undefined) {
      await new Promise((r) => child.once('error', r));
      throw new Error(`could not start ${argv[0]}`);
    }
    child.unref();
    // Read the start time after the exec, so that it matches what `down` will see later.
    let start = startTimeOf(pid);
    for (let i = 0; i < 50 && start === null; i++) {
      await sleep(10);
      start = startTimeOf(pid);
    }
    return { pid, startTime: start ?? '' };
  } finally {
    closeSync(fd);
  }
}

function signalGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    try {
      process.kill(pid, sig);
    } catch {
      /* gone */
    }
  }
}

/** TERM the process group, wait up to `graceMs`, then KILL it. Resolves once the leader is gone. */
export async function stopProcess(rec: ProcRecord, graceMs = 10_000): Promise<void> {
  if (!isAlive(rec)) return;
  signalGroup(rec.pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isAlive(rec)) return;
    await sleep(50);
  }
  signalGroup(rec.pid, 'SIGKILL');
  for (let i = 0; i < 100 && isAlive(rec); i++) await sleep(20);
}

/** KILL single pids (stragglers found in the cgroup after the services stopped). */
export async function killPids(pids: number[]): Promise<void> {
  for (const p of pids) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  await sleep(100);
}

/**
 * Runs a one-shot helper (mariadb-install-db, a shell script that forks mariadbd --bootstrap) in its own
 * process group, so that an abort or the runner's exit can stop the whole group, not just the script.
 * `onStart` gets the pid, to be killed synchronously if the runner exits meanwhile.
 */
export async function runOnce(
  argv: string[],
  logFile: string,
  signal: AbortSignal | undefined,
  onStart: (pid: number | null) => void,
): Promise<void> {
  const fd = openSync(logFile, 'a');
  const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  onStart(child.pid ?? null);
  const abort = () => {
    if (child.pid) signalGroup(child.pid, 'SIGKILL');
  };
  signal?.addEventListener('abort', abort, { once: true });
  try {
    const [code, sig] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
    if (signal?.aborted) throw new Error(`${argv[0]} interrupted`);
    if (code !== 0) throw new Error(`${argv[0]} failed (${sig ?? `exit code ${code}`}); see ${logFile}`);
  } finally {
    signal?.removeEventListener('abort', abort);
    onStart(null);
  }
}

/** The supervisor's compiled entry point (beside this file in dist/). */
const supervisorJs = fileURLToPath(new URL('./supervisor.js', import.meta.url));

export interface SupervisedRecord {
  /** The service's first pid (the supervisor publishes later ones in `statusFile`). */
  child: ProcRecord;
  supervisor: ProcRecord & { statusFile: string; logFile: string };
}

/** The supervisor's latest published child, or null before it published one. */
export function readSupervisedStatus(statusFile: string): SupervisedStatus | null {
  try {
    return JSON.parse(readFileSync(statusFile, 'utf8')) as SupervisedStatus;
  } catch {
    return null;
  }
}

/**
 * Starts `argv` under a supervisor that restarts it whenever it exits (see supervisor.ts). The supervisor
 * itself stays outside the cgroup; the service enters it as an unsupervised one would. Resolves once the
 * supervisor has published the service's first pid.
 */
export async function spawnSupervised(
  name: string,
  argv: string[],
  outFile: string,
  cgroup: CgroupRecord | null,
  files: { statusFile: string; logFile: string },
  env: NodeJS.ProcessEnv = process.env,
): Promise<SupervisedRecord> {
  const cfg: SupervisorConfig = { name, argv, outFile, logFile: files.logFile, statusFile: files.statusFile, enterScript: enterScript(cgroup) };
  const fd = openSync(files.logFile, 'a');
  let sup: ProcRecord;
  try {
    const child = spawn(process.execPath, [supervisorJs, JSON.stringify(cfg)], { detached: true, stdio: ['ignore', fd, fd], env });
    if (child.pid === undefined) {
      await new Promise((r) => child.once('error', r));
      throw new Error(`could not start the supervisor of ${name}`);
    }
    child.unref();
    sup = { pid: child.pid, startTime: startTimeOf(child.pid) ?? '' };
  } finally {
    closeSync(fd);
  }
  for (let i = 0; i < 500; i++) {
    const st = readSupervisedStatus(files.statusFile);
    if (st) return { child: { pid: st.pid, startTime: st.startTime }, supervisor: { ...sup, ...files } };
    if (!isAlive(sup)) break;
    await sleep(10);
  }
  signalGroup(sup.pid, 'SIGKILL');
  throw new Error(`the supervisor of ${name} did not start it; see ${files.logFile}`);
}

/** Stops a supervisor (it exits at once on TERM and leaves its service to stopProcess). */
export async function stopSupervisor(rec: ProcRecord): Promise<void> {
  if (!isAlive(rec)) return;
  try {
    process.kill(rec.pid, 'SIGTERM');
  } catch {
    return;
  }
  for (let i = 0; i < 100 && isAlive(rec); i++) await sleep(20);
  if (isAlive(rec)) {
    process.kill(rec.pid, 'SIGKILL');
    for (let i = 0; i < 100 && isAlive(rec); i++) await sleep(20);
  }
}
