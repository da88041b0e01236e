// One load-driver thread. It runs its share of the clients as a closed loop (each client has exactly one
// request in flight, like a php-fpm child or a webbench client) and reports counts and a latency histogram.
import { parentPort, workerData } from 'node:worker_threads';
import { connect, type Socket } from 'node:net';
import { encode, newHistogram } from '@eserver-lab/common/latency-histogram';

export type ProtoMode = 'conn-per-req' | 'persistent';

export interface WorkerConfig {
  host: string;
  port: number;
  mode: ProtoMode;
  clients: number;
  /** First client index of this worker, so source addresses spread evenly across workers. */
  firstClient: number;
  /** Source addresses to bind, round robin; empty: none (connect() picks). */
  sourceAddrs: string[];
  request: Uint8Array;
  expected: Uint8Array;
  durationMs: number;
  /** Max time for one request before it counts as failed. */
  timeoutMs: number;
}

export interface WorkerResult {
  ok: number;
  failed: number;
  /** Failure counts by cause: an errno, 'timeout', 'closed', or 'reply:<cmd>'. */
  errors: Record<string, number>;
  /** Requests in flight when the window closed (counted neither way, like webbench). */
  unfinished: number;
  histogram: string;
  elapsedMs: number;
}

function sameBytes(a: Buffer, b: Uint8Array): boolean {
  return a.length === b.length && a.equals(b);
}

export function runWorker(cfg: WorkerConfig, startAt: number): Promise<WorkerResult> {
  const hist = newHistogram();
  const errors: Record<string, number> = {};
  let ok = 0;
  let failed = 0;
  let inFlight = 0;
  const request = Buffer.from(cfg.request);
  const expected = Buffer.from(cfg.expected);
  const endAt = startAt + cfg.durationMs;
  let closing = false;
  const sockets = new Set<Socket>();

  const fail = (why: string): void => {
    if (performance.now() > endAt) return;
    failed++;
    errors[why] = (errors[why] ?? 0) + 1;
  };

  return new Promise((resolveAll) => {
    let liveClients = cfg.clients;
    const clientDone = (): void => {
      if (--liveClients === 0) finish();
    };
    const finish = (): void => {
      for (const s of sockets) s.destroy();
      resolveAll({ ok, failed, errors, unfinished: inFlight, histogram: encode(hist), elapsedMs: cfg.durationMs });
    };
    const hardStop = setTimeout(() => {
      closing = true;
      finish();
    }, Math.max(0, endAt - performance.now()) + Math.min(cfg.timeoutMs, 3000));

    const startClient = (idx: number): void => {
      const localAddress = cfg.sourceAddrs.length > 0 ? cfg.sourceAddrs[idx % cfg.sourceAddrs.length] : undefined;
      let sock: Socket | null = null;
      let reply: Buffer[] = [];
      let replyLen = 0;
      let sentAt = 0;
      let timer: NodeJS.Timeout | undefined;
      let settled = true;

      const settle = (outcome: 'ok' | string): void => {
        if (settled) return;
        settled = true;
        inFlight--;
        if (timer) clearTimeout(timer);
        const now = performance.now();
        if (outcome === 'ok') {
          if (now <= endAt) {
            ok++;
            hist.recordValue(Math.max(1, Math.round((now - sentAt) * 1000)));
          }
        } else {
          fail(outcome);
        }
        if (cfg.mode === 'conn-per-req' || outcome !== 'ok') {
          const s = sock;
          sock = null;
          if (s) {
            sockets.delete(s);
            s.destroy();
          }
        }
        if (now >= endAt || closing) return clientDone();
        // A failed connection attempt is retried at once: webbench does the same, and the failures are counted.
        setImmediate(next);
      };

      const onData = (chunk: Buffer): void => {
        reply.push(chunk);
        replyLen += chunk.length;
        if (replyLen < 4) return;
        const all = reply.length === 1 ? reply[0] : Buffer.concat(reply, replyLen);
        reply = [all];
        const need = 4 + all.readUInt16BE(2);
        if (replyLen < need) return;
        const frame = all.subarray(0, need);
        reply = [];
        replyLen = 0;
        if (sameBytes(frame, expected)) settle('ok');
        else settle(`reply:${frame.readUInt16BE(0)}`);
      };

      const open = (): Socket => {
        const s = connect({ host: cfg.host, port: cfg.port, localAddress, noDelay: true });
        sockets.add(s);
        // Events of a socket that this client already let go of (closed after its reply) are ignored.
        s.on('data', (c: Buffer) => {
          if (sock === s) onData(c);
        });
        s.on('error', (e: NodeJS.ErrnoException) => {
          if (sock === s) settle(e.code ?? 'error');
        });
        s.on('close', () => {
          if (sock === s) settle('closed');
        });
        return s;
      };

      const next = (): void => {
        if (performance.now() >= endAt || closing) return clientDone();
        settled = false;
        inFlight++;
        reply = [];
        replyLen = 0;
        sentAt = performance.now();
        timer = setTimeout(() => settle('timeout'), cfg.timeoutMs);
        if (!sock) sock = open();
        // write() before 'connect' is queued by net.Socket and flushed once connected.
        sock.write(request);
      };
      next();
    };

    if (cfg.clients === 0) {
      clearTimeout(hardStop);
      return finish();
    }
    for (let i = 0; i < cfg.clients; i++) startClient(cfg.firstClient + i);
  }).then((r) => r as WorkerResult);
}

/** The first message of a worker thread: it has loaded and waits for the start time. */
export const WORKER_READY = 'ready';

// When loaded as a worker thread: say it is ready, wait for the shared start time, run, post the result.
if (parentPort && workerData && (workerData as { protoLoadWorker?: boolean }).protoLoadWorker) {
  const port = parentPort;
  const cfg = (workerData as { cfg: WorkerConfig }).cfg;
  port.once('message', (msg: { startAt: number }) => {
    // performance.now() has a per-thread origin; convert the wall-clock start into this thread's clock.
    const startAt = performance.now() + (msg.startAt - Date.now());
    const delay = Math.max(0, msg.startAt - Date.now());
    setTimeout(() => {
      runWorker(cfg, startAt).then((r) => port.postMessage(r));
    }, delay);
  });
  port.postMessage(WORKER_READY);
}
