// The load generator's own cgroup, beside the stack's: webbench ran on another machine in 2013, so the
// generator must not take CPU from the stack's budget, nor the stack from the generator. Both groups sit
// below the runner's own cgroup, so that 10,000 forked webbench clients weigh as one scheduling entity,
// not 10,000; the generator's weight is the kernel's default (host/cgroup.ts GENERATOR_CPU_SHARES).
//
// The generator is the bench runner itself (its worker threads drive the load; a spawned webbench is its
// child), so the runner's process moves in for the load and back out before the stack is stopped.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
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
import { setMeasuringHome } from '../host/measuring-home.js';

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
  setMeasuringHome(origins);
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
    evacuateSync(g);
    removeCgroupSync(g);
  }
  entered.clear();
}

/**
 * Moves the runner and every process still in the group back where the runner came from. Whatever is in
 * the group is the runner's own doing: a process it spawned during the load that outlives it (the remote
 * engine's `docker system dial-stdio`, killed but not yet gone; webbench's clients still exiting) would
 * otherwise keep the group busy, and an 'exit' hook cannot wait for it.
 */
function evacuateSync(g: GeneratorCgroup): void {
  movePidToSync(g.origins, g.pid);
  g.dirs.forEach((d, i) => {
    let pids: string[];
    try {
      pids = readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean);
    } catch {
      return; // gone
    }
    for (const pid of pids) {
      try {
        writeFileSync(join(g.origins[i]!, 'cgroup.procs'), pid);
      } catch {
        /* exited meanwhile */
      }
    }
  });
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
 * Moves the process back where it came from, with whatever it spawned that is still in the group, and
 * removes the group. A process forked at that instant can land in the group after it was emptied, so
 * emptying and removal are retried for up to 5 s. Returns what was left.
 */
export async function leaveGeneratorCgroup(g: GeneratorCgroup): Promise<string[]> {
  entered.delete(g);
  if (entered.size === 0) {
    process.off('exit', leaveEnteredSync);
    setMeasuringHome(null);
  }
  const deadline = Date.now() + 5_000;
  for (;;) {
    evacuateSync(g);
    const left = await removeCgroup(g);
    if (left.length === 0 || Date.now() >= deadline) return left;
    await new Promise((r) => setTimeout(r, 100));
  }
}
