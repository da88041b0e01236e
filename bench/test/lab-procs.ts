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
