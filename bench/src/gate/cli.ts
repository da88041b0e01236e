#!/usr/bin/env node
// The CI performance-regression gate. `run` (make bench-ci) judges this working tree's queue server against
// our own at the pinned commit (or BASE), both measured at once in every repetition; `baseline` (make
// bench-baseline) measures the pinned commit against itself (A/A) and writes each metric's tolerance;
// `accept` (make bench-gate-accept) moves the pin; `power` (make bench-gate-power) measures how often an
// injected slowdown is caught and how often a clean run is flagged.
//
// Exit status: 0 pass; 1 a regression or a correctness failure; 2 the gate could not judge (a pin that
// cannot be built, a missing baseline file, bad options): never a pass by default.
import { Command, Option } from 'commander';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '@eserver-lab/common/repo-root';
import { BASELINE_SCHEMA, readBaseline, tolerancesFromAa, writeBaseline, type Baseline } from './baseline.js';
import { candidateBuild, referenceBuild, type BurnAt } from './builds.js';
import { collect, type GateMeasurements } from './collect.js';
import { runPower } from './power.js';
import { resolveCommit, withReference } from './reference.js';
import { DEFAULT_SETTINGS, GATE_PARTS, type GatePart, type GateSettings } from './settings.js';
import { githubActionBenchmark, judge, renderVerdict, type Verdict } from './verdict.js';
import { teardownOnLostOutput } from '../host/on-signal.js';

// `... | head`: its stacks are taken down when the reader goes, not left running.
teardownOnLostOutput();


const log = (l: string): void => {
  process.stderr.write(`[gate] ${l}\n`);
};
const parts = (v: string): GatePart[] =>
  v.split(',').map((s) => {
    const p = s.trim() as GatePart;
    if (!GATE_PARTS.includes(p)) throw new Error(`unknown part "${p}" (${GATE_PARTS.join(', ')})`);
    return p;
  });
const num = (v: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`not a number >= 0: ${v}`);
  return n;
};

interface CommonOpts {
  parts: GatePart[];
  repetitions: number;
  stackClients: number;
  stackWarmup: number;
  stackDuration: number;
  stack2013: number;
  protoClients: number;
  protoPersistentClients: number;
  protoWarmup: number;
  protoDuration: number;
  drainRows: number;
  cpus?: number;
  baseline: string;
  out: string;
  runDir: string;
}

function withCommon(c: Command, repetitions = DEFAULT_SETTINGS.repetitions): Command {
  const d = DEFAULT_SETTINGS;
  return c
    .option('--parts <list>', GATE_PARTS.join(','), parts, d.parts)
    .option('-r, --repetitions <n>', 'repetitions of every part; each gives one candidate ÷ reference ratio per metric, the median is judged', num, repetitions)
    .option('--stack-clients <n>', 'webbench clients of each stack', num, d.stack.clients)
    .option('--stack-warmup <s>', 'seconds of load before each measured stack window (the queue servers reach their steady state)', num, d.stack.warmupS)
    .option('--stack-duration <s>', 'seconds of each measured stack window', num, d.stack.durationS)
    .option('--stack-2013 <n>', 'repetitions of ours against the 2013-style stack at the end, for the record (0 = none)', num, d.stack.repetitions2013)
    .option('--proto-clients <n>', 'clients per server of the new-connection-per-request cell', num, d.proto.connClients)
    .option('--proto-persistent-clients <n>', 'clients per server of the persistent-connection cell', num, d.proto.persistentClients)
    .option('--proto-warmup <s>', 'seconds of unmeasured load before each protocol cell', num, d.proto.warmupS)
    .option('--proto-duration <s>', 'seconds of each measured protocol cell', num, d.proto.durationS)
    .option('--drain-rows <n>', 'rows each server drains per repetition', num, d.drain.rows)
    .option('--cpus <n>', `each stack's CPU budget (default: this CPU model's calibration, else ${d.defaultCpus})`, num)
    .option('--baseline <file>', 'the pin and the tolerances', join(repoRoot, 'results', 'baseline.json'))
    .option('--out <dir>', 'results directory', join(repoRoot, 'results'))
    .option('--run-dir <dir>', 'scratch directory (stacks, databases, the reference worktree)', join(repoRoot, 'run', 'gate'));
}

export function settingsFrom(o: CommonOpts): GateSettings {
  return {
    ...DEFAULT_SETTINGS,
    parts: o.parts,
    repetitions: o.repetitions,
    stack: { clients: o.stackClients, warmupS: o.stackWarmup, durationS: o.stackDuration, repetitions2013: o.stack2013 },
    proto: { connClients: o.protoClients, persistentClients: o.protoPersistentClients, warmupS: o.protoWarmup, durationS: o.protoDuration },
    drain: { rows: o.drainRows },
    runDir: o.runDir,
    ...(o.cpus !== undefined ? { cpus: o.cpus } : {}),
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

const toleranceLine = (b: Baseline): string =>
  b.tolerances
    ? `Tolerances: from an A/A run of ${b.tolerances.commit.slice(0, 12)} against itself, ${b.tolerances.taken_at} (${String(b.tolerances.machine.model)}), for the median of ${b.tolerances.judged_repetitions}, z = ${b.tolerances.z}.`
    : "Tolerances: none measured yet: each metric's default (measure them with 'make bench-baseline').";

const program = new Command().name('bench-gate').description('CI performance-regression gate of eserver-lab: this working tree against our own server at a pinned commit, measured at once');

withCommon(program.command('run').description('judge this working tree against the reference; exit 1 on a regression or a correctness failure'))
  .option('--base <rev>', "the reference: any commit or branch (default: the pin, reference.commit in the baseline file)")
  .option('--burn-us <n>', 'TEST ONLY: slow the candidate by a test-only CPU burn of <n> µs', num)
  .addOption(new Option('--burn-at <where>', 'TEST ONLY: where the burn goes').choices(['enqueue', 'connection']).default('enqueue'))
  .action(async (o: CommonOpts & { base?: string; burnUs?: number; burnAt: BurnAt }) => {
    const settings = settingsFrom(o);
    const baseline = readBaseline(o.baseline);
    const rev = o.base ?? baseline.reference.commit;
    const t0 = Date.now();
    await withReference({ repo: repoRoot, rev, runDir: o.runDir, log }, async (ref) => {
      const cand = candidateBuild(o.burnUs ? { us: o.burnUs, at: o.burnAt } : undefined);
      const m = await collect(settings, [cand, referenceBuild(ref)], log);
      const verdict = judge(m.samples, m.checks, baseline);
      const md = [
        `CI gate, ${new Date().toISOString()}, ${((Date.now() - t0) / 1000).toFixed(0)} s, ${settings.repetitions} repetitions, parts ${settings.parts.join(',')}.`,
        `Candidate: ${cand.label}. Reference: ${ref.commit.slice(0, 12)} (${ref.subject})${o.base ? `, BASE=${o.base}` : ', the pin'}; both measured at once in every repetition.`,
        toleranceLine(baseline),
        '',
        renderVerdict(verdict),
        ...m.info,
        '',
      ].join('\n');
      writeResults(o.out, 'gate-latest', verdict, { settings, machine: machine(), reference: { rev, commit: ref.commit, subject: ref.subject }, candidate: cand, raw: m.raw, info: m.info }, md);
      process.stdout.write(md);
      process.exitCode = verdict.pass ? 0 : 1;
    });
  });

withCommon(program.command('baseline').description("A/A: the pinned commit against itself; WRITES each ratio's tolerance and the record figures to the baseline file"), DEFAULT_SETTINGS.repetitions * 3)
  .option('--judged <n>', 'repetitions of the gate runs the tolerances are for', num, DEFAULT_SETTINGS.repetitions)
  .action(async (o: CommonOpts & { judged: number }) => {
    const settings = settingsFrom(o);
    const previous = readBaseline(o.baseline);
    await withReference({ repo: repoRoot, rev: previous.reference.commit, runDir: o.runDir, log }, async (ref) => {
      log(`A/A: ${ref.commit.slice(0, 12)} against itself, ${settings.repetitions} repetitions`);
      const m: GateMeasurements = await collect(settings, [referenceBuild(ref, 'candidate'), referenceBuild(ref)], log);
      const failures = m.checks.filter((c) => !c.ok);
      if (failures.length) throw new Error(`not writing tolerances from a run that failed correctness: ${failures.map((f) => `${f.id} (${f.detail})`).join(', ')}`);
      const tolerances = tolerancesFromAa(m.samples, {
        taken_at: new Date().toISOString(), command: 'make bench-baseline', commit: ref.commit, machine: machine(),
        settings: { ...settings, runDir: undefined }, judged_repetitions: o.judged,
      });
      // Metrics of parts this run skipped keep their earlier tolerance.
      for (const [id, t] of Object.entries(previous.tolerances?.metrics ?? {})) tolerances.metrics[id] ??= t;
      const record = { ...previous.record, ...Object.fromEntries(m.samples.map((s) => [s.id, Math.round(s.median * 1000) / 1000])) };
      const b: Baseline = { schema: BASELINE_SCHEMA, reference: previous.reference, tolerances, record };
      writeBaseline(o.baseline, b);
      process.stdout.write(renderVerdict(judge(m.samples, m.checks, b)));
      process.stdout.write(`\nA/A spread per metric (sd of ln ratio over ${settings.repetitions} repetitions) -> tolerance for the median of ${o.judged}:\n`);
      for (const [id, t] of Object.entries(tolerances.metrics)) process.stdout.write(`  ${id}: median ${t.median}, sd ${(t.sd_log * 100).toFixed(2)}% -> ${(t.tolerance * 100).toFixed(1)}%\n`);
      process.stdout.write(`\nWrote ${o.baseline}. Review 'git diff ${o.baseline}' and commit it.\n`);
    });
  });

program
  .command('accept')
  .description('move the pin: the gate will judge against the queue server of this commit from now on (writes the baseline file)')
  .option('--ref <rev>', 'the commit to accept', 'HEAD')
  .option('--baseline <file>', 'the baseline file', join(repoRoot, 'results', 'baseline.json'))
  .action((o: { ref: string; baseline: string }) => {
    let previous: Baseline | null = null;
    try {
      previous = readBaseline(o.baseline);
    } catch {
      /* a first pin, or a file of an older schema: written anew */
    }
    const { commit, subject } = resolveCommit(repoRoot, o.ref);
    const b: Baseline = { schema: BASELINE_SCHEMA, reference: { commit, subject, accepted_at: new Date().toISOString() }, tolerances: previous?.tolerances ?? null, record: previous?.record ?? {} };
    writeBaseline(o.baseline, b);
    process.stdout.write(`The gate's reference is now ${commit.slice(0, 12)} (${subject}). Commit ${o.baseline}; re-measure the tolerances with 'make bench-baseline' if the machine or the gate's settings changed.\n`);
  });

withCommon(program.command('power').description('how often an injected slowdown is caught, and how often clean runs are flagged'))
  .option('--runs <n>', 'runs of each kind', num, 10)
  .option('--slowdown <fraction>', "size of the burn, as a share of the candidate's CPU per enqueue", num, 0.1)
  .option('--at <list>', 'where the burn goes: connection, enqueue or both', (v: string) => v.split(',').map((x) => x.trim() as BurnAt), ['connection', 'enqueue'] as BurnAt[])
  .action(async (o: CommonOpts & { runs: number; slowdown: number; at: BurnAt[] }) => {
    const settings = settingsFrom(o);
    const baseline = readBaseline(o.baseline);
    await withReference({ repo: repoRoot, rev: baseline.reference.commit, runDir: o.runDir, log }, async (ref) => {
      const report = await runPower(settings, { runs: o.runs, slowdown: o.slowdown, at: o.at, baseline, reference: referenceBuild(ref), log });
      mkdirSync(o.out, { recursive: true });
      writeFileSync(join(o.out, 'gate-power.json'), JSON.stringify({ ...report, machine: machine(), reference: ref.commit, tolerances: baseline.tolerances }, null, 2) + '\n');
      writeFileSync(join(o.out, 'gate-power.md'), report.markdown);
      process.stdout.write(report.markdown);
    });
  });

try {
  await program.parseAsync();
} catch (e) {
  // Refusals (a pin that cannot be built, a missing baseline, failed correctness in an A/A run) are
  // expected outcomes: a message, not a stack trace, and never a pass.
  process.stderr.write(`[gate] error: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 2;
}
