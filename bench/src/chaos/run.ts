// make chaos: for each scenario, a fresh stack, the seed's client.php load, the scenario's faults during
// the load, then the bounded drain and the invariant's checks (checks.ts). Exit status non-zero when any
// scenario fails or could not run.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { httpGet } from '../lab/http.js';
import { getRuntime } from '../lab/index.js';
import type { LabRuntime, StackInfo, UpOptions } from '../lab/types.js';
import { runHttpLoad, type HttpLoadResult } from '../load/generator.js';
import { connectMysql } from '../check/loss-check.js';
import { logStep, progressLine } from '../run/progress.js';
import { withStack } from '../stack/session.js';
import { judge } from './checks.js';
import { inject, type FaultContext } from './faults.js';
import { mountJournalFs, unmountJournalFs } from './journal-fs.js';
import type { Scenario } from './scenarios.js';
import { chaosTable, type ScenarioOutcome } from './table.js';
import { mismatch, observeQueueServer } from '../results/queue-observed.js';
import type { QueueRuntimeName } from '@eserver-lab/queue-server/runtime';
import { fetchPoint, ServerWatch } from './watch.js';

const DEFAULT_DURATION_S = 30;

export interface ChaosOptions {
  scenarios: Scenario[];
  runtime: 'auto' | 'native' | 'docker';
  /** What runs our queue server in every scenario (the CLI's default: QUEUE_RUNTIME, else bun). */
  queueRuntime: QueueRuntimeName;
  /** Virtual clients of the client.php load. */
  concurrency: number;
  /** Seconds of load per scenario (the faults happen inside it); null = each scenario's own, else 30. */
  durationS: number | null;
  /** First fault this long after the load starts; each next one this long after the last recovered. */
  faultGapMs: number;
  /** How long a stopped MySQL or a full disk lasts. */
  holdMs: number;
  /** Bound on each recovery, and on the drain after the load. */
  recoverTimeoutS: number;
  drainTimeoutS: number;
  /** Where the small journal filesystems are mounted, and where the result JSON goes. */
  workDir: string;
  outDir: string | null;
  runDir?: string;
  freePorts?: boolean;
}

export interface ChaosOutcome {
  ok: boolean;
  outcomes: ScenarioOutcome[];
  table: string;
}

/**
 * Seconds from `since` until the stack is whole again: client.php answers 200 "ok" (the HTTP path and the
 * queue), and the drain has committed everything handed out up to that request (the path into MySQL).
 */
export async function waitRecovered(url: string, q: StackInfo['queue'], since: number, timeoutS: number): Promise<number | null> {
  const deadline = since + timeoutS * 1000;
  for (;;) {
    if (Date.now() > deadline) return null;
    try {
      const res = await httpGet(url, 3000);
      if (res.status === 200 && res.body.startsWith('ok')) break;
    } catch {
      /* not yet */
    }
    await sleep(100);
  }
  const mark = await fetchPoint(q.host, q.metricsPort);
  const want = (mark?.nextSeq ?? 1) - 1;
  for (;;) {
    const p = await fetchPoint(q.host, q.metricsPort);
    if (p && p.committedSeq >= want) return Math.round((Date.now() - since) / 100) / 10;
    if (Date.now() > deadline) return null;
    await sleep(100);
  }
}

interface Drained {
  drained: boolean;
  nums: number[];
  duplicateDeadLetters: number;
  otherDeadLetters: number;
  lastNextSeq: number;
}

/** Waits (bounded) until the queue is empty, committed up to its last seq, and nothing moves; reads the rows. */
async function drainAndRead(stack: StackInfo, watch: ServerWatch, timeoutS: number): Promise<Drained> {
  const c = await connectMysql(stack.mysql);
  try {
    const deadline = Date.now() + timeoutS * 1000;
    let prev: { next: number; rows: number } | null = null;
    let drained = false;
    let lastNextSeq = 0;
    let lastLog = 0;
    while (Date.now() < deadline) {
      const p = await watch.poll();
      const [r] = await c.query('SELECT COUNT(*) AS n FROM bench_events');
      const rows = Number((r as Array<{ n: number }>)[0]!.n);
      if (p) lastNextSeq = p.nextSeq;
      const still = p !== null && prev !== null && prev.next === p.nextSeq && prev.rows === rows;
      if (p && p.depth === 0 && p.committedSeq >= p.nextSeq - 1 && still) {
        drained = true;
        break;
      }
      prev = p ? { next: p.nextSeq, rows } : null;
      if (Date.now() - lastLog > 5000) {
        lastLog = Date.now();
        logStep(`chaos: draining (depth ${p?.depth ?? '?'}, ${rows} rows, committed ${p?.committedSeq ?? '?'} of ${p ? p.nextSeq - 1 : '?'})`);
      }
      await sleep(500);
    }
    const [numsR] = await c.query('SELECT num FROM bench_events');
    const nums = (numsR as Array<{ num: number | string }>).map((x) => Number(x.num));
    const [dl] = await c.query('SELECT errno, COUNT(*) AS n FROM dead_letters GROUP BY errno');
    let duplicateDeadLetters = 0;
    let otherDeadLetters = 0;
    for (const row of dl as Array<{ errno: number | null; n: number | string }>) {
      if (row.errno === 1062) duplicateDeadLetters += Number(row.n);
      else otherDeadLetters += Number(row.n);
    }
    return { drained, nums, duplicateDeadLetters, otherDeadLetters, lastNextSeq };
  } finally {
    await c.end();
  }
}

async function runScenario(o: ChaosOptions, runtime: LabRuntime, sc: Scenario, index: number): Promise<ScenarioOutcome> {
  const tag = `[${index + 1}/${o.scenarios.length} ${sc.name}]`;
  const journalDir = sc.journalFsMiB ? join(o.workDir, `journal-fs-${process.pid}-${sc.name}`) : undefined;
  let mounted = false;
  const watchRef: { w: ServerWatch | null } = { w: null };
  try {
    if (journalDir) {
      await mountJournalFs(journalDir, sc.journalFsMiB!);
      mounted = true;
    }
    const up: UpOptions = { queueRuntime: o.queueRuntime, queueArgs: ['--fsync', sc.fsync], freePorts: o.freePorts === true };
    if (o.runDir) up.runDir = o.runDir;
    if (journalDir) up.journalDir = journalDir;
    logStep(`chaos ${tag}: ${sc.label}, fsync ${sc.fsync}: starting a fresh ${runtime.name} stack, our queue server on ${o.queueRuntime}`);
    // The session takes the stack down, then unmounts the journal filesystem: after the work, on an error,
    // and on Ctrl-C or TERM mid-scenario alike.
    const cleanup = async () => {
      watchRef.w?.stop();
      if (mounted && journalDir) await unmountJournalFs(journalDir);
      mounted = false;
    };
    return await withStack(up, (stack) => scenarioOnStack(o, runtime, sc, tag, stack, journalDir, watchRef), { runtime, log: logStep, label: 'chaos: ', cleanup });
  } catch (err) {
    const msg = (err as Error).message.split('\n')[0]!;
    logStep(`chaos ${tag}: ERROR: ${(err as Error).message}`);
    return {
      scenario: sc, queueRuntime: o.queueRuntime, strictOk: 0, serverAcks: 0, rows: 0, recoverS: [], error: msg,
      verdict: { ok: false, duplicates: 0, gaps: { count: 0, ranges: [] }, ackedGaps: 0, reasons: [msg] },
    };
  } finally {
    watchRef.w?.stop();
    if (mounted && journalDir) await unmountJournalFs(journalDir).catch((e: Error) => logStep(`chaos ${tag}: umount ${journalDir}: ${e.message}`));
  }
}

/** The scenario's load and faults on its fresh stack, then the exactly-once verdict. */
async function scenarioOnStack(
  o: ChaosOptions,
  runtime: LabRuntime,
  sc: Scenario,
  tag: string,
  stack: StackInfo,
  journalDir: string | undefined,
  watchRef: { w: ServerWatch | null },
): Promise<ScenarioOutcome> {
  {
    // The scenario is labelled with the runtime and policy it asked for: read them back from the running server.
    const ran = observeQueueServer(stack, { runtime: o.queueRuntime, fsync: sc.fsync });
    const wrong = mismatch(ran);
    if (wrong) throw new Error(`chaos: ${wrong}`);
    const watch = new ServerWatch(stack.queue.host, stack.queue.metricsPort);
    watchRef.w = watch;
    watch.start();
    const ctx: FaultContext = { runtime, runDir: stack.runDir, holdMs: o.holdMs, log: logStep, ...(journalDir ? { journalDir } : {}) };
    const durationS = o.durationS ?? sc.durationS ?? DEFAULT_DURATION_S;
    const progress = progressLine(`chaos ${tag}`);
    const loadStarted = Date.now();
    const load: Promise<HttpLoadResult> = runHttpLoad({
      url: stack.pages.client, clients: o.concurrency, durationS, warmupS: 0, successSignal: 'ok',
      timeoutMs: 10_000, onProgress: progress.update,
    }).finally(() => progress.done());
    const recoverS: Array<number | null> = [];
    let faultError: unknown = null;
    try {
      await sleep(o.faultGapMs);
      for (const [i, kind] of sc.faults.entries()) {
        const what = await inject(kind, ctx);
        if (kind === 'kill-queue') watch.killed();
        const end = Date.now();
        const r = await waitRecovered(stack.pages.client, stack.queue, end, o.recoverTimeoutS);
        recoverS.push(r);
        logStep(`chaos ${tag}: fault ${i + 1}/${sc.faults.length} at ${((end - loadStarted) / 1000).toFixed(1)} s: ${what}; ${r === null ? `NOT recovered within ${o.recoverTimeoutS} s` : `recovered in ${r} s`}`);
        if (i < sc.faults.length - 1) await sleep(o.faultGapMs);
      }
    } catch (err) {
      faultError = err;
    }
    // The load always runs its course (it stops on its own), even when a fault could not be injected.
    const result = await load;
    if (faultError) throw faultError;
    if (Date.now() - loadStarted > durationS * 1000 + 1000) {
      logStep(`chaos ${tag}: warning: the faults outlasted the ${durationS} s load; raise --duration`);
    }
    const c = result.counters;
    logStep(`chaos ${tag}: load done: ${c.strictOk} ok of ${c.succeeded + c.failed} requests (status ${JSON.stringify(c.status)}); waiting for the drain`);
    const d = await drainAndRead(stack, watch, o.drainTimeoutS);
    watch.stop();
    const seen = watch.seen;
    const figures = {
      strictOk: c.strictOk, serverAcks: seen.enqueued, rows: d.nums.length, distinct: new Set(d.nums).size,
      duplicateDeadLetters: d.duplicateDeadLetters, otherDeadLetters: d.otherDeadLetters, nums: d.nums,
      lastSeq: Math.max(0, ...d.nums, seen.maxNextSeq - 1, d.lastNextSeq - 1), journalFailed: seen.journalFailed,
      drained: d.drained, recoverS,
    };
    const verdict = judge(figures);
    logStep(
      `chaos ${tag}: ${verdict.ok ? 'OK' : 'FAILED'}: ${c.strictOk} client acks, ${seen.enqueued} server acks over ${seen.processes} processes, ` +
        `${figures.rows} rows, ${verdict.duplicates} duplicates, ${verdict.gaps.count} gaps (${seen.journalFailed} JOURNAL_FAILED)` +
        (verdict.ok ? '' : `: ${verdict.reasons.join('; ')}`),
    );
    return { scenario: sc, queueRuntime: ran.runtime ?? o.queueRuntime, strictOk: c.strictOk, serverAcks: seen.enqueued, rows: figures.rows, verdict, recoverS };
  }
}

export async function runChaos(o: ChaosOptions): Promise<ChaosOutcome> {
  const runtime = await getRuntime(o.runtime, logStep);
  mkdirSync(o.workDir, { recursive: true });
  const outcomes: ScenarioOutcome[] = [];
  logStep(`chaos: ${o.scenarios.length} scenarios on the ${runtime.name} runtime, our queue server on ${o.queueRuntime}, client.php at ${o.concurrency} clients, ${o.durationS !== null ? `${o.durationS} s` : `${DEFAULT_DURATION_S} s (the 5-kill scenarios 45 s)`} of load each`);
  for (const [i, sc] of o.scenarios.entries()) outcomes.push(await runScenario(o, runtime, sc, i));
  const table = chaosTable(outcomes);
  const ok = outcomes.every((x) => x.verdict.ok && !x.error);
  if (o.outDir) {
    mkdirSync(o.outDir, { recursive: true });
    const file = join(o.outDir, `chaos-${new Date().toISOString().replace(/[:.]/g, '-')}-${runtime.name}-${o.queueRuntime}.json`);
    writeFileSync(file, JSON.stringify({ runtime: runtime.name, queueRuntime: o.queueRuntime, options: { ...o, scenarios: o.scenarios.map((s) => s.name) }, outcomes, ok }, null, 2));
    logStep(`chaos: wrote ${file}`);
  }
  return { ok, outcomes, table };
}
