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
import { runLoadsTogether, type ChildLoadOptions } from '../load/in-child.js';
import { runKeepalive } from '../load/keepalive.js';
import { summaryLines } from '../load/report-lines.js';
import { webbenchFigures, webbenchLines } from '../load/summary.js';
import { listenLine, parseRemoteListen, watchListenQueues, type ListenSource } from '../metrics/listen-queues.js';
import { lossCheck, lossLine, readCounts, type Counts } from '../check/loss-check.js';
import { cpuBusyBefore, machineInfo } from '../host/machine.js';
import { Sampler, type Sample } from '../metrics/sampler.js';
import type { Profile } from '../plan/profiles.js';
import { logStep, progressLine } from './progress.js';
import { setupLabel, type QueueSetup } from '../plan/queue-matrix.js';
import { mismatch, observeQueueServer, observeRemoteQueueServer } from '../results/queue-observed.js';
import type { ResultDoc } from '../results/types.js';
import { findWebbench, runWebbench, WEBBENCH_START_S } from '../load/webbench.js';
import { repoRoot } from '@eserver-lab/common/repo-root';
import { loadNamespaceSettings, wrap, type CommandWrap, type LoadNamespace } from '../host/netns.js';
import { WindowMarks } from '../metrics/window-marks.js';
import { endpointOf, loadHostLine, peersNow, watchLoadHost, type LoadHostRecord } from '../metrics/load-host.js';

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
  /** The load's own network namespace (--load-host netns): the generator runs there, the stacks listen on its pair. */
  loadNs?: LoadNamespace | null;
}

/** Where the generator's processes run: inside the load namespace, or here. */
function insideOf(o: ProfileRunOptions): CommandWrap | undefined {
  const ns = o.loadNs;
  return ns ? (cmd, args) => wrap(ns, cmd, args) : undefined;
}

/** From a load namespace, the stack's end of its pair is the one target allowed (RFC 2544's range, ours). */
function assertTarget(o: ProfileRunOptions, url: string): void {
  if (o.loadNs && new URL(url).hostname !== o.loadNs.addresses.host) {
    throw new Error(`the load namespace ${o.loadNs.name} may only load ${o.loadNs.addresses.host}, the stack's end of its pair; ${url} is elsewhere`);
  }
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
  /** When the clients started (epoch ms), when the generator says: loads run at once share it. */
  startedAt: number | null;
}

/** Called with the instant the measured load starts (its warm-up first), when the load generator tells it. */
type OnStart = (startAt: number) => void;

async function drive(o: ProfileRunOptions, p: Profile, url: string, onStart: OnStart): Promise<Driven> {
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
      histogram: null, workers: 1, sources: null, startedAt: null,
    };
  }
  if (o.tool === 'webbench') {
    const bin = findWebbench();
    if (!bin) throw new Error('--tool webbench: no `webbench` on PATH (the project does not ship or fetch it; build it yourself)');
    // Once, cold: a run's profiles carry no warm-up with webbench (run/bench.ts coldForWebbench).
    const r = await runWebbench(bin, url, p.concurrency, p.durationS, insideOf(o));
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
        wall_s: r.wallS,
        ...(r.cpuNs !== null ? { note: `webbench and its forked clients measured in a cpuacct cgroup: ${Math.round(r.cpuNs / 1e6)} ms CPU` } : {}),
      },
      load: [], histogram: null, workers: null, sources: null, startedAt: null,
    };
  }
  const progress = progressLine(label);
  let r: HttpLoadResult;
  try {
    // In a load namespace, the generator is a process started there (this one stays here, with the stack).
    const inside = insideOf(o);
    if (inside) return fromHttpLoad((await runLoadsTogether([loadOptions(o, p, url)], progress.update, onStart, inside))[0]!, p);
    r = await runHttpLoad({
      url, clients: p.concurrency, durationS: p.durationS, warmupS: p.warmupS, workers: o.workers,
      sourceAddresses: o.sourceAddresses, timeoutMs: o.timeoutMs, successSignal: p.successSignal,
      onProgress: progress.update,
      startAt: async () => {
        const t = Date.now();
        onStart(t);
        return t;
      },
    });
  } finally {
    progress.done();
  }
  return fromHttpLoad(r, p);
}

/** The load options of a profile for our generator, in this process or in a child of its own. */
function loadOptions(o: ProfileRunOptions, p: Profile, url: string): ChildLoadOptions {
  return {
    url, clients: p.concurrency, durationS: p.durationS, warmupS: p.warmupS, workers: o.workers,
    sourceAddresses: o.sourceAddresses, timeoutMs: o.timeoutMs, successSignal: p.successSignal,
  };
}

/** Our generator's result as the document's figures. */
function fromHttpLoad(r: HttpLoadResult, p: Profile): Driven {
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
    load: r.series, histogram: r.histogram, workers: r.workers, sources: r.sourceAddresses, startedAt: r.startedAt,
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

/** The measured window's figures: each stack's budget (null for the --url server), and what went wrong measuring them. */
interface Window {
  budgets: Array<CpuBudget | null>;
  warnings: string[];
  /** Per stack, from a load namespace: the connections on its HTTP port by peer address, mid-window. */
  peers: Array<Record<string, number> | null>;
}

/**
 * Runs `run` (the load generator: this process's worker threads, the child processes it forks, or the webbench
 * it spawns) in a cgroup of its own beside the stacks', and measures every stack's group and the generator's
 * over the measured window: from the end of the warm-up to the end of the measured seconds. The window is
 * timed from the instant the load starts (after the clients are loaded), when the generator tells it.
 */
async function driveOutsideBudget(
  o: ProfileRunOptions, p: Profile, stacks: Array<StackInfo | null>, run: (onStart: OnStart) => Promise<Driven[]>,
): Promise<{ ds: Driven[] } & Window> {
  const warnings: string[] = [];
  let gen: GeneratorCgroup | null = null;
  if (stacks.some((s) => s !== null) && !o.noGeneratorCgroup) {
    try {
      gen = await enterGeneratorCgroup(`eserver-gen-${process.pid}-${Date.now().toString(36)}`);
    } catch (err) {
      if (!(err instanceof GeneratorCgroupUnavailable)) throw err;
      warnings.push(`${err.message}: the load generator runs in the runner's own cgroup`);
      logStep(`warning: ${err.message}`);
    }
  }
  // A stack on another machine: its CPU time through its engine (the generator is outside it by construction),
  // and its parent cgroup's throttling on that host.
  const remote = stacks.some((s) => s?.remote)
    ? { api: await import('../lab/docker/engine-api.js'), host: await import('../lab/docker/remote-host.js') }
    : null;
  const remoteReading = async (s: StackInfo) => {
    const [cpu, throttling] = await Promise.all([
      remote!.api.containersCpuNs(Object.values(s.remote!.containers)).catch(() => null),
      s.remote!.cpuCgroup ? remote!.host.remoteThrottling(String(s.config.baseImage), s.remote!.cpuCgroup).catch(() => null) : null,
    ]);
    return { ...(cpu ?? { ns: null, at: performance.now() }), throttling };
  };
  const take = async (): Promise<BudgetSnapshot[]> => {
    const [genNs, remoteNs] = await Promise.all([
      gen ? generatorUsageNs(gen) : null,
      Promise.all(stacks.map((s) => (s?.remote ? remoteReading(s) : undefined))),
    ]);
    return stacks.map((s, i) => snapshot(s?.limits ?? null, () => genNs, remoteNs[i]));
  };
  const outside = stacks.map((s) => (s?.remote ? true : s && s.limits.cgroup ? !stackCgroupPids(s).includes(process.pid) : null));
  const marks = new WindowMarks(take);
  let start: BudgetSnapshot[] | null = null;
  let end: BudgetSnapshot[] | null = null;
  let peers: Array<Record<string, number> | null> = stacks.map(() => null);
  // Awaited after the load: with 100k sockets in the table, the reading can outlast the load's end.
  let peersRead: Promise<unknown> | null = null;
  const readPeers = () => {
    peersRead = Promise.all(stacks.map((s) => (s ? peersNow(endpointOf(s.httpBase)).catch(() => null) : null))).then((x) => (peers = x));
  };
  let timers: NodeJS.Timeout[] = [];
  /**
   * The window's two marks, `delayMs` after now (the load's start, or the call when the generator does not
   * say); from a load namespace, a third in the middle: where the stack's connections come from.
   */
  const arm = (delayMs: number) => {
    marks.arm(delayMs, p.warmupS * 1000, p.durationS * 1000);
    timers.forEach(clearTimeout);
    timers = o.loadNs ? [setTimeout(readPeers, delayMs + (p.warmupS + p.durationS / 2) * 1000)] : [];
  };
  arm(0);
  let ds: Driven[];
  try {
    if (p.warmupS === 0) marks.startNow();
    ds = await run((startAt) => {
      if (p.warmupS === 0) marks.startNow();
      arm(Math.max(0, startAt - Date.now()));
    });
    ({ start, end } = await marks.settle());
    await peersRead;
  } finally {
    marks.clear();
    timers.forEach(clearTimeout);
    if (gen) {
      const left = await leaveGeneratorCgroup(gen);
      if (left.length > 0) warnings.push(`the load generator's cgroup could not be removed: ${left.join(', ')}`);
    }
  }
  // The generator's CPU was spent on every load at once: per request, it is over all of them.
  const requests = ds.reduce((a, d) => a + d.summary.succeeded + d.summary.failed, 0);
  const usedNs = stacks.map((_s, i) => (start && end && start[i]!.stackNs !== null && end[i]!.stackNs !== null ? end[i]!.stackNs! - start[i]!.stackNs! : null));
  const budgets = stacks.map((stack, i) => {
    if (!stack || !start || !end) return null;
    const others = stacks.map((s, k) => ({ s, k })).filter(({ s, k }) => s !== null && k !== i);
    const siblings = {
      cpus: others.reduce((a, { s }) => a + (s!.limits.cpus ?? 0), 0),
      cpuNs: others.reduce<number | null>((a, { k }) => (a === null || usedNs[k] === null ? null : a + usedNs[k]!), 0),
    };
    return evaluateBudget({
      start: start[i]!, end: end[i]!, limits: stack.limits, hostCpus: stack.remote?.host.cores ?? machineInfo().cores, requests,
      generator: { cgroup: gen?.dirs[0] ?? null, weight: gen ? GENERATOR_CPU_SHARES : null, outsideStack: outside[i]! },
      ...(others.length > 0 ? { siblings } : {}),
      ...(stack.remote ? { generatorHost: { cpus: machineInfo().cores } } : {}),
    });
  });
  return { ds, budgets, warnings, peers };
}

/** One profile on one stack (or an --url server), as a cell of a measurement that may load several at once. */
export interface CellSpec {
  p: Profile;
  setup: QueueSetup | null;
  /** null: the --url server. */
  stack: StackInfo | null;
  /** Printed above the cell's lines when several stacks are loaded at once. */
  heading?: string;
}

/** A cell's state before the load: what was read from its stack, and what watches it during the load. */
interface OpenCell extends CellSpec {
  url: string;
  startedAt: string;
  queueServer: ReturnType<typeof observeQueueServer> | null;
  before: Counts | null;
  lengthBefore: number | null;
  busyBefore: number | null;
  /** A stack on another machine: how busy that machine's CPUs were just before the load. */
  stackHostBusyBefore: number | null;
  sampler: Sampler;
  /** A stack on another machine: the engine's stats streams the sampler reads (closed after the load). */
  probe: { close(): void } | null;
  listenWatch: Awaited<ReturnType<typeof watchListenQueues>>;
  /** From a load namespace: its record, once the load has stopped. */
  loadHostWatch: ((peers: Record<string, number> | null) => Promise<LoadHostRecord>) | null;
}

/** Where a remote stack's listen queues are read: its host, through its engine (lab/docker/remote-host.ts). */
async function remoteListenSource(stack: StackInfo): Promise<ListenSource> {
  const { remoteListenText } = await import('../lab/docker/remote-host.js');
  const image = String(stack.config.baseImage);
  return { where: `the stack host ${stack.remote!.host.name}`, read: async () => parseRemoteListen(await remoteListenText(image)) };
}

async function openCell(o: ProfileRunOptions, c: CellSpec, all: readonly CellSpec[], external?: string): Promise<OpenCell> {
  const { p, setup, stack } = c;
  const url = stack ? pageUrl(stack, p) : external!;
  assertTarget(o, url);
  const startedAt = new Date().toISOString();
  logStep(`${p.name}: ${p.concurrency} clients, ${p.warmupS} s warm-up + ${p.durationS} s on ${url}${setup ? ` (queue server on ${setupLabel(setup)})` : ''}`);
  // Read back before the load, while the process the stack started is surely the one running.
  // A stack on a remote engine: over the network (its /metrics) and through that engine (its log).
  const queueServer = !stack
    ? null
    : stack.remote
      ? await observeRemoteQueueServer(stack, setup, (await import('../lab/docker/index.js')).dockerContainerLog)
      : observeQueueServer(stack, setup);
  const noDrain = stack !== null && p.queueImpl === 'seed2013';
  let before: Counts | null = null;
  let lengthBefore: number | null = null;
  if (stack && noDrain) lengthBefore = await queueLength(stack.queue.host, stack.queue.port);
  else if (stack) before = await readCounts(stack.mysql, stack.queue);
  const services: Record<string, number | null> = {};
  for (const s of stack?.services ?? []) services[s.name] = s.pid;
  // The other stacks loaded at once are this process's children too: they are not the load generator.
  const notGenerator = all.flatMap((x) => (x.stack && x.stack !== stack ? x.stack.services.map((s) => s.pid) : [])).filter((x): x is number => x !== null);
  // Other work competes with the stack on its host, and with the generator on this one: both are read, one
  // after the other (starting the helper container on the stack's host is work on this one too: 11% read so here).
  const busyBefore = await cpuBusyBefore();
  const stackHostBusyBefore = stack?.remote
    ? await import('../lab/docker/remote-host.js').then((m) => m.remoteBusyPct(String(stack.config.baseImage))).catch(() => null)
    : null;
  // A stack on another machine: each service's CPU and memory from its engine's stats, read on that host.
  let probe: InstanceType<typeof import('../lab/docker/engine-api.js').StatsStreams> | null = null;
  if (stack?.remote) {
    const { StatsStreams } = await import('../lab/docker/engine-api.js');
    probe = new StatsStreams(stack.remote.containers);
    await probe.open();
  }
  const sampler = new Sampler({
    services,
    notGenerator,
    cgroup: stack?.limits.usageDirs && stack.limits.cgroupVersion ? { version: stack.limits.cgroupVersion, ...stack.limits.usageDirs } : null,
    queue: stack ? { host: stack.queue.host, metricsPort: stack.queue.metricsPort } : null,
    probe,
  });
  // A remote stack's listen queues are its host's, read through its engine; the SYN retransmits stay this host's.
  const listenWatch = await watchListenQueues(stack ? stack.config : null, stack ? stack.services : null, stack?.remote ? await remoteListenSource(stack) : undefined);
  const loadHostWatch = o.loadNs ? await watchLoadHost(o.loadNs, endpointOf(url), await loadNamespaceSettings(o.loadNs)) : null;
  return { ...c, url, startedAt, queueServer, before, lengthBefore, busyBefore, stackHostBusyBefore, sampler, probe, listenWatch, loadHostWatch };
}

/** After the load: the summary lines, the loss or ack check, and the result document with its verdict. */
async function closeCell(
  o: ProfileRunOptions, c: OpenCell, d: Driven, budget: CpuBudget | null, driveWarnings: string[], batchId: string, commit: string | null,
  peers: Record<string, number> | null = null,
): Promise<{ doc: ResultDoc; lines: string[] }> {
  const { p, setup, stack, queueServer, url } = c;
  const listen = await c.listenWatch();
  const loadHost = c.loadHostWatch ? await c.loadHostWatch(peers) : null;
  const samples = c.sampler.samples;
  const lines = [...d.summary.lines, listenLine(listen), ...(loadHost ? [loadHostLine(loadHost)] : [])];
  if (budget) lines.push(budgetLine(budget));
  const cal = stack?.limits.calibration;
  if (cal && cal.cpus === null) lines.push(`Budget: ${cal.note}`);

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
  if (stack && c.lengthBefore !== null) {
    logStep(`${p.name}: no drain (2013-style server): waiting for php-fpm's backlog, then reading the queue length`);
    const after = await settledLength(stack.queue.host, stack.queue.port, o.drainTimeoutS ?? 120);
    acks = judgeAcks(c.lengthBefore, after.length, p.enqueues ? d.summary.strict_ok : null, after.waitS);
    lines.push(ackLine(acks));
  }
  if (stack && c.before) {
    logStep(`${p.name}: waiting for the queue to drain, then counting rows`);
    loss = await lossCheck({
      mysql: stack.mysql, queue: stack.queue, before: c.before, strictOk: p.enqueues ? d.summary.strict_ok : null,
      timeoutS: o.drainTimeoutS ?? 120, log: logStep,
    });
    lines.push(lossLine(loss));
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
  warnings.push(...driveWarnings, ...(budget?.warnings ?? []));
  if (cal && cal.cpus === null) warnings.push(cal.note);
  for (const w of [...driveWarnings, ...(budget?.warnings ?? [])]) logStep(`warning: ${w}`);
  if (d.summary.strict_ok === 0 && d.summary.succeeded + d.summary.failed > 0) reasons.push('no strict success at all: the stack answered no HTTP 200 with the success signal');
  if (d.summary.failed > 0) warnings.push(`${d.summary.failed} failed requests`);
  const wall = d.loadgen.wall_s;
  if (wall !== undefined && wall !== null && wall > p.durationS + WEBBENCH_START_S) {
    warnings.push(`webbench ran ${wall} s for its -t ${p.durationS}: its clients started over several seconds, and its Speed (their requests ÷ ${p.durationS} s) is overstated`);
  }

  const machine = { ...machineInfo(), busy_before_pct: c.busyBefore };
  const doc: ResultDoc = {
    schema_version: 1,
    batch_id: batchId,
    profile: p.name,
    runtime: stack ? stack.runtime : 'external',
    tool: d.tool,
    queue_server: queueServer,
    started_at: c.startedAt,
    finished_at: new Date().toISOString(),
    load_started_at: d.startedAt === null ? null : new Date(d.startedAt).toISOString(),
    commit,
    url,
    machine,
    limits: stack ? stack.limits : null,
    stack_host: stack?.remote ? { ...stack.remote.host, busy_before_pct: c.stackHostBusyBefore } : null,
    load_host: loadHost,
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
    series: { load: d.load, samples, samples_started_at: new Date(c.sampler.startedAt).toISOString() },
    histogram: d.histogram,
    listen_queues: listen,
    verdict: { ok: reasons.length === 0, reasons: [...reasons, ...warnings.map((w) => `warning: ${w}`)] },
  };
  return { doc, lines };
}

/** The cells' loads, with the samplers running; the samplers stop even when a load fails. */
async function measure(o: ProfileRunOptions, cells: OpenCell[], run: (onStart: OnStart) => Promise<Driven[]>): Promise<{ ds: Driven[] } & Window> {
  for (const c of cells) c.sampler.start();
  try {
    return await driveOutsideBudget(o, cells[0]!.p, cells.map((c) => c.stack), run);
  } finally {
    for (const c of cells) {
      await c.sampler.stop();
      c.probe?.close();
    }
  }
}

export async function runProfile(o: ProfileRunOptions, p: Profile, setup: QueueSetup | null, stack: StackInfo | null, batchId: string, commit: string | null): Promise<ResultDoc> {
  const spec = { p, setup, stack };
  const cell = await openCell(o, spec, [spec], o.url);
  const m = await measure(o, [cell], async (onStart) => [await drive(o, p, cell.url, onStart)]);
  const { doc, lines } = await closeCell(o, cell, m.ds[0]!, m.budgets[0]!, m.warnings, batchId, commit, m.peers[0]);
  for (const l of lines) console.log(l);
  return doc;
}

/**
 * Several stacks loaded at the same instant, each by a load generator process of its own (a process cannot
 * hold two 10,000-client loads here), all in one generator cgroup outside every stack; one result per
 * cell, in order. The checks after the load (drain, php-fpm's backlog) run side by side too.
 */
export async function runTogether(o: ProfileRunOptions, specs: CellSpec[], batchId: string, commit: string | null): Promise<ResultDoc[]> {
  if (specs.some((s) => s.stack === null)) throw new Error('runTogether loads stacks the bench started (no --url)');
  if (specs.some((s) => s.p.kind !== 'webbench')) throw new Error('runTogether drives webbench-style profiles only');
  const cells: OpenCell[] = [];
  for (const s of specs) cells.push(await openCell(o, s, specs));
  const progress = progressLine(`[${cells.map((c) => c.p.name + (c.p.queueImpl === 'seed2013' ? ' (2013-style)' : '')).join(' + ')}]`);
  let m: Awaited<ReturnType<typeof measure>>;
  try {
    m = await measure(o, cells, async (onStart) => {
      const rs = await runLoadsTogether(cells.map((c) => loadOptions(o, c.p, c.url)), progress.update, onStart, insideOf(o));
      return rs.map((r, i) => fromHttpLoad(r, cells[i]!.p));
    });
  } finally {
    progress.done();
  }
  const closed = await Promise.all(cells.map((c, i) => closeCell(o, c, m.ds[i]!, m.budgets[i]!, m.warnings, batchId, commit, m.peers[i])));
  // Each stack's lines as one block, in the cells' order, whichever check finished first.
  closed.forEach(({ lines }, i) => {
    console.log(`# ${specs[i]!.heading ?? cells[i]!.p.name}`);
    for (const l of lines) console.log(l);
  });
  return closed.map((c) => c.doc);
}
