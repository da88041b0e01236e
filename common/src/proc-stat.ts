// /proc/<pid>/stat, parsed once here (proc(5)). The command name (field 2) may hold spaces and ')', so
// fields are counted after the last ')'. CPU times are in clock ticks of 1/CLK_TCK s, read from getconf.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface ProcStat {
  /** Field 3: R, S, D, Z, T, ... */
  state: string;
  ppid: number;
  /** Fields 14 + 15, utime + stime, in clock ticks. */
  cpuTicks: number;
  /** Field 22, ticks since boot: with the pid, names one process even after the pid is reused. */
  startTime: string;
  /** Field 24, resident pages. */
  rssPages: number;
}

export function parseProcStat(text: string): ProcStat {
  const close = text.lastIndexOf(')');
  // After ") ": f[0] is field 3, so field n is f[n - 3].
  const f = close < 0 ? [] : text.slice(close + 2).trim().split(' ');
  if (f.length < 22) throw new Error(`not a /proc/<pid>/stat line: ${JSON.stringify(text.slice(0, 120))}`);
  const num = (i: number): number => {
    const v = Number(f[i]);
    if (!Number.isFinite(v)) throw new Error(`/proc/<pid>/stat field ${i + 3} is not a number: ${JSON.stringify(f[i])}`);
    return v;
  };
  return { state: f[0]!, ppid: num(1), cpuTicks: num(11) + num(12), startTime: f[19]!, rssPages: num(21) };
}

/** The process's stat, or null when it is gone. */
export function readProcStat(pid: number): ProcStat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return null;
  }
  return parseProcStat(text);
}

/**
 * Running: exists and is not a zombie. A child re-parented to PID 1 may sit as a zombie (no memory, no
 * sockets) until PID 1 reaps it, which kill(pid, 0) would still call alive.
 */
export function isRunning(pid: number): boolean {
  const s = readProcStat(pid);
  return s !== null && s.state !== 'Z';
}

const confCache = new Map<string, number>();

/** A positive integer from `getconf`, read once per name. */
function getconf(name: string): number {
  let v = confCache.get(name);
  if (v === undefined) {
    v = Number(execFileSync('getconf', [name], { encoding: 'utf8' }).trim());
    if (!Number.isInteger(v) || v <= 0) throw new Error(`getconf ${name} gave ${JSON.stringify(v)}; expected a positive integer`);
    confCache.set(name, v);
  }
  return v;
}

/** CLK_TCK: the kernel reports stat times in these units, not always 100. */
export function clockTicksPerSecond(): number {
  return getconf('CLK_TCK');
}

/** The page size, the unit of the stat's RSS (4096 on x86-64, larger on some arm64 kernels). */
export function pageSizeBytes(): number {
  return getconf('PAGESIZE');
}

/** utime + stime of a process in milliseconds. */
export function cpuMs(pid: number): number {
  const s = readProcStat(pid);
  if (s === null) throw new Error(`no process ${pid}`);
  return (s.cpuTicks * 1000) / clockTicksPerSecond();
}

export interface HostCpuTimes {
  /** Every CPU's time so far, in clock ticks (1/CLK_TCK s). */
  total: number;
  /** idle + iowait of it. */
  idle: number;
}

/** The host's CPU times from /proc/stat's first line (all CPUs), in clock ticks; null where there is none. */
export function hostCpuTimes(text?: string): HostCpuTimes | null {
  let line: string | undefined;
  try {
    line = (text ?? readFileSync('/proc/stat', 'utf8')).split('\n')[0];
  } catch {
    return null;
  }
  if (!line?.startsWith('cpu ')) return null;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  return { total: f.reduce((a, b) => a + b, 0), idle: (f[3] ?? 0) + (f[4] ?? 0) };
}
