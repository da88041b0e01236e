// Orchestrates `make bench`: for each planned run: a stack session (up; down always, on SIGINT/SIGTERM too)
// around each repetition's measurement (run/profile.ts), the repetitions combined into a result file; then the report.
//
// Exit status (decided here, documented in the README): non-zero when a loss check fails (an acked
// enqueue missing or duplicated in MySQL), or when a profile had no strict success at all (the
// stack is broken: e.g. every page a 502). Failed requests in the seed profile are reported as a
// warning, not a failure: "0 failed" is a benchmark target, not a correctness property.
import fs from 'node:fs';
import path from 'node:path';
import type { CalibrationUse, LabRuntime, StackInfo, UpOptions } from '../lab/types.js';
import { gitCommit } from '../host/machine.js';
import { controlProfile, DEFAULT_PROFILES, repetitionsFor, resolveProfile, type Overrides, type Profile } from '../plan/profiles.js';
import { nofileLimits } from '../host/nofile.js';
import { logStep } from './progress.js';
import { withStack, withStacks } from '../stack/session.js';
import { combineRepetitions, formatDuration, medianLine, RunClock } from '../results/repeat.js';
import type { FsyncPolicy } from '@eserver-lab/queue-server';
import { queueRuntime, type QueueRuntimeName } from '@eserver-lab/queue-server/runtime';
import {
  defaultQueueRuntimes,
  expandPlan,
  queueSetups,
  setupArgs,
  setupLabel,
  SHIPPED_FSYNC,
  type PlannedRun,
  type QueueSetup,
} from '../plan/queue-matrix.js';
import type { PairingMode, ResultDoc } from '../results/types.js';
import { controlRecord } from '../results/control.js';
import { readSeed } from '../results/seed.js';
import { defaultRunDir } from '../lab/paths.js';
import { writeResult } from '../results/writer.js';
import { repoRoot } from '@eserver-lab/common/repo-root';
import { runProfile, runTogether, type ProfileRunOptions } from './profile.js';
import { createLoadNamespace, removeLoadNamespace } from '../host/netns.js';


export interface RunOptions extends ProfileRunOptions {
  profiles: string[];
  overrides: Overrides;
  runtime: 'auto' | 'native' | 'docker';
  outDir: string;
  /** Skip writing results/latest.{md,html}. */
  noReport?: boolean;
  /** The stack's run directory (default: the runtime's own). */
  runDir?: string;
  /** Start the stack on free ports instead of the defaults (tests; a second stack beside another). */
  freePorts?: boolean;
  /** One stack for all profiles instead of a fresh one per profile. */
  reuseStack?: boolean;
  /**
   * Each stack's CPU budget. Unset: the calibration of this CPU model (results/calibration/), else the
   * whole machine, labelled as such; 'all': the whole machine on purpose (no control, no projection).
   */
  cpus?: number | 'all';
  /** CFS period of the quota, µs (default: the calibration's, else 20 ms). */
  cpuPeriodUs?: number;
  /** Repetitions of every profile (default: the profile's own, 3 for the seed, else 1). */
  repeat?: number;
  /** Listen backlog of the stack's services (default DEFAULT_LISTEN_BACKLOG of the stack spec; 128 reproduces the shallow-queue regime). */
  listenBacklog?: number;
  /** Runtimes of our queue server (default: QUEUE_RUNTIME, else bun); enqueuing profiles run on each. */
  queueRuntimes?: QueueRuntimeName[];
  /** Journal fsync policies of our queue server (default: the lab's shipped one); enqueuing profiles run under each. */
  fsyncPolicies?: FsyncPolicy[];
  /** false: no 2013-style stack beside ours (no projection). Default: in every enqueuing profile's repetitions. */
  control?: boolean;
  /** How the control runs beside ours: loaded at once (default), or alternated with the order swapped every repetition. */
  pairing?: PairingMode;
  /**
   * Where the load runs: here (default), or 'netns', a network namespace of its own whose veth pair is its
   * only link to the stacks (host/netns.ts), as webbench reached the server over a LAN in 2013.
   */
  loadHost?: LoadHostChoice;
}

export const LOAD_HOSTS = ['here', 'netns'] as const;
export type LoadHostChoice = (typeof LOAD_HOSTS)[number];

/** Why a run cannot take its load from a namespace of its own, with the fix; null when it can. */
export function loadHostProblem(o: Pick<RunOptions, 'url' | 'runtime'>, profiles: readonly Profile[]): string | null {
  if (o.url) return "--load-host netns loads a stack the bench starts, at its end of the namespace's veth pair (the only target allowed); drop --url";
  if (o.runtime === 'docker') {
    return '--load-host netns needs the native runtime (--runtime native, RUNTIME=native): its stack listens on the veth pair; a Docker stack listens where its engine is reached (DOCKER_HOST for another host)';
  }
  const ka = profiles.find((p) => p.kind !== 'webbench');
  if (ka) return `--load-host netns: the ${ka.name} profile's load (autocannon) runs inside the runner, not in a process of its own that the namespace can hold; drop it`;
  return null;
}

/** Whether a planned run measures the 2013-style stack beside ours in every repetition, and why not when it does not. */
export function controlPlan(o: Pick<RunOptions, 'url' | 'cpus' | 'control' | 'runtime'>, p: Profile): { on: boolean; why: string } {
  if (o.url) return { on: false, why: '--url: the server is not a stack of ours' };
  if (p.queueImpl === 'seed2013') return { on: false, why: 'this profile is the 2013-style stack itself' };
  if (!p.enqueues || p.kind !== 'webbench') return { on: false, why: `${p.name} is not an enqueuing webbench-style profile` };
  if (o.cpus === 'all') return { on: false, why: 'CPUS=all: the whole machine on purpose, no 2013 box to project onto' };
  if (o.control === false) return { on: false, why: '--no-control' };
  if (o.runtime === 'docker') return { on: false, why: 'the 2013-style server has no container image: RUNTIME=native for the projection' };
  return { on: true, why: 'the 2013-style stack on the same budget in every repetition' };
}

/** At once unless asked otherwise; one webbench at a time (it is one process per load, spawned by us). */
export function pairingOf(o: Pick<RunOptions, 'pairing' | 'tool'>): { mode: PairingMode; why: string } {
  if (o.pairing) return { mode: o.pairing, why: `--pairing ${o.pairing}` };
  if (o.tool === 'webbench') return { mode: 'alternate', why: '--tool webbench: the loads alternate, the order swapped every repetition' };
  return { mode: 'at-once', why: 'default: both stacks take the load at the same instant, each load in a process of its own' };
}

export interface RunOutcome {
  ok: boolean;
  docs: ResultDoc[];
  files: string[];
  report: { md: string; html: string } | null;
}

async function loadRuntime(name: RunOptions['runtime']): Promise<LabRuntime> {
  // Imported on first use: a run against --url starts no stack and needs no lab runtime.
  const { getRuntime } = await import('../lab/index.js');
  return getRuntime(name, logStep);
}

export function seedFile(outDir: string): string {
  const local = path.join(outDir, 'seed.json');
  return fs.existsSync(local) ? local : path.join(repoRoot, 'results/seed.json');
}

export async function runBench(o: RunOptions): Promise<RunOutcome> {
  if (o.loadHost !== 'netns') return runOn(o);
  const names = o.profiles.length > 0 ? o.profiles : DEFAULT_PROFILES;
  const problem = loadHostProblem(o, names.map((n) => resolveProfile(n, o.overrides)));
  if (problem) throw new Error(problem);
  // Before any stack: they listen on its pair. Removed after the last one is down (a Ctrl-C's teardown too).
  const ns = await createLoadNamespace(logStep);
  try {
    return await runOn({ ...o, runtime: 'native', loadNs: ns });
  } finally {
    await removeLoadNamespace(ns);
  }
}

/**
 * Webbench runs once, cold, as it did in 2013. A warm-up by webbench would be a run of its own: at its alarm its
 * clients leave their requests in flight, and the stack serves them during the measured run, uncounted (on
 * client.php at 0.45 CPU, 43,252 enqueues for 20,000 counted pages; docs/experiments/2026-12-06-webbench-from-netns.md).
 */
function coldForWebbench(o: RunOptions, p: Profile): Profile {
  if (o.tool !== 'webbench' || p.warmupS === 0) return p;
  if (o.overrides.warmupS !== undefined) {
    throw new Error(
      `--warmup ${o.overrides.warmupS} with --tool webbench: webbench's warm-up would be a separate run, whose requests in flight at its ` +
        `alarm the stack serves uncounted during the measured one; webbench runs once, cold, as in 2013: drop --warmup`,
    );
  }
  return { ...p, warmupS: 0 };
}

async function runOn(o: RunOptions): Promise<RunOutcome> {
  const ns = o.loadNs ?? null;
  const names = o.profiles.length > 0 ? o.profiles : DEFAULT_PROFILES;
  const asked = names.map((n) => resolveProfile(n, o.overrides));
  const profiles = asked.map((p) => coldForWebbench(o, p));
  if (profiles.some((p, i) => p !== asked[i])) logStep('--tool webbench: no warm-up run; webbench runs once, cold, as in 2013');
  if (o.url && (o.queueRuntimes || o.fsyncPolicies)) {
    throw new Error('--queue-runtime and --fsync choose the queue server of a stack the bench starts; with --url the server is not ours to start (drop --url, or drop them)');
  }
  const setups = queueSetups(o.queueRuntimes ?? defaultQueueRuntimes(), o.fsyncPolicies ?? [SHIPPED_FSYNC]);
  // An existing server (--url) is driven as it is: one run per profile, no queue server of ours to vary.
  const plan: PlannedRun[] = o.url
    ? profiles.map((p) => ({ profile: p, setup: null, repeat: repetitionsFor(p, o.repeat) }))
    : expandPlan(profiles, setups, o.repeat);
  const lim = nofileLimits();
  const most = Math.max(...profiles.map((p) => p.concurrency));
  if (lim && lim.soft < most + 200) {
    logStep(`warning: open files limit ${lim.soft} < ${most} clients + margin: connects will fail with EMFILE (raise ulimit -n)`);
  }
  const batchId = new Date().toISOString();
  const commit = gitCommit(repoRoot);
  const docs: ResultDoc[] = [];
  const files: string[] = [];

  let runtime: LabRuntime | null = null;
  if (!o.url) {
    // Before any stack: a combination that cannot run must not cost the profiles planned before it.
    const used = plan.map((r) => r.setup).filter((s): s is QueueSetup => s !== null);
    runtime = await loadRuntime(o.runtime);
    for (const name of new Set(used.map((s) => s.runtime))) queueRuntime(name);
    if (setups.length > 1) logStep(`queue server: ${setups.map(setupLabel).join(' | ')}: each enqueuing profile runs on every one`);
  }
  /** What a run's stack is asked for; the runtime's resolver decides every value left open (budget, ports...). */
  const stackOptions = ({ profile: p, setup }: PlannedRun): UpOptions => {
    const impl = p.queueImpl ?? 'ts';
    return {
      queueImpl: impl,
      ...(setup && impl === 'ts' ? { queueRuntime: setup.runtime, queueArgs: setupArgs(setup) } : {}),
      ...(o.listenBacklog !== undefined ? { listenBacklog: o.listenBacklog } : {}),
      ...(o.cpus !== undefined ? { cpus: o.cpus } : {}),
      ...(o.cpuPeriodUs !== undefined ? { cpuPeriodUs: o.cpuPeriodUs } : {}),
      ...(o.runDir ? { runDir: o.runDir } : {}),
      // From a load namespace, the entry points listen on this side of its pair; the account admits its other side.
      ...(ns ? { addresses: { listen: ns.addresses.host, client: ns.addresses.ns } } : {}),
      freePorts: o.freePorts === true,
    };
  };
  /** Where the stack's CPU budget came from, as its resolver decided: said once, and again if it changes. */
  let budgetSaid: string | null = null;
  const sayBudget = (use: CalibrationUse | null | undefined) => {
    if (!use || use.note === budgetSaid) return;
    budgetSaid = use.note;
    if (use.cpus === null && o.cpus === undefined) {
      logStep('!'.repeat(100));
      logStep(use.note);
      logStep('!'.repeat(100));
    } else logStep(`CPU budget: ${use.note}`);
  };
  /** A session around `fn` on a fresh stack: up, teardown on Ctrl-C, down. */
  const onStack = <T,>(run: PlannedRun, fn: (st: StackInfo) => Promise<T>): Promise<T> => {
    const { profile: p, setup } = run;
    logStep(`starting the ${runtime!.name} stack${p.queueImpl === 'seed2013' ? ' with the 2013-style queue server' : setup ? ` with the queue server on ${setupLabel(setup)}` : ''}`);
    return withStack(stackOptions(run), (st) => {
      logStep(`stack up at ${st.httpBase} (run dir ${st.runDir})`);
      sayBudget(st.limits.calibration);
      return fn(st);
    }, { runtime: runtime!, log: logStep });
  };
  const keyOf = ({ profile: p, setup: s }: PlannedRun) => (s ? `${p.queueImpl ?? 'ts'} ${s.runtime} ${s.fsync}` : p.queueImpl ?? 'ts');
  const pairing = pairingOf(o);
  const paired = (run: PlannedRun) => controlPlan(o, run.profile).on;
  for (const p of profiles) {
    const c = controlPlan(o, p);
    if (!c.on && p.enqueues && p.queueImpl !== 'seed2013') logStep(`${p.name}: no 2013-style stack beside it, no projection (${c.why})`);
  }
  if (plan.some(paired)) logStep(`the 2013-style stack (the control) runs in every repetition beside ours: ${pairing.why}`);
  const loadS = (run: PlannedRun) => (run.profile.warmupS + run.profile.durationS) * (paired(run) && pairing.mode === 'alternate' ? 2 : 1);
  const clock = new RunClock(plan.flatMap((run) => Array<number>(run.repeat).fill(loadS(run))));
  /** Repetition i of a run, on `stack` (null: the --url server). */
  const repetition = async (run: PlannedRun, i: number, stack: StackInfo | null): Promise<ResultDoc> => {
    const { profile: p, repeat: n, setup } = run;
    const t0 = Date.now();
    logStep(`${p.name}${setup && !o.url ? ` (${setupLabel(setup)})` : ''}: ${n > 1 ? `repetition ${i} of ${n}, ` : ''}about ${formatDuration(clock.remainingS())} left in this run`);
    const doc = await runProfile(o, p, stack ? setup : null, stack, batchId, commit);
    clock.finished((Date.now() - t0) / 1000);
    return doc;
  };
  const seedPages = () => readSeed(seedFile(o.outDir)).pages_per_min;
  const finish = ({ profile: p, setup }: PlannedRun, reps: ResultDoc[] | ResultDoc) => {
    const doc = Array.isArray(reps) ? combineRepetitions(reps) : reps;
    if (doc.repeat_summary) console.log(medianLine(setup && !o.url ? `${p.name}, ${setupLabel(setup)}` : p.name, doc.repeat_summary));
    docs.push(doc);
    files.push(writeResult(o.outDir, doc));
    logStep(`wrote ${files[files.length - 1]}`);
  };
  /**
   * A run of ours with the control: in every repetition, ours and the 2013-style stack come up fresh side by
   * side (each under its own copy of the budget, in its own cgroup), take the load at once or one after the
   * other, and go down. Ours' result carries the pairs and the projection; the control's is written beside it.
   */
  const runPaired = async (run: PlannedRun) => {
    const { profile: p, repeat: n, setup } = run;
    const cp = controlProfile(p);
    const ours: ResultDoc[] = [];
    const control: ResultDoc[] = [];
    const first: Array<'ours' | 'control' | null> = [];
    const name = `${p.name}${setup ? ` (${setupLabel(setup)})` : ''}`;
    const oursSpec = stackOptions(run);
    const controlSpec: UpOptions = { ...stackOptions({ profile: cp, setup: null, repeat: 1 }), runDir: `${o.runDir ?? defaultRunDir}-control`, freePorts: true };
    for (let i = 1; i <= n; i++) {
      const t0 = Date.now();
      logStep(`${name} beside the 2013-style stack: ${n > 1 ? `repetition ${i} of ${n}, ` : ''}about ${formatDuration(clock.remainingS())} left in this run`);
      logStep(`starting the ${runtime!.name} stacks: ours${setup ? ` (queue server on ${setupLabel(setup)})` : ''} and the 2013-style one`);
      const [a, b] = await withStacks([oursSpec, controlSpec], async ([st, ct]) => {
        logStep(`stacks up: ours at ${st!.httpBase}, the 2013-style one at ${ct!.httpBase}`);
        const oursCell = { p, setup, stack: st!, heading: `ours: ${name}` };
        const controlCell = { p: cp, setup: null, stack: ct!, heading: '2013-style stack (the control)' };
        if (pairing.mode === 'at-once') return runTogether(o, [oursCell, controlCell], batchId, commit);
        // Alternated: whoever went first in one repetition goes second in the next.
        const oursFirst = i % 2 === 1;
        const one = async (c: typeof oursCell | typeof controlCell) => {
          console.log(`# ${c.heading}`);
          return runProfile(o, c.p, c.setup, c.stack, batchId, commit);
        };
        if (oursFirst) {
          const x = await one(oursCell);
          return [x, await one(controlCell)];
        }
        const y = await one(controlCell);
        return [await one(oursCell), y];
      }, { runtime: runtime!, log: logStep });
      ours.push(a!);
      control.push(b!);
      first.push(pairing.mode === 'at-once' ? null : i % 2 === 1 ? 'ours' : 'control');
      clock.finished((Date.now() - t0) / 1000);
    }
    const oursDoc = combineRepetitions(ours);
    const controlDoc = combineRepetitions(control);
    oursDoc.control = controlRecord({ pairing: pairing.mode, why: pairing.why, seedPagesPerMin: seedPages(), ours, control, first });
    controlDoc.control_of = { profile: p.name, queue: setup ? setupLabel(setup) : null };
    finish(run, oursDoc);
    finish({ profile: cp, setup: null, repeat: n }, controlDoc);
  };

  // A fresh stack per repetition (unless --reuse-stack): at 10k clients php-fpm works through its backlog
  // of the previous run's requests for many seconds after the load stops, which would slow the next one
  // down and blur its loss check. With --reuse-stack, consecutive runs that need the same queue server
  // (implementation, runtime, policy) share one stack; a run that needs another gets its own.
  for (let g = 0; g < plan.length; ) {
    if (paired(plan[g]!)) {
      await runPaired(plan[g++]!);
      continue;
    }
    let end = g + 1;
    while (o.reuseStack && !o.url && end < plan.length && !paired(plan[end]!) && keyOf(plan[end]!) === keyOf(plan[g]!)) end++;
    const group = plan.slice(g, end);
    g = end;
    const runAll = async (stack: StackInfo | null) => {
      for (const run of group) {
        const reps: ResultDoc[] = [];
        for (let i = 1; i <= run.repeat; i++) reps.push(await repetition(run, i, stack));
        finish(run, reps);
      }
    };
    if (o.url) await runAll(null);
    else if (o.reuseStack) await onStack(group[0]!, runAll);
    else {
      for (const run of group) {
        const reps: ResultDoc[] = [];
        for (let i = 1; i <= run.repeat; i++) reps.push(await onStack(run, (st) => repetition(run, i, st)));
        finish(run, reps);
      }
    }
  }
  if (docs.length > 0) {
    // The terminal's summary opens with the same line as the report.
    const { headlineSummary } = await import('../report/projection.js');
    const h = headlineSummary(readSeed(seedFile(o.outDir)), docs);
    console.log(['', h.line, ...h.below.map((l) => `  ${l}`), ''].join('\n'));
  }
  let report: RunOutcome['report'] = null;
  if (!o.noReport && docs.length > 0) {
    // Loaded only now: vega is large, and the generator's own process is measured during the run.
    const { renderReport } = await import('../report/index.js');
    report = await renderReport(docs, o.outDir, seedFile(o.outDir));
    logStep(`report: ${report.md} and ${report.html}`);
  }
  return { ok: docs.every((d) => d.verdict.ok), docs, files, report };
}
