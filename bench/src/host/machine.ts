// What the results record about where they were obtained.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { hostCpuTimes, type HostCpuTimes } from '@eserver-lab/common/proc-stat';

function readSysctl(p: string): string | null {
  try {
    return fs.readFileSync(`/proc/sys/${p.replace(/\./g, '/')}`, 'utf8').trim().replace(/\s+/g, ' ');
  } catch {
    return null;
  }
}

export function machineInfo() {
  const cpus = os.cpus();
  return {
    cpu_model: cpus[0]?.model.trim() ?? 'unknown',
    cores: Math.max(1, cpus.length),
    memory_bytes: os.totalmem(),
    kernel: `${os.type()} ${os.release()}`,
    // Other work on the machine competes with the stack: a load average far above the core count
    // means the figures measure the neighbours as much as the stack.
    loadavg_1m: Math.round(os.loadavg()[0] * 100) / 100,
    sysctl: Object.fromEntries(
      ['net.ipv4.tcp_tw_reuse', 'net.ipv4.ip_local_port_range', 'net.core.somaxconn', 'net.ipv4.tcp_max_syn_backlog'].map(
        (k) => [k, readSysctl(k)],
      ),
    ),
  };
}

export function gitCommit(cwd: string): string | null {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

/**
 * How busy the machine's CPUs were just before a profile (0-100 %), before any load of ours: other
 * work on a shared 2-core VM lowers every figure. (The load average lags by minutes.)
 */
export async function cpuBusyBefore(ms = 500): Promise<number | null> {
  const a = hostCpuTimes();
  await new Promise((r) => setTimeout(r, ms));
  return busyPct(a, hostCpuTimes());
}

/** The CPUs' busy share between two readings of a host's /proc/stat, in %, one decimal. */
export function busyPct(a: HostCpuTimes | null, b: HostCpuTimes | null): number | null {
  if (!a || !b || b.total <= a.total) return null;
  return Math.round((1 - (b.idle - a.idle) / (b.total - a.total)) * 1000) / 10;
}
