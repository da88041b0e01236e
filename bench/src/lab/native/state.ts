// The run directory's record of a stack: pids, ports, cgroup. `down` and `status` work from this file
// alone, so they still work after the runner that wrote it was killed.
import { existsSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CgroupRecord } from '../../host/cgroup.js';
import type { AppliedLimits, StackInfo } from '../types.js';
import { isAlive, readSupervisedStatus, type ProcRecord } from './procs.js';
import type { LabPorts, ServiceName, StackAddresses } from '@eserver-lab/common/stack-spec';

export interface ServiceRecord extends ProcRecord {
  name: ServiceName;
  ports: number[];
  logFile: string;
  /** The process that restarts this service when it exits (supervisor.ts); absent for older runs. */
  supervisor?: ProcRecord & { statusFile: string; logFile: string };
}

export interface LabState {
  runtime: 'native';
  runDir: string;
  /** The `lab up` process; while it lives and `complete` is false, the stack is still starting. */
  runner: ProcRecord;
  complete: boolean;
  ports: LabPorts;
  /** Where the entry points listen besides loopback (a load namespace's veth end); absent: loopback only. */
  addresses?: StackAddresses;
  cgroup: CgroupRecord | null;
  limits: AppliedLimits;
  services: ServiceRecord[];
  versions: Record<string, string>;
  config: Record<string, unknown>;
  startedAt: string;
  upMs?: number;
  /** A copy of what `up` returned, so `status` can return the same shape. */
  info?: StackInfo;
}

export const stateFile = (runDir: string) => join(runDir, 'state.json');

export async function readState(runDir: string): Promise<LabState | null> {
  if (!existsSync(stateFile(runDir))) return null;
  const state = JSON.parse(await readFile(stateFile(runDir), 'utf8')) as LabState;
  // A supervised service's pid changes with every restart; its supervisor publishes the current one.
  for (const s of state.services) {
    const st = s.supervisor ? readSupervisedStatus(s.supervisor.statusFile) : null;
    if (st) {
      s.pid = st.pid;
      s.startTime = st.startTime;
    }
  }
  return state;
}

/** Written after every service start, atomically, so a crash leaves a readable file. */
export async function writeState(state: LabState): Promise<void> {
  const tmp = `${stateFile(state.runDir)}.tmp`;
  await writeFile(tmp, JSON.stringify(state, null, 2));
  await rename(tmp, stateFile(state.runDir));
}

export function liveServices(state: LabState): ServiceRecord[] {
  return state.services.filter((s) => isAlive(s) || (s.supervisor !== undefined && isAlive(s.supervisor)));
}
