import { readFileSync, readdirSync } from 'node:fs';
import { isRunning } from '@eserver-lab/common/proc-stat';

/** Pids whose command line names the run directory (every lab service's does), zombies excluded. */
export function processesUsing(runDir: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    if (!isRunning(Number(d))) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(runDir)) out.push(Number(d));
    } catch {
      /* exited meanwhile */
    }
  }
  return out;
}

/**
 * Pids in a stack's group, per controller directory of the stack itself (cpu, cpuacct, memory), its
 * services' own memory groups below it included: a service is "in the stack" whether it sits in the
 * directory or in its service's group under it.
 */
export function stackProcs(dir: string): Set<number> {
  const read = (d: string) => readFileSync(`${d}/cgroup.procs`, 'utf8').split('\n').filter(Boolean).map(Number);
  const out = new Set(read(dir));
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) for (const p of read(`${dir}/${e.name}`)) out.add(p);
  return out;
}
