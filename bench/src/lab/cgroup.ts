// The lab's resource budget: one cgroup that holds every stack process, limited like the 2013 box
// (2 CPUs, 2 GB). cgroup v2 where the unified hierarchy is mounted at /sys/fs/cgroup, v1 (separate cpu and
// memory hierarchies) otherwise. The group is created below the runner's own cgroup, because that is the
// part of the tree a process may be delegated, and processes are started inside it (not moved in later),
// because memory charged before a move stays charged to the old group.
import { existsSync } from 'node:fs';
import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AppliedLimits } from './types.js';

const ROOT = '/sys/fs/cgroup';

/** What `down` needs to find and remove the group again, stored in the run directory. */
export interface CgroupRecord {
  version: 'v1' | 'v2';
  /** v2: one directory. v1: one directory per controller (cpu, memory). */
  dirs: string[];
}

export class CgroupUnavailable extends Error {}

/** Parses a memory size like 2g, 512m, 1073741824. */
export function parseMemory(spec: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(spec.trim());
  if (!m) throw new Error(`cannot read memory size "${spec}" (use e.g. 2g, 512m)`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase()]!;
  return Math.round(Number(m[1]) * mult);
}

interface V1Mount {
  mountpoint: string;
  root: string;
}

/** v1 hierarchies by controller, from mountinfo (cpu may be mounted alone or as cpu,cpuacct). */
async function v1Mounts(): Promise<Map<string, V1Mount>> {
  const out = new Map<string, V1Mount>();
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  for (const line of text.split('\n')) {
    const [pre, post] = line.split(' - ');
    if (!pre || !post) continue;
    const [fstype, , superOpts] = post.split(' ');
    if (fstype !== 'cgroup' || !superOpts) continue;
    const f = pre.split(' ');
    for (const opt of superOpts.split(',')) out.set(opt, { mountpoint: f[4]!, root: f[3]! });
  }
  return out;
}

/** The runner's own cgroup path per v1 controller, or under key '' for v2. */
async function ownCgroups(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const line of (await readFile('/proc/self/cgroup', 'utf8')).split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    for (const c of m[1]!.split(',')) out.set(c, m[2]!);
  }
  return out;
}

/** Joins a cgroup path (as /proc/self/cgroup shows it) onto its mount, minus the mount's own root. */
function hostDir(mount: V1Mount, path: string): string {
  const rel = mount.root !== '/' && path.startsWith(mount.root) ? path.slice(mount.root.length) : path;
  return join(mount.mountpoint, rel);
}

export function cgroupVersion(): 'v1' | 'v2' {
  return existsSync(join(ROOT, 'cgroup.controllers')) ? 'v2' : 'v1';
}

/**
 * Creates the group and writes the limits. Throws CgroupUnavailable (with the reason) when that is not
 * possible, so the caller can say so loudly and run unlimited.
 */
export async function createCgroup(name: string, cpus: number, memoryBytes: number): Promise<CgroupRecord> {
  const version = cgroupVersion();
  const own = await ownCgroups();
  const dirs: string[] = [];
  try {
    if (version === 'v2') {
      const dir = join(ROOT, own.get('') ?? '/', name);
      const parent = join(dir, '..');
      const enabled = (await readFile(join(parent, 'cgroup.subtree_control'), 'utf8')).split(/\s+/);
      for (const c of ['cpu', 'memory']) {
        // A controller must be enabled in the parent before a child can use it.
        if (!enabled.includes(c)) await writeFile(join(parent, 'cgroup.subtree_control'), `+${c}`);
      }
      await mkdir(dir);
      dirs.push(dir);
      const period = 100_000;
      await writeFile(join(dir, 'cpu.max'), `${Math.round(cpus * period)} ${period}`);
      await writeFile(join(dir, 'memory.max'), String(memoryBytes));
      return { version, dirs };
    }
    const mounts = await v1Mounts();
    for (const ctrl of ['cpu', 'memory']) {
      const mount = mounts.get(ctrl);
      if (!mount) throw new Error(`the v1 "${ctrl}" controller is not mounted`);
      const dir = join(hostDir(mount, own.get(ctrl) ?? '/'), name);
      await mkdir(dir);
      dirs.push(dir);
    }
    const period = 100_000;
    await writeFile(join(dirs[0]!, 'cpu.cfs_period_us'), String(period));
    await writeFile(join(dirs[0]!, 'cpu.cfs_quota_us'), String(Math.round(cpus * period)));
    await writeFile(join(dirs[1]!, 'memory.limit_in_bytes'), String(memoryBytes));
    return { version, dirs };
  } catch (err) {
    await removeDirs(dirs);
    const why = err instanceof Error ? err.message : String(err);
    throw new CgroupUnavailable(`cannot create a ${version} cgroup "${name}": ${why}`);
  }
}

/** Reads the limits back from the cgroup files: what the kernel enforces, not what we asked for. */
export async function readLimits(rec: CgroupRecord): Promise<AppliedLimits> {
  const read = async (f: string) => (await readFile(f, 'utf8')).trim();
  if (rec.version === 'v2') {
    const dir = rec.dirs[0]!;
    const [quota, period] = (await read(join(dir, 'cpu.max'))).split(' ');
    const mem = await read(join(dir, 'memory.max'));
    return {
      cgroup: dir,
      cgroupVersion: 'v2',
      cpus: quota === 'max' ? null : Number(quota) / Number(period),
      memoryBytes: mem === 'max' ? null : Number(mem),
    };
  }
  const [cpuDir, memDir] = rec.dirs as [string, string];
  const quota = Number(await read(join(cpuDir, 'cpu.cfs_quota_us')));
  const period = Number(await read(join(cpuDir, 'cpu.cfs_period_us')));
  const mem = Number(await read(join(memDir, 'memory.limit_in_bytes')));
  return {
    cgroup: cpuDir,
    cgroupVersion: 'v1',
    cpus: quota > 0 ? quota / period : null,
    // v1 reports "unlimited" as a huge page-aligned number.
    memoryBytes: mem >= 2 ** 62 ? null : mem,
    note: `v1: cpu at ${cpuDir}, memory at ${memDir}`,
  };
}

/** Pids in the group (union over the v1 hierarchies). */
export async function cgroupPids(rec: CgroupRecord): Promise<number[]> {
  const pids = new Set<number>();
  for (const dir of rec.dirs) {
    try {
      for (const l of (await readFile(join(dir, 'cgroup.procs'), 'utf8')).split('\n')) if (l) pids.add(Number(l));
    } catch {
      /* already removed */
    }
  }
  return [...pids];
}

/** The shell prefix that puts the shell itself into the group before it execs the service. */
export function enterScript(rec: CgroupRecord | null): string {
  if (!rec) return '';
  return rec.dirs.map((d) => `echo $$ > '${join(d, 'cgroup.procs')}' && `).join('');
}

async function removeDirs(dirs: string[]): Promise<string[]> {
  const left: string[] = [];
  for (const d of dirs) {
    try {
      await rmdir(d);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') left.push(d);
    }
  }
  return left;
}

/** Removes the group; it must be empty. Returns the directories that could not be removed. */
export function removeCgroup(rec: CgroupRecord): Promise<string[]> {
  return removeDirs(rec.dirs);
}

export function cgroupExists(rec: CgroupRecord): boolean {
  return rec.dirs.some((d) => existsSync(d));
}
