// The lab's resource budget: one cgroup that holds every stack process, limited like the 2013 box
// (2 CPUs, 2 GB). cgroup v2 where the unified hierarchy is mounted at /sys/fs/cgroup, v1 (separate cpu and
// memory hierarchies) otherwise. The group is created below the runner's own cgroup, because that is the
// part of the tree a process may be delegated, and processes are started inside it (not moved in later),
// because memory charged before a move stays charged to the old group.
import { existsSync } from 'node:fs';
import { cpus as hostCpus } from 'node:os';
import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AppliedLimits } from '../lab/types.js';

const ROOT = '/sys/fs/cgroup';

/** What `down` needs to find and remove the group again, stored in the run directory. */
export interface CgroupRecord {
  version: 'v1' | 'v2';
  /** v2: one directory. v1: one directory per controller (cpu, memory, and cpuacct when mounted apart). */
  dirs: string[];
}

export class CgroupUnavailable extends Error {}

/**
 * The CFS period of the stack's quota. The kernel's default of 100 ms lets a group burn its quota in a
 * burst and then sit throttled for the rest of the period: at 0.33 CPU, ~67 ms latency steps. Shorter
 * periods cost throughput instead: measured here (bench/README.md, "The CPU period"), the same 0.6-CPU
 * quota gave 42-47k pages/min at 100 ms, 43k at 50 ms, 40-41k at 20 ms, 34-37k at 10 ms and 30-34k at
 * 5 ms (the kernel hands out quota in 5 ms slices per CPU, so a 3 ms quota runs on one CPU at a time and
 * every period throttles and wakes the whole group). 20 ms keeps throttles short (~13 ms at 0.33 CPU,
 * invisible beside seconds of queueing at 10k clients) for about a tenth of the throughput.
 */
export const DEFAULT_CPU_PERIOD_US = 20_000;
/** The kernel refuses a quota or a period below 1 ms (cgroup v1 and v2 alike). */
const MIN_QUOTA_US = 1_000;
const MAX_PERIOD_US = 1_000_000;
/**
 * The stack's weight against everything else in the parent (v1 cpu.shares, max 262144). Every process
 * that runs at the parent's level (10,000 forked webbench clients, other users' jobs) weighs 1024; a
 * group with the default 1024 would get one share among them, so a quota could not be reached.
 */
export const STACK_CPU_SHARES = 262_144;
/**
 * The load generator's group weight: the kernel's default, below the stack's. The quota already caps the
 * stack, so outweighing the generator cannot starve it; what the higher weight buys is that a stack task
 * woken by a packet runs before the generator's. With equal weights a real webbench's 10,000 runnable
 * clients delayed those wakeups and read 8-13% below our generator (bench/README.md, "A real Webbench
 * 1.5 beside our generator"); at this weight the two agree. A weight near the minimum starves webbench's
 * own timer instead (measured: 24 s windows for a 30 s run).
 */
export const GENERATOR_CPU_SHARES = 1024;
/** v2's equivalent range is 1..10000 (cpu.weight); the default is 100, which the kernel treats as 1024 shares. */
const V2_MAX_WEIGHT = 10_000;

/**
 * The weight for a group with `cpus` of the host's CPUs. Below the whole machine the group must reach its
 * quota whatever else runs: the highest weight. At the whole machine there is no quota to guarantee, and
 * a high weight would only let the stack starve a load generator that runs beside it (the CI gate's):
 * the kernel's default.
 */
export function sharesFor(cpus: number, host = hostCpus().length): number {
  return cpus < host ? STACK_CPU_SHARES : 1024;
}

export interface CpuQuota {
  quotaUs: number;
  periodUs: number;
}

/**
 * The quota and period for `cpus` CPUs. The period is `periodUs` unless the quota would fall below the
 * kernel's 1 ms minimum; then it is lengthened just enough (0.1 CPU gets a 10 ms period).
 */
export function quotaFor(cpus: number, periodUs = DEFAULT_CPU_PERIOD_US): CpuQuota {
  if (!(cpus > 0) || !Number.isFinite(cpus)) throw new Error(`a CPU budget must be a positive number, got ${cpus}`);
  if (!Number.isInteger(periodUs) || periodUs < MIN_QUOTA_US || periodUs > MAX_PERIOD_US) {
    throw new Error(`the CPU period must be an integer from ${MIN_QUOTA_US} to ${MAX_PERIOD_US} µs, got ${periodUs}`);
  }
  let period = periodUs;
  if (cpus * period < MIN_QUOTA_US) period = Math.min(MAX_PERIOD_US, Math.ceil(MIN_QUOTA_US / cpus));
  const quota = Math.max(MIN_QUOTA_US, Math.round(cpus * period));
  return { quotaUs: quota, periodUs: period };
}

export interface CgroupOptions {
  /** CFS period, µs (default DEFAULT_CPU_PERIOD_US). */
  periodUs?: number;
  /** v1 cpu.shares (v2: scaled onto cpu.weight). Default sharesFor(cpus). */
  shares?: number;
}

/** v1 shares (2..262144, default 1024) onto v2 weight (1..10000, default 100), as the kernel relates them. */
export function sharesToWeight(shares: number): number {
  return Math.max(1, Math.min(V2_MAX_WEIGHT, Math.round((shares * 100) / 1024)));
}

/** Parses a memory size like 2g, 512m, 1073741824. */
export function parseMemory(spec: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(spec.trim());
  if (!m) throw new Error(`cannot read memory size "${spec}" (use e.g. 2g, 512m)`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase()]!;
  return Math.round(Number(m[1]) * mult);
}

export interface V1Mount {
  mountpoint: string;
  root: string;
}

/** v1 hierarchies by controller, from mountinfo (cpu may be mounted alone or as cpu,cpuacct). */
export async function v1Mounts(): Promise<Map<string, V1Mount>> {
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
export async function ownCgroups(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const line of (await readFile('/proc/self/cgroup', 'utf8')).split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    for (const c of m[1]!.split(',')) out.set(c, m[2]!);
  }
  return out;
}

/** Joins a cgroup path (as /proc/self/cgroup shows it) onto its mount, minus the mount's own root. */
export function hostDir(mount: V1Mount, path: string): string {
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
export async function createCgroup(name: string, cpus: number, memoryBytes: number, opts: CgroupOptions = {}): Promise<CgroupRecord> {
  const version = cgroupVersion();
  const own = await ownCgroups();
  const dirs: string[] = [];
  const { quotaUs, periodUs } = quotaFor(cpus, opts.periodUs);
  const shares = opts.shares ?? sharesFor(cpus);
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
      await writeFile(join(dir, 'cpu.max'), `${quotaUs} ${periodUs}`);
      await writeFile(join(dir, 'cpu.weight'), String(sharesToWeight(shares)));
      await writeFile(join(dir, 'memory.max'), String(memoryBytes));
      return { version, dirs };
    }
    const mounts = await v1Mounts();
    // cpuacct gives the group's exact CPU time (to check that the quota was reached); on this kind of
    // host it is its own hierarchy, elsewhere it is co-mounted with cpu and the cpu directory serves.
    const ctrls = ['cpu', 'memory'];
    const acct = mounts.get('cpuacct');
    if (acct && acct.mountpoint !== mounts.get('cpu')?.mountpoint) ctrls.push('cpuacct');
    for (const ctrl of ctrls) {
      const mount = mounts.get(ctrl);
      if (!mount) throw new Error(`the v1 "${ctrl}" controller is not mounted`);
      const dir = join(hostDir(mount, own.get(ctrl) ?? '/'), name);
      await mkdir(dir);
      dirs.push(dir);
    }
    // Period first: the kernel checks the quota against the period in force.
    await writeFile(join(dirs[0]!, 'cpu.cfs_period_us'), String(periodUs));
    await writeFile(join(dirs[0]!, 'cpu.cfs_quota_us'), String(quotaUs));
    await writeFile(join(dirs[0]!, 'cpu.shares'), String(shares));
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
    const weight = await read(join(dir, 'cpu.weight')).catch(() => null);
    return {
      cgroup: dir,
      cgroupVersion: 'v2',
      cpus: quota === 'max' ? null : Number(quota) / Number(period),
      memoryBytes: mem === 'max' ? null : Number(mem),
      cpuQuotaUs: quota === 'max' ? null : Number(quota),
      cpuPeriodUs: Number(period),
      cpuWeight: weight === null ? null : Number(weight),
    };
  }
  const [cpuDir, memDir, acctDir] = rec.dirs as [string, string, string | undefined];
  const quota = Number(await read(join(cpuDir, 'cpu.cfs_quota_us')));
  const period = Number(await read(join(cpuDir, 'cpu.cfs_period_us')));
  const shares = Number(await read(join(cpuDir, 'cpu.shares')));
  const mem = Number(await read(join(memDir, 'memory.limit_in_bytes')));
  return {
    cgroup: cpuDir,
    cgroupVersion: 'v1',
    cpus: quota > 0 ? quota / period : null,
    // v1 reports "unlimited" as a huge page-aligned number.
    memoryBytes: mem >= 2 ** 62 ? null : mem,
    cpuQuotaUs: quota > 0 ? quota : null,
    cpuPeriodUs: period,
    cpuWeight: shares,
    note: `v1: cpu at ${cpuDir}, memory at ${memDir}${acctDir ? `, cpuacct at ${acctDir}` : ''}`,
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
