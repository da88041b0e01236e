// The TCP side: accepts connections, feeds each one's bytes to its own FrameParser, runs the command
// against the Queue and writes that connection's replies, in request order. Nothing is shared between
// connections except the queue itself (the original shared one reply slot between all of them).
import net from 'node:net';
import type { Logger, MetricSample, MetricSource } from './contracts.js';
import { CMD, ENQUEUE_OK, FrameParser, HEADER_BYTES, type FrameParserOptions, MAX_BODY_UINT16, encodeFrame, pyJsonString, pyJsonStringLength, type FrameSink } from './codec.js';
import { ERROR_CODES, QueueError, REFUSAL_REASONS, cachedErrorFrame, type ErrorCode, type RefusalReason } from './errors.js';
import { AllowList } from './allowlist.js';
import { ConnList, type Linked } from './conn-list.js';
import { DEFAULT_LIMITS, sweepInterval, validateLimits, type ConnectionLimits } from './limits.js';
import { silentLogger } from './log.js';
import type { Queue } from './queue.js';

export interface QueueServerOptions {
  queue: Queue;
  allow?: readonly string[];
  limits?: Partial<ConnectionLimits>;
  /** Largest request body accepted (default 65535). Longer frames are skipped with BODY_TOO_LARGE. */
  maxBody?: number;
  /** Listen backlog (the kernel caps it at net.core.somaxconn). Default 1024, as the original. */
  backlog?: number;
  /** Time given to connections at shutdown to finish the frames they are sending. Default 5000 ms. */
  shutdownGraceMs?: number;
  /** Test-only: microseconds of CPU burnt per 8001, to prove a benchmark gate catches a regression. */
  testBurnCpuUs?: number;
  /** Test-only: burn per 8001 (default) or per accepted connection (a slower connection path). */
  testBurnAt?: 'enqueue' | 'connection';
  log?: Logger;
}

/** A reply in a connection's ordered queue; buf is null until the journal settles its entry. */
interface PendingReply {
  buf: Buffer | null;
  conn?: Conn;
}

// The journal settles each 8001 through this one function (the slot is its context): no closure per request.
function onDurable(slot: PendingReply, err: QueueError | null): void {
  const c = slot.conn as Conn;
  slot.buf = err === null ? ENQUEUE_OK : c.srv.errorFrameFor(err);
  c.srv.flushPendingGuarded(c);
}

/** One open connection. It is the FrameSink of its own parser, so no closure is made per connection. */
class Conn implements FrameSink, Linked<Conn> {
  readonly parser: FrameParser;
  prev: Conn | null = null;
  next: Conn | null = null;
  linked = false;
  lastActive: number;
  /** When the incomplete frame in the parser started arriving; 0 when between frames. */
  frameStart = 0;
  frames = 0;
  /** Replies of this chunk, written together with one socket.write. */
  out: Buffer | null = null;
  outMore: Buffer[] | null = null;
  /** Replies waiting on the journal, in request order; null when nothing is outstanding. */
  pending: PendingReply[] | null = null;
  /** Close once every outstanding reply is written (peer half-closed, or shutdown). */
  endWhenIdle = false;
  /** At shutdown: the frame this connection was in the middle of may still be served. */
  graceFrame = false;
  closed = false;
  /** Reply bytes made while consuming the current chunk, and how many it may make before reading stops. */
  produced = 0;
  room = 0;
  /** Bytes received but not consumed yet: reading is paused until the peer has read our replies. */
  held: Buffer | null = null;
  stalledSince = 0;

  constructor(
    readonly srv: QueueServer,
    readonly socket: net.Socket,
    parserOptions: FrameParserOptions,
    now: number,
  ) {
    this.parser = new FrameParser(parserOptions);
    this.lastActive = now;
  }

  onFrame(cmd: number, body: Buffer): void {
    this.frames++;
    this.srv.handle(this, cmd, body);
    if (this.produced >= this.room) this.parser.stop();
  }

  onOversize(cmd: number, len: number): void {
    this.frames++;
    this.srv.replyError(this, 'BODY_TOO_LARGE', `body of ${len} bytes for cmd ${cmd} exceeds the limit of ${this.parser.maxBody}`);
    if (this.produced >= this.room) this.parser.stop();
  }
}

// An 8002 reply escapes each UTF-16 unit of the statement to at most 6 bytes, adds 2 quotes, and the `%d`
// becomes at most 16 digits. A template up to this long always fits a frame, so the enqueue path only
// measures the escaped length of longer ones.
const ALWAYS_FITS_UNITS = Math.floor((MAX_BODY_UINT16 - 2 - 16) / 6);

const EMPTY = Buffer.alloc(0);

const CONN = Symbol('eserver.conn');
type TaggedSocket = net.Socket & { [CONN]: Conn };

// Socket handlers are shared functions (`this` is the socket), so accepting a connection allocates no closures.
function onData(this: TaggedSocket, chunk: Buffer): void {
  const c = this[CONN];
  try {
    c.srv.onChunk(c, chunk);
  } catch (err) {
    c.srv.connectionFailed(c, err);
  }
}
function onEnd(this: TaggedSocket): void {
  const c = this[CONN];
  c.endWhenIdle = true;
  c.srv.maybeEnd(c);
}
function onError(this: TaggedSocket): void {
  // ECONNRESET and friends: the peer is gone. 'close' follows and does the bookkeeping.
}
function onClose(this: TaggedSocket): void {
  this[CONN].srv.forget(this[CONN]);
}

export class QueueServer implements MetricSource {
  readonly queue: Queue;
  readonly limits: ConnectionLimits;
  readonly maxBody: number;
  readonly backlog: number;
  readonly testBurnCpuUs: number;
  readonly testBurnAt: 'enqueue' | 'connection';
  private readonly burnPerEnqueueUs: number;
  private readonly burnPerConnectionUs: number;
  private readonly allow: AllowList;
  private readonly log: Logger;
  private readonly journaled: boolean;
  private readonly shutdownGraceMs: number;
  private readonly net: net.Server;
  private readonly conns = new ConnList<Conn>();
  /** One options object for every connection's parser (validated once, not allocated per connection). */
  private readonly parserOptions: FrameParserOptions;
  protected sweepTimer: NodeJS.Timeout | null = null;
  private now = Date.now();
  protected listening = false;
  private stopping: Promise<void> | null = null;
  private shuttingDown = false;
  private readonly lengthCache = new Map<number, Buffer>();

  // counters
  private connectionsTotal = 0;
  private bytesIn = 0;
  private bytesOut = 0;
  private readPaused = 0;
  private readonly rejected = new Map<string, number>();

  constructor(opts: QueueServerOptions) {
    this.queue = opts.queue;
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.maxBody = opts.maxBody ?? 0xffff;
    validateLimits(this.limits, this.maxBody + HEADER_BYTES);
    this.parserOptions = { maxBody: this.maxBody };
    this.backlog = opts.backlog ?? 1024;
    this.shutdownGraceMs = opts.shutdownGraceMs ?? 5000;
    this.testBurnCpuUs = opts.testBurnCpuUs ?? 0;
    this.testBurnAt = opts.testBurnAt ?? 'enqueue';
    this.burnPerEnqueueUs = this.testBurnAt === 'enqueue' ? this.testBurnCpuUs : 0;
    this.burnPerConnectionUs = this.testBurnAt === 'connection' ? this.testBurnCpuUs : 0;
    this.allow = new AllowList(opts.allow);
    this.log = opts.log ?? silentLogger;
    this.journaled = this.queue.hasJournal;
    for (const r of [...ERROR_CODES, ...REFUSAL_REASONS]) this.rejected.set(r, 0);
    this.net = net.createServer({ allowHalfOpen: true, noDelay: true }, (s) => this.accept(s));
  }

  /** Resolves with the bound address once listening; rejects (e.g. EADDRINUSE) otherwise. */
  listen(port: number, host = '0.0.0.0'): Promise<net.AddressInfo> {
    return new Promise((resolve, reject) => {
      const fail = (err: Error): void => reject(err);
      this.net.once('error', fail);
      this.net.listen({ port, host, backlog: this.backlog }, () => {
        this.net.off('error', fail);
        this.net.on('error', (err) => this.log.error('server_error', { err }));
        this.listening = true;
        const every = sweepInterval(this.limits);
        if (every > 0) {
          this.sweepTimer = setInterval(() => this.sweep(), every);
          this.sweepTimer.unref();
        }
        resolve(this.net.address() as net.AddressInfo);
      });
    });
  }

  get isListening(): boolean {
    return this.listening;
  }

  address(): net.AddressInfo | null {
    return this.net.address() as net.AddressInfo | null;
  }

  get connectionCount(): number {
    return this.conns.size;
  }

  protected accept(socket: net.Socket): void {
    if (this.shuttingDown) {
      socket.destroy();
      return;
    }
    if (!this.allow.allows(socket.remoteAddress)) {
      this.refuse(socket, 'allowlist');
      return;
    }
    if (this.limits.maxConnections > 0 && this.conns.size >= this.limits.maxConnections) {
      this.refuse(socket, 'max_connections');
      return;
    }
    this.connectionsTotal++;
    if (this.burnPerConnectionUs !== 0) burnCpu(this.burnPerConnectionUs);
    const c = new Conn(this, socket, this.parserOptions, this.now);
    (socket as TaggedSocket)[CONN] = c;
    this.conns.add(c);
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('error', onError);
    socket.on('close', onClose);
  }

  private refuse(socket: net.Socket, reason: RefusalReason): void {
    this.count(reason);
    // No handlers are attached; an error on a socket being destroyed must not become uncaught.
    socket.on('error', onError);
    socket.destroy();
  }

  private count(reason: string): void {
    this.rejected.set(reason, (this.rejected.get(reason) ?? 0) + 1);
  }

  /** @internal */
  onChunk(c: Conn, chunk: Buffer): void {
    this.bytesIn += chunk.length;
    c.lastActive = this.now;
    if (c.held !== null) {
      c.held = Buffer.concat([c.held, chunk]); // arrived in the same tick as the pause
      return;
    }
    this.consume(c, chunk);
  }

  /**
   * Runs the frames of buf, but stops between two frames once the replies the peer has not taken yet
   * reach maxBufferedBytes: then the rest of buf is held and reading pauses until the kernel has taken
   * every reply written so far. So no entry is popped by 8002 unless its reply can be buffered, and one
   * connection's memory stays bounded.
   */
  private consume(c: Conn, buf: Buffer): void {
    const before = c.frames;
    let off = 0;
    for (;;) {
      c.produced = 0;
      c.room = this.limits.maxBufferedBytes - c.socket.writableLength;
      off += c.parser.push(off === 0 ? buf : buf.subarray(off), c);
      if (c.out !== null) this.flushOut(c);
      if (c.closed) return;
      if (off >= buf.length) break;
      // Stopped early. When the kernel took everything already, carry on at once.
      if (c.socket.writableLength > 0) {
        c.held = buf.subarray(off);
        c.stalledSince = this.now;
        c.frameStart = 0; // the peer is not slow to send: we stopped reading
        this.readPaused++;
        c.socket.pause();
        // Writes complete in order: this callback runs once every reply before it is in the kernel.
        c.socket.write(EMPTY, () => this.resumeGuarded(c));
        return;
      }
    }
    if (c.parser.inFrame) {
      // The real time, not the sweep's: a long pass over one chunk must not age the frame that ends it.
      if (c.frameStart === 0 || c.frames !== before) c.frameStart = Date.now();
    } else {
      c.frameStart = 0;
      if (this.shuttingDown) {
        c.endWhenIdle = true;
        this.maybeEnd(c);
      }
    }
  }

  private resumeGuarded(c: Conn): void {
    try {
      this.resumeReading(c);
    } catch (err) {
      this.connectionFailed(c, err);
    }
  }

  /** The peer has taken the replies: run the frames held back, then read again. */
  private resumeReading(c: Conn): void {
    const held = c.held;
    if (held === null || c.closed) return;
    c.held = null;
    c.stalledSince = 0;
    this.consume(c, held);
    if (c.held === null && !c.closed) c.socket.resume();
  }

  /** @internal Runs one request frame. */
  handle(c: Conn, cmd: number, body: Buffer): void {
    if (this.shuttingDown) {
      if (!c.graceFrame) {
        this.replyError(c, 'SHUTTING_DOWN', 'server is shutting down');
        return;
      }
      c.graceFrame = false;
    }
    if (cmd === CMD.ENQUEUE) {
      this.enqueue(c, body);
    } else if (cmd === CMD.LENGTH) {
      if (body.length > 0 && !isJson(body)) return this.replyError(c, 'BAD_JSON', 'body is not valid JSON');
      this.reply(c, this.lengthFrame(this.queue.length));
    } else if (cmd === CMD.DEQUEUE) {
      if (body.length > 0 && !isJson(body)) return this.replyError(c, 'BAD_JSON', 'body is not valid JSON');
      this.dequeue(c);
    } else {
      this.replyError(c, 'UNKNOWN_CMD', `unknown cmd ${cmd}`);
    }
  }

  private enqueue(c: Conn, body: Buffer): void {
    let msg: unknown;
    try {
      msg = JSON.parse(body.toString('utf8'));
    } catch {
      return this.replyError(c, 'BAD_JSON', 'body is not valid JSON');
    }
    const sql = typeof msg === 'object' && msg !== null ? (msg as { sql?: unknown }).sql : undefined;
    if (typeof sql !== 'string') {
      return this.replyError(c, 'MISSING_SQL', sql === undefined ? 'body must be {"sql": "..."}' : '"sql" must be a string');
    }
    if (this.burnPerEnqueueUs !== 0) burnCpu(this.burnPerEnqueueUs);
    if (sql.length > ALWAYS_FITS_UNITS && this.queue.dequeueEnabled) {
      // An entry whose 8002 reply cannot be framed could never leave the queue by 8002: refuse it now.
      const bytes = pyJsonStringLength(sql) - 2 + String(this.queue.nextSeq).length;
      if (bytes > MAX_BODY_UINT16) {
        return this.replyError(
          c,
          'ENTRY_TOO_LARGE',
          `the statement would make an 8002 reply of ${bytes} bytes once JSON-escaped (non-ASCII and control ` +
            `characters take 6 bytes each as \\uXXXX), more than a frame holds (${MAX_BODY_UINT16}); shorten it`,
        );
      }
    }
    if (!this.journaled) {
      try {
        this.queue.enqueue(sql);
      } catch (err) {
        return this.replyQueueError(c, err);
      }
      this.reply(c, ENQUEUE_OK);
      return;
    }
    // Durable path: this reply's place is held so later (faster) replies on the connection wait behind it.
    const slot: PendingReply = { buf: null, conn: c };
    try {
      this.queue.enqueueThen(sql, onDurable, slot);
    } catch (err) {
      return this.replyQueueError(c, err);
    }
    this.flushOut(c);
    c.produced += ENQUEUE_OK.length;
    (c.pending ??= []).push(slot);
  }

  private dequeue(c: Conn): void {
    // The reply is built before the entry is removed: an entry whose reply cannot be sent is not popped.
    const head = this.queue.dequeueEnabled ? this.queue.peekBatch(1)[0] : undefined;
    let frame: Buffer | null = null;
    if (head !== undefined) {
      const json = pyJsonString(head.sql); // pure ASCII: length in characters = length in bytes
      if (json.length > MAX_BODY_UINT16) {
        return this.replyError(
          c,
          'ENTRY_TOO_LARGE',
          `the oldest entry (seq ${head.seq}) makes an 8002 reply of ${json.length} bytes once JSON-escaped, more ` +
            `than a frame holds (${MAX_BODY_UINT16}); it stays in the queue: drain it into MySQL (--mysql-url) to get past it`,
        );
      }
      frame = encodeFrame(CMD.DEQUEUE, json);
    }
    let e;
    try {
      e = this.queue.dequeue();
    } catch (err) {
      return this.replyQueueError(c, err);
    }
    if (e === undefined) return this.replyError(c, 'QUEUE_EMPTY', 'queue is empty');
    if (e !== head || frame === null) throw new Error(`dequeue returned seq ${e.seq}, not the peeked head`);
    this.reply(c, frame);
  }

  private lengthFrame(n: number): Buffer {
    // Small depths repeat a lot under 8003 polling; larger ones are encoded fresh.
    if (n < 1024) {
      let f = this.lengthCache.get(n);
      if (f === undefined) this.lengthCache.set(n, (f = encodeFrame(CMD.LENGTH, String(n))));
      return f;
    }
    return encodeFrame(CMD.LENGTH, String(n));
  }

  private replyQueueError(c: Conn, err: unknown): void {
    this.reply(c, this.errorFrameFor(err));
  }

  /** @internal */
  errorFrameFor(err: unknown): Buffer {
    if (err instanceof QueueError) {
      this.count(err.code);
      return cachedErrorFrame(err.code, err.message);
    }
    this.log.error('request_failed', { err });
    this.count('JOURNAL_FAILED');
    return cachedErrorFrame('JOURNAL_FAILED', 'internal error');
  }

  /** @internal */
  replyError(c: Conn, code: ErrorCode, msg: string): void {
    this.count(code);
    this.reply(c, cachedErrorFrame(code, msg));
  }

  private reply(c: Conn, buf: Buffer): void {
    c.produced += buf.length;
    if (c.pending !== null) {
      c.pending.push({ buf });
    } else if (c.out === null) {
      c.out = buf;
    } else {
      (c.outMore ??= []).push(buf);
    }
  }

  private flushOut(c: Conn): void {
    const first = c.out;
    if (first === null) return;
    c.out = null;
    let buf = first;
    if (c.outMore !== null) {
      buf = Buffer.concat([first, ...c.outMore]);
      c.outMore = null;
    }
    this.write(c, buf);
  }

  private flushPending(c: Conn): void {
    const p = c.pending;
    if (p === null) return;
    let n = 0;
    while (n < p.length && p[n].buf !== null) n++;
    if (n === 0) return;
    const bufs = p.splice(0, n).map((s) => s.buf as Buffer);
    if (p.length === 0) c.pending = null;
    this.write(c, bufs.length === 1 ? bufs[0] : Buffer.concat(bufs));
    this.maybeEnd(c);
  }

  /** @internal */
  flushPendingGuarded(c: Conn): void {
    try {
      this.flushPending(c);
    } catch (err) {
      this.connectionFailed(c, err);
    }
  }

  /**
   * @internal A bug met while serving one connection ends that connection, not the process: the replies
   * already produced are sent, then it is closed; logged and counted as internal_error.
   */
  connectionFailed(c: Conn, err: unknown): void {
    this.log.error('connection_failed', { err, remote: c.socket.remoteAddress });
    this.count('internal_error');
    if (c.closed) return;
    try {
      this.flushOut(c);
    } catch {
      // the replies that cannot be written are lost with the connection
    }
    c.closed = true;
    c.socket.end(() => c.socket.destroy());
  }

  private write(c: Conn, buf: Buffer): void {
    if (c.closed || c.socket.destroyed) return;
    this.bytesOut += buf.length;
    c.socket.write(buf);
  }

  /** @internal Ends the connection once nothing is owed to the peer. */
  maybeEnd(c: Conn): void {
    if (c.endWhenIdle && c.pending === null && c.held === null && !c.closed) {
      c.closed = true;
      c.socket.end();
    }
  }

  private shed(c: Conn, reason: RefusalReason): void {
    this.count(reason);
    c.closed = true;
    c.socket.destroy();
  }

  /** @internal */
  forget(c: Conn): void {
    c.closed = true;
    this.conns.delete(c);
  }

  protected sweep(): void {
    const now = (this.now = Date.now());
    const idle = this.limits.idleTimeoutMs;
    const slow = this.limits.slowSenderMs;
    for (const c of this.conns) {
      if (c.closed) continue;
      if (slow > 0 && c.frameStart !== 0 && now - c.frameStart > slow) this.shed(c, 'slow_sender');
      else if (c.held !== null) {
        // Reading is paused because the peer does not read its replies: give it as long as a slow sender.
        if (slow > 0 && now - c.stalledSince > slow) this.shed(c, 'buffer_cap');
      } else if (idle > 0 && c.pending === null && now - c.lastActive > idle) this.shed(c, 'idle_timeout');
    }
  }

  /**
   * Graceful stop: no new connections; requests already received are answered; a frame that is half
   * received may finish within the grace period; any further frame gets SHUTTING_DOWN; then every
   * connection is closed. Resolves when all are closed.
   */
  close(): Promise<void> {
    if (this.stopping) return this.stopping;
    this.shuttingDown = true;
    this.stopping = new Promise<void>((resolve) => {
      const closed = new Promise<void>((r) => (this.listening ? this.net.close(() => r()) : r()));
      for (const c of this.conns) {
        if (c.parser.inFrame) {
          c.graceFrame = true;
        } else {
          c.endWhenIdle = true;
          this.maybeEnd(c);
        }
      }
      const deadline = Date.now() + this.shutdownGraceMs;
      const poll = setInterval(() => {
        if (Date.now() > deadline) for (const c of this.conns) c.socket.destroy();
        if (this.conns.size === 0) {
          clearInterval(poll);
          if (this.sweepTimer) clearInterval(this.sweepTimer);
          this.listening = false;
          void closed.then(() => resolve());
        }
      }, 10);
    });
    return this.stopping;
  }

  metrics(): MetricSample[] {
    const out: MetricSample[] = [
      { name: 'eserver_connections_open', help: 'Open client connections', type: 'gauge', value: this.conns.size },
      { name: 'eserver_connections_total', help: 'Accepted client connections', type: 'counter', value: this.connectionsTotal },
      { name: 'eserver_bytes_in_total', help: 'Bytes received from clients', type: 'counter', value: this.bytesIn },
      { name: 'eserver_bytes_out_total', help: 'Bytes sent to clients', type: 'counter', value: this.bytesOut },
      { name: 'eserver_read_paused_total', help: 'Times reading from a connection paused until the peer read its replies', type: 'counter', value: this.readPaused },
      { name: 'eserver_test_burn_cpu_us', help: 'Test-only CPU burnt per 8001 or per accepted connection (0 in production)', type: 'gauge', value: this.testBurnCpuUs },
    ];
    for (const [reason, value] of this.rejected) {
      out.push({ name: 'eserver_rejected_total', help: 'Requests answered with an error, and connections refused or shed, by reason', type: 'counter', value, labels: { reason } });
    }
    return out;
  }

  /** Rejections so far by reason (error codes and connection refusals). */
  rejectedCounts(): Record<string, number> {
    return Object.fromEntries(this.rejected);
  }
}

function isJson(body: Buffer): boolean {
  try {
    JSON.parse(body.toString('utf8'));
    return true;
  } catch {
    return false;
  }
}

function burnCpu(us: number): void {
  const end = process.hrtime.bigint() + BigInt(us) * 1000n;
  while (process.hrtime.bigint() < end) {
    // spin: the test hook's whole point is to cost CPU
  }
}
