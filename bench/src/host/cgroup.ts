// The one cgroup module: discover the hierarchy, create a group, limit it, read its usage, move a pid in and
// out, remove it. Every group of the lab goes through here: the stack's budget (native), the Docker stack's
// parent, the load generator's group and the webbench tool's. cgroup v2 where the unified hierarchy is mounted
// at the root, v1 otherwise, with cpu, cpuacct and memory possibly mounted as separate hierarchies (this kind
// of VM mounts cpu and cpuacct apart: a pid must then be written into both to be limited and counted).
//
// Groups are created below the cgroup a process already runs in, because that is the part of the tree a
// process may be delegated, and processes are started inside them (not moved in later) where memory counts,
// because memory charged before a move stays charged to the old group.
import { existsSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, readdir, rmdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { DEFAULT_CPU_PERIOD_US, DEFAULT_CPU_SHARES } from '@eserver-lab/common/stack-spec';

export const CGROUP_ROOT = '/sys/fs/cgroup';

/** The kernel refuses a quota or a period below 1 ms (cgroup v1 and v2 alike). */
const MIN_QUOTA_US = 1_000;
const MAX_PERIOD_US = 1_000_000;
/**
 * The load generator's group weight: the kernel's default, below the stack's. The quota already caps the
 * stack, so outweighing the generator cannot starve it; what the higher weight buys is that a stack task
 * woken by a packet runs before the generator's. With equal weights a real webbench's 10,000 runnable
 * clients delayed those wakeups and read 8-13% below our generator
 * (docs/experiments/2026-11-28-webbench-beside-generator.md); at this weight the two agree. A weight near the minimum starves webbench's
 * own timer instead (measured: 24 s windows for a 30 s run).
 */
export const GENERATOR_CPU_SHARES = DEFAULT_CPU_SHARES;
/** v2's equivalent range is 1..10000 (cpu.weight); the default is 100, which the kernel treats as 1024 shares. */
const V2_MAX_WEIGHT = 10_000;
/** v1 writes "no memory limit" as a huge page-aligned number. */
const V1_UNLIMITED = 2 ** 62;

export class CgroupUnavailable extends Error {}

// ---------------------------------------------------------------------------------------------- budgets

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

// -------------------------------------------------------------------------------------------- discovery

export interface V1Mount {
  mountpoint: string;
  root: string;
}

/** Where the cgroup filesystem is, and how it is laid out. Tests point `root` and `procRoot` at scratch trees. */
export interface CgroupHost {
  version: 'v1' | 'v2';
  root: string;
  procRoot: string;
  /** v1: each controller's hierarchy (cpu may be mounted alone or as cpu,cpuacct). Empty on v2. */
  mounts: Map<string, V1Mount>;
}

/** v1 hierarchies by controller, from mountinfo (the real tree) or from the root's folder names (a scratch tree). */
function v1Mounts(root: string, procRoot: string): Map<string, V1Mount> {
  const out = new Map<string, V1Mount>();
  if (root === CGROUP_ROOT && procRoot === '/proc') {
    for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
      const [pre, post] = line.split(' - ');
      if (!pre || !post) continue;
      const [fstype, , superOpts] = post.split(' ');
      const f = pre.split(' ');
      // A hybrid host also mounts the unified (v2) tree, e.g. at /sys/fs/cgroup/unified: under key '', as
      // /proc/<pid>/cgroup names it (runc creates a cgroup_parent there too).
      if (fstype === 'cgroup2') out.set('', { mountpoint: f[4]!, root: f[3]! });
      if (fstype !== 'cgroup' || !superOpts) continue;
      for (const opt of superOpts.split(',')) out.set(opt, { mountpoint: f[4]!, root: f[3]! });
    }
    return out;
  }
  // A scratch tree (tests): one folder per hierarchy, named after its controllers.
  let names: string[] = [];
  try {
    names = readdirSync(root, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    /* no such tree */
  }
  for (const n of names) for (const c of n.split(',')) if (!out.has(c)) out.set(c, { mountpoint: join(root, n), root: '/' });
  return out;
}

export function discoverCgroups(o: { root?: string; procRoot?: string } = {}): CgroupHost {
  const root = o.root ?? CGROUP_ROOT;
  const procRoot = o.procRoot ?? '/proc';
  const version = existsSync(join(root, 'cgroup.controllers')) ? 'v2' : 'v1';
  return { version, root, procRoot, mounts: version === 'v1' ? v1Mounts(root, procRoot) : new Map() };
}

/**
 * The one reader of /proc/<pid>/cgroup: the cgroup path of a process per v1 controller, and under the key ''
 * its v2 (unified) path. Named hierarchies appear as `name=systemd`.
 */
export function cgroupsOf(pid: number | 'self' = 'self', procRoot = '/proc'): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of readFileSync(join(procRoot, String(pid), 'cgroup'), 'utf8').split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (m) for (const c of m[1]!.split(',')) out.set(c, m[2]!);
  }
  return out;
}

/** Joins a cgroup path (as /proc/<pid>/cgroup shows it) onto its mount, minus the mount's own root. */
export function hostDir(mount: V1Mount, path: string): string {
  const rel = mount.root !== '/' && path.startsWith(mount.root) ? path.slice(mount.root.length) : path;
  return join(mount.mountpoint, rel);
}

/** The directory of `pid`'s cgroup in a controller's hierarchy (v2: the unified one); null when not mounted. */
export function ownDir(host: CgroupHost, ctrl: string, pid: number | 'self' = 'self'): string | null {
  const own = cgroupsOf(pid, host.procRoot);
  if (host.version === 'v2') return join(host.root, own.get('') ?? '/');
  const mount = host.mounts.get(ctrl);
  return mount ? hostDir(mount, own.get(ctrl) ?? '/') : null;
}

// --------------------------------------------------------------------------------------------- a group

export type Controller = 'cpu' | 'cpuacct' | 'memory';

/** A group as the lab records it (in a run directory's state, for `down`): its directories per controller. */
export interface CgroupRecord {
  version: 'v1' | 'v2';
  /** Every directory of the group, cpu first (v2: one). Removal goes through these. */
  dirs: string[];
  /** The directory that holds each controller's files (v2: the one directory); absent when not created. */
  cpu?: string;
  cpuacct?: string;
  memory?: string;
}

/** The directories of the group: the v1 cpu controller's, cpuacct's (its own or cpu's when co-mounted), memory's. */
export function dirsOf(rec: CgroupRecord): { cpu: string | null; cpuacct: string | null; memory: string | null } {
  if (rec.version === 'v2') return { cpu: rec.dirs[0] ?? null, cpuacct: rec.dirs[0] ?? null, memory: rec.dirs[0] ?? null };
  // Records of an older layout carry only `dirs`: cpu, memory, then cpuacct when mounted apart.
  return {
    cpu: rec.cpu ?? rec.dirs[0] ?? null,
    cpuacct: rec.cpuacct ?? rec.dirs.find((d) => d.includes('/cpuacct/')) ?? rec.dirs[0] ?? null,
    memory: rec.memory ?? rec.dirs.find((d) => d.includes('/memory/')) ?? null,
  };
}

export interface CreateOptions {
  /** Which controllers the group needs; cpuacct is added on v1 when it is mounted apart from cpu. */
  controllers: Array<'cpu' | 'memory'> | ['cpuacct'];
  /** Create it below this process's cgroup instead of our own (Docker's parent: below dockerd's). */
  below?: number;
  /** Use an existing group of that name instead of failing (Docker's parent is re-limited at every `up`). */
  existOk?: boolean;
  host?: CgroupHost;
}

/** Creates the group's directories. Throws CgroupUnavailable, with the reason, when that cannot be done. */
export async function createCgroup(name: string, o: CreateOptions): Promise<CgroupRecord> {
  const host = o.host ?? discoverCgroups();
  const pid = o.below ?? 'self';
  const made: string[] = [];
  const mk = async (dir: string) => {
    try {
      await mkdir(dir);
      made.push(dir);
    } catch (err) {
      if (!(o.existOk && (err as NodeJS.ErrnoException).code === 'EEXIST')) throw err;
    }
    return dir;
  };
  try {
    if (host.version === 'v2') {
      const parent = ownDir(host, '', pid)!;
      const want = (o.controllers as string[]).filter((c) => c !== 'cpuacct');
      if (want.length > 0) {
        const enabled = (await readFile(join(parent, 'cgroup.subtree_control'), 'utf8')).split(/\s+/);
        // A controller must be enabled in the parent before a child can use it.
        for (const c of want) if (!enabled.includes(c)) await writeFile(join(parent, 'cgroup.subtree_control'), `+${c}`);
      }
      const dir = await mk(join(parent, name));
      return { version: 'v2', dirs: [dir], cpu: dir, cpuacct: dir, memory: dir };
    }
    const rec: CgroupRecord = { version: 'v1', dirs: [] };
    const ctrls = [...(o.controllers as Controller[])];
    const acct = host.mounts.get('cpuacct');
    // cpuacct gives the group's exact CPU time; where it is co-mounted with cpu, the cpu directory serves.
    if (ctrls.includes('cpu') && acct && acct.mountpoint !== host.mounts.get('cpu')?.mountpoint) ctrls.push('cpuacct');
    for (const c of ctrls) {
      const parent = ownDir(host, c, pid);
      if (parent === null) throw new Error(`the v1 "${c}" controller is not mounted`);
      const dir = await mk(join(parent, name));
      rec.dirs.push(dir);
      rec[c] = dir;
    }
    if (!rec.cpuacct && rec.cpu && host.mounts.get('cpuacct')?.mountpoint === host.mounts.get('cpu')?.mountpoint) rec.cpuacct = rec.cpu;
    return rec;
  } catch (err) {
    await removeDirs(made);
    const why = err instanceof Error ? err.message : String(err);
    throw new CgroupUnavailable(`cannot create a ${host.version} cgroup "${name}": ${why}`);
  }
}

/** Writes the CPU quota, period and weight (quota null: no quota, only the weight). */
export async function limitCpu(rec: CgroupRecord, l: { quota: CpuQuota | null; shares: number }): Promise<void> {
  const dir = dirsOf(rec).cpu;
  if (!dir) throw new Error('the group has no cpu directory');
  if (rec.version === 'v2') {
    if (l.quota) await writeFile(join(dir, 'cpu.max'), `${l.quota.quotaUs} ${l.quota.periodUs}`);
    await writeFile(join(dir, 'cpu.weight'), String(sharesToWeight(l.shares)));
    return;
  }
  if (l.quota) {
    // Quota off first: a shorter period under the old quota may be refused (quota > period x CPUs); then
    // period before quota, since the kernel checks the quota against the period in force.
    await writeFile(join(dir, 'cpu.cfs_quota_us'), '-1');
    await writeFile(join(dir, 'cpu.cfs_period_us'), String(l.quota.periodUs));
    await writeFile(join(dir, 'cpu.cfs_quota_us'), String(l.quota.quotaUs));
  }
  await writeFile(join(dir, 'cpu.shares'), String(l.shares));
}

export async function limitMemory(rec: CgroupRecord, bytes: number): Promise<void> {
  const dir = dirsOf(rec).memory;
  if (!dir) throw new Error('the group has no memory directory');
  await writeFile(join(dir, rec.version === 'v2' ? 'memory.max' : 'memory.limit_in_bytes'), String(bytes));
}

/**
 * One memory group per service below a stack's group, each limited to its own share: the stack's budget
 * still caps the sum (the parent's limit), and a service that outgrows what it needs is stopped by its own
 * limit before it can starve the others. The CPU stays shared: only memory gets the children. Returns, per
 * service, the record its process enters (v1: the stack's cpu and cpuacct directories and its own memory
 * one; v2: its own directory); the children join `rec.dirs`, after the stack's, so that removing the stack
 * removes them first and cgroupPids sees their processes.
 */
export async function createServiceMemoryGroups<K extends string>(rec: CgroupRecord, limits: Readonly<Record<K, number>>): Promise<Record<K, CgroupRecord>> {
  const out = {} as Record<K, CgroupRecord>;
  if (rec.version === 'v2') {
    // A controller must be enabled in the parent before its children can use it (the parent holds no process).
    await writeFile(join(rec.dirs[0]!, 'cgroup.subtree_control'), '+memory');
  }
  const parent = dirsOf(rec).memory;
  if (!parent) throw new Error('the stack group has no memory directory');
  for (const [name, bytes] of Object.entries(limits) as [K, number][]) {
    const dir = join(parent, name);
    await mkdir(dir);
    rec.dirs.push(dir);
    await writeFile(join(dir, rec.version === 'v2' ? 'memory.max' : 'memory.limit_in_bytes'), String(bytes));
    const d = dirsOf(rec);
    out[name] =
      rec.version === 'v2'
        ? { version: 'v2', dirs: [dir], cpu: dir, cpuacct: dir, memory: dir }
        : { version: 'v1', dirs: [...new Set([d.cpu, d.cpuacct].filter((x): x is string => x !== null)), dir], cpu: d.cpu ?? undefined, cpuacct: d.cpuacct ?? undefined, memory: dir };
  }
  return out;
}

/**
 * v1 cpuset: a new group starts with no CPUs and no memory nodes, so a process cannot enter it (runc creates
 * the Docker parent there too): give it its parent's.
 */
export async function inheritCpuset(name: string, o: { below?: number; host?: CgroupHost } = {}): Promise<void> {
  const host = o.host ?? discoverCgroups();
  if (host.version !== 'v1') return;
  const parent = ownDir(host, 'cpuset', o.below ?? 'self');
  if (!parent || !existsSync(parent)) return;
  const dir = join(parent, name);
  await mkdir(dir, { recursive: true });
  for (const f of ['cpuset.cpus', 'cpuset.mems']) {
    const mine = (await readFile(join(dir, f), 'utf8').catch(() => '')).trim();
    if (mine === '') await writeFile(join(dir, f), await readFile(join(parent, f), 'utf8'));
  }
}

// -------------------------------------------------------------------------------------------- reading

/** The limits the kernel holds for a group, read back from its files (not what was asked for). */
export interface CgroupLimits {
  /** The directory that carries the CPU limit (v1: in the cpu hierarchy), or null when nothing is limited. */
  cgroup: string | null;
  cgroupVersion: 'v1' | 'v2' | null;
  /** CPUs read back from the cgroup files (quota / period), null when unlimited. */
  cpus: number | null;
  /** Memory limit in bytes, null when unlimited. */
  memoryBytes: number | null;
  /** The CFS quota and period read back (v1 cpu.cfs_quota_us / cpu.cfs_period_us, v2 cpu.max), µs. */
  cpuQuotaUs?: number | null;
  cpuPeriodUs?: number | null;
  /** The group's weight against its siblings: v1 cpu.shares, v2 cpu.weight. */
  cpuWeight?: number | null;
  /** Where the group's CPU time (cpuacct.usage / cpu.stat) and memory usage are read. */
  usageDirs?: { cpuacct: string | null; memory: string | null };
}

const readTrim = async (f: string) => (await readFile(f, 'utf8')).trim();

export async function readLimits(rec: CgroupRecord): Promise<CgroupLimits> {
  const d = dirsOf(rec);
  if (rec.version === 'v2') {
    const dir = d.cpu!;
    const [quota, period] = (await readTrim(join(dir, 'cpu.max'))).split(' ');
    const mem = await readTrim(join(dir, 'memory.max'));
    const weight = await readTrim(join(dir, 'cpu.weight')).catch(() => null);
    return {
      cgroup: dir,
      cgroupVersion: 'v2',
      cpus: quota === 'max' ? null : Number(quota) / Number(period),
      memoryBytes: mem === 'max' ? null : Number(mem),
      cpuQuotaUs: quota === 'max' ? null : Number(quota),
      cpuPeriodUs: Number(period),
      cpuWeight: weight === null ? null : Number(weight),
      usageDirs: { cpuacct: dir, memory: dir },
    };
  }
  const quota = Number(await readTrim(join(d.cpu!, 'cpu.cfs_quota_us')));
  const period = Number(await readTrim(join(d.cpu!, 'cpu.cfs_period_us')));
  const shares = Number(await readTrim(join(d.cpu!, 'cpu.shares')));
  const mem = d.memory ? Number(await readTrim(join(d.memory, 'memory.limit_in_bytes'))) : V1_UNLIMITED;
  return {
    cgroup: d.cpu,
    cgroupVersion: 'v1',
    cpus: quota > 0 ? quota / period : null,
    memoryBytes: mem >= V1_UNLIMITED ? null : mem,
    cpuQuotaUs: quota > 0 ? quota : null,
    cpuPeriodUs: period,
    cpuWeight: shares,
    usageDirs: { cpuacct: d.cpuacct, memory: d.memory },
  };
}

function readNumSync(file: string): number | null {
  try {
    const v = Number(readFileSync(file, 'utf8').trim());
    return Number.isFinite(v) ? v : null;
  } catch {
    return null;
  }
}

/** CPU time used so far by everything in the group, ns: v1 cpuacct.usage, v2 cpu.stat usage_usec. */
export function cpuUsageNs(cpuacctDir: string | null, version: 'v1' | 'v2'): number | null {
  if (!cpuacctDir) return null;
  if (version === 'v1') return readNumSync(join(cpuacctDir, 'cpuacct.usage'));
  try {
    const m = /^usage_usec (\d+)$/m.exec(readFileSync(join(cpuacctDir, 'cpu.stat'), 'utf8'));
    return m ? Number(m[1]) * 1000 : null;
  } catch {
    return null;
  }
}

/** Memory charged to the group now, bytes. */
export function memoryUsageBytes(memoryDir: string | null, version: 'v1' | 'v2'): number | null {
  if (!memoryDir) return null;
  return readNumSync(join(memoryDir, version === 'v2' ? 'memory.current' : 'memory.usage_in_bytes'));
}

export interface Throttling {
  nrPeriods: number | null;
  nrThrottled: number | null;
  throttledNs: number | null;
}

/** The CFS periods and throttled periods of the group so far (v1 and v2 cpu.stat). */
export function cpuThrottling(cpuDir: string | null): Throttling {
  let stat: string | null = null;
  try {
    stat = cpuDir ? readFileSync(join(cpuDir, 'cpu.stat'), 'utf8') : null;
  } catch {
    stat = null;
  }
  return parseCpuStat(stat);
}

/** A cpu.stat file's text (v1 or v2; this host's or another's), as throttling figures. */
export function parseCpuStat(stat: string | null): Throttling {
  if (!stat) return { nrPeriods: null, nrThrottled: null, throttledNs: null };
  const num = (k: string) => {
    const m = new RegExp(`^${k} (\\d+)$`, 'm').exec(stat);
    return m ? Number(m[1]) : null;
  };
  const v1 = num('throttled_time');
  const v2 = num('throttled_usec');
  return { nrPeriods: num('nr_periods'), nrThrottled: num('nr_throttled'), throttledNs: v1 ?? (v2 === null ? null : v2 * 1000) };
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

export function cgroupExists(rec: CgroupRecord): boolean {
  return rec.dirs.some((d) => existsSync(d));
}

// ------------------------------------------------------------------------------------------ moving pids

/** Moves `pid` (all its threads) into every directory of the group. */
export async function movePid(rec: CgroupRecord, pid: number): Promise<void> {
  for (const d of rec.dirs) await writeFile(join(d, 'cgroup.procs'), String(pid));
}

/** Moves `pid` into the given directories (where it came from); synchronously, for an 'exit' hook. */
export function movePidToSync(dirs: readonly string[], pid: number): void {
  for (const d of dirs) {
    try {
      writeFileSync(join(d, 'cgroup.procs'), String(pid));
    } catch {
      /* already back, or the group is gone */
    }
  }
}

/** The shell prefix that puts the shell itself into the group before it execs the program. */
export function enterScript(rec: CgroupRecord | null): string {
  if (!rec) return '';
  return rec.dirs.map((d) => `echo $$ > '${join(d, 'cgroup.procs')}' && `).join('');
}

// ------------------------------------------------------------------------------------------- removing

async function removeDirs(dirs: string[], waitMs = 0): Promise<string[]> {
  const left: string[] = [];
  for (const d of [...dirs].reverse()) {
    const deadline = Date.now() + waitMs;
    for (;;) {
      try {
        await rmdir(d);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') break;
        // Processes still exiting (webbench's forked clients) keep a group busy for a moment.
        if (Date.now() >= deadline) {
          left.push(d);
          break;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
  return left;
}

/** Removes the group; it must be empty (`waitMs`: how long to wait for exiting processes). Returns what is left. */
export function removeCgroup(rec: CgroupRecord, waitMs = 0): Promise<string[]> {
  return removeDirs(rec.dirs, waitMs);
}

/** Synchronously and without waiting: an 'exit' hook's way out. */
export function removeCgroupSync(rec: CgroupRecord): void {
  for (const d of [...rec.dirs].reverse()) {
    try {
      rmdirSync(d);
    } catch {
      /* still busy or gone */
    }
  }
}

/**
 * Removes a group of that name below `pid`'s cgroup in every hierarchy, its sub-groups first: runc creates a
 * cgroup_parent in every hierarchy (pids, blkio, freezer, name=systemd...), not only in those the lab limits.
 * Returns the directories still in use.
 */
export async function removeCgroupEverywhere(name: string, o: { below?: number; host?: CgroupHost } = {}): Promise<string[]> {
  const host = o.host ?? discoverCgroups();
  const own = cgroupsOf(o.below ?? 'self', host.procRoot);
  const tops = new Set<string>();
  if (host.version === 'v2') tops.add(join(host.root, own.get('') ?? '/', name));
  for (const [ctrl, mount] of host.mounts) {
    const path = own.get(ctrl) ?? own.get(`name=${ctrl}`);
    if (path !== undefined) tops.add(join(hostDir(mount, path), name));
  }
  const left: string[] = [];
  for (const top of tops) {
    if (!existsSync(top)) continue;
    const all = await subdirs(top);
    left.push(...(await removeDirs([top, ...all])));
  }
  return left;
}

/** Every directory below `dir`, parents before children. */
async function subdirs(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    if (!e.isDirectory()) continue;
    const d = join(dir, e.name);
    out.push(d, ...(await subdirs(d)));
  }
  return out;
}

// ------------------------------------------------------------------------------- a process's effective limits

function ancestors(path: string): string[] {
  const out: string[] = [];
  for (let p = path; ; p = dirname(p)) {
    out.push(p);
    if (p === '/' || p === '.') return out;
  }
}

export interface EffectiveLimits extends CgroupLimits {
  /** The nearest ancestors that carry the CPU and the memory limit (with cgroup_parent: the shared parent). */
  cpuCgroup: string | null;
  memoryCgroup: string | null;
  /** Every memory limit on the way to the root, innermost first: a service's own, then its stack's. */
  memoryLimits: Array<{ cgroup: string; bytes: number }>;
}

async function readNum(file: string): Promise<number | null> {
  try {
    const v = (await readFile(file, 'utf8')).trim();
    return v === 'max' ? null : Number(v);
  } catch {
    return null;
  }
}

/**
 * The CPU and memory limits that apply to a process: its cgroup and every ancestor up to the hierarchy's
 * root, keeping the tightest limit, with the quota, period and weight of the group that carries it.
 */
export async function limitsOfPid(pid: number, host: CgroupHost = discoverCgroups()): Promise<EffectiveLimits> {
  const groups = cgroupsOf(pid, host.procRoot);
  const v1 = groups.has('cpu') && groups.has('memory');
  let cpus: number | null = null;
  let mem: number | null = null;
  let cpuCg: string | null = null;
  let memCg: string | null = null;
  let quotaUs: number | null = null;
  let periodUs: number | null = null;
  let weight: number | null = null;
  const memoryLimits: Array<{ cgroup: string; bytes: number }> = [];
  const dirIn = (ctrl: string, p: string) => {
    const m = host.mounts.get(ctrl);
    return m ? hostDir(m, p) : join(host.root, ctrl, p);
  };
  if (v1) {
    for (const p of ancestors(groups.get('cpu')!)) {
      const dir = dirIn('cpu', p);
      const q = await readNum(join(dir, 'cpu.cfs_quota_us'));
      const per = await readNum(join(dir, 'cpu.cfs_period_us'));
      if (q !== null && q > 0 && per && (cpus === null || q / per < cpus)) {
        [cpus, cpuCg, quotaUs, periodUs] = [q / per, dir, q, per];
        weight = await readNum(join(dir, 'cpu.shares'));
      }
    }
    for (const p of ancestors(groups.get('memory')!)) {
      const dir = dirIn('memory', p);
      const m = await readNum(join(dir, 'memory.limit_in_bytes'));
      if (m !== null && m < V1_UNLIMITED) memoryLimits.push({ cgroup: dir, bytes: m });
      if (m !== null && m < V1_UNLIMITED && (mem === null || m < mem)) [mem, memCg] = [m, dir];
    }
  } else if (groups.has('')) {
    for (const p of ancestors(groups.get('')!)) {
      const dir = join(host.root, p);
      const [q, per] = (await readFile(join(dir, 'cpu.max'), 'utf8').catch(() => 'max')).trim().split(/\s+/);
      if (q && q !== 'max' && per && (cpus === null || Number(q) / Number(per) < cpus)) {
        [cpus, cpuCg, quotaUs, periodUs] = [Number(q) / Number(per), dir, Number(q), Number(per)];
        weight = await readNum(join(dir, 'cpu.weight'));
      }
      const m = await readNum(join(dir, 'memory.max'));
      if (m !== null) memoryLimits.push({ cgroup: dir, bytes: m });
      if (m !== null && (mem === null || m < mem)) [mem, memCg] = [m, dir];
    }
  }
  // The cpuacct twin of the CPU-limiting group (runc creates the parent in every hierarchy) counts its CPU.
  let acct: string | null = cpuCg;
  if (v1 && cpuCg && host.mounts.get('cpuacct') && host.mounts.get('cpuacct')!.mountpoint !== host.mounts.get('cpu')?.mountpoint) {
    const twin = join(host.mounts.get('cpuacct')!.mountpoint, cpuCg.slice(host.mounts.get('cpu')!.mountpoint.length));
    acct = existsSync(twin) ? twin : null;
  }
  return {
    cgroup: cpuCg ?? memCg,
    cgroupVersion: v1 ? 'v1' : groups.has('') ? 'v2' : null,
    cpus,
    memoryBytes: mem,
    cpuQuotaUs: quotaUs,
    cpuPeriodUs: periodUs,
    cpuWeight: weight,
    usageDirs: { cpuacct: acct, memory: memCg },
    cpuCgroup: cpuCg,
    memoryCgroup: memCg,
    memoryLimits,
  };
}

// ------------------------------------------------------------------------------------- a stack's budget

export interface BudgetLimits {
  cpus: number;
  memoryBytes: number;
  /** CFS period, µs (lengthened by quotaFor when the quota would be too small). */
  periodUs: number;
  /** v1 cpu.shares (v2: scaled onto cpu.weight). */
  shares: number;
}

/** Writes a stack's budget on its group: quota, period and weight, then memory. */
export async function limitBudget(rec: CgroupRecord, b: BudgetLimits): Promise<void> {
  await limitCpu(rec, { quota: quotaFor(b.cpus, b.periodUs), shares: b.shares });
  await limitMemory(rec, b.memoryBytes);
}

/**
 * A group for a whole stack, limited to its budget (the native stack's own; with `below` and `existOk`,
 * the Docker stack's parent below dockerd's cgroup). Throws CgroupUnavailable with the reason.
 */
export async function createBudgetCgroup(name: string, b: BudgetLimits, o: Omit<CreateOptions, 'controllers'> = {}): Promise<CgroupRecord> {
  const rec = await createCgroup(name, { ...o, controllers: ['cpu', 'memory'] });
  try {
    await limitBudget(rec, b);
    return rec;
  } catch (err) {
    if (!o.existOk) await removeCgroup(rec);
    const why = err instanceof Error ? err.message : String(err);
    throw new CgroupUnavailable(`cannot limit the ${rec.version} cgroup "${name}": ${why}`);
  }
}
