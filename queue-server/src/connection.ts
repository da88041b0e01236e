// One open connection: its frame parser, its replies in request order, and the state the server's read
// loop, backpressure and sweep keep about it. It is the FrameSink of its own parser and the ReplySink of the
// protocol handler, so no closure is made per connection or per request.
import type net from 'node:net';
import { FrameParser, type FrameParserOptions, type FrameSink } from './codec.js';
import type { Linked } from './conn-list.js';
import type { PendingReply, ReplySink } from './protocol.js';

/** What a connection hands to its server. */
export interface ConnOwner {
  /** A whole request frame arrived. */
  request(c: Conn, cmd: number, body: Buffer): void;
  /** A frame over the body limit was skipped. */
  oversize(c: Conn, cmd: number, len: number): void;
  /** Bytes went to the socket. */
  sent(bytes: number): void;
  /** A bug met while serving this connection: the server ends it, not the process. */
  failed(c: Conn, err: unknown): void;
}

export class Conn implements FrameSink, ReplySink, Linked<Conn> {
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
    readonly owner: ConnOwner,
    readonly socket: net.Socket,
    parserOptions: FrameParserOptions,
    now: number,
  ) {
    this.parser = new FrameParser(parserOptions);
    this.lastActive = now;
  }

  onFrame(cmd: number, body: Buffer): void {
    this.frames++;
    this.owner.request(this, cmd, body);
    if (this.produced >= this.room) this.parser.stop();
  }

  onOversize(cmd: number, len: number): void {
    this.frames++;
    this.owner.oversize(this, cmd, len);
    if (this.produced >= this.room) this.parser.stop();
  }

  reply(buf: Buffer): void {
    this.produced += buf.length;
    if (this.pending !== null) {
      this.pending.push({ buf });
    } else if (this.out === null) {
      this.out = buf;
    } else {
      (this.outMore ??= []).push(buf);
    }
  }

  hold(slot: PendingReply, bytes: number): void {
    this.flushOut();
    this.produced += bytes;
    (this.pending ??= []).push(slot);
  }

  filled(): void {
    try {
      this.flushPending();
    } catch (err) {
      this.owner.failed(this, err);
    }
  }

  /** Writes the replies of the chunk just consumed, as one buffer. */
  flushOut(): void {
    const first = this.out;
    if (first === null) return;
    this.out = null;
    let buf = first;
    if (this.outMore !== null) {
      buf = Buffer.concat([first, ...this.outMore]);
      this.outMore = null;
    }
    this.write(buf);
  }

  /** Writes the replies at the head of the pending queue whose entries the journal has settled. */
  private flushPending(): void {
    const p = this.pending;
    if (p === null) return;
    let n = 0;
    while (n < p.length && p[n].buf !== null) n++;
    if (n === 0) return;
    const bufs = p.splice(0, n).map((s) => s.buf as Buffer);
    if (p.length === 0) this.pending = null;
    this.write(bufs.length === 1 ? bufs[0] : Buffer.concat(bufs));
    this.maybeEnd();
  }

  private write(buf: Buffer): void {
    if (this.closed || this.socket.destroyed) return;
    this.owner.sent(buf.length);
    this.socket.write(buf);
  }

  /** Ends the connection once nothing is owed to the peer. */
  maybeEnd(): void {
    if (this.endWhenIdle && this.pending === null && this.held === null && !this.closed) {
      this.closed = true;
      this.socket.end();
    }
  }
}
