// The TCP side: accepts connections, reads each one's bytes into its own FrameParser, pauses reading while
// a peer leaves its replies unread, sheds idle and slow peers, and closes gracefully. What a frame means is
// the Protocol's (protocol.ts). Nothing is shared between connections except the queue itself (the original
// shared one reply slot between all of them).
import net from 'node:net';
import type { Logger, MetricSample, MetricSource } from './contracts.js';
import { HEADER_BYTES, type FrameParserOptions } from './codec.js';
import type { RefusalReason } from './errors.js';
import { AllowList } from './allowlist.js';
import { ConnList } from './conn-list.js';
import { Conn, type ConnOwner } from './connection.js';
import { DEFAULT_LIMITS, sweepInterval, validateLimits, type ConnectionLimits } from './limits.js';
import { silentLogger } from './log.js';
import { Protocol } from './protocol.js';
import type { Queue } from './queue.js';
import { Rejections } from './rejections.js';

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
  log?: Logger;
}

const EMPTY = Buffer.alloc(0);

const CONN = Symbol('eserver.conn');
type TaggedSocket = net.Socket & { [CONN]: Conn };

// Socket handlers are shared functions (`this` is the socket), so accepting a connection allocates no closures.
function onData(this: TaggedSocket, chunk: Buffer): void {
  const c = this[CONN];
  const srv = c.owner as QueueServer;
  try {
    srv.onChunk(c, chunk);
  } catch (err) {
    srv.failed(c, err);
  }
}
function onEnd(this: TaggedSocket): void {
  const c = this[CONN];
  c.endWhenIdle = true;
  c.maybeEnd();
}
function onError(this: TaggedSocket): void {
  // ECONNRESET and friends: the peer is gone. 'close' follows and does the bookkeeping.
}
function onClose(this: TaggedSocket): void {
  const c = this[CONN];
  (c.owner as QueueServer).forget(c);
}

export class QueueServer implements MetricSource, ConnOwner {
  readonly queue: Queue;
  readonly limits: ConnectionLimits;
  readonly maxBody: number;
  readonly backlog: number;
  private readonly protocol: Protocol;
  private readonly allow: AllowList;
  private readonly log: Logger;
  private readonly shutdownGraceMs: number;
  private readonly net: net.Server;
  private readonly conns = new ConnList<Conn>();
  /** One options object for every connection's parser (validated once, not allocated per connection). */
  private readonly parserOptions: FrameParserOptions;
  private sweepTimer: NodeJS.Timeout | null = null;
  private now = Date.now();
  private listening = false;
  private stopping: Promise<void> | null = null;
  private shuttingDown = false;

  // counters
  private readonly rejections = new Rejections();
  private connectionsTotal = 0;
  private bytesIn = 0;
  private bytesOut = 0;
  private readPaused = 0;

  constructor(opts: QueueServerOptions) {
    this.queue = opts.queue;
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.maxBody = opts.maxBody ?? 0xffff;
    validateLimits(this.limits, this.maxBody + HEADER_BYTES);
    this.parserOptions = { maxBody: this.maxBody };
    this.backlog = opts.backlog ?? 1024;
    this.shutdownGraceMs = opts.shutdownGraceMs ?? 5000;
    this.allow = new AllowList(opts.allow);
    this.log = opts.log ?? silentLogger;
    this.protocol = new Protocol(this.queue, this.rejections, this.log);
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
        this.listeningStarted();
        resolve(this.net.address() as net.AddressInfo);
      });
    });
  }

  /** Once the listener is bound (whatever the socket layer): the sweep starts. */
  protected listeningStarted(): void {
    this.listening = true;
    const every = sweepInterval(this.limits);
    if (every > 0) {
      this.sweepTimer = setInterval(() => this.sweep(), every);
      this.sweepTimer.unref();
    }
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
    const c = new Conn(this, socket, this.parserOptions, this.now);
    (socket as TaggedSocket)[CONN] = c;
    this.conns.add(c);
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('error', onError);
    socket.on('close', onClose);
  }

  private refuse(socket: net.Socket, reason: RefusalReason): void {
    this.rejections.count(reason);
    // No handlers are attached; an error on a socket being destroyed must not become uncaught.
    socket.on('error', onError);
    socket.destroy();
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
      if (c.out !== null) c.flushOut();
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
        c.maybeEnd();
      }
    }
  }

  private resumeGuarded(c: Conn): void {
    try {
      this.resumeReading(c);
    } catch (err) {
      this.failed(c, err);
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

  /** @internal Runs one request frame; once shutting down, only the frame a connection was in the middle of. */
  request(c: Conn, cmd: number, body: Buffer): void {
    if (this.shuttingDown) {
      if (!c.graceFrame) return this.protocol.replyError(c, 'SHUTTING_DOWN', 'server is shutting down');
      c.graceFrame = false;
    }
    this.protocol.handle(c, cmd, body);
  }

  /** @internal */
  oversize(c: Conn, cmd: number, len: number): void {
    this.protocol.oversize(c, cmd, len, this.maxBody);
  }

  /** @internal */
  sent(bytes: number): void {
    this.bytesOut += bytes;
  }

  /**
   * @internal A bug met while serving one connection ends that connection, not the process: the replies
   * already produced are sent, then it is closed; logged and counted as internal_error.
   */
  failed(c: Conn, err: unknown): void {
    this.log.error('connection_failed', { err, remote: c.socket.remoteAddress });
    this.rejections.count('internal_error');
    if (c.closed) return;
    try {
      c.flushOut();
    } catch {
      // the replies that cannot be written are lost with the connection
    }
    c.closed = true;
    c.socket.end(() => c.socket.destroy());
  }

  private shed(c: Conn, reason: RefusalReason): void {
    this.rejections.count(reason);
    c.closed = true;
    c.socket.destroy();
  }

  /** @internal */
  forget(c: Conn): void {
    c.closed = true;
    this.conns.delete(c);
  }

  private sweep(): void {
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
      const closed = new Promise<void>((r) => (this.listening ? this.closeListener(r) : r()));
      for (const c of this.conns) {
        if (c.parser.inFrame) {
          c.graceFrame = true;
        } else {
          c.endWhenIdle = true;
          c.maybeEnd();
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

  /** Stops accepting; done() once the listener is closed (open connections are not touched). */
  protected closeListener(done: () => void): void {
    this.net.close(() => done());
  }

  metrics(): MetricSample[] {
    return [
      { name: 'eserver_connections_open', help: 'Open client connections', type: 'gauge', value: this.conns.size },
      { name: 'eserver_connections_total', help: 'Accepted client connections', type: 'counter', value: this.connectionsTotal },
      { name: 'eserver_bytes_in_total', help: 'Bytes received from clients', type: 'counter', value: this.bytesIn },
      { name: 'eserver_bytes_out_total', help: 'Bytes sent to clients', type: 'counter', value: this.bytesOut },
      { name: 'eserver_read_paused_total', help: 'Times reading from a connection paused until the peer read its replies', type: 'counter', value: this.readPaused },
      ...this.rejections.metrics(),
    ];
  }

  /** Rejections so far by reason (error codes and connection refusals). */
  rejectedCounts(): Record<string, number> {
    return this.rejections.toRecord();
  }
}
