// Process CPU and memory from /proc: a service is its main pid plus every descendant (nginx and
// php-fpm masters fork their workers; a container's init forks the service).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

export interface ProcStat {
  pid: number;
  ppid: number;
  /** utime + stime, clock ticks. */
  ticks: number;
  rssBytes: number;
}

let clkTck: number | null = null;
export function clockTicks(): number {
  if (clkTck === null) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

const PAGE = 4096;

export function readProc(pid: number): ProcStat | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    // comm may hold spaces and parentheses: fields start after the last ')'.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // f[0] = state (field 3), so field n is f[n - 3].
    const ppid = Number(f[1]);
    const ticks = Number(f[11]) + Number(f[12]);
    const rssPages = Number(f[21]);
    return { pid, ppid, ticks, rssBytes: rssPages * PAGE };
  } catch {
    return null; // the process ended between listing and reading
  }
}

/** All processes, read once per sample so descendant lookups cost one pass over /proc. */
export function snapshot(): Map<number, ProcStat> {
  const out = new Map<number, ProcStat>();
  for (const d of fs.readdirSync('/proc')) {
    const c = d.charCodeAt(0);
    if (c < 48 || c > 57) continue;
    const s = readProc(Number(d));
    if (s) out.set(s.pid, s);
  }
  return out;
}

/** The pid and its descendants, root first. */
export function tree(root: number, all: Map<number, ProcStat>): ProcStat[] {
  const children = new Map<number, number[]>();
  for (const p of all.values()) {
    const list = children.get(p.ppid);
    if (list) list.push(p.pid);
    else children.set(p.ppid, [p.pid]);
  }
  const out: ProcStat[] = [];
  const stack = [root];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    const s = all.get(pid);
    if (!s) continue;
    out.push(s);
    for (const c of children.get(pid) ?? []) stack.push(c);
  }
  return out;
}
