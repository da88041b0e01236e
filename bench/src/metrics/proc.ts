// Process CPU and memory from /proc: a service is its main pid plus every descendant (nginx and
// php-fpm masters fork their workers; a container's init forks the service).
import fs from 'node:fs';
import { pageSizeBytes, readProcStat } from '@eserver-lab/common/proc-stat';

export interface ProcStat {
  pid: number;
  ppid: number;
  /** utime + stime, clock ticks. */
  ticks: number;
  rssBytes: number;
}

export function readProc(pid: number): ProcStat | null {
  const s = readProcStat(pid); // null: the process ended between listing and reading
  return s === null ? null : { pid, ppid: s.ppid, ticks: s.cpuTicks, rssBytes: s.rssPages * pageSizeBytes() };
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
