// The host of a remote Docker engine, seen and prepared through that engine only (issue 25): its facts
// (CPU model, cores, memory, kernel: `docker info` and /proc/cpuinfo read in a container there), the stack's
// shared parent cgroup limited and removed there, and its listen-queue sysctls raised there. The shell side,
// bench/scripts/remote-host.sh, runs in one-off containers on that host (its cgroups and sysctls mounted); nothing here reads or
// writes this machine's /proc or cgroup files for a remote stack.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { lookup } from 'node:dns/promises';
import dgram from 'node:dgram';
import { isIP } from 'node:net';
import { repoRoot } from '../paths.js';
import { docker, dockerEnv } from './exec.js';
import { parseCpuStat, sharesToWeight, type Throttling } from '../../host/cgroup.js';
import { busyPct } from '../../host/machine.js';
import { measuringCommand } from '../../host/measuring-home.js';
import { hostCpuTimes } from '@eserver-lab/common/proc-stat';
import type { StackAddresses } from '@eserver-lab/common/stack-spec';
import type { StackHost } from '../types.js';

const helperScript = join(repoRoot, 'bench', 'scripts', 'remote-host.sh');

/** The shared parent cgroup on the remote host, as the kernel there holds it. */
export interface RemoteCgroup {
  version: 'v1' | 'v2';
  /** Its directories in every hierarchy, as paths on that host (removed at down). */
  parents: string[];
  cpu: string;
  memory: string | null;
  quota_us: number | null;
  period_us: number;
  weight: number;
  memory_bytes: number | null;
  /** The listen-queue sysctls in force on that host after the setup. */
  somaxconn: number;
  tcp_max_syn_backlog: number;
}

/** Runs remote-host.sh in a one-off container on the engine's host; its stdout. */
function runHelper(image: string, dockerArgs: string[], args: string[], timeoutMs = 120_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = measuringCommand('docker', [
      'run', '-i', '--rm', '--network', 'host', ...dockerArgs, '--entrypoint', 'bash', image, '-s', '--', ...args,
    ]);
    const child = spawn(c.cmd, c.args, { env: dockerEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => reject(e));
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`remote-host.sh ${args[0]} on the engine's host failed (exit ${code}): ${err.trim().split('\n').slice(-5).join('\n')}`));
    });
    child.stdin.end(readFileSync(helperScript));
  });
}

// No --privileged (it asks for every capability, and a host whose own bounding set lacks one, as a container
// host often does, refuses it): the host's cgroup tree mounted read-write, its /proc/sys left writable
// (systempaths=unconfined), and NET_ADMIN for the network sysctls of the host's namespace.
const HOST_ACCESS = ['--cap-add', 'NET_ADMIN', '--security-opt', 'systempaths=unconfined', '--cgroupns', 'host', '-v', '/sys/fs/cgroup:/sys/fs/cgroup:rw'];

interface DockerInfo {
  Name: string;
  NCPU: number;
  MemTotal: number;
  KernelVersion: string;
  OperatingSystem: string;
  ServerVersion: string;
  CgroupVersion?: string;
  CgroupDriver: string;
}

/** The engine host's facts: `docker info`, and its CPU model from /proc/cpuinfo in a container on it. */
export async function remoteHostFacts(image: string, engineLabel: string): Promise<StackHost> {
  const info = JSON.parse((await docker(['info', '--format', '{{json .}}'], 30_000)).stdout) as DockerInfo;
  const facts = JSON.parse(await runHelper(image, [], ['facts'])) as { cpu_model: string };
  return {
    engine: engineLabel,
    name: info.Name,
    cpu_model: facts.cpu_model.trim(),
    cores: info.NCPU,
    memory_bytes: info.MemTotal,
    kernel: info.KernelVersion,
    os: info.OperatingSystem,
    docker_version: info.ServerVersion,
    cgroup: { version: info.CgroupVersion ? `v${info.CgroupVersion}` : 'v1', driver: info.CgroupDriver },
  };
}

/**
 * Creates the stack's parent cgroup on the engine's host and limits it (the helper runs in it, so runc makes
 * it where the stack's containers will go), and raises the listen-queue sysctls there. The systemd cgroup
 * driver names parents as slices and keeps their limits itself: refused, with the fix.
 */
export async function setUpRemoteHost(
  image: string, host: StackHost, parent: string,
  b: { quotaUs: number; periodUs: number; shares: number; memoryBytes: number }, minBacklog: number,
): Promise<RemoteCgroup> {
  if (host.cgroup.driver !== 'cgroupfs') {
    throw new Error(
      `the engine on ${host.name} uses the ${host.cgroup.driver} cgroup driver: the lab limits the stack's shared parent cgroup with the cgroupfs driver only; ` +
        'start that dockerd with --exec-opt native.cgroupdriver=cgroupfs',
    );
  }
  const out = await runHelper(image, [...HOST_ACCESS, '--cgroup-parent', parent], [
    'setup', String(b.quotaUs), String(b.periodUs), String(b.shares), String(sharesToWeight(b.shares)), String(b.memoryBytes), String(minBacklog),
  ]);
  const r = JSON.parse(out.trim().split('\n').pop()!) as RemoteCgroup & { memory: string };
  return { ...r, memory: r.memory || null };
}

/** Removes the parent's directories on the engine's host (after the stack's containers are gone). */
export async function removeRemoteCgroup(image: string, cg: RemoteCgroup): Promise<void> {
  await runHelper(image, HOST_ACCESS, ['remove', ...cg.parents]);
}

/**
 * Where a stack on the engine at `remoteHost` is reached: its address (the name resolved here), and the
 * address this machine reaches it from (the kernel's route; nothing is sent), which the lab's account admits.
 */
export async function addressesToward(remoteHost: string): Promise<StackAddresses> {
  const listen = isIP(remoteHost) ? remoteHost : (await lookup(remoteHost, { family: 4 })).address;
  const client = await new Promise<string>((resolve, reject) => {
    const s = dgram.createSocket(isIP(listen) === 6 ? 'udp6' : 'udp4');
    s.on('error', reject);
    s.connect(9, listen, () => {
      const a = s.address().address;
      s.close();
      resolve(a);
    });
  });
  return { listen, client };
}

/**
 * The listen queues of the engine's host as remote-host.sh `listen` prints them (its /proc/net/netstat, then
 * its listen sysctls), read in a one-off container on its host network: that host's network namespace, not
 * this machine's. metrics/listen-queues.ts parses it.
 */
export function remoteListenText(image: string): Promise<string> {
  return runHelper(image, [], ['listen'], 30_000);
}

/**
 * The CFS periods and throttled periods so far of the stack's parent cgroup on the engine's host (`cpuDir`,
 * a path there), read in a one-off container with that host's cgroup tree mounted: the quota is the parent's,
 * so the containers' own stats would never show it throttled. Read about a second after the CPU time beside it
 * (a container's start): over a 30 s window its share is the window's to a few percent.
 */
export async function remoteThrottling(image: string, cpuDir: string): Promise<Throttling> {
  return parseCpuStat(await runHelper(image, HOST_ACCESS, ['cpustat', cpuDir], 30_000));
}

/** How busy the engine's host's CPUs were over 0.5 s (`busy` prints its /proc/stat line twice), in %. */
export async function remoteBusyPct(image: string): Promise<number | null> {
  return busyFromLines(await runHelper(image, [], ['busy'], 30_000));
}

/** The two "cpu" lines `remote-host.sh busy` prints, as a busy share in %. */
export function busyFromLines(text: string): number | null {
  const [a, b] = text.split('\n').filter((l) => l.startsWith('cpu '));
  return a && b ? busyPct(hostCpuTimes(a), hostCpuTimes(b)) : null;
}
