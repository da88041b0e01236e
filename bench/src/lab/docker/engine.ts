// The Docker engine: does one answer, starting/stopping the lab's own (bench/scripts/docker-engine.sh), and
// the stack's parent cgroup below it (host/cgroup.ts writes it; the script keeps no budget of its own).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isRunning } from '@eserver-lab/common/proc-stat';
import { createBudgetCgroup, inheritCpuset, readLimits, removeCgroupEverywhere, type BudgetLimits } from '../../host/cgroup.js';
import { repoRoot } from '../paths.js';
import { docker, engineScript, runCmd } from './exec.js';

/** True when `docker info` answers on the lab's DOCKER_HOST within a few seconds. */
export async function dockerEngineAnswers(): Promise<boolean> {
  try {
    await docker(['info', '--format', '{{.ServerVersion}}'], 8_000);
    return true;
  } catch {
    return false;
  }
}

/** Why no engine can be started here, or null when `make docker-engine` should work. */
export function cannotStartEngine(): string | null {
  if (process.platform !== 'linux') return `not Linux (${process.platform})`;
  if (process.getuid?.() !== 0) return 'not root (dockerd needs root)';
  if (!existsSync('/etc/debian_version')) return 'not Debian/Ubuntu';
  if (!['/usr/sbin/dockerd', '/usr/bin/dockerd'].some((p) => existsSync(p))) {
    return 'dockerd is missing (apt-get install -y docker.io)';
  }
  return null;
}

export async function startEngine(): Promise<string> {
  return (await runCmd('bash', [engineScript, 'start'], { timeoutMs: 60_000 })).stdout;
}

export async function stopEngine(): Promise<string> {
  return (await runCmd('bash', [engineScript, 'stop'], { timeoutMs: 60_000 })).stdout;
}

/** The lab engine's pid file (docker-engine.sh start), whose dockerd the parent cgroup must sit below. */
const dockerdPidFile = join(repoRoot, 'run', 'docker', 'dockerd.pid');

/**
 * runc resolves a relative cgroup_parent below dockerd's own cgroup: the lab engine's dockerd when it runs,
 * else (an engine of the system's) this process's cgroup, the best guess from here.
 */
function dockerdPid(): number | undefined {
  try {
    const pid = Number(readFileSync(dockerdPidFile, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 && isRunning(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Creates (or re-limits) the parent cgroup that the four containers share, with the same quota, period and
 * weight as the native stack's group, and returns a line saying what the kernel now holds.
 */
export async function setUpParentCgroup(budget: BudgetLimits, name: string): Promise<string> {
  const below = dockerdPid();
  // runc creates the parent in the cpuset hierarchy too, where a new group has no CPUs to inherit.
  await inheritCpuset(name, { below });
  const rec = await createBudgetCgroup(name, budget, { below, existOk: true });
  const l = await readLimits(rec);
  return (
    `lab: parent cgroup ${rec.version} ${l.cgroup}: ${l.cpuQuotaUs ?? 'no'} µs quota per ${l.cpuPeriodUs} µs, weight ${l.cpuWeight}, ` +
    `memory ${l.memoryBytes ?? 'unlimited'} bytes${rec.memory && rec.memory !== l.cgroup ? ` (${rec.memory})` : ''}`
  );
}

/** Removes the parent in every hierarchy (after the containers are gone); returns what is still in use. */
export function removeParentCgroup(name: string): Promise<string[]> {
  return removeCgroupEverywhere(name, { below: dockerdPid() });
}
