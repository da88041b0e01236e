#!/usr/bin/env node
// `make calibrate` (ARGS="..."): the emulated 2013 box's CPU quota for this CPU model.
import { Command, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_CPU_PERIOD_US } from '@eserver-lab/common/stack-spec';
import { reexecWithNofile } from '../host/nofile.js';
import { runCalibration } from './run.js';
import { teardownOnLostOutput } from '../host/on-signal.js';

// `... | head`: its stacks are taken down when the reader goes, not left running.
teardownOnLostOutput();

const pos = (name: string) => (v: string) => {
  const n = Number(v);
  if (!(n > 0) || !Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a positive number`);
  return n;
};

const program = new Command('eserver-calibrate')
  .description("find the CPU quota at which the 2013-style stack gives the seed's pages/min of results/seed.json (bisection on medians); writes results/calibration/<cpu-model>.json")
  .option('--runs <n>', 'runs per point; the median decides', pos('runs'), 3)
  .option('-c, --concurrency <n>', 'clients', pos('concurrency'), 10_000)
  .option('-d, --duration <s>', 'measured seconds per run', pos('duration'), 30)
  .option('-w, --warmup <s>', 'warm-up seconds per run', (v) => Number(v), 5)
  .option('--lo <cpus>', 'lower end of the bracket', pos('lo'), 0.2)
  .option('--hi <cpus>', 'upper end of the bracket', pos('hi'), 1.0)
  .option('--tolerance <frac>', "relative tolerance around the seed's pages/min", pos('tolerance'), 0.03)
  .option('--aim <frac>', 'go on measuring until a median is this close (relative); --tolerance is what counts as found', pos('aim'), 0.01)
  .option('--max-steps <n>', 'most points to measure', pos('max-steps'), 8)
  .option('--period-us <us>', 'CFS period of the quota, µs', pos('period-us'), DEFAULT_CPU_PERIOD_US)
  .option('--out <dir>', 'directory of the calibration file (default results/calibration)')
  .addOption(new Option('--runtime <name>', 'lab runtime').choices(['native', 'docker']).default('native'))
  .action(async (o) => {
    const reexec = await reexecWithNofile(20000);
    if (reexec !== null) {
      process.exitCode = reexec;
      return;
    }
    const cal = await runCalibration({
      runtime: o.runtime, runs: Math.round(o.runs), concurrency: Math.round(o.concurrency), durationS: o.duration, warmupS: o.warmup,
      lo: o.lo, hi: o.hi, tolerance: o.tolerance, aim: o.aim, maxSteps: Math.round(o.maxSteps), periodUs: Math.round(o.periodUs), outDir: o.out,
      command: `make calibrate${process.argv.length > 2 ? ` ARGS="${process.argv.slice(2).join(' ')}"` : ''}`,
    });
    process.exitCode = cal.found ? 0 : 1;
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`eserver-calibrate: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(2);
});
