#!/usr/bin/env node
// The CI performance-regression gate (`make bench-ci`), the deliberate baseline update
// (`make bench-baseline`) and the measurement of the gate's own power (`power`).
import { Command, Option } from 'commander';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { join } from 'node:path';
import { defaultRunDir } from '../protocol-bench/servers.js';
import { collect, DEFAULT_SETTINGS, type GateSettings } from './collect.js';
import { buildBaseline, readBaseline, writeBaseline, noisyMetrics, MAX_BASELINE_CV, MAX_TOLERANCE, type Baseline } from './baseline.js';
import { judge, renderVerdict, githubActionBenchmark, type Verdict } from './verdict.js';
import type { GatePart } from './metrics.js';
import { runPower } from './power.js';
import { stopChildrenOnSignal } from '../protocol-bench/children.js';
import { repoRoot } from '@eserver-lab/common/repo-root';

stopChildrenOnSignal();

const log = (l: string): void => {
  process.stderr.write(`[gate] ${l}\n`);
};
const parts = (v: string): GatePart[] =>
  v.split(',').map((s) => {
    const p = s.trim();
    if (p !== 'stack' && p !== 'proto' && p !== 'drain') throw new Error(`unknown part "${p}" (stack, proto, drain)`);
    return p;
  });

interface CommonOpts {
  parts: GatePart[];
  repetitions: number;
  protoDuration: number;
  protoConcurrency: number;
  protoPairing: 'concurrent' | 'sequential';
  stackConcurrency: number;
  stackDuration: number;
  stackWarmup: number;
  drainRows: number;
  baseline: string;
  out: string;
  runDir: string;
  burnUs?: number;
  burnAt: 'enqueue' | 'connection';
  shippedDuration: number;
  burnShippedUs?: number;
}

function withCommon(c: Command): Command {
  return c
    .option('--parts <list>', 'stack,proto,drain', parts, DEFAULT_SETTINGS.parts)
    .option('-r, --repetitions <n>', 'repetitions per metric (the median decides)', Number, DEFAULT_SETTINGS.repetitions)
    .option('--proto-duration <s>', 'seconds per protocol cell', Number, DEFAULT_SETTINGS.protoDurationS)
    .option('--proto-concurrency <n>', 'clients of the new-connection-per-request cell', Number, DEFAULT_SETTINGS.protoConnConcurrency)
    .option('--proto-pairing <how>', 'concurrent (both servers loaded in the same window) or sequential', DEFAULT_SETTINGS.protoPairing)
    .option('--stack-concurrency <n>', 'webbench clients for the stack ratio', Number, DEFAULT_SETTINGS.stackConcurrency)
    .option('--stack-duration <s>', 'seconds per page run (client.php, baseline.php)', Number, DEFAULT_SETTINGS.stackDurationS)
    .option('--stack-warmup <s>', 'seconds of client.php load before each measured client.php window (the queue server settles)', Number, DEFAULT_SETTINGS.stackClientWarmupS)
    .option('--drain-rows <n>', 'rows per drain repetition', Number, DEFAULT_SETTINGS.drainRows)
    .option('--baseline <file>', 'baseline file', join(repoRoot, 'results', 'baseline.json'))
    .option('--out <dir>', 'results directory', join(repoRoot, 'results'))
    .option('--run-dir <dir>', 'scratch directory', join(defaultRunDir(), '..', 'gate'))
    .option('--burn-us <n>', 'TEST ONLY: start the queue server with --test-burn-cpu-us <n> (a known slowdown)', Number)
    .addOption(new Option('--burn-at <where>', 'TEST ONLY: where the burn goes: per 8001, or per accepted connection (the seed path\'s connection handling)').choices(['enqueue', 'connection']).default('enqueue'))
    .option('--shipped-duration <s>', 'seconds per cell of the shipped ÷ pure CPU comparison (drain part)', Number, DEFAULT_SETTINGS.shippedDurationS)
    .option('--burn-shipped-us <n>', 'TEST ONLY: burn <n> µs per 8001 in the shipped configuration only (a slower journal or drain)', Number);
}

export function settingsFrom(o: CommonOpts): GateSettings {
  const queueArgs: string[] = [];
  if (o.burnUs !== undefined && o.burnUs > 0) {
    // The hook refuses to start without this variable, so it can never be on by accident in production.
    process.env.ESERVER_ENABLE_TEST_HOOKS = '1';
    queueArgs.push('--test-burn-cpu-us', String(o.burnUs), '--test-burn-at', o.burnAt);
  }
  const shippedArgs: string[] = [];
  if (o.burnShippedUs !== undefined && o.burnShippedUs > 0) {
    process.env.ESERVER_ENABLE_TEST_HOOKS = '1';
    shippedArgs.push('--test-burn-cpu-us', String(o.burnShippedUs));
  }
  return {
    ...DEFAULT_SETTINGS,
    parts: o.parts,
    repetitions: o.repetitions,
    protoDurationS: o.protoDuration,
    protoConnConcurrency: o.protoConcurrency,
    protoPairing: o.protoPairing === 'sequential' ? 'sequential' : 'concurrent',
    stackConcurrency: o.stackConcurrency,
    stackDurationS: o.stackDuration,
    stackClientWarmupS: o.stackWarmup,
    drainRows: o.drainRows,
    queueArgs,
    shippedDurationS: o.shippedDuration,
    shippedArgs,
    runDir: o.runDir,
  };
}

const machine = (): Record<string, unknown> => ({ cpus: cpus().length, model: cpus()[0]?.model, kernel: release(), node: process.version });

function writeResults(out: string, name: string, verdict: Verdict, extra: Record<string, unknown>, md: string): void {
  mkdirSync(out, { recursive: true });
  const gab = githubActionBenchmark(verdict);
  writeFileSync(join(out, `${name}.json`), JSON.stringify({ ...extra, verdict }, null, 2) + '\n');
  writeFileSync(join(out, `${name}.md`), md);
  writeFileSync(join(out, 'gate-benchmark-bigger.json'), JSON.stringify(gab.bigger, null, 2) + '\n');
  writeFileSync(join(out, 'gate-benchmark-smaller.json'), JSON.stringify(gab.smaller, null, 2) + '\n');
}

const program = new Command().name('bench-gate').description('CI performance-regression gate of eserver-lab');

withCommon(program.command('run').description('measure, compare with the committed baseline, exit 1 on a regression or a correctness failure')).action(async (o: CommonOpts) => {
  const settings = settingsFrom(o);
  const baseline = readBaseline(o.baseline);
  if (!baseline) log(`no baseline at ${o.baseline}: metrics are reported, only correctness decides (create one with make bench-baseline)`);
  const t0 = Date.now();
  const m = await collect(settings, log);
  const verdict = judge(m.samples, m.checks, baseline);
  const md = [
    `CI gate, ${new Date().toISOString()}, ${((Date.now() - t0) / 1000).toFixed(0)} s, ${settings.repetitions} repetitions${settings.queueArgs.length ? `, queue args: ${settings.queueArgs.join(' ')}` : ''}${settings.shippedArgs.length ? `, shipped-only args: ${settings.shippedArgs.join(' ')}` : ''}.`,
    `Baseline: ${o.baseline}${baseline ? ` (updated ${baseline.updatedAt})` : ' (missing)'}.`,
    '',
    renderVerdict(verdict),
    ...m.info,
    '',
  ].join('\n');
  writeResults(o.out, 'gate-latest', verdict, { settings, machine: machine(), raw: m.raw, info: m.info }, md);
  process.stdout.write(md);
  process.exitCode = verdict.pass ? 0 : 1;
});

withCommon(program.command('baseline').description('measure and WRITE the baseline file (deliberate; review the diff before committing)'))
  .option('--keep-tolerance', 'keep a previous tolerance when it is wider than the computed one (hand-tuned tolerances)', false)
  .option('--allow-noisy', `write it even when a metric's CV is above ${MAX_BASELINE_CV * 100}% at -r 3, or CV/√r above the same at other -r (tolerances are capped at ${MAX_TOLERANCE * 100}%)`, false)
  .action(async (o: CommonOpts & { allowNoisy: boolean; keepTolerance: boolean }) => {
    if (o.burnUs || o.burnShippedUs) throw new Error('refusing to write a baseline with the CPU burn hook on');
    const settings = settingsFrom(o);
    const previous = readBaseline(o.baseline);
    const m = await collect(settings, log);
    const failures = m.checks.filter((c) => !c.ok);
    if (failures.length) {
      process.stdout.write(renderVerdict(judge(m.samples, m.checks, previous)));
      throw new Error(`not writing a baseline from a run that failed correctness: ${failures.map((f) => f.id).join(', ')}`);
    }
    const noisy = noisyMetrics(m.samples);
    if (noisy.length && !o.allowNoisy) {
      process.stdout.write(renderVerdict(judge(m.samples, m.checks, previous)));
      throw new Error(
        `not writing a baseline: the machine was too noisy (${noisy.map((s) => `${s.id} CV ${(s.cv * 100).toFixed(0)}%`).join(', ')}). ` +
          'Stop other load and re-run, raise -r, or pass --allow-noisy to write it anyway.',
      );
    }
    const b: Baseline = buildBaseline(m.samples, previous, { command: 'make bench-baseline', machine: machine(), settings: { ...settings, runDir: undefined } }, o.keepTolerance, DEFAULT_SETTINGS.repetitions);
    writeBaseline(o.baseline, b);
    process.stdout.write(renderVerdict(judge(m.samples, m.checks, b)));
    process.stdout.write(`\nWrote ${o.baseline}. Review \`git diff ${o.baseline}\` and commit it with the change that moved the figures.\n`);
  });

withCommon(program.command('power').description('how often a known slowdown is caught, and how many false alarms clean runs give'))
  .option('--runs <n>', 'runs of each kind (clean, slowed)', Number, 10)
  .option('--slowdown <fraction>', 'size of the injected slowdown, relative to the queue CPU per enqueue', Number, 0.1)
  .option('--use-baseline-file', 'judge against --baseline instead of a fresh baseline measured first', false)
  .action(async (o: CommonOpts & { runs: number; slowdown: number; useBaselineFile: boolean }) => {
    const settings = settingsFrom({ ...o, burnUs: undefined, burnShippedUs: undefined });
    const report = await runPower(settings, { runs: o.runs, slowdown: o.slowdown, burnUs: o.burnUs, burnAt: o.burnAt, baseline: o.useBaselineFile ? readBaseline(o.baseline) : null }, log);
    mkdirSync(o.out, { recursive: true });
    writeFileSync(join(o.out, 'gate-power.json'), JSON.stringify(report, null, 2) + '\n');
    writeFileSync(join(o.out, 'gate-power.md'), report.markdown);
    process.stdout.write(report.markdown);
  });

try {
  await program.parseAsync();
} catch (e) {
  // Refusals (noisy baseline, failed correctness) are expected outcomes: a message, not a stack trace.
  process.stderr.write(`[gate] error: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 2;
}
