// Drives the same stack with a user's own `webbench` binary (found on PATH; the project ships no
// webbench code and never fetches it) and parses its two summary lines into our result format.
import { spawn, spawnSync } from 'node:child_process';
import { parseWebbenchOutput } from './summary.js';
import { cgroupPids, cpuUsageNs, createCgroup, dirsOf, enterScript, removeCgroup, type CgroupRecord } from '../host/cgroup.js';
import type { CommandWrap } from '../host/netns.js';

/**
 * A cpuacct group (v2: a plain group, cpu.stat counts) for the tool and every client it forks: their time
 * is lost to /proc sampling once they exit. Null when no group can be made here.
 */
async function cpuGroup(name: string): Promise<CgroupRecord | null> {
  try {
    return await createCgroup(name, { controllers: ['cpuacct'] });
  } catch {
    return null;
  }
}

async function waitEmpty(g: CgroupRecord): Promise<void> {
  for (let i = 0; i < 50 && (await cgroupPids(g)).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
}

export function findWebbench(): string | null {
  const r = spawnSync('sh', ['-c', 'command -v webbench'], { encoding: 'utf8' });
  const p = r.stdout.trim();
  return r.status === 0 && p !== '' ? p : null;
}

export interface WebbenchRun {
  pagesPerMin: number;
  bytesPerSec: number;
  succeeded: number;
  failed: number;
  /** Bytes re-derived from bytes/sec (webbench prints nothing more precise). */
  bytes: number;
  output: string;
  command: string;
  /** CPU of webbench and all its forked clients (cgroup cpuacct), null when no cgroup could be made. */
  cpuNs: number | null;
  /** From the spawn to the tool's exit, s: its clients each run -t from their own start, after its forks. */
  wallS: number;
}

/**
 * Webbench 1.5's clients each sleep 1 s after their fork, then run -t seconds; Speed divides their requests
 * by -t. A run longer than -t plus this was stretched by slow forks, and its Speed is overstated.
 */
export const WEBBENCH_START_S = 2;

/** `inside`: where the tool runs (default here; a load namespace's nsenter). */
export async function runWebbench(bin: string, url: string, clients: number, durationS: number, inside?: CommandWrap): Promise<WebbenchRun> {
  const args = ['-c', String(clients), '-t', String(Math.round(durationS)), url];
  const group = await cpuGroup(`eserver-bench-webbench-${process.pid}`);
  // The shell enters the group, then execs the tool: its clients are born inside.
  const here = group ? { cmd: 'sh', args: ['-c', `${enterScript(group)}exec "$@"`, 'webbench', bin, ...args] } : { cmd: bin, args };
  const run = inside ? inside(here.cmd, here.args) : here;
  const t0 = performance.now();
  const child = spawn(run.cmd, run.args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
  child.stderr.setEncoding('utf8').on('data', (d: string) => { out += d; });
  let code: number;
  let cpuNs: number | null = null;
  let wallS = 0;
  try {
    code = await new Promise((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (c) => resolve(c ?? 1));
    });
    wallS = (performance.now() - t0) / 1000;
    // webbench's parent can exit before its last clients: wait until the group is empty.
    if (group) await waitEmpty(group);
    cpuNs = group ? cpuUsageNs(dirsOf(group).cpuacct, group.version) : null;
  } finally {
    if (group) await removeCgroup(group, 5_000);
  }
  const parsed = parseWebbenchOutput(out);
  if (!parsed) throw new Error(`webbench exited with ${code} and printed no summary:\n${out.slice(-2000)}`);
  return { ...parsed, bytes: parsed.bytesPerSec * Math.round(durationS), output: out, command: [bin, ...args].join(' '), cpuNs, wallS: Math.round(wallS * 100) / 100 };
}
