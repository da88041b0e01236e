// Live progress of long load steps (bench, calibrate, chaos, the gate and its power runs). On a terminal, a
// cli-progress bar per phase (warm-up, measuring) that is cleared when the step ends; when stderr is not a
// terminal (CI logs, files), a plain line when a phase starts and every PLAIN_EVERY_S seconds in it, so a
// long run shows that it is alive without flooding the log.
import { Presets, SingleBar } from 'cli-progress';
import type { Progress } from '../load/generator.js';

export const PLAIN_EVERY_S = 10;

export interface ProgressLine {
  update: (p: Progress) => void;
  done: () => void;
}

type Out = NodeJS.WritableStream & { isTTY?: boolean };

const phaseName = (p: Progress): string => (p.phase === 'warmup' ? 'warm-up' : 'measuring');

export function progressLine(label: string, stream: Out = process.stderr): ProgressLine {
  return stream.isTTY === true ? barLine(label, stream) : plainLines(label, stream);
}

function barLine(label: string, stream: Out): ProgressLine {
  const bar = new SingleBar(
    {
      stream,
      format: `${label} {phase} [{bar}] {value}/{total} s  {rate} req/s  errors {errors}`,
      barsize: 20,
      hideCursor: true,
      clearOnComplete: true,
      fps: 5,
    },
    Presets.shades_classic,
  );
  let phase: Progress['phase'] | null = null;
  return {
    update(p) {
      const payload = { phase: phaseName(p), rate: p.reqPerSec, errors: p.errorsTotal };
      const value = Math.min(Math.floor(p.elapsedS), p.phaseS);
      if (p.phase !== phase) {
        if (phase !== null) bar.stop();
        bar.start(p.phaseS, value, payload);
        phase = p.phase;
      } else {
        bar.update(value, payload);
      }
    },
    done() {
      if (phase !== null) bar.stop();
      phase = null;
    },
  };
}

function plainLines(label: string, stream: Out): ProgressLine {
  let phase: Progress['phase'] | null = null;
  let next = 0;
  return {
    update(p) {
      const s = Math.floor(p.elapsedS);
      if (p.phase === phase && s < next) return;
      if (p.phase !== phase) next = 0;
      phase = p.phase;
      next = (Math.floor(s / PLAIN_EVERY_S) + 1) * PLAIN_EVERY_S;
      stream.write(`${label} ${phaseName(p)} ${s}/${p.phaseS} s  ${p.reqPerSec} req/s  errors ${p.errorsTotal}\n`);
    },
    done() {
      phase = null;
    },
  };
}

/** Messages about long steps (stack up, drain, report) go to stderr so stdout stays the summary. */
export function logStep(line: string): void {
  process.stderr.write(`[bench] ${line}\n`);
}
