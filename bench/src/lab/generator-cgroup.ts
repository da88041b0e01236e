// The load generator's own cgroup, beside the stack's: webbench ran on another machine in 2013, so the
// generator must not take CPU from the stack's budget, nor the stack from the generator. Both groups sit
// below the runner's own cgroup, so that 10,000 forked webbench clients weigh as one scheduling entity,
// not 10,000; the generator's weight is the kernel's default (cgroup.ts GENERATOR_CPU_SHARES).
//
// The generator is the bench runner itself (its worker threads drive the load; a spawned webbench is its
// child), so the runner's process moves in for the load and back out before the stack is stopped.
import { existsSync, rmdirSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GENERATOR_CPU_SHARES, cgroupVersion, hostDir, ownCgroups, sharesToWeight, v1Mounts } from '../host/cgroup.js';

const ROOT = '/sys/fs/cgroup';

export interface GeneratorCgroup {
  version: 'v1' | 'v2';
  /** v1: the cpu directory, then cpuacct when mounted apart. v2: one directory. */
  dirs: string[];
  /** Where the moved process came from, per directory in `dirs` (to move it back). */
  origins: string[];
  pid: number;
}

export class GeneratorCgroupUnavailable extends Error {}

/**
 * Creates the group beside the stack's (below the runner's own cgroup), at the generator's weight, and moves
 * `pid` (default: this process, all its threads) into it. Throws GeneratorCgroupUnavailable with the
 * reason when that cannot be done.
 */
export async function enterGeneratorCgroup(name: string, opts: { pid?: number } = {}): Promise<GeneratorCgroup> {
  const pid = opts.pid ?? process.pid;
  const version = cgroupVersion();
  const own = await ownCgroups();
  const dirs: string[] = [];
  const origins: string[] = [];
  try {
    if (version === 'v2') {
      const parent = join(ROOT, own.get('') ?? '/');
      const dir = join(parent, name);
      await mkdir(dir);
      dirs.push(dir);
      origins.push(parent);
      await writeFile(join(dir, 'cpu.weight'), String(sharesToWeight(GENERATOR_CPU_SHARES))).catch(() => {
        /* the cpu controller may not be enabled here; cpu.stat still counts */
      });
    } else {
      const mounts = await v1Mounts();
      const ctrls = ['cpu'];
      const acct = mounts.get('cpuacct');
      if (acct && acct.mountpoint !== mounts.get('cpu')?.mountpoint) ctrls.push('cpuacct');
      for (const c of ctrls) {
        const mount = mounts.get(c);
        if (!mount) throw new Error(`the v1 "${c}" controller is not mounted`);
        const parent = hostDir(mount, own.get(c) ?? '/');
        const dir = join(parent, name);
        await mkdir(dir);
        dirs.push(dir);
        origins.push(parent);
      }
      await writeFile(join(dirs[0]!, 'cpu.shares'), String(GENERATOR_CPU_SHARES));
    }
    for (const d of dirs) await writeFile(join(d, 'cgroup.procs'), String(pid));
    const g: GeneratorCgroup = { version, dirs, origins, pid };
    if (entered.size === 0) process.on('exit', leaveEnteredSync);
    entered.add(g);
    return g;
  } catch (err) {
    for (const [i, d] of dirs.entries()) {
      await writeFile(join(origins[i]!, 'cgroup.procs'), String(pid)).catch(() => {});
      await rmdir(d).catch(() => {});
    }
    const why = err instanceof Error ? err.message : String(err);
    throw new GeneratorCgroupUnavailable(`cannot create the load generator's ${version} cgroup "${name}": ${why}`);
  }
}

/**
 * Groups entered and not yet left. A Ctrl-C ends a run through process.exit, which runs no async code, so
 * an 'exit' hook leaves them synchronously: no empty group outlives the process, whichever command
 * (bench, gate, calibrate) entered it.
 */
const entered = new Set<GeneratorCgroup>();

function leaveEnteredSync(): void {
  for (const g of entered) leaveGeneratorCgroupSync(g);
  entered.clear();
}

/** Synchronously and without waiting (the 'exit' hook's way out). */
function leaveGeneratorCgroupSync(g: GeneratorCgroup): void {
  for (const origin of g.origins) {
    try {
      writeFileSync(join(origin, 'cgroup.procs'), String(g.pid));
    } catch {
      /* already back, or the group is gone */
    }
  }
  for (const d of [...g.dirs].reverse()) {
    try {
      rmdirSync(d);
    } catch {
      /* still busy (a tool's children exiting) or gone */
    }
  }
}

/** Pids in the generator's group (cpu hierarchy). */
export async function generatorPids(g: GeneratorCgroup): Promise<number[]> {
  try {
    return (await readFile(join(g.dirs[0]!, 'cgroup.procs'), 'utf8')).split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** The group's CPU time so far, ns (v1 cpuacct.usage; v2 cpu.stat usage_usec). */
export async function generatorUsageNs(g: GeneratorCgroup): Promise<number | null> {
  try {
    if (g.version === 'v2') {
      const m = /usage_usec (\d+)/.exec(await readFile(join(g.dirs[0]!, 'cpu.stat'), 'utf8'));
      return m ? Number(m[1]) * 1000 : null;
    }
    const acct = g.dirs[1] ?? g.dirs[0]!;
    return Number((await readFile(join(acct, 'cpuacct.usage'), 'utf8')).trim());
  } catch {
    return null;
  }
}

/**
 * Moves the process back where it came from and removes the group. Children still exiting (webbench's
 * clients) keep it busy for a moment, so removal is retried for up to 5 s. Returns what was left.
 */
export async function leaveGeneratorCgroup(g: GeneratorCgroup): Promise<string[]> {
  entered.delete(g);
  if (entered.size === 0) process.off('exit', leaveEnteredSync);
  for (const [i, d] of g.dirs.entries()) {
    if (existsSync(d)) await writeFile(join(g.origins[i]!, 'cgroup.procs'), String(g.pid)).catch(() => {});
  }
  const left: string[] = [];
  for (const d of [...g.dirs].reverse()) {
    let removed = false;
    for (let i = 0; i < 50 && !removed; i++) {
      try {
        await rmdir(d);
        removed = true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') removed = true;
        else await new Promise((r) => setTimeout(r, 100));
      }
    }
    if (!removed) left.push(d);
  }
  return left;
}
