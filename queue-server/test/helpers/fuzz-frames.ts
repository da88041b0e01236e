// Frame fuzzing over real sockets, shared by the test suite (a short run) and `make fuzz` (1M frames).
// Well-formed connections pipeline batches of frames, among them maximum-size frames of every command
// with bodies built to maximise JSON escaping, and check that every frame gets exactly one reply of the
// right kind. Garbage connections send random and mutated bytes and hang up. At the end the queue is
// drained: every entry the server acknowledged must come out of 8002 exactly once.
import net from 'node:net';
import { FrameCollector, encodeFrame, type Frame } from '../../src/codec.js';
import { rssBytes, scrape } from './cli.js';

const MAX = 0xffff;
const TABLE = 'bench_events';

/** Deterministic PRNG (xorshift32), so that a failing run can be replayed from its seed. */
export function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
}

/** A request and the reply commands it may get. */
interface Req {
  frame: Buffer;
  expect: readonly number[];
}

const OK_8001 = [8001, 9000];
const OK_8002 = [8002, 9000];
const OK_8003 = [8003, 9000];
const ERR = [9000];

// Characters by how they grow from the request (raw UTF-8, or JSON's escape) to the reply (\uXXXX).
const ESCAPE_UNITS = ['\u007f', '\u0001', '\u001f', '\n', '"', '\\\\', '\u00e9', '\u0800', '\uffff', '\u{1F600}', '\u2028'];

/** A JSON string body of exactly `bytes` bytes: `prefix` + filler of `unit` + padding + `suffix`. */
function exactJson(prefix: string, unit: string, suffix: string, bytes: number): Buffer {
  const fixed = Buffer.byteLength(JSON.stringify(prefix + suffix));
  const unitBytes = Buffer.byteLength(JSON.stringify(unit)) - 2;
  const n = Math.max(0, Math.floor((bytes - fixed) / unitBytes));
  const pad = 'a'.repeat(Math.max(0, bytes - fixed - n * unitBytes));
  return Buffer.from(JSON.stringify(prefix + unit.repeat(n) + pad + suffix));
}

/** `{"sql": "..."}` of exactly `bytes` bytes. */
function exactSql(head: string, unit: string, tail: string, bytes: number): Buffer {
  const inner = exactJson(head, unit, tail, bytes - '{"sql":}'.length);
  return Buffer.concat([Buffer.from('{"sql":'), inner, Buffer.from('}')]);
}

function frame(cmd: number, body: Buffer | string): Buffer {
  return encodeFrame(cmd, body);
}

/** One maximum-size (65535-byte body) request of a random command and escape-heavy content. */
export function maxSizeRequest(rand: () => number): Req {
  const unit = ESCAPE_UNITS[Math.floor(rand() * ESCAPE_UNITS.length)];
  switch (Math.floor(rand() * 7)) {
    case 0: // a statement the guard accepts; fits or gets ENTRY_TOO_LARGE depending on how it escapes
      return { frame: frame(8001, exactSql(`insert into ${TABLE} (num, s) values (%d, '`, unit, "')", MAX)), expect: OK_8001 };
    case 1: // echoed by the guard: a table name
      return { frame: frame(8001, exactSql('insert into `', unit, '` (num) values (%d)', MAX)), expect: ERR };
    case 2: // echoed by the parser: an identifier in VALUES
      return { frame: frame(8001, exactSql(`insert into ${TABLE} (num) values (`, 'A', ', %d)', MAX)), expect: ERR };
    case 3:
      return { frame: frame(8002, exactJson('', unit, '', MAX)), expect: OK_8002 };
    case 4:
      return { frame: frame(8003, exactJson('', unit, '', MAX)), expect: OK_8003 };
    case 5: {
      const b = Buffer.alloc(MAX);
      for (let i = 0; i < MAX; i++) b[i] = Math.floor(rand() * 256);
      return { frame: frame(rand() < 0.5 ? 8001 : 7000 + Math.floor(rand() * 1000), b), expect: ERR };
    }
    default: // unknown command, valid JSON
      return { frame: frame(9000 + Math.floor(rand() * 100), exactJson('', unit, '', MAX)), expect: ERR };
  }
}

const SMALL: Array<(rand: () => number) => Req> = [
  () => ({ frame: frame(8001, JSON.stringify({ sql: `insert into ${TABLE} (num) values (%d)` })), expect: OK_8001 }),
  (rand) => {
    let s = '';
    for (let i = 0, n = Math.floor(rand() * 40); i < n; i++) s += ESCAPE_UNITS[Math.floor(rand() * ESCAPE_UNITS.length)];
    if (s.includes('\\')) s = s.replace(/\\+/g, (m) => (m.length % 2 ? m + '\\' : m)); // no \' in SQL strings
    return { frame: frame(8001, JSON.stringify({ sql: `insert into ${TABLE} (num, s) values (%d, '${s}')` })), expect: OK_8001 };
  },
  () => ({ frame: frame(8002, ''), expect: OK_8002 }),
  () => ({ frame: frame(8002, '{}'), expect: OK_8002 }),
  () => ({ frame: frame(8003, ''), expect: OK_8003 }),
  () => ({ frame: frame(8003, '{"x": [1, 2]}'), expect: OK_8003 }),
  () => ({ frame: frame(8001, 'not json'), expect: ERR }),
  () => ({ frame: frame(8001, '{"sql": 1}'), expect: ERR }),
  () => ({ frame: frame(8001, JSON.stringify({ sql: 'insert into users (num) values (%d)' })), expect: ERR }),
  () => ({ frame: frame(8001, JSON.stringify({ sql: `insert into ${TABLE} (num) values (%d); drop table x` })), expect: ERR }),
  () => ({ frame: frame(8001, JSON.stringify({ sql: `insert into ${TABLE} (num) values (1)` })), expect: ERR }),
  (rand) => ({ frame: frame(Math.floor(rand() * 0x10000) | 1, '{}'), expect: [8001, 8003, 9000] }), // odd cmds: never 8002
  () => ({ frame: frame(8003, '{bad'), expect: ERR }),
];

export function smallRequest(rand: () => number): Req {
  return SMALL[Math.floor(rand() * SMALL.length)](rand);
}

/** Random bytes or mutated valid frames, never containing an 8002 header at any offset. */
export function garbage(rand: () => number): Buffer {
  let b: Buffer;
  if (rand() < 0.4) {
    b = Buffer.alloc(1 + Math.floor(rand() * 3000));
    for (let i = 0; i < b.length; i++) b[i] = Math.floor(rand() * 256);
  } else {
    const parts: Buffer[] = [];
    for (let k = 0; k < 1 + Math.floor(rand() * 8); k++) parts.push(smallRequest(rand).frame);
    if (rand() < 0.05) parts.push(maxSizeRequest(rand).frame);
    b = Buffer.from(Buffer.concat(parts));
    for (let k = 0; k < 1 + Math.floor(rand() * 4); k++) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
    if (rand() < 0.3) b = b.subarray(0, Math.floor(rand() * b.length));
  }
  // The final drain accounts for every entry; a dequeue whose reply nobody reads would not be counted.
  for (let i = 0; i + 1 < b.length; i++) if (b[i] === 0x1f && b[i + 1] === 0x42) b[i + 1] = 0x43;
  return b;
}

export interface FuzzOptions {
  port: number;
  metricsPort: number;
  /** The server's pid, for RSS samples. */
  pid: number;
  /** Well-formed frames to send (each must be answered). */
  frames: number;
  seed?: number;
  /** Parallel well-formed connections. */
  connections?: number;
  /** One frame in this many is a maximum-size frame. */
  maxSizeEvery?: number;
  /** One garbage connection per this many well-formed frames. */
  garbageEvery?: number;
  progress?: (done: number, rssBytes: number) => void;
}

export interface FuzzReport {
  frames: number;
  maxSizeFrames: number;
  garbageConnections: number;
  garbageBytes: number;
  replies: Record<string, number>;
  errorCodes: Record<string, number>;
  acknowledged: number;
  dequeued: number;
  rssStartBytes: number;
  rssMaxBytes: number;
  rssEndBytes: number;
  /** [frames done, server RSS] every 100,000 frames: a plateau, not a slope, is what bounded means. */
  rssSamples: Array<[number, number]>;
  seconds: number;
}

class FuzzError extends Error {}

/** A connection that pipelines a batch of requests and waits for exactly as many replies. */
class Pipe {
  private readonly collector = new FrameCollector();
  private want = 0;
  private wake: ((err?: Error) => void) | null = null;
  private closed = false;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.collector.push(d);
      if (this.collector.frames.length >= this.want) this.notify();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      this.notify(new FuzzError(`connection closed with ${this.collector.frames.length} of ${this.want} replies`));
    });
  }

  static open(port: number): Promise<Pipe> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host: '127.0.0.1', noDelay: true });
      s.once('connect', () => resolve(new Pipe(s)));
      s.once('error', reject);
    });
  }

  private notify(err?: Error): void {
    const w = this.wake;
    this.wake = null;
    w?.(err);
  }

  async send(reqs: Req[], timeoutMs = 30_000): Promise<Frame[]> {
    if (this.closed) throw new FuzzError('connection closed');
    this.collector.frames.length = 0;
    this.want = reqs.length;
    this.socket.write(reqs.length === 1 ? reqs[0].frame : Buffer.concat(reqs.map((r) => r.frame)));
    if (this.collector.frames.length < this.want) {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new FuzzError(`no reply within ${timeoutMs} ms (${this.collector.frames.length} of ${this.want})`)), timeoutMs);
        this.wake = (err) => {
          clearTimeout(t);
          if (err && this.collector.frames.length < this.want) reject(err);
          else resolve();
        };
      });
    }
    if (this.collector.frames.length !== reqs.length) throw new FuzzError(`${this.collector.frames.length} replies to ${reqs.length} requests`);
    return this.collector.frames.slice();
  }

  close(): void {
    this.socket.destroy();
  }
}

function sendGarbage(port: number, bytes: Buffer, rand: () => number): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    const t = setTimeout(() => s.destroy(), 2000);
    s.on('error', () => {});
    s.on('data', () => {});
    s.on('close', () => {
      clearTimeout(t);
      resolve();
    });
    s.on('connect', () => {
      for (let off = 0; off < bytes.length; ) {
        const n = 1 + Math.floor(rand() * 4096);
        s.write(bytes.subarray(off, off + n));
        off += n;
      }
      s.end();
    });
  });
}

// The seq is the first value. Statements from garbage connections may have mutated bytes (a column name,
// the case of a keyword, a space) and still pass the guard, so only the shape around the number counts.
const SEQ = /\bvalues?\s*\(\s*(\d+)\s*[,)]/i;

export async function runFuzz(o: FuzzOptions): Promise<FuzzReport> {
  const started = Date.now();
  const seed = o.seed ?? 0xe5e7;
  const conns = o.connections ?? 8;
  const maxEvery = o.maxSizeEvery ?? 200;
  const garbageEvery = o.garbageEvery ?? 500;
  const report: FuzzReport = {
    frames: 0,
    maxSizeFrames: 0,
    garbageConnections: 0,
    garbageBytes: 0,
    replies: {},
    errorCodes: {},
    acknowledged: 0,
    dequeued: 0,
    rssStartBytes: rssBytes(o.pid),
    rssMaxBytes: 0,
    rssEndBytes: 0,
    rssSamples: [],
    seconds: 0,
  };
  report.rssMaxBytes = report.rssStartBytes;
  const sampler = setInterval(() => {
    report.rssMaxBytes = Math.max(report.rssMaxBytes, rssBytes(o.pid));
  }, 100);
  const seqs = new Set<number>();
  const take = (req: Req, f: Frame): void => {
    if (!req.expect.includes(f.cmd)) {
      throw new FuzzError(`cmd ${f.cmd} in reply to cmd ${req.frame.readUInt16BE(0)}: ${f.body.subarray(0, 120).toString()}`);
    }
    report.replies[f.cmd] = (report.replies[f.cmd] ?? 0) + 1;
    const body = JSON.parse(f.body.toString('utf8')) as unknown;
    if (f.cmd === 9000) {
      const code = (body as { code: string }).code;
      report.errorCodes[code] = (report.errorCodes[code] ?? 0) + 1;
    } else if (f.cmd === 8002) {
      const m = SEQ.exec(body as string);
      if (!m) throw new FuzzError(`8002 reply is not a statement of this run: ${String(body).slice(0, 120)}`);
      const seq = Number(m[1]);
      if (seqs.has(seq)) throw new FuzzError(`seq ${seq} dequeued twice`);
      seqs.add(seq);
    }
  };

  let garbageJobs: Array<Promise<void>> = [];
  // Each connection has its own PRNG and share of the frames, so what it sends depends on the seed only
  // (the interleaving between connections at the server does not).
  const worker = async (w: number): Promise<void> => {
    const rand = prng(seed * 31 + w);
    let left = Math.floor(o.frames / conns) + (w < o.frames % conns ? 1 : 0);
    let sent = 0;
    let pipe: Pipe | null = null;
    try {
      while (left > 0) {
        const n = Math.min(left, 1 + Math.floor(rand() * 64));
        left -= n;
        const reqs: Req[] = [];
        for (let i = 0; i < n; i++) {
          if (rand() * maxEvery < 1) {
            reqs.push(maxSizeRequest(rand));
            report.maxSizeFrames++;
          } else {
            reqs.push(smallRequest(rand));
          }
        }
        // Now and then the seed's way: one connection per request.
        const fresh = rand() < 0.05;
        if (fresh) pipe?.close();
        if (pipe === null || fresh) pipe = await Pipe.open(o.port);
        const replies = await pipe.send(reqs);
        reqs.forEach((r, i) => take(r, replies[i]));
        report.frames += n;
        sent += n;
        if (fresh) {
          pipe.close();
          pipe = null;
        }
        if (Math.floor((sent - n) / garbageEvery) !== Math.floor(sent / garbageEvery)) {
          const g = garbage(rand);
          report.garbageConnections++;
          report.garbageBytes += g.length;
          garbageJobs.push(sendGarbage(o.port, g, prng(seed + sent)));
          if (garbageJobs.length >= 64) {
            const all = garbageJobs;
            garbageJobs = [];
            await Promise.all(all);
          }
        }
        if (Math.floor((report.frames - n) / 100_000) !== Math.floor(report.frames / 100_000)) {
          const rss = rssBytes(o.pid);
          report.rssSamples.push([report.frames, rss]);
          o.progress?.(report.frames, rss);
        }
      }
    } finally {
      pipe?.close();
    }
  };
  try {
    await Promise.all(Array.from({ length: conns }, (_, w) => worker(w)));
    await Promise.all(garbageJobs);
    // Drain what is left; everything acknowledged (by anyone) must come out exactly once.
    const pipe = await Pipe.open(o.port);
    try {
      const deq: Req = { frame: frame(8002, ''), expect: OK_8002 };
      const batch = Array.from({ length: 256 }, () => deq);
      for (let empty = false; !empty; ) {
        for (const f of await pipe.send(batch)) {
          if (f.cmd === 9000) {
            const code = (JSON.parse(f.body.toString()) as { code: string }).code;
            if (code !== 'QUEUE_EMPTY') throw new FuzzError(`drain: ${f.body.toString().slice(0, 200)}`);
            empty = true;
          } else {
            take(deq, f);
          }
        }
      }
    } finally {
      pipe.close();
    }
    const m = await scrape(o.metricsPort);
    report.acknowledged = m.get('eserver_enqueued_total') ?? NaN;
    report.dequeued = seqs.size;
    if (report.dequeued !== report.acknowledged) {
      throw new FuzzError(`${report.acknowledged} entries acknowledged, ${report.dequeued} dequeued: acknowledged entries were lost`);
    }
  } finally {
    clearInterval(sampler);
    report.rssEndBytes = rssBytes(o.pid);
    report.rssMaxBytes = Math.max(report.rssMaxBytes, report.rssEndBytes);
    report.seconds = (Date.now() - started) / 1000;
  }
  return report;
}
