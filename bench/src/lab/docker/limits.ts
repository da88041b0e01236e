// Reads back, from the host's cgroup files, the budget that actually applies to a container: its cgroup
// (from /proc/<pid>/cgroup) and every ancestor up to the hierarchy's root, keeping the tightest limit.
// With cgroup_parent the limit sits on the shared parent, not on the container's own group.
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { AppliedLimits } from '../types.js';

const DEFAULT_ROOT = '/sys/fs/cgroup';

async function readNum(file: string): Promise<number | null> {
  try {
    const v = (await readFile(file, 'utf8')).trim();
    return v === 'max' ? null : Number(v);
  } catch {
    return null;
  }
}

/** The cgroup path of a pid per controller ('' = unified). */
export async function cgroupsOf(pid: number, procRoot = '/proc'): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const line of (await readFile(`${procRoot}/${pid}/cgroup`, 'utf8')).split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (m) for (const c of m[1]!.split(',')) out.set(c, m[2]!);
  }
  return out;
}

function ancestors(path: string): string[] {
  const out: string[] = [];
  for (let p = path; ; p = dirname(p)) {
    out.push(p);
    if (p === '/' || p === '.') return out;
  }
}

export interface ContainerLimits extends AppliedLimits {
  /** The shared parent: the nearest ancestor that carries the CPU / memory limit. */
  cpuCgroup: string | null;
  memoryCgroup: string | null;
}

/**
 * The effective CPU and memory limits of a process (v1: cpu + memory controllers; v2: unified), with the
 * quota, period and weight of the group that carries the CPU limit. `root` and `procRoot` let tests read
 * a scratch tree.
 */
export async function limitsOfPid(pid: number, root = DEFAULT_ROOT, procRoot = '/proc'): Promise<ContainerLimits> {
  const ROOT = root;
  const groups = await cgroupsOf(pid, procRoot);
  const v1 = groups.has('cpu') && groups.has('memory');
  let cpus: number | null = null;
  let mem: number | null = null;
  let cpuCg: string | null = null;
  let memCg: string | null = null;
  let quotaUs: number | null = null;
  let periodUs: number | null = null;
  let weight: number | null = null;
  const unlimitedMem = 2 ** 62; // v1 writes "no limit" as a huge page-aligned number
  if (v1) {
    for (const p of ancestors(groups.get('cpu')!)) {
      const q = await readNum(join(ROOT, 'cpu', p, 'cpu.cfs_quota_us'));
      const per = await readNum(join(ROOT, 'cpu', p, 'cpu.cfs_period_us'));
      if (q !== null && q > 0 && per) {
        const c = q / per;
        if (cpus === null || c < cpus) {
          [cpus, cpuCg, quotaUs, periodUs] = [c, join(ROOT, 'cpu', p), q, per];
          weight = await readNum(join(ROOT, 'cpu', p, 'cpu.shares'));
        }
      }
    }
    for (const p of ancestors(groups.get('memory')!)) {
      const m = await readNum(join(ROOT, 'memory', p, 'memory.limit_in_bytes'));
      if (m !== null && m < unlimitedMem && (mem === null || m < mem)) [mem, memCg] = [m, join(ROOT, 'memory', p)];
    }
  } else if (groups.has('')) {
    for (const p of ancestors(groups.get('')!)) {
      try {
        const [q, per] = (await readFile(join(ROOT, p, 'cpu.max'), 'utf8')).trim().split(/\s+/);
        if (q && q !== 'max' && per) {
          const c = Number(q) / Number(per);
          if (cpus === null || c < cpus) {
            [cpus, cpuCg, quotaUs, periodUs] = [c, join(ROOT, p), Number(q), Number(per)];
            weight = await readNum(join(ROOT, p, 'cpu.weight'));
          }
        }
      } catch {
        /* no cpu controller at this level */
      }
      const m = await readNum(join(ROOT, p, 'memory.max'));
      if (m !== null && (mem === null || m < mem)) [mem, memCg] = [m, join(ROOT, p)];
    }
  }
  return {
    cgroup: cpuCg ?? memCg,
    cgroupVersion: v1 ? 'v1' : groups.has('') ? 'v2' : null,
    cpus,
    memoryBytes: mem,
    cpuQuotaUs: quotaUs,
    cpuPeriodUs: periodUs,
    cpuWeight: weight,
    cpuCgroup: cpuCg,
    memoryCgroup: memCg,
  };
}
