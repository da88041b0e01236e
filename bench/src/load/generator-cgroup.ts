// The load generator's own cgroup, beside the stack's: webbench ran on another machine in 2013, so the
// generator must not take CPU from the stack's budget, nor the stack from the generator. Both groups sit
// below the runner's own cgroup, so that 10,000 forked webbench clients weigh as one scheduling entity,
// not 10,000; the generator's weight is the kernel's default (host/cgroup.ts GENERATOR_CPU_SHARES).
//
// The generator is the bench runner itself (its worker threads drive the load; a spawned webbench is its
// child), so the runner's process moves in for the load and back out before the stack is stopped.
import {
  CgroupUnavailable,
  GENERATOR_CPU_SHARES,
  cgroupPids,
  cpuUsageNs,
  createCgroup,
  dirsOf,
  discoverCgroups,
  limitCpu,
  movePid,
  movePidToSync,
  removeCgroup,
  removeCgroupSync,
  type CgroupRecord,
} from '../host/cgroup.js';

export interface GeneratorCgroup extends CgroupRecord {
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
  const host = discoverCgroups();
  let rec: CgroupRecord;
  try {
    rec = await createCgroup(name, { controllers: ['cpu'], host });
  } catch (err) {
    throw new GeneratorCgroupUnavailable(`cannot create the load generator's cgroup: ${(err as Error).message}`);
  }
  const origins = rec.dirs.map((d) => d.slice(0, d.lastIndexOf('/')));
  const g: GeneratorCgroup = { ...rec, origins, pid };
  try {
    // The cpu controller may not be enabled for a v2 child; cpu.stat still counts then.
    await limitCpu(rec, { quota: null, shares: GENERATOR_CPU_SHARES }).catch((err: unknown) => {
      if (rec.version === 'v1') throw err;
    });
    await movePid(rec, pid);
  } catch (err) {
    movePidToSync(origins, pid);
    await removeCgroup(rec);
    const why = err instanceof CgroupUnavailable || err instanceof Error ? err.message : String(err);
    throw new GeneratorCgroupUnavailable(`cannot create the load generator's ${rec.version} cgroup "${name}": ${why}`);
  }
  if (entered.size === 0) process.on('exit', leaveEnteredSync);
  entered.add(g);
  return g;
}

/**
 * Groups entered and not yet left. A Ctrl-C ends a run through process.exit, which runs no async code, so
 * an 'exit' hook leaves them synchronously: no empty group outlives the process, whichever command
 * (bench, gate, calibrate) entered it.
 */
const entered = new Set<GeneratorCgroup>();

function leaveEnteredSync(): void {
  for (const g of entered) {
    movePidToSync(g.origins, g.pid);
    removeCgroupSync(g);
  }
  entered.clear();
}

/** Pids in the generator's group. */
export function generatorPids(g: GeneratorCgroup): Promise<number[]> {
  return cgroupPids({ version: g.version, dirs: [g.dirs[0]!] });
}

/** The group's CPU time so far, ns. */
export function generatorUsageNs(g: GeneratorCgroup): number | null {
  return cpuUsageNs(dirsOf(g).cpuacct, g.version);
}

/**
 * Moves the process back where it came from and removes the group. Children still exiting (webbench's
 * clients) keep it busy for a moment, so removal is retried for up to 5 s. Returns what was left.
 */
export async function leaveGeneratorCgroup(g: GeneratorCgroup): Promise<string[]> {
  entered.delete(g);
  if (entered.size === 0) process.off('exit', leaveEnteredSync);
  movePidToSync(g.origins, g.pid);
  return removeCgroup(g, 5_000);
}

