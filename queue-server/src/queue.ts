// The queue core, without sockets: validates and numbers statements, holds them in the ring, makes them
// durable through an optional journal, and hands them to one consumer (8002 dequeue, or the MySQL writer).
import { EventEmitter } from 'node:events';
import type { Entry } from './entry.js';
import type { GuardVerdict, JournalSink, MetricSample, MetricSource, StatementGuard } from './contracts.js';
import { QueueError } from './errors.js';
import { DEFAULT_CAPACITY, Ring } from './ring.js';

export interface QueueOptions {
  capacity?: number;
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

/**
 * A guard may also judge the template (one verdict for every number put in place of `%d`, so it can be
 * cached); then the hot path costs a Map lookup instead of parsing every final statement.
 */
export type QueueGuard = StatementGuard & { checkTemplate?(template: string): GuardVerdict };

/**
 * Events: 'data' after entries arrive (wakes the writer). Also settable `onEnqueue` for a cheaper wake-up.
 *
 * The statement must contain exactly one `%d`; it becomes the entry's sequence number. Unlike Python's
 * `sql % n`, other `%` sequences (including `%%`) are left as they are.
 */
export class Queue extends EventEmitter implements MetricSource {
  readonly capacity: number;
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
  private dataListeners = 0;
  private enqueuedTotal = 0;
  private dequeuedTotal = 0;
  private committedTotal = 0;

  constructor(opts: QueueOptions = {}) {
    super();
    this.capacity = opts.capacity ?? DEFAULT_CAPACITY;
    this.ring = new Ring<Entry>(this.capacity);
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

  get length(): number {
    return this.ring.length;
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
    if (this.onEnqueue !== null) this.onEnqueue();
    if (this.dataListeners > 0) this.emit('data');
    if (this.journal === null) {
      this.enqueuedTotal++;
      return entry;
    }
    return this.journal.flush().then(
      () => {
        this.enqueuedTotal++;
        return entry;
      },
      (err: unknown) => {
        throw new QueueError('JOURNAL_FAILED', `journal write failed: ${(err as Error)?.message ?? String(err)}`);
      },
    );
  }

  /** Removes and returns the oldest entry (8002). */
  dequeue(): Entry | undefined {
    if (!this.dequeueEnabled) throw new QueueError('DEQUEUE_DISABLED', 'dequeue (8002) is disabled while the queue drains into MySQL');
    const e = this.ring.shift();
    if (e !== undefined) {
      this.dequeuedTotal++;
      if (this.onDequeued !== null) this.onDequeued(e.seq);
    }
    return e;
  }

  /** The oldest n entries, oldest first, still in the queue (for the writer). */
  peekBatch(n: number): Entry[] {
    return this.ring.peekBatch(n);
  }

  /** Drops the n oldest entries after the writer committed them. */
  commit(n: number): number {
    const dropped = this.ring.drop(n);
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
      throw new Error(`journal holds ${entries.length} uncommitted entries, more than the capacity ${this.capacity}`);
    }
    let last = 0;
    for (const e of entries) {
      if (e.seq <= last) throw new Error(`journal entries out of order at seq ${e.seq}`);
      last = e.seq;
      this.ring.push(e);
    }
    const next = Math.max(nextSeq, last + 1);
    if (!Number.isSafeInteger(next) || next < 1) throw new RangeError('nextSeq must be a positive integer');
    this.seq = Math.max(this.seq, next);
    if (entries.length > 0) {
      if (this.onEnqueue !== null) this.onEnqueue();
      if (this.dataListeners > 0) this.emit('data');
    }
  }

  metrics(): MetricSample[] {
    return [
      { name: 'eserver_queue_depth', help: 'Entries in the queue', type: 'gauge', value: this.ring.length },
      { name: 'eserver_queue_capacity', help: 'Ring capacity', type: 'gauge', value: this.capacity },
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
