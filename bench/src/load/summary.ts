// Webbench's own formulas and output lines, kept apart so tests can pin them exactly.

export interface WebbenchFigures {
  pagesPerMin: number;
  bytesPerSec: number;
}

/** Speed=(int)((speed+failed)/(benchtime/60.0)); bytes/sec=(int)(bytes/(float)benchtime). */
export function webbenchFigures(succeeded: number, failed: number, bytes: number, durationS: number): WebbenchFigures {
  return {
    pagesPerMin: Math.trunc((succeeded + failed) / (durationS / 60)),
    bytesPerSec: Math.trunc(bytes / durationS),
  };
}

export function webbenchLines(f: WebbenchFigures, succeeded: number, failed: number): string[] {
  // "susceed" is webbench's own spelling; tools that parse its output expect it.
  return [
    `Speed=${f.pagesPerMin} pages/min, ${f.bytesPerSec} bytes/sec.`,
    `Requests: ${succeeded} susceed, ${failed} failed.`,
  ];
}

/** Parses webbench's two summary lines (from the real binary or from ours). */
export function parseWebbenchOutput(text: string): { pagesPerMin: number; bytesPerSec: number; succeeded: number; failed: number } | null {
  const speed = /Speed=(\d+) pages\/min, (\d+) bytes\/sec\./.exec(text);
  const reqs = /Requests: (\d+) susceed, (\d+) failed\./.exec(text);
  if (!speed || !reqs) return null;
  return {
    pagesPerMin: Number(speed[1]),
    bytesPerSec: Number(speed[2]),
    succeeded: Number(reqs[1]),
    failed: Number(reqs[2]),
  };
}
