import { readFileSync, readdirSync } from 'node:fs';

/** Pids whose command line names the run directory (every lab service's does), zombies excluded. */
export function processesUsing(runDir: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2)[0] === 'Z') continue;
      if (readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(runDir)) out.push(Number(d));
    } catch {
      /* exited meanwhile */
    }
  }
  return out;
}
