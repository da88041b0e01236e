// Live progress for long steps: one rewriting line on a terminal, nothing when stderr is not one
// (CI logs and tests stay quiet).
import type { Progress } from './load/generator.js';

export function progressLine(label: string): { update: (p: Progress) => void; done: () => void } {
  const tty = process.stderr.isTTY === true;
  let shown = false;
  return {
    update(p) {
      if (!tty) return;
      const line = `${label} ${p.phase === 'warmup' ? 'warm-up' : 'measuring'} ${Math.floor(p.elapsedS)}/${p.phaseS}s  ${p.reqPerSec} req/s  errors ${p.errorsTotal}`;
      process.stderr.write(`\r\x1b[2K${line}`);
      shown = true;
    },
    done() {
      if (tty && shown) process.stderr.write('\r\x1b[2K');
    },
  };
}

/** Messages about long steps (stack up, drain, report) go to stderr so stdout stays the summary. */
export function logStep(line: string): void {
  process.stderr.write(`[bench] ${line}\n`);
}
