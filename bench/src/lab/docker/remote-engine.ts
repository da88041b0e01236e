// The second Docker host of `make docker-engine-remote` (bench/scripts/docker-engine-remote.sh): a dockerd in
// a network namespace of its own, reached over TCP on a veth pair in 198.18.0.0/15. Tests start and stop it
// here; the lab itself only ever sees its DOCKER_HOST.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { repoRoot } from '../paths.js';
import { runCmd } from './exec.js';
import { cannotMakeNetworkNamespace, namespaceLeftovers } from '../../host/netns.js';

export const remoteEngineScript = join(repoRoot, 'bench', 'scripts', 'docker-engine-remote.sh');

/** What the script creates, by name (`docker-engine-remote.sh names`). */
export interface RemoteEngineNames {
  ns: string;
  vethHost: string;
  vethNs: string;
  hostAddr: string;
  engineAddr: string;
  execRoot: string;
}

export function remoteEngineNames(): RemoteEngineNames {
  const out = execFileSync('bash', [remoteEngineScript, 'names'], { encoding: 'utf8' });
  const kv = Object.fromEntries(out.trim().split(/\s+/).map((w) => w.split('=') as [string, string]));
  return { ns: kv.NS!, vethHost: kv.VETH_HOST!, vethNs: kv.VETH_NS!, hostAddr: kv.HOST_ADDR!, engineAddr: kv.ENGINE_ADDR!, execRoot: kv.EXEC_ROOT! };
}

/** The DOCKER_HOST of the second engine (whether or not it runs). */
export function remoteEngineHost(): string {
  return execFileSync('bash', [remoteEngineScript, 'host'], { encoding: 'utf8' }).trim();
}

/** Why the second engine cannot be started here, or null when it should work. */
export function cannotStartRemoteEngine(): string | null {
  const why = cannotMakeNetworkNamespace();
  if (why) return why;
  if (!['/usr/sbin/dockerd', '/usr/bin/dockerd'].some((p) => existsSync(p))) return 'dockerd is missing (apt-get install -y docker.io)';
  return null;
}

// Generous: the first start debootstraps the second host's base image (about a minute, more on a loaded box).
export async function startRemoteEngine(): Promise<string> {
  return (await runCmd('bash', [remoteEngineScript, 'start'], { timeoutMs: 600_000, env: process.env })).stdout;
}

export async function stopRemoteEngine(): Promise<string> {
  return (await runCmd('bash', [remoteEngineScript, 'stop'], { timeoutMs: 120_000, env: process.env })).stdout;
}

/** What is left of the second engine on this machine (empty when nothing): namespace, veth, processes. */
export function remoteEngineLeftovers(n: RemoteEngineNames = remoteEngineNames()): string[] {
  const left = namespaceLeftovers(n.ns, n.vethHost);
  const procs = execFileSync('bash', ['-c', `for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline 2>/dev/null | grep -qF -- "$1" && [ \${p#/proc/} != $$ ] && echo \${p#/proc/}; done; true`, '-', n.execRoot], { encoding: 'utf8' })
    .split('\n').filter((p) => p && Number(p) !== process.pid);
  if (procs.length > 0) left.push(`processes of the engine: ${procs.join(' ')}`);
  if (existsSync(n.execRoot)) left.push(`exec-root ${n.execRoot}`);
  return left;
}
