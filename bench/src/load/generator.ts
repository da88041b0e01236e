// The webbench-equivalent load generator: spreads N closed-loop clients over worker threads (one
// per core by default), merges their per-second counters and latency histograms, and measures its
// own CPU over the measured window.
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { addCounters, emptyCounters, type Counters } from './counters.js';
import { summarize, type LatencySummaryMs } from './histogram.js';
import { decodeInto, encode, newHistogram, type Histogram } from '@eserver-lab/testkit/latency-histogram';
import type { WorkerConfig, WorkerMsg } from './protocol.js';
import { buildRequest, parseTarget } from './request.js';
import { webbenchFigures, type WebbenchFigures } from './summary.js';

export interface LoadOptions {
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

export interface LoadResult {
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
}

const isLoopback = (host: string) => /^127\./.test(host) || host === 'localhost';

export function sourceAddressList(host: string, n: number): string[] | null {
  if (n <= 0 || !isLoopback(host)) return null;
  return Array.from({ length: n }, (_, i) => `127.0.0.${i + 1}`);
}

interface SecAcc { counters: Counters; hist: Histogram | null }

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const target = parseTarget(o.url);
  const host = target.host === 'localhost' ? '127.0.0.1' : target.host;
  const nWorkers = Math.max(1, Math.min(o.workers ?? os.availableParallelism(), o.clients));
  const sources = sourceAddressList(host, o.sourceAddresses ?? 0);
  const request = buildRequest(target);
  // Workers need a moment to load; every phase boundary is an absolute instant they all share.
  const startAt = Date.now() + 300;
  const measureAt = startAt + o.warmupS * 1000;
  const endAt = measureAt + o.durationS * 1000;

  const perSec = new Map<number, SecAcc>();
  const warm = emptyCounters();
  /** Completions per warm-up second (negative indexes), for the progress line only. */
  const warmSec = new Map<number, number>();
  const total = newHistogram();
  const cut = emptyCounters();
  let cpuAtMeasure: NodeJS.CpuUsage | null = null;
  let cpuAtEnd: NodeJS.CpuUsage | null = null;
  const cpuTimers = [
    setTimeout(() => { cpuAtMeasure = process.cpuUsage(); }, Math.max(0, measureAt - Date.now())),
    setTimeout(() => { cpuAtEnd = process.cpuUsage(); }, Math.max(0, endAt - Date.now())),
  ];

  let errorsTotal = 0;
  const progressTimer = o.onProgress
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

  const per = Math.floor(o.clients / nWorkers);
  const extra = o.clients % nWorkers;
  let first = 0;
  const runs: Promise<void>[] = [];
  for (let w = 0; w < nWorkers; w++) {
    const clients = per + (w < extra ? 1 : 0);
    const cfg: WorkerConfig = {
      host, port: target.port, request, clients, localAddresses: sources, firstClient: first,
      startAt, measureAt, endAt, timeoutMs: o.timeoutMs ?? 0, successSignal: o.successSignal,
      loadDelayMs: o.workerLoadDelayMs?.[w] ?? 0,
    };
    first += clients;
    const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: cfg });
    runs.push(new Promise<void>((resolve, reject) => {
      let done = false;
      worker.on('message', (m: WorkerMsg) => {
        if (m.type === 'second') {
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
      worker.on('error', reject);
      worker.on('exit', (code) => { if (!done) reject(new Error(`load worker ${w} exited with code ${code} before finishing`)); });
    }));
  }
  try {
    await Promise.all(runs);
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
  const result: LoadResult = {
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
  };
  total.destroy();
  return result;
}
