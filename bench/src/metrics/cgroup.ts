// Totals for the cgroup that holds the stack, when the runtime applied limits (v1 or v2).
import fs from 'node:fs';
import path from 'node:path';

export interface CgroupReading {
  /** Cumulative CPU time, ns. */
  cpuNs: number | null;
  memoryBytes: number | null;
}

function readNum(file: string): number | null {
  try {
    const v = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isFinite(v) ? v : null;
  } catch {
    return null;
  }
}

/**
 * v1: `cgroup` is a path below the hierarchy root (e.g. /eserver-lab/run1) or an absolute path into
 * one controller; the cpuacct and memory controllers are looked up under /sys/fs/cgroup/<controller>.
 */
export function readCgroup(cgroup: string, version: 'v1' | 'v2', root = '/sys/fs/cgroup', memoryPath?: string): CgroupReading {
  if (version === 'v2') {
    const dir = cgroup.startsWith(root) ? cgroup : path.join(root, cgroup);
    let cpuNs: number | null = null;
    try {
      const m = /usage_usec (\d+)/.exec(fs.readFileSync(path.join(dir, 'cpu.stat'), 'utf8'));
      if (m) cpuNs = Number(m[1]) * 1000;
    } catch {
      /* controller not enabled */
    }
    return { cpuNs, memoryBytes: readNum(path.join(dir, 'memory.current')) };
  }
  const rel = cgroup.startsWith(root) ? cgroup.slice(root.length).replace(/^\/[^/]+/, '') : cgroup;
  const cpuDirs = ['cpuacct', 'cpu,cpuacct', 'cpu'].map((c) => path.join(root, c, rel));
  let cpuNs: number | null = null;
  for (const d of cpuDirs) {
    cpuNs = readNum(path.join(d, 'cpuacct.usage'));
    if (cpuNs !== null) break;
  }
  const memDirs = [memoryPath, path.join(root, 'memory', rel)].filter((d): d is string => !!d);
  let memoryBytes: number | null = null;
  for (const d of memDirs) {
    memoryBytes = readNum(path.join(d, 'memory.usage_in_bytes'));
    if (memoryBytes !== null) break;
  }
  return { cpuNs, memoryBytes };
}

/**
 * On v1 each controller is its own tree, and a runtime may nest the memory group elsewhere than the
 * cpu group (below the memory cgroup it already runs in); the native runtime names it in its note.
 */
export function memoryPathFromNote(note: string | undefined): string | undefined {
  const m = note ? /memory at (\/\S+)/.exec(note) : null;
  return m ? m[1] : undefined;
}
