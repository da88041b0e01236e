// CPU time and memory of a server process, read from /proc. CPU is utime+stime in clock ticks, so a
// measurement window must be long enough for the 1/CLK_TCK resolution (10 ms at 100 Hz) to be negligible.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

let ticksPerSecond: number | undefined;

/** CLK_TCK from `getconf`, as the kernel reports stat times in these units (not always 100). */
export function clockTicksPerSecond(): number {
  if (ticksPerSecond === undefined) {
    const v = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    if (!Number.isFinite(v) || v <= 0) throw new Error(`getconf CLK_TCK gave ${v}`);
    ticksPerSecond = v;
  }
  return ticksPerSecond;
}

export interface ProcSample {
  /** utime + stime, in clock ticks. */
  cpuTicks: number;
  /** Resident set size in bytes (VmRSS). */
  rssBytes: number;
}

/** Parses utime and stime out of /proc/<pid>/stat text. The comm field may contain spaces and ')'. */
export function parseStatCpuTicks(stat: string): number {
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); utime and stime are fields 14 and 15.
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error('unparseable /proc stat');
  return utime + stime;
}

export function parseStatusRssBytes(status: string): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!m) throw new Error('no VmRSS in /proc status');
  return Number(m[1]) * 1024;
}

export function sampleProc(pid: number): ProcSample {
  return {
    cpuTicks: parseStatCpuTicks(readFileSync(`/proc/${pid}/stat`, 'utf8')),
    rssBytes: parseStatusRssBytes(readFileSync(`/proc/${pid}/status`, 'utf8')),
  };
}

/** Tracks the peak RSS of a pid while a measurement runs. */
export class RssWatcher {
  peakBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  constructor(private readonly pid: number, private readonly everyMs = 200) {}
  start(): this {
    const tick = (): void => {
      try {
        this.peakBytes = Math.max(this.peakBytes, sampleProc(this.pid).rssBytes);
      } catch {
        // The process may have exited; the caller sees that elsewhere.
      }
    };
    tick();
    this.timer = setInterval(tick, this.everyMs);
    this.timer.unref();
    return this;
  }
  stop(): number {
    if (this.timer) clearInterval(this.timer);
    try {
      this.peakBytes = Math.max(this.peakBytes, sampleProc(this.pid).rssBytes);
    } catch {
      /* exited */
    }
    return this.peakBytes;
  }
}
