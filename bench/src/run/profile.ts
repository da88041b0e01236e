// One profile measured against one stack (or an --url server): load with the sampler running, the generator
// in its own cgroup beside the stack's, the CPU-budget figures, the loss or acknowledgement check, and the
// result document with its verdict. `make bench` (run/bench.ts) and `make calibrate` run profiles through it.
import fs from 'node:fs';
import path from 'node:path';
import { ackLine, judgeAcks, settledLength, type AckCheck } from '../check/ack-check.js';
import { budgetLine, evaluateBudget, snapshot, type BudgetSnapshot, type CpuBudget } from '../metrics/cpu-budget.js';
import {
  GeneratorCgroupUnavailable,
  enterGeneratorCgroup,
  generatorUsageNs,
  leaveGeneratorCgroup,
  type GeneratorCgroup,
} from '../load/generator-cgroup.js';
import { GENERATOR_CPU_SHARES } from '../host/cgroup.js';
import { queueLength } from '../lab/seed2013.js';
import type { StackInfo } from '../lab/types.js';
import { runHttpLoad, type HttpLoadResult } from '../load/generator.js';
import { runKeepalive } from '../load/keepalive.js';
import { summaryLines } from '../load/report-lines.js';
import { webbenchFigures, webbenchLines } from '../load/summary.js';
import { listenLine, watchListenQueues } from '../metrics/listen-queues.js';
import { lossCheck, lossLine, readCounts, type Counts } from '../check/loss-check.js';
import { cpuBusyBefore, machineInfo } from '../host/machine.js';
import { Sampler, type Sample } from '../metrics/sampler.js';
import type { Profile } from '../plan/profiles.js';
import { logStep, progressLine } from './progress.js';
import { setupLabel, type QueueSetup } from '../plan/queue-matrix.js';
import { mismatch, observeQueueServer } from '../results/queue-observed.js';
import type { ResultDoc } from '../results/types.js';
import { findWebbench, runWebbench } from '../load/webbench.js';
import { repoRoot } from '@eserver-lab/common/repo-root';

/** What measuring a profile needs of the run's options. */
export interface ProfileRunOptions {
  tool: 'node' | 'webbench';
  /** Drive an existing server instead of a stack (no loss check, no service metrics). */
  url?: string;
  workers?: number;
  sourceAddresses?: number;
  timeoutMs?: number;
  drainTimeoutS?: number;
  /** Leave the load generator in the runner's own cgroup instead of a sibling of the stack's. */
  noGeneratorCgroup?: boolean;
}

function pageUrl(stack: StackInfo, p: Profile): string {
  const page = stack.pages[p.page];
  // The runtimes may give a full URL or a path below httpBase.
  return /^https?:\/\//.test(page) ? page : stack.httpBase.replace(/\/$/, '') + page;
}

function pkgVersion(): string {
  try {
    return (JSON.parse(fs.readFileSync(path.join(repoRoot, 'bench/package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** CPU of the load generator's process tree integrated from the samples (works for spawned tools too). */
function sampledLoadgenCpuMs(samples: Sample[]): number | null {
  if (samples.length < 2) return null;
  let ms = 0;
  for (let i = 1; i < samples.length; i++) {
    const s = samples[i].services.loadgen;
    if (s) ms += (s.cpu_pct / 100) * (samples[i].t - samples[i - 1].t) * 1000;
  }
  return ms;
}

interface Driven {
  tool: ResultDoc['tool'];
  summary: ResultDoc['summary'];
  loadgen: ResultDoc['loadgen'];
  load: ResultDoc['series']['load'];
  histogram: string | null;
  workers: number | null;
  sources: string[] | null;
}

async function drive(o: ProfileRunOptions, p: Profile, url: string): Promise<Driven> {
  const label = `[${p.name}]`;
  if (p.kind === 'keepalive') {
    const r = await runKeepalive(url, p.concurrency, p.durationS, p.warmupS);
    const failed = r.errors + r.timeouts;
    const f = webbenchFigures(r.requests, failed, r.bytes, p.durationS);
    const lines = [...webbenchLines(f, r.requests, failed), `Keep-alive (autocannon): ${r.ok2xx} 2xx, ${r.non2xx} non-2xx, ${r.errors} errors, ${r.timeouts} timeouts.`];
    return {
      tool: { name: 'autocannon', version: null, command: null },
      summary: {
        pages_per_min: f.pagesPerMin, bytes_per_sec: f.bytesPerSec, succeeded: r.requests, failed,
        strict_ok: r.ok2xx, strict_pages_per_min: Math.trunc(r.ok2xx / (p.durationS / 60)), cut_at_end: null,
        status: null, errors: { errors: r.errors, timeout: r.timeouts },
        latency_ms: r.latency, lines,
        note: 'keep-alive: strict_ok counts 2xx only (autocannon does not check the body)',
      },
      loadgen: {
        clients: p.concurrency, workers: 1, cpu_user_ms: r.cpu.userMs, cpu_system_ms: r.cpu.systemMs,
        cpu_us_per_request: r.requests > 0 ? ((r.cpu.userMs + r.cpu.systemMs) * 1000) / r.requests : null,
      },
      load: r.series.map((s) => ({ t: s.t, requests: s.requests, succeeded: s.requests, failed: 0, strict_ok: null, bytes: 0, errors: 0, p50_ms: null, p99_ms: null })),
      histogram: null, workers: 1, sources: null,
    };
  }
  if (o.tool === 'webbench') {
    const bin = findWebbench();
    if (!bin) throw new Error('--tool webbench: no `webbench` on PATH (the project does not ship or fetch it; build it yourself)');
    if (p.warmupS > 0) await runWebbench(bin, url, p.concurrency, Math.max(1, p.warmupS));
    const r = await runWebbench(bin, url, p.concurrency, p.durationS);
    return {
      tool: { name: 'webbench', version: '1.5', command: r.command },
      summary: {
        pages_per_min: r.pagesPerMin, bytes_per_sec: r.bytesPerSec, succeeded: r.succeeded, failed: r.failed,
        strict_ok: null, strict_pages_per_min: null, cut_at_end: null, status: null, errors: null,
        latency_ms: { p50: null, p90: null, p99: null, p999: null, max: null, mean: null },
        lines: webbenchLines(r, r.succeeded, r.failed),
        note: 'webbench reports no status codes, success signal or latency: strict figures are null',
      },
      loadgen: {
        clients: p.concurrency, workers: null, cpu_user_ms: null, cpu_system_ms: null,
        cpu_us_per_request: r.cpuNs !== null && r.succeeded + r.failed > 0 ? Math.round(r.cpuNs / 1000 / (r.succeeded + r.failed) * 10) / 10 : null,
        ...(r.cpuNs !== null ? { note: `webbench and its forked clients measured in a cpuacct cgroup: ${Math.round(r.cpuNs / 1e6)} ms CPU` } : {}),
      },
      load: [], histogram: null, workers: null, sources: null,
    };
  }
  const progress = progressLine(label);
  let r: HttpLoadResult;
  try {
    r = await runHttpLoad({
      url, clients: p.concurrency, durationS: p.durationS, warmupS: p.warmupS, workers: o.workers,
      sourceAddresses: o.sourceAddresses, timeoutMs: o.timeoutMs, successSignal: p.successSignal,
      onProgress: progress.update,
    });
  } finally {
    progress.done();
  }
  const c = r.counters;
  return {
    tool: { name: 'eserver-bench', version: pkgVersion(), command: null },
    summary: {
      pages_per_min: r.webbench.pagesPerMin, bytes_per_sec: r.webbench.bytesPerSec, succeeded: c.succeeded,
      failed: c.failed, strict_ok: c.strictOk, strict_pages_per_min: Math.trunc(c.strictOk / (p.durationS / 60)),
      cut_at_end: c.cutAtEnd, status: c.status, errors: { ...c.errors },
      latency_ms: { p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, p999: r.latency.p999, max: r.latency.max, mean: r.latency.mean },
      lines: summaryLines(r),
    },
    loadgen: {
      clients: r.clients, workers: r.workers, cpu_user_ms: Math.round(r.cpu.userMs), cpu_system_ms: Math.round(r.cpu.systemMs),
      cpu_us_per_request: r.cpu.usPerRequest === null ? null : Math.round(r.cpu.usPerRequest * 10) / 10,
    },
    load: r.series, histogram: r.histogram, workers: r.workers, sources: r.sourceAddresses,
  };
}

/** The stack's pids (its cpu cgroup), to check that the generator is not among them. */
function stackCgroupPids(stack: StackInfo): number[] {
  if (!stack.limits.cgroup) return [];
  try {
    return fs.readFileSync(path.join(stack.limits.cgroup, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * Runs `drive` with the runner (the generator: its worker threads, or the webbench it spawns) in a cgroup
 * of its own beside the stack's, and measures both groups over the measured window (after the warm-up).
 */
async function driveOutsideBudget(o: ProfileRunOptions, p: Profile, stack: StackInfo | null, run: () => Promise<Driven>): Promise<{ d: Driven; budget: CpuBudget | null; warnings: string[] }> {
  const warnings: string[] = [];
  let gen: GeneratorCgroup | null = null;
  if (stack && !o.noGeneratorCgroup) {
    try {
      gen = await enterGeneratorCgroup(`eserver-gen-${process.pid}-${Date.now().toString(36)}`);
    } catch (err) {
      if (!(err instanceof GeneratorCgroupUnavailable)) throw err;
      warnings.push(`${err.message}: the load generator runs in the runner's own cgroup`);
      logStep(`warning: ${err.message}`);
    }
  }
  const take = async (): Promise<BudgetSnapshot> => {
    const genNs = gen ? await generatorUsageNs(gen) : null;
    return snapshot(stack?.limits ?? null, () => genNs);
  };
  const outsideStack = stack && stack.limits.cgroup ? !stackCgroupPids(stack).includes(process.pid) : null;
  // The window: from the end of the warm-up to the end of the measured seconds (or of the drive).
  let start: BudgetSnapshot | null = null;
  let end: BudgetSnapshot | null = null;
  const timers = [
    setTimeout(() => void take().then((s) => (start = s)), p.warmupS * 1000),
    setTimeout(() => void take().then((s) => (end = s)), (p.warmupS + p.durationS) * 1000),
  ];
  let d: Driven;
  try {
    start ??= p.warmupS === 0 ? await take() : null;
    d = await run();
    end ??= await take();
    start ??= end;
  } finally {
    timers.forEach(clearTimeout);
    if (gen) {
      const left = await leaveGeneratorCgroup(gen);
      if (left.length > 0) warnings.push(`the load generator's cgroup could not be removed: ${left.join(', ')}`);
    }
  }
  let budget: CpuBudget | null = null;
  if (stack && start && end) {
    budget = evaluateBudget({
      start, end, limits: stack.limits, hostCpus: machineInfo().cores,
      requests: d.summary.succeeded + d.summary.failed,
      generator: { cgroup: gen?.dirs[0] ?? null, weight: gen ? GENERATOR_CPU_SHARES : null, outsideStack },
    });
  }
  return { d, budget, warnings };
}

export async function runProfile(o: ProfileRunOptions, p: Profile, setup: QueueSetup | null, stack: StackInfo | null, batchId: string, commit: string | null): Promise<ResultDoc> {
  const url = stack ? pageUrl(stack, p) : o.url!;
  const startedAt = new Date().toISOString();
  logStep(`${p.name}: ${p.concurrency} clients, ${p.warmupS} s warm-up + ${p.durationS} s on ${url}${setup ? ` (queue server on ${setupLabel(setup)})` : ''}`);
  // Read back before the load, while the process the stack started is surely the one running.
  const queueServer = stack ? observeQueueServer(stack, setup) : null;
  const noDrain = stack !== null && p.queueImpl === 'seed2013';
  let before: Counts | null = null;
  let lengthBefore: number | null = null;
  if (stack && noDrain) lengthBefore = await queueLength(stack.queue.host, stack.queue.port);
  else if (stack) before = await readCounts(stack.mysql, stack.queue);
  const services: Record<string, number | null> = {};
  for (const s of stack?.services ?? []) services[s.name] = s.pid;
  const busyBefore = await cpuBusyBefore();
  const sampler = new Sampler({
    services,
    cgroup: stack?.limits.usageDirs && stack.limits.cgroupVersion ? { version: stack.limits.cgroupVersion, ...stack.limits.usageDirs } : null,
    queue: stack ? { host: stack.queue.host, metricsPort: stack.queue.metricsPort } : null,
  });
  const listenWatch = await watchListenQueues(stack ? stack.config : null, stack ? stack.services : null);
  sampler.start();
  let driven: Awaited<ReturnType<typeof driveOutsideBudget>>;
  try {
    driven = await driveOutsideBudget(o, p, stack, () => drive(o, p, url));
  } finally {
    await sampler.stop();
  }
  const listen = await listenWatch();
  const { d, budget } = driven;
  const samples = sampler.samples;
  for (const line of d.summary.lines) console.log(line);
  console.log(listenLine(listen));
  if (budget) console.log(budgetLine(budget));
  const cal = stack?.limits.calibration;
  if (cal && cal.cpus === null) console.log(`Budget: ${cal.note}`);

  // The generator's own CPU for a tool we spawn comes from the sampled process tree.
  if (d.loadgen.cpu_us_per_request === null) {
    const ms = sampledLoadgenCpuMs(samples);
    const reqs = d.summary.succeeded + d.summary.failed;
    if (ms !== null && reqs > 0) {
      d.loadgen.cpu_us_per_request = Math.round(((ms * 1000) / reqs) * 10) / 10;
      d.loadgen.note = 'integrated from 1 s /proc samples of the tool process tree (warm-up included)';
    }
  }

  let loss: ResultDoc['loss_check'] = null;
  let acks: AckCheck | null = null;
  if (stack && lengthBefore !== null) {
    logStep(`${p.name}: no drain (2013-style server): waiting for php-fpm's backlog, then reading the queue length`);
    const after = await settledLength(stack.queue.host, stack.queue.port, o.drainTimeoutS ?? 120);
    acks = judgeAcks(lengthBefore, after.length, p.enqueues ? d.summary.strict_ok : null, after.waitS);
    console.log(ackLine(acks));
  }
  if (stack && before) {
    logStep(`${p.name}: waiting for the queue to drain, then counting rows`);
    loss = await lossCheck({
      mysql: stack.mysql, queue: stack.queue, before, strictOk: p.enqueues ? d.summary.strict_ok : null,
      timeoutS: o.drainTimeoutS ?? 120, log: logStep,
    });
    console.log(lossLine(loss));
  }

  const reasons: string[] = [];
  const warnings: string[] = [];
  const wrongSetup = queueServer ? mismatch(queueServer) : null;
  if (wrongSetup) reasons.push(wrongSetup);
  if (queueServer?.requested && !(queueServer.read_back.runtime && queueServer.read_back.fsync)) {
    warnings.push(`the queue server's ${queueServer.read_back.runtime ? 'fsync policy' : 'runtime'} could not be read back from the stack: recorded as asked`);
  }
  if (loss && !loss.ok) reasons.push(`loss check failed: ${loss.acked} acked, ${loss.rows} rows, ${loss.distinct} distinct${loss.note ? ` (${loss.note})` : ''}`);
  if (acks && !acks.ok) reasons.push(`ack check failed: ${acks.note}`);
  warnings.push(...driven.warnings, ...(budget?.warnings ?? []));
  if (cal && cal.cpus === null) warnings.push(cal.note);
  for (const w of [...driven.warnings, ...(budget?.warnings ?? [])]) logStep(`warning: ${w}`);
  if (d.summary.strict_ok === 0 && d.summary.succeeded + d.summary.failed > 0) reasons.push('no strict success at all: the stack answered no HTTP 200 with the success signal');
  if (d.summary.failed > 0) warnings.push(`${d.summary.failed} failed requests`);

  const machine = { ...machineInfo(), busy_before_pct: busyBefore };
  return {
    schema_version: 1,
    batch_id: batchId,
    profile: p.name,
    runtime: stack ? stack.runtime : 'external',
    tool: d.tool,
    queue_server: queueServer,
    started_at: startedAt,
    finished_at: new Date().toISOString(),
    commit,
    url,
    machine,
    limits: stack ? stack.limits : null,
    versions: { ...(stack?.versions ?? {}), node: process.versions.node, 'eserver-bench': pkgVersion() },
    config: {
      concurrency: p.concurrency, duration_s: p.durationS, warmup_s: p.warmupS, page: p.page,
      success_signal: p.successSignal, workers: d.workers, source_addresses: d.sources, stack: stack ? stack.config : null,
      services: stack ? stack.services.map((s) => ({ name: s.name, pid: s.pid })) : null,
    },
    summary: d.summary,
    loadgen: d.loadgen,
    loss_check: loss,
    ack_check: acks,
    cpu_budget: budget,
    series: { load: d.load, samples },
    histogram: d.histogram,
    listen_queues: listen,
    verdict: { ok: reasons.length === 0, reasons: [...reasons, ...warnings.map((w) => `warning: ${w}`)] },
  };
}

