// Drives the same stack with a user's own `webbench` binary (found on PATH; the project ships no
// webbench code and never fetches it) and parses its two summary lines into our result format.
import { spawn, spawnSync } from 'node:child_process';
import { parseWebbenchOutput } from './summary.js';
import { createCpuGroup } from '../metrics/cpu-cgroup.js';

async function waitEmpty(g: { isEmpty(): boolean }): Promise<void> {
  for (let i = 0; i < 50 && !g.isEmpty(); i++) await new Promise((r) => setTimeout(r, 100));
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
}

export async function runWebbench(bin: string, url: string, clients: number, durationS: number): Promise<WebbenchRun> {
  const args = ['-c', String(clients), '-t', String(Math.round(durationS)), url];
  const group = createCpuGroup(`eserver-bench-webbench-${process.pid}`);
  const run = group ? group.wrap(bin, args) : { cmd: bin, args };
  const child = spawn(run.cmd, run.args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
  child.stderr.setEncoding('utf8').on('data', (d: string) => { out += d; });
  let code: number;
  let cpuNs: number | null = null;
  try {
    code = await new Promise((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (c) => resolve(c ?? 1));
    });
    // webbench's parent can exit before its last clients: wait until the group is empty.
    if (group) await waitEmpty(group);
    cpuNs = group ? group.usageNs() : null;
  } finally {
    await group?.remove();
  }
  const parsed = parseWebbenchOutput(out);
  if (!parsed) throw new Error(`webbench exited with ${code} and printed no summary:\n${out.slice(-2000)}`);
  return { ...parsed, bytes: parsed.bytesPerSec * Math.round(durationS), output: out, command: [bin, ...args].join(' '), cpuNs };
}
