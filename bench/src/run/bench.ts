// Orchestrates `make bench`: for each planned run: a stack session (up; down always, on SIGINT/SIGTERM too)
// around each repetition's measurement (run/profile.ts), the repetitions combined into a result file; then the report.
//
// Exit status (decided here, documented in the README): non-zero when a loss check fails (an acked
// enqueue missing or duplicated in MySQL), or when a profile had no strict success at all (the
// stack is broken: e.g. every page a 502). Failed requests in the seed profile are reported as a
// warning, not a failure: "0 failed" is a benchmark target, not a correctness property.
import fs from 'node:fs';
import path from 'node:path';
import { stackBudget } from '../lab/budget.js';
import type { LabRuntime, StackInfo, UpOptions } from '../lab/types.js';
import { gitCommit } from '../host/machine.js';
import { DEFAULT_PROFILES, repetitionsFor, resolveProfile, type Overrides } from '../plan/profiles.js';
import { nofileLimits } from '../host/nofile.js';
import { logStep } from './progress.js';
import { withStack } from '../stack/session.js';
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
import type { ResultDoc } from '../results/types.js';
import { writeResult } from '../results/writer.js';
import { repoRoot } from '@eserver-lab/common/repo-root';
import { runProfile, type ProfileRunOptions } from './profile.js';


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
   * The stack's CPU budget. Unset: the calibration of this CPU model (results/calibration/), else the
   * whole machine, labelled as such.
   */
  cpus?: number;
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
  const names = o.profiles.length > 0 ? o.profiles : DEFAULT_PROFILES;
  const profiles = names.map((n) => resolveProfile(n, o.overrides));
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
  const budget = o.url ? null : stackBudget(o);
  if (budget && budget.use.cpus === null && o.cpus === undefined) {
    logStep('!'.repeat(100));
    logStep(budget.use.note);
    logStep('!'.repeat(100));
  } else if (budget) logStep(`CPU budget: ${budget.use.note}`);
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
      freePorts: o.freePorts === true,
    };
  };
  /** A session around `fn` on a fresh stack: up, teardown on Ctrl-C, down. */
  const onStack = <T,>(run: PlannedRun, fn: (st: StackInfo) => Promise<T>): Promise<T> => {
    const { profile: p, setup } = run;
    logStep(`starting the ${runtime!.name} stack${p.queueImpl === 'seed2013' ? ' with the 2013-style queue server' : setup ? ` with the queue server on ${setupLabel(setup)}` : ''}`);
    return withStack(stackOptions(run), (st) => {
      logStep(`stack up at ${st.httpBase} (run dir ${st.runDir})`);
      return fn(st);
    }, { runtime: runtime!, log: logStep });
  };
  const keyOf = ({ profile: p, setup: s }: PlannedRun) => (s ? `${p.queueImpl ?? 'ts'} ${s.runtime} ${s.fsync}` : p.queueImpl ?? 'ts');
  const clock = new RunClock(plan.flatMap(({ profile: p, repeat: n }) => Array<number>(n).fill(p.warmupS + p.durationS)));
  /** Repetition i of a run, on `stack` (null: the --url server). */
  const repetition = async (run: PlannedRun, i: number, stack: StackInfo | null): Promise<ResultDoc> => {
    const { profile: p, repeat: n, setup } = run;
    const t0 = Date.now();
    logStep(`${p.name}${setup && !o.url ? ` (${setupLabel(setup)})` : ''}: ${n > 1 ? `repetition ${i} of ${n}, ` : ''}about ${formatDuration(clock.remainingS())} left in this run`);
    const doc = await runProfile(o, p, stack ? setup : null, stack, batchId, commit);
    clock.finished((Date.now() - t0) / 1000);
    return doc;
  };
  const finish = ({ profile: p, setup }: PlannedRun, reps: ResultDoc[]) => {
    const doc = combineRepetitions(reps);
    if (doc.repeat_summary) console.log(medianLine(setup && !o.url ? `${p.name}, ${setupLabel(setup)}` : p.name, doc.repeat_summary));
    docs.push(doc);
    files.push(writeResult(o.outDir, doc));
    logStep(`wrote ${files[files.length - 1]}`);
  };
  // A fresh stack per repetition (unless --reuse-stack): at 10k clients php-fpm works through its backlog
  // of the previous run's requests for many seconds after the load stops, which would slow the next one
  // down and blur its loss check. With --reuse-stack, consecutive runs that need the same queue server
  // (implementation, runtime, policy) share one stack; a run that needs another gets its own.
  for (let g = 0; g < plan.length; ) {
    let end = g + 1;
    while (o.reuseStack && !o.url && end < plan.length && keyOf(plan[end]!) === keyOf(plan[g]!)) end++;
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
  let report: RunOutcome['report'] = null;
  if (!o.noReport && docs.length > 0) {
    // Loaded only now: vega is large, and the generator's own process is measured during the run.
    const { renderReport } = await import('../report/index.js');
    report = await renderReport(docs, o.outDir, seedFile(o.outDir));
    logStep(`report: ${report.md} and ${report.html}`);
  }
  return { ok: docs.every((d) => d.verdict.ok), docs, files, report };
}
