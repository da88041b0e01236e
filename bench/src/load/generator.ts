// The webbench-equivalent load generator: spreads N closed-loop clients over worker threads (one
// per core by default), merges their per-second counters and latency histograms, and measures its
// own CPU over the measured window.
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { addCounters, emptyCounters, type Counters } from './counters.js';
import { summarize, type LatencySummaryMs } from './histogram.js';
import { decodeInto, encode, newHistogram, type Histogram } from '@eserver-lab/common/latency-histogram';
import type { StartMsg, WorkerConfig, WorkerMsg } from './protocol.js';
import { buildRequest, parseTarget } from './request.js';
import { webbenchFigures, type WebbenchFigures } from './summary.js';

export interface HttpLoadOptions {
  url: string;
  clients: number;
  durationS: number;
  warmupS: number;
  /** Worker threads; default one per core. */
  workers?: number;
  /**
   * How many 127.0.0.x source addresses to spread over (loopback targets only); 0 = kernel's choice.
   * Default 0: measured here, bind() before connect() with many sockets in TIME_WAIT costs more CPU
   * than it saves, and net.ipv4.tcp_tw_reuse=2 (the kernel default) already reuses loopback ports.
   */
  sourceAddresses?: number;
  timeoutMs?: number;
  successSignal: string | null;
  onProgress?: (p: Progress) => void;
  /**
   * Tests only: worker i waits workerLoadDelayMs[i] ms before loading its clients, standing in for a
   * worker that loads slowly on a busy machine.
   */
  workerLoadDelayMs?: readonly number[];
  /**
   * Called once every worker has loaded its clients; resolves to the instant (epoch ms) the load starts.
   * Loads run side by side (each in a process of its own) agree on one instant this way. Default: now.
   */
  startAt?: () => Promise<number>;
}

export interface Progress {
  phase: 'warmup' | 'measure';
  /** Seconds elapsed in the current phase. */
  elapsedS: number;
  phaseS: number;
  /** Completions (success + failure) in the last full second, all workers. */
  reqPerSec: number;
  errorsTotal: number;
}

export interface SecondPoint {
  t: number;
  requests: number;
  succeeded: number;
  failed: number;
  strict_ok: number | null;
  bytes: number;
  errors: number;
  p50_ms: number | null;
  p99_ms: number | null;
}

export interface HttpLoadResult {
  url: string;
  clients: number;
  workers: number;
  durationS: number;
  warmupS: number;
  sourceAddresses: string[] | null;
  counters: Counters;
  warmup: Counters;
  webbench: WebbenchFigures;
  latency: LatencySummaryMs;
  /** Merged latency histogram (µs), compressed base64, so a report can re-derive any percentile. */
  histogram: string;
  series: SecondPoint[];
  /** CPU of this whole process (all threads) over the measured window. */
  cpu: { userMs: number; systemMs: number; usPerRequest: number | null };
  /** When the clients started (epoch ms): loads run side by side share it. */
  startedAt: number;
}

const isLoopback = (host: string) => /^127\./.test(host) || host === 'localhost';

export function sourceAddressList(host: string, n: number): string[] | null {
  if (n <= 0 || !isLoopback(host)) return null;
  return Array.from({ length: n }, (_, i) => `127.0.0.${i + 1}`);
}

interface SecAcc { counters: Counters; hist: Histogram | null }

/**
 * Between the last worker's ready message and the shared start: time for the start message to reach
 * every worker, so all begin at the same instant rather than each when its message lands.
 */
const START_MARGIN_MS = 100;

export async function runHttpLoad(o: HttpLoadOptions): Promise<HttpLoadResult> {
  const target = parseTarget(o.url);
  const host = target.host === 'localhost' ? '127.0.0.1' : target.host;
  const nWorkers = Math.max(1, Math.min(o.workers ?? os.availableParallelism(), o.clients));
  const sources = sourceAddressList(host, o.sourceAddresses ?? 0);
  const request = buildRequest(target);

  const perSec = new Map<number, SecAcc>();
  const warm = emptyCounters();
  /** Completions per warm-up second (negative indexes), for the progress line only. */
  const warmSec = new Map<number, number>();
  const total = newHistogram();
  const cut = emptyCounters();
  let cpuAtMeasure: NodeJS.CpuUsage | null = null;
  let cpuAtEnd: NodeJS.CpuUsage | null = null;
  let cpuTimers: NodeJS.Timeout[] = [];
  let progressTimer: NodeJS.Timeout | null = null;
  let errorsTotal = 0;

  /** The generator's own timers, on the same instants as the workers' windows. */
  function startClocks({ startAt, measureAt, endAt }: StartMsg): void {
    cpuTimers = [
      setTimeout(() => { cpuAtMeasure = process.cpuUsage(); }, Math.max(0, measureAt - Date.now())),
      setTimeout(() => { cpuAtEnd = process.cpuUsage(); }, Math.max(0, endAt - Date.now())),
    ];
    progressTimer = o.onProgress
      ? setInterval(() => {
          const now = Date.now();
          const inWarm = now < measureAt;
          const sec = Math.floor((now - measureAt) / 1000) - 1;
          const c = perSec.get(sec)?.counters;
          const last = c ? c.succeeded + c.failed : warmSec.get(sec) ?? 0;
          o.onProgress!({
            phase: inWarm ? 'warmup' : 'measure',
            elapsedS: Math.max(0, (now - (inWarm ? startAt : measureAt)) / 1000),
            phaseS: inWarm ? o.warmupS : o.durationS,
            reqPerSec: last,
            errorsTotal,
          });
        }, 1000)
      : null;
  }

  const per = Math.floor(o.clients / nWorkers);
  const extra = o.clients % nWorkers;
  let first = 0;
  const workers: Worker[] = [];
  const ready: Promise<void>[] = [];
  const runs: Promise<void>[] = [];
  for (let w = 0; w < nWorkers; w++) {
    const clients = per + (w < extra ? 1 : 0);
    const cfg: WorkerConfig = {
      host, port: target.port, request, clients, localAddresses: sources, firstClient: first,
      timeoutMs: o.timeoutMs ?? 0, successSignal: o.successSignal,
      loadDelayMs: o.workerLoadDelayMs?.[w] ?? 0,
    };
    first += clients;
    const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: cfg });
    workers.push(worker);
    let loaded = false;
    let onReady!: () => void;
    ready.push(new Promise<void>((r) => (onReady = r)));
    runs.push(new Promise<void>((resolve, reject) => {
      let done = false;
      const stage = () => (loaded ? 'before finishing' : 'before it was ready');
      worker.on('message', (m: WorkerMsg) => {
        if (m.type === 'ready') {
          loaded = true;
          onReady();
        } else if (m.type === 'second') {
          errorsTotal += m.counters.failed;
          if (m.sec < 0) {
            addCounters(warm, m.counters);
            warmSec.set(m.sec, (warmSec.get(m.sec) ?? 0) + m.counters.succeeded + m.counters.failed);
            return;
          }
          let acc = perSec.get(m.sec);
          if (!acc) { acc = { counters: emptyCounters(), hist: null }; perSec.set(m.sec, acc); }
          addCounters(acc.counters, m.counters);
          if (m.hist) {
            if (!acc.hist) acc.hist = newHistogram();
            decodeInto(acc.hist, m.hist);
          }
        } else {
          addCounters(cut, m.cut);
          done = true;
          // The worker's sockets are all destroyed; ending it now avoids waiting for their close events.
          void worker.terminate().then(() => resolve());
        }
      });
      worker.on('error', (err) => reject(new Error(`load worker ${w} failed ${stage()}: ${err.message}`, { cause: err })));
      worker.on('exit', (code) => { if (!done) reject(new Error(`load worker ${w} exited with code ${code} ${stage()}`)); });
    }));
  }
  const finished = Promise.all(runs);
  let startedAt = 0;
  try {
    // Every phase boundary is an absolute instant all workers share, fixed only once all have loaded:
    // on a busy machine loading one takes over a second, so a fixed allowance left some with a
    // shortened window or none. A worker that fails meanwhile settles `finished` and ends the wait.
    await Promise.race([Promise.all(ready), finished]);
    const startAt = (o.startAt ? await Promise.race([o.startAt(), finished.then(() => Date.now())]) : Date.now()) + START_MARGIN_MS;
    const measureAt = startAt + o.warmupS * 1000;
    const start: StartMsg = { type: 'start', startAt, measureAt, endAt: measureAt + o.durationS * 1000 };
    startedAt = startAt;
    startClocks(start);
    for (const worker of workers) worker.postMessage(start);
    await finished;
  } catch (err) {
    // Workers still waiting for their start message would never end on their own.
    await Promise.all(workers.map((worker) => worker.terminate()));
    throw err;
  } finally {
    if (progressTimer) clearInterval(progressTimer);
    cpuTimers.forEach(clearTimeout);
  }

  const counters = emptyCounters();
  const series: SecondPoint[] = [];
  for (let s = 0; s < Math.ceil(o.durationS); s++) {
    const acc = perSec.get(s);
    const c = acc?.counters ?? emptyCounters();
    addCounters(counters, c);
    if (acc?.hist) total.add(acc.hist);
    series.push({
      t: s + 1,
      requests: c.succeeded + c.failed,
      succeeded: c.succeeded,
      failed: c.failed,
      strict_ok: c.strictOk,
      bytes: c.bytes,
      errors: c.failed,
      p50_ms: acc?.hist ? acc.hist.getValueAtPercentile(50) / 1000 : null,
      p99_ms: acc?.hist ? acc.hist.getValueAtPercentile(99) / 1000 : null,
    });
    acc?.hist?.destroy();
  }
  addCounters(counters, cut);
  const end = cpuAtEnd ?? process.cpuUsage();
  const startCpu = cpuAtMeasure ?? { user: 0, system: 0 };
  const userMs = (end.user - startCpu.user) / 1000;
  const systemMs = (end.system - startCpu.system) / 1000;
  const reqs = counters.succeeded + counters.failed;
  const result: HttpLoadResult = {
    url: o.url,
    clients: o.clients,
    workers: nWorkers,
    durationS: o.durationS,
    warmupS: o.warmupS,
    sourceAddresses: sources,
    counters,
    warmup: warm,
    webbench: webbenchFigures(counters.succeeded, counters.failed, counters.bytes, o.durationS),
    latency: summarize(total),
    histogram: encode(total),
    series,
    cpu: { userMs, systemMs, usPerRequest: reqs > 0 ? ((userMs + systemMs) * 1000) / reqs : null },
    startedAt,
  };
  total.destroy();
  return result;
}
