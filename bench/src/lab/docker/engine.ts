// The Docker engine: does one answer, and starting/stopping the lab's own (bench/scripts/docker-engine.sh).
import { existsSync } from 'node:fs';
import { quotaFor, sharesFor } from '../../host/cgroup.js';
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

/** The script's arguments: the same quota, period and weight as the native stack's group (cgroup.ts). */
export function parentCgroupArgs(cpus: number, memory: string, periodUs?: number, hostCpus?: number): string[] {
  const q = quotaFor(cpus, periodUs);
  return ['cgroup', String(cpus), memory, String(q.periodUs), String(q.quotaUs), String(sharesFor(cpus, hostCpus))];
}

/** Creates (or re-limits) the parent cgroup that the four containers share. */
export async function setUpParentCgroup(cpus: number, memory: string, name: string, periodUs?: number): Promise<string> {
  const env = { ...process.env, CGROUP_PARENT: name };
  return (await runCmd('bash', [engineScript, ...parentCgroupArgs(cpus, memory, periodUs)], { env, timeoutMs: 20_000 })).stdout;
}

export async function removeParentCgroup(name: string): Promise<void> {
  await runCmd('bash', [engineScript, 'cgroup-remove'], { env: { ...process.env, CGROUP_PARENT: name }, timeoutMs: 20_000 });
}
