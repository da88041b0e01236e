// Protocol handling: a request frame in, its reply out. Runs 8001 / 8002 / 8003 against the Queue and hands
// each reply to its connection, which sends them in request order (an 8001 waiting on the journal holds its
// place). Knows nothing of sockets: the node:net and Bun.listen servers both serve through it.
import type { Logger } from './contracts.js';
import { CMD, ENQUEUE_OK, MAX_BODY_UINT16, encodeFrame, pyJsonString, pyJsonStringLength } from './codec.js';
import { QueueError, cachedErrorFrame, type ErrorCode } from './errors.js';
import type { Queue } from './queue.js';
import type { Rejections } from './rejections.js';

/** A reply in a connection's ordered queue; buf is null until the journal settles its entry. */
export interface PendingReply {
  buf: Buffer | null;
  conn?: ReplySink;
}

/** Where a connection's replies go. The socket layer keeps them in request order and writes them. */
export interface ReplySink {
  /** Queues a reply behind every earlier one of the connection. */
  reply(buf: Buffer): void;
  /** Holds the place of a reply of `bytes` bytes that is filled in later (slot.buf), then sent by filled(). */
  hold(slot: PendingReply, bytes: number): void;
  /** A held reply was filled in: sends every reply that can go now, in order. */
  filled(): void;
}

// An 8002 reply escapes each UTF-16 unit of the statement to at most 6 bytes, adds 2 quotes, and the `%d`
// becomes at most 16 digits. A template up to this long always fits a frame, so the enqueue path only
// measures the escaped length of longer ones.
const ALWAYS_FITS_UNITS = Math.floor((MAX_BODY_UINT16 - 2 - 16) / 6);

export class Protocol {
  private readonly journaled: boolean;
  private readonly lengthCache = new Map<number, Buffer>();
  /** The journal settles each 8001 through this one function (the slot is its context): no closure per request. */
  private readonly onDurable: (slot: PendingReply, err: QueueError | null) => void;

  constructor(
    private readonly queue: Queue,
    private readonly rejections: Rejections,
    private readonly log: Logger,
  ) {
    this.journaled = queue.hasJournal;
    this.onDurable = (slot, err) => {
      slot.buf = err === null ? ENQUEUE_OK : this.errorFrameFor(err);
      (slot.conn as ReplySink).filled();
    };
  }

  /** Runs one request frame. */
  handle(c: ReplySink, cmd: number, body: Buffer): void {
    if (cmd === CMD.ENQUEUE) {
      this.enqueue(c, body);
    } else if (cmd === CMD.LENGTH) {
      if (body.length > 0 && !isJson(body)) return this.replyError(c, 'BAD_JSON', 'body is not valid JSON');
      c.reply(this.lengthFrame(this.queue.length));
    } else if (cmd === CMD.DEQUEUE) {
      if (body.length > 0 && !isJson(body)) return this.replyError(c, 'BAD_JSON', 'body is not valid JSON');
      this.dequeue(c);
    } else {
      this.replyError(c, 'UNKNOWN_CMD', `unknown cmd ${cmd}`);
    }
  }

  /** A frame the parser skipped because its body is over the limit. */
  oversize(c: ReplySink, cmd: number, len: number, maxBody: number): void {
    this.replyError(c, 'BODY_TOO_LARGE', `body of ${len} bytes for cmd ${cmd} exceeds the limit of ${maxBody}`);
  }

  replyError(c: ReplySink, code: ErrorCode, msg: string): void {
    this.rejections.count(code);
    c.reply(cachedErrorFrame(code, msg));
  }

  private enqueue(c: ReplySink, body: Buffer): void {
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
        return c.reply(this.errorFrameFor(err));
      }
      c.reply(ENQUEUE_OK);
      return;
    }
    // Durable path: this reply's place is held so later (faster) replies on the connection wait behind it.
    const slot: PendingReply = { buf: null, conn: c };
    try {
      this.queue.enqueueThen(sql, this.onDurable, slot);
    } catch (err) {
      return c.reply(this.errorFrameFor(err));
    }
    c.hold(slot, ENQUEUE_OK.length);
  }

  private dequeue(c: ReplySink): void {
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
      return c.reply(this.errorFrameFor(err));
    }
    if (e === undefined) return this.replyError(c, 'QUEUE_EMPTY', 'queue is empty');
    if (e !== head || frame === null) throw new Error(`dequeue returned seq ${e.seq}, not the peeked head`);
    c.reply(frame);
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

  /** The error frame for a refusal by the queue or the journal; anything else is a bug, answered as internal. */
  private errorFrameFor(err: unknown): Buffer {
    if (err instanceof QueueError) {
      this.rejections.count(err.code);
      return cachedErrorFrame(err.code, err.message);
    }
    this.log.error('request_failed', { err });
    this.rejections.count('JOURNAL_FAILED');
    return cachedErrorFrame('JOURNAL_FAILED', 'internal error');
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
