// Spreads C closed-loop clients over worker threads (one per core by default) and merges their results.
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import type { ProtoMode, WorkerConfig, WorkerResult } from './load-worker.js';
import { decodeInto, newHistogram } from '@eserver-lab/common/latency-histogram';
import { WORKER_READY } from './load-worker.js';
import { enqueueRequest, EXPECTED_OK } from './frames.js';

export interface ProtocolLoadOptions {
  host: string;
  port: number;
  mode: ProtoMode;
  concurrency: number;
  durationMs: number;
  threads?: number;
  /**
   * How many loopback source addresses (127.0.0.1 ... 127.0.0.N) to bind connections to. Default 0: none,
   * connect() picks the source port. A bound address makes every new connection search for a free port
   * among all sockets bound to it, TIME_WAIT ones included, so a cell's generator cost would depend on
   * how many connections the cells before it made (measured: 300 req/s instead of 3,400 after ~90k).
   */
  sourceAddrCount?: number;
  timeoutMs?: number;
  request?: Buffer;
  expected?: Buffer;
}

export interface ProtocolLoadResult {
  mode: ProtoMode;
  concurrency: number;
  durationS: number;
  ok: number;
  failed: number;
  unfinished: number;
  errors: Record<string, number>;
  reqPerSec: number;
  latencyUs: { p50: number; p99: number; p999: number; max: number; mean: number };
}

export function sourceAddrs(n: number): string[] {
  return Array.from({ length: Math.max(1, Math.min(254, n)) }, (_, i) => `127.0.0.${i + 1}`);
}

const WORKER_URL = new URL('./load-worker.js', import.meta.url);

export async function runProtocolLoad(opts: ProtocolLoadOptions): Promise<ProtocolLoadResult> {
  const threads = Math.max(1, Math.min(opts.threads ?? availableParallelism(), opts.concurrency));
  const addrs = opts.sourceAddrCount ? sourceAddrs(opts.sourceAddrCount) : [];
  const request = opts.request ?? enqueueRequest();
  const expected = opts.expected ?? EXPECTED_OK;
  const workers: Worker[] = [];
  const loaded: Promise<void>[] = [];
  const results: Promise<WorkerResult>[] = [];
  let first = 0;
  for (let t = 0; t < threads; t++) {
    const clients = Math.floor(opts.concurrency / threads) + (t < opts.concurrency % threads ? 1 : 0);
    const cfg: WorkerConfig = {
      host: opts.host,
      port: opts.port,
      mode: opts.mode,
      clients,
      firstClient: first,
      sourceAddrs: addrs,
      request: new Uint8Array(request),
      expected: new Uint8Array(expected),
      durationMs: opts.durationMs,
      timeoutMs: opts.timeoutMs ?? 10_000,
    };
    first += clients;
    const w = new Worker(WORKER_URL, { workerData: { protoLoadWorker: true, cfg } });
    workers.push(w);
    const gone = new Promise<never>((_, rej) => {
      w.once('error', rej);
      w.once('exit', (code) => rej(new Error(`load worker exited ${code} before reporting`)));
    });
    gone.catch(() => {}); // seen through the races below
    let onReady!: () => void;
    let onResult!: (r: WorkerResult) => void;
    loaded.push(Promise.race([new Promise<void>((r) => (onReady = r)), gone]));
    results.push(Promise.race([new Promise<WorkerResult>((r) => (onResult = r)), gone]));
    w.on('message', (m: typeof WORKER_READY | WorkerResult) => (m === WORKER_READY ? onReady() : onResult(m)));
  }
  let all: WorkerResult[];
  try {
    // Threads start together once every one has loaded (which takes over a second on a busy machine), so
    // that the window is the same for every client and as long as asked.
    await Promise.all(loaded);
    const startAt = Date.now() + 100;
    for (const w of workers) w.postMessage({ startAt });
    all = await Promise.all(results);
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  return mergeResults(opts, all);
}

export function mergeResults(opts: Pick<ProtocolLoadOptions, 'mode' | 'concurrency' | 'durationMs'>, all: WorkerResult[]): ProtocolLoadResult {
  const hist = newHistogram();
  const errors: Record<string, number> = {};
  let ok = 0;
  let failed = 0;
  let unfinished = 0;
  for (const r of all) {
    ok += r.ok;
    failed += r.failed;
    unfinished += r.unfinished;
    for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
    decodeInto(hist, r.histogram);
  }
  const durationS = opts.durationMs / 1000;
  return {
    mode: opts.mode,
    concurrency: opts.concurrency,
    durationS,
    ok,
    failed,
    unfinished,
    errors,
    reqPerSec: ok / durationS,
    latencyUs: {
      p50: hist.getValueAtPercentile(50),
      p99: hist.getValueAtPercentile(99),
      p999: hist.getValueAtPercentile(99.9),
      max: hist.maxValue,
      mean: hist.mean,
    },
  };
}
