// The queue core, without sockets: validates and numbers statements, holds them in the ring, makes them
// durable through an optional journal, and hands them to one consumer (8002 dequeue, or the MySQL writer).
import { EventEmitter } from 'node:events';
import { entrySize, type Entry } from './entry.js';
import type { DurableCallback, GuardVerdict, JournalSink, MetricSample, MetricSource, StatementGuard } from './contracts.js';
import { QueueError } from './errors.js';
import { DEFAULT_CAPACITY, Ring } from './ring.js';

export interface QueueOptions {
  capacity?: number;
  /** Byte budget of the entries held (see entrySize); QUEUE_FULL beyond it. Default DEFAULT_MAX_BYTES. */
  maxBytes?: number;
  /** Sequence number given to the next entry (after a journal replay: last seq + 1). Default 1. */
  nextSeq?: number;
  guard?: QueueGuard;
  journal?: JournalSink;
  /** 8002 is only allowed when nothing else (the MySQL writer) consumes the queue. Default true. */
  dequeueEnabled?: boolean;
  /** Called with the seq of each entry removed by dequeue(), so a journal can forget it. */
  onDequeued?: (seq: number) => void;
}

const PLACEHOLDER = '%d';
/** Sized for the 2 GB box: the queue's share next to MySQL, php-fpm and nginx during a long MySQL outage. */
export const DEFAULT_MAX_BYTES = 256 * 1024 * 1024;

/**
 * A guard may also judge the template (one verdict for every number put in place of `%d`, so it can be
 * cached); then the hot path costs a Map lookup instead of parsing every final statement.
 */
export type QueueGuard = StatementGuard & { checkTemplate?(template: string): GuardVerdict };

/** Called once an entry is acknowledged (err null) or refused by the journal (err: JOURNAL_FAILED). */
export type EnqueueCallback<T> = (ctx: T, err: QueueError | null) => void;

// The journal calls this once per entry, in enqueue order, with the queue as its context: no closure per entry.
function settleOldest(q: Queue, err: Error | null): void {
  q.settleOldest(err);
}

function settlePromise(d: { resolve: () => void; reject: (e: unknown) => void }, err: QueueError | null): void {
  if (err === null) d.resolve();
  else d.reject(err);
}

/**
 * Events: 'data' after entries arrive (wakes the writer). Also settable `onEnqueue` for a cheaper wake-up.
 *
 * The statement must contain exactly one `%d`; it becomes the entry's sequence number. Unlike Python's
 * `sql % n`, other `%` sequences (including `%%`) are left as they are.
 */
export class Queue extends EventEmitter implements MetricSource {
  readonly capacity: number;
  readonly maxBytes: number;
  readonly dequeueEnabled: boolean;
  /** Called synchronously after every accepted entry; the writer sets it to wake up. */
  onEnqueue: (() => void) | null = null;

  private readonly ring: Ring<Entry>;
  private readonly guard: StatementGuard | null;
  private readonly templateGuard: QueueGuard | null;
  private journal: JournalSink | null;
  /** Called with the seq of each entry removed by dequeue() (a journal forgets it). */
  onDequeued: ((seq: number) => void) | null;
  private seq: number;
  private bytes = 0;
  /**
   * Newest entries in the ring whose journal group is not yet durable. They are invisible to consumers (8002,
   * the writer, 8003): an entry whose client may still be told JOURNAL_FAILED must never be consumed. Groups
   * settle in order, so the durable entries are always the oldest ring.length - undurable.
   */
  private undurable = 0;
  /** The callbacks of the undurable entries, oldest first (from waitingHead on). */
  private waitingFns: Array<EnqueueCallback<never> | null> = [];
  private waitingCtxs: unknown[] = [];
  private waitingHead = 0;
  private dataListeners = 0;
  private enqueuedTotal = 0;
  private dequeuedTotal = 0;
  private committedTotal = 0;

  constructor(opts: QueueOptions = {}) {
    super();
    this.capacity = opts.capacity ?? DEFAULT_CAPACITY;
    this.ring = new Ring<Entry>(this.capacity);
    this.maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
    this.seq = opts.nextSeq ?? 1;
    if (!Number.isSafeInteger(this.seq) || this.seq < 1) throw new RangeError('nextSeq must be a positive integer');
    const g = opts.guard ?? null;
    this.templateGuard = g !== null && typeof g.checkTemplate === 'function' ? g : null;
    this.guard = this.templateGuard === null ? g : null;
    this.journal = opts.journal ?? null;
    this.dequeueEnabled = opts.dequeueEnabled ?? true;
    this.onDequeued = opts.onDequeued ?? null;
    // emit() is skipped entirely while nobody listens, so the enqueue path pays one integer compare.
    this.on('newListener', (ev: string) => {
      if (ev === 'data') this.dataListeners++;
    });
    this.on('removeListener', (ev: string) => {
      if (ev === 'data') this.dataListeners--;
    });
  }

  /** Entries a consumer can take (durable ones, with a journal). */
  get length(): number {
    return this.ring.length - this.undurable;
  }

  /** Bytes charged against the budget by the entries held. */
  get byteSize(): number {
    return this.bytes;
  }

  /** The seq the next accepted entry will get. */
  get nextSeq(): number {
    return this.seq;
  }

  get hasJournal(): boolean {
    return this.journal !== null;
  }

  /**
   * Attaches the journal after construction: at start-up the journal can only be opened once the writer
   * has read the committed offset, and the writer is built around this queue. Only before any enqueue.
   */
  setJournal(journal: JournalSink): void {
    if (this.enqueuedTotal > 0 || this.ring.length > 0) throw new Error('setJournal() must come before any entry');
    this.journal = journal;
  }

  /**
   * Accepts one statement template. Throws QueueError (BAD_PLACEHOLDER, QUEUE_FULL, SQL_REFUSED) when it is
   * refused; nothing is numbered or stored then. Without a journal the entry is accepted synchronously;
   * with one, the returned promise resolves once the journal holds it as durably as its policy promises.
   */
  enqueue(template: string): Entry | Promise<Entry> {
    if (this.journal === null) return this.admit(template);
    let resolve!: () => void;
    let reject!: (e: unknown) => void;
    const durable = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Outside the executor, so that a refused statement throws here as it does without a journal.
    const entry = this.enqueueThen(template, settlePromise, { resolve, reject });
    return durable.then(() => entry);
  }

  /**
   * enqueue() without a promise (the server's path): returns the entry, and calls done(ctx, null) once it is
   * acknowledged, or done(ctx, JOURNAL_FAILED) when the journal refuses it. Without a journal the entry is
   * acknowledged already and done is not called. Throws as enqueue() does for a refused statement.
   */
  enqueueThen<T>(template: string, done: EnqueueCallback<T>, ctx: T): Entry {
    const entry = this.admit(template);
    const journal = this.journal;
    if (journal === null) return entry;
    this.undurable++;
    this.waitingFns.push(done as EnqueueCallback<never>);
    this.waitingCtxs.push(ctx);
    journal.afterFlush(settleOldest, this);
    return entry;
  }

  /** Validates, numbers, journals (append only) and rings one entry; acknowledged at once without a journal. */
  private admit(template: string): Entry {
    const at = template.indexOf(PLACEHOLDER);
    if (at < 0 || template.indexOf(PLACEHOLDER, at + 2) >= 0) {
      throw new QueueError(
        'BAD_PLACEHOLDER',
        at < 0 ? 'statement must contain exactly one %d (found none)' : 'statement must contain exactly one %d (found several)',
      );
    }
    if (this.ring.full) throw new QueueError('QUEUE_FULL', `queue is full (${this.capacity} entries)`);
    if (this.templateGuard !== null) {
      const v = (this.templateGuard.checkTemplate as (t: string) => GuardVerdict).call(this.templateGuard, template);
      if (!v.ok) throw new QueueError('SQL_REFUSED', v.reason);
    }
    const seq = this.seq;
    const sql = template.slice(0, at) + seq + template.slice(at + 2);
    if (this.guard !== null) {
      const v = this.guard.check(sql);
      if (!v.ok) throw new QueueError('SQL_REFUSED', v.reason);
    }
    const size = entrySize(sql);
    if (this.bytes + size > this.maxBytes) {
      throw new QueueError('QUEUE_FULL', `queue is full (${this.bytes} of ${this.maxBytes} bytes held; this entry needs ${size})`);
    }
    const entry: Entry = { seq, sql };
    // Journal first: if it refuses the entry (closed or failed), nothing was queued, so nothing that the
    // client is told failed can still reach MySQL.
    if (this.journal !== null) {
      try {
        this.journal.append(entry);
      } catch (err) {
        throw new QueueError('JOURNAL_FAILED', `journal write failed: ${(err as Error)?.message ?? String(err)}`);
      }
    }
    this.seq = seq + 1;
    this.ring.push(entry);
    this.bytes += size;
    if (this.journal === null) {
      this.enqueuedTotal++;
      this.announce();
    }
    return entry;
  }

  /** @internal The journal settled the oldest undurable entry (they settle in order). */
  settleOldest(err: Error | null): void {
    const i = this.waitingHead;
    const done = this.waitingFns[i] as EnqueueCallback<unknown>;
    const ctx = this.waitingCtxs[i];
    this.waitingFns[i] = null;
    this.waitingCtxs[i] = undefined;
    if (++this.waitingHead === this.waitingFns.length) {
      this.waitingFns.length = 0;
      this.waitingCtxs.length = 0;
      this.waitingHead = 0;
    }
    if (err === null) {
      this.undurable--;
      this.enqueuedTotal++;
      this.announce();
      done(ctx, null);
    } else {
      this.discardUndurable();
      done(ctx, new QueueError('JOURNAL_FAILED', `journal write failed: ${err?.message ?? String(err)}`));
    }
  }

  private announce(): void {
    if (this.onEnqueue !== null) this.onEnqueue();
    if (this.dataListeners > 0) this.emit('data');
  }

  /**
   * The journal refused a group. A refusal is final (JournalSink), so every entry not yet durable is refused:
   * take them all out of the ring, newest first, before any consumer can see them.
   */
  private discardUndurable(): void {
    for (; this.undurable > 0; this.undurable--) {
      const e = this.ring.pop() as Entry;
      this.bytes -= entrySize(e.sql);
    }
  }

  /** Removes and returns the oldest entry (8002). */
  dequeue(): Entry | undefined {
    if (!this.dequeueEnabled) throw new QueueError('DEQUEUE_DISABLED', 'dequeue (8002) is disabled while the queue drains into MySQL');
    if (this.length === 0) return undefined;
    const e = this.ring.peek() as Entry;
    // Recorded as consumed before it leaves: if that fails the entry stays, and the client gets an error.
    if (this.onDequeued !== null) {
      try {
        this.onDequeued(e.seq);
      } catch (err) {
        throw new QueueError('JOURNAL_FAILED', `journal could not record the dequeue: ${(err as Error)?.message ?? String(err)}`);
      }
    }
    this.ring.shift();
    this.bytes -= entrySize(e.sql);
    this.dequeuedTotal++;
    return e;
  }

  /** The oldest n durable entries, oldest first, still in the queue (for the writer). */
  peekBatch(n: number): Entry[] {
    return this.ring.peekBatch(Math.min(n, this.length));
  }

  /** Drops the n oldest entries after the writer committed them. */
  commit(n: number): number {
    const dropped = this.ring.drop(Math.min(n, this.length), (e) => {
      this.bytes -= entrySize(e.sql);
    });
    this.committedTotal += dropped;
    return dropped;
  }

  /**
   * Journal replay at start: entries not yet committed to MySQL, in seq order, and the next seq to hand out.
   * Only valid while the queue is empty.
   */
  restore(entries: readonly Entry[], nextSeq: number): void {
    if (this.ring.length !== 0) throw new Error('restore() needs an empty queue');
    if (entries.length > this.capacity) {
      throw new Error(`journal holds ${entries.length} uncommitted entries, more than the capacity ${this.capacity}: start with --capacity ${entries.length}`);
    }
    let last = 0;
    let bytes = 0;
    for (const e of entries) {
      if (e.seq <= last) throw new Error(`journal entries out of order at seq ${e.seq}`);
      last = e.seq;
      bytes += entrySize(e.sql);
    }
    if (bytes > this.maxBytes) throw new Error(`journal holds ${bytes} bytes of uncommitted entries, more than --max-queue-bytes ${this.maxBytes}`);
    for (const e of entries) this.ring.push(e);
    this.bytes = bytes;
    const next = Math.max(nextSeq, last + 1);
    if (!Number.isSafeInteger(next) || next < 1) throw new RangeError('nextSeq must be a positive integer');
    this.seq = Math.max(this.seq, next);
    if (entries.length > 0) this.announce();
  }

  metrics(): MetricSample[] {
    return [
      { name: 'eserver_queue_depth', help: 'Entries in the queue (durable ones, with a journal)', type: 'gauge', value: this.length },
      { name: 'eserver_queue_capacity', help: 'Ring capacity', type: 'gauge', value: this.capacity },
      { name: 'eserver_queue_bytes', help: 'Bytes charged against the byte budget by the entries held', type: 'gauge', value: this.bytes },
      { name: 'eserver_queue_max_bytes', help: 'Byte budget of the queue', type: 'gauge', value: this.maxBytes },
      { name: 'eserver_enqueued_total', help: 'Acknowledged 8001 enqueues', type: 'counter', value: this.enqueuedTotal },
      { name: 'eserver_dequeued_total', help: 'Entries removed by 8002 dequeue', type: 'counter', value: this.dequeuedTotal },
      { name: 'eserver_next_seq', help: 'Sequence number of the next entry', type: 'gauge', value: this.seq },
    ];
  }

  /** Acknowledged enqueues so far (for shutdown logs and tests). */
  get enqueued(): number {
    return this.enqueuedTotal;
  }
}
