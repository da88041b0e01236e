// CPU time and memory of a server process, read from /proc. CPU is utime+stime in clock ticks, so a
// measurement window must be long enough for the 1/CLK_TCK resolution (10 ms at 100 Hz) to be negligible.
import { readFileSync } from 'node:fs';
import { readProcStat } from '@eserver-lab/common/proc-stat';

export interface ProcSample {
  /** utime + stime, in clock ticks. */
  cpuTicks: number;
  /** Resident set size in bytes (VmRSS). */
  rssBytes: number;
}

export function parseStatusRssBytes(status: string): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!m) throw new Error('no VmRSS in /proc status');
  return Number(m[1]) * 1024;
}

export function sampleProc(pid: number): ProcSample {
  const stat = readProcStat(pid);
  if (stat === null) throw new Error(`process ${pid} is gone`);
  return {
    cpuTicks: stat.cpuTicks,
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
