// One worker thread of the webbench-equivalent generator: a share of the virtual clients, each in a
// closed loop of connect -> write the request -> read to EOF -> close -> next, with no think time.
// Per-request work is kept small: one Socket object per client, reconnected for each request, with
// its handlers attached once; one shared request Buffer and read buffer; latencies batched into a
// histogram once per second.
import net from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { emptyCounters, errorKind, type Counters } from './counters.js';
import { encode, newHistogram } from '@eserver-lab/common/latency-histogram';
import type { StartMsg, WorkerConfig, WorkerMsg } from './protocol.js';

const cfg = workerData as WorkerConfig;
const request = Buffer.from(cfg.request.buffer, cfg.request.byteOffset, cfg.request.byteLength);
const signal = cfg.successSignal === null ? null : Buffer.from(cfg.successSignal, 'latin1');
// Enough for the status line, headers and the start of the body of the lab's pages.
const HEAD_CAP = 1024;
// One read buffer per thread, shared by every socket (net's `onread`): reads are handled
// synchronously, so no per-read Buffer is allocated and no stream 'data' machinery runs.
const READ_BUF = Buffer.allocUnsafe(64 * 1024);
const CR_LF_CR_LF = Buffer.from('\r\n\r\n', 'latin1');
const HTTP_ = Buffer.from('HTTP/', 'latin1');

// Wall-clock instants converted once to this thread's performance clock; set by the start message.
const toPerf = (epochMs: number) => epochMs - performance.timeOrigin;
let measurePerf = 0;
let endPerf = 0;
let lastSec = 0;

let stopping = false;
let curSec = Number.NEGATIVE_INFINITY;
let bucket = emptyCounters();
let lats: number[] = [];

function post(msg: WorkerMsg): void {
  parentPort!.postMessage(msg);
}

function flush(): void {
  if (curSec !== Number.NEGATIVE_INFINITY) {
    let hist: string | null = null;
    if (curSec >= 0 && lats.length > 0) {
      const h = newHistogram();
      for (let i = 0; i < lats.length; i++) h.recordValue(lats[i]);
      hist = encode(h);
      h.destroy();
    }
    post({ type: 'second', sec: curSec, counters: bucket, hist });
  }
  bucket = emptyCounters();
  lats = [];
}

function secondOf(now: number): number {
  const s = Math.floor((now - measurePerf) / 1000);
  // A completion in the same tick as the end timer belongs to the last second, as webbench
  // counts a read that the alarm interrupts after data arrived.
  return s > lastSec ? lastSec : s;
}

function roll(now: number): void {
  const s = secondOf(now);
  if (s !== curSec) {
    flush();
    curSec = s;
  }
}

/** HTTP status from the first bytes ("HTTP/1.x NNN"); 0 when the reply is not HTTP. */
function statusOf(head: Buffer): number {
  if (head.length < 12 || head.compare(HTTP_, 0, 5, 0, 5) !== 0) return 0;
  const a = head[9] - 48, b = head[10] - 48, c = head[11] - 48;
  if (a < 0 || a > 9 || b < 0 || b > 9 || c < 0 || c > 9) return 0;
  return a * 100 + b * 10 + c;
}

function bodyHasSignal(head: Buffer): boolean {
  if (signal === null) return true;
  const idx = head.indexOf(CR_LF_CR_LF);
  if (idx < 0) return false;
  let i = idx + 4;
  while (i < head.length && (head[i] === 32 || head[i] === 9 || head[i] === 10 || head[i] === 13)) i++;
  return head.length - i >= signal.length && head.compare(signal, 0, signal.length, i, i + signal.length) === 0;
}

class Client {
  /**
   * One net.Socket per virtual client, reconnected after each 'close' (Node supports connect() on a
   * closed socket): building a new Socket and its stream state per request cost about 40% more CPU
   * per request than reusing it, measured against nginx on this VM. Each request is still a new TCP
   * connection, exactly as webbench makes.
   */
  private readonly sock: net.Socket;
  private busy = false;
  private started = 0;
  private bytes = 0;
  /** First HEAD_CAP bytes of the response, copied out of the shared read buffer. */
  private readonly head = Buffer.allocUnsafe(HEAD_CAP);
  private headLen = 0;
  private readonly target: net.TcpNetConnectOpts;

  constructor(localAddress: string | undefined) {
    this.target = localAddress ? { host: cfg.host, port: cfg.port, localAddress } : { host: cfg.host, port: cfg.port };
    // allowHalfOpen: at EOF Node would otherwise shutdown() our side before we close it: one more
    // syscall per request for nothing, since the socket is closed right away.
    // `onread` is accepted by the Socket constructor too (Node's typings list it for connect() only).
    const s = new net.Socket({ allowHalfOpen: true, onread: { buffer: READ_BUF, callback: (n: number) => this.onRead(n) } } as net.SocketConstructorOpts);
    // The request is written once connected, not queued before: a write queued on a connect that
    // fails leaves a 'connect' listener behind on a reused socket, and its error would land on the
    // next request.
    s.on('connect', () => s.write(request));
    s.on('end', () => this.finish());
    s.on('error', (err: NodeJS.ErrnoException) => this.fail(errorKind(err)));
    s.on('close', () => this.start());
    if (cfg.timeoutMs > 0) s.setTimeout(cfg.timeoutMs, () => this.fail('timeout'));
    this.sock = s;
  }

  private onRead(n: number): boolean {
    this.bytes += n;
    if (this.headLen < HEAD_CAP) this.headLen += READ_BUF.copy(this.head, this.headLen, 0, Math.min(n, HEAD_CAP - this.headLen));
    return true;
  }

  start(): void {
    if (stopping) return;
    this.busy = true;
    this.started = performance.now();
    this.bytes = 0;
    this.headLen = 0;
    this.sock.connect(this.target);
  }

  private finish(): void {
    if (!this.busy) return;
    this.busy = false;
    const now = performance.now();
    roll(now);
    bucket.succeeded++;
    bucket.bytes += this.bytes;
    const head = this.head.subarray(0, this.headLen);
    const code = statusOf(head);
    bucket.status[code] = (bucket.status[code] ?? 0) + 1;
    if (code === 200 && bodyHasSignal(head)) bucket.strictOk++;
    lats.push(Math.max(1, Math.round((now - this.started) * 1000)));
    this.sock.destroy(); // 'close' starts the next request
  }

  private fail(kind: keyof Counters['errors']): void {
    if (!this.busy) return; // one outcome per request, whatever else the socket reports
    this.busy = false;
    roll(performance.now());
    bucket.failed++;
    bucket.errors[kind]++;
    this.sock.destroy();
  }

  /** At the end of the run: a read in progress counts as a success when bytes arrived (webbench's rule). */
  cut(into: Counters): void {
    if (!this.busy) return;
    this.busy = false;
    if (this.bytes > 0) {
      into.succeeded++;
      into.cutAtEnd++;
      into.bytes += this.bytes;
    }
    this.sock.destroy();
  }
}

const clients: Client[] = [];
// Keeps the per-second series moving (and the progress line alive) even when nothing completes.
let ticker: NodeJS.Timeout | undefined;

function stop(): void {
  stopping = true;
  clearInterval(ticker);
  flush();
  curSec = Number.NEGATIVE_INFINITY;
  const cut = emptyCounters();
  for (const c of clients) c.cut(cut);
  post({ type: 'done', cut });
}

function begin(msg: StartMsg): void {
  measurePerf = toPerf(msg.measureAt);
  endPerf = toPerf(msg.endAt);
  lastSec = Math.max(0, Math.ceil((msg.endAt - msg.measureAt) / 1000) - 1);
  ticker = setInterval(() => roll(performance.now()), 200);
  setTimeout(() => {
    for (const c of clients) c.start();
    setTimeout(stop, Math.max(0, endPerf - performance.now()));
  }, Math.max(0, toPerf(msg.startAt) - performance.now()));
}

/**
 * Ready once loaded (modules imported above, clients and their sockets built, nothing sent): the
 * generator fixes the window only when every worker has said so, and sends its instants back.
 */
function load(): void {
  for (let i = 0; i < cfg.clients; i++) {
    const la = cfg.localAddresses;
    clients.push(new Client(la && la.length > 0 ? la[(cfg.firstClient + i) % la.length] : undefined));
  }
  parentPort!.once('message', begin);
  post({ type: 'ready' });
}

// Tests stand in for a slow-loading worker with loadDelayMs; 0 otherwise.
if (cfg.loadDelayMs > 0) setTimeout(load, cfg.loadDelayMs);
else load();
