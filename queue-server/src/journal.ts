// Append-only journal of accepted entries, so that an acknowledged 8001 survives a crash of the server.
//
// Layout: a directory of segments `seg-<16 digits>.jnl` (format in journal-format.ts), a 16-byte file
// `committed` holding the position up to which entries are committed to MySQL or consumed by 8002, and
// `damaged/`, where segments found damaged in the middle are kept for inspection.
//
// Group commit: append() only encodes into memory. afterFlush() puts a callback in the group that the next
// write will carry; one write settles every callback that was waiting when it started, in order, and those that
// arrive meanwhile form the next group. So N connections waiting cost one fsync, not N, and no promise per entry.
// Under `always`, once groups hold several entries (concurrent clients), the write of a group waits until
// commitDelayMs after its first entry, so that more clients join it: fewer syncs per entry for a little ack
// latency. A lone client (groups of one) never waits.
// Under `always` the segment is opened with O_DSYNC, so the group's one write is durable when it returns: one
// thread-pool hop per group instead of two (write, then fdatasync). Under `interval` and `off` the write only
// reaches the page cache (microseconds), so it is done synchronously, with no thread-pool hop at all; the ack
// still follows the write, so a kill -9 of the process loses nothing acknowledged.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { Entry } from './entry.js';
import type { DurableCallback, JournalSink, Logger, MetricSample } from './contracts.js';
import { crc32 } from './crc32.js';
import { entrySize } from './entry.js';
import { lockJournalDir, type JournalLock } from './journal-lock.js';
import { HEADER, encodeHeader, encodeRecord, scanSegment, writeRanges, type Damage } from './journal-format.js';

export { encodeHeader, encodeRecord, parseSegment } from './journal-format.js';

export const FSYNC_POLICIES = ['always', 'interval', 'off'] as const;
export type FsyncPolicy = (typeof FSYNC_POLICIES)[number];

export interface JournalOptions {
  dir: string;
  policy: FsyncPolicy;
  /** fsync period under `interval` (and of the committed-position file under `always`). */
  intervalMs: number;
  /**
   * Highest seq known to be committed to MySQL (0 when unknown); older entries are not replayed. The journal
   * also keeps its own record of the committed / consumed position (file `committed`) and uses the higher.
   */
  committedSeq: number;
  log: Logger;
  /** Rotate to a new segment once the active one reaches this size. Default 64 MiB. */
  segmentBytes?: number;
  /** What the queue can take back at replay; more than this is refused with what to raise. */
  limits?: { maxEntries: number; maxBytes: number };
  /**
   * Under `always`: how long after its first entry a group waits for more before it is written, while the
   * previous group held more than one entry. Default 0 (written as soon as the thread pool is free).
   */
  commitDelayMs?: number;
  /**
   * How often, at most, the `committed` file is fdatasynced while it changes (not under `off`). Default
   * intervalMs. With MySQL's offset as the truth, a stale position after a machine crash only costs replay work
   * (the writer skips what MySQL holds), so a drain can make it rare: one sync per batch otherwise.
   */
  committedSyncMs?: number;
}

export interface Recovered {
  /** Entries with seq > committedSeq, in seq order. */
  entries: Entry[];
  /** Highest seq ever written (or committed): the next seq handed out must be above it. */
  lastSeq: number;
  /** Bytes cut from torn or corrupt tails. */
  cutBytes: number;
  /** The committed / consumed position the replay started from. */
  committedSeq: number;
  /** Segments found damaged in the middle (kept in `damaged/`, rewritten with their good records). */
  damagedSegments: number;
}

export interface Journal extends JournalSink {
  readonly recovered: Recovered;
  /** The journal has never held an entry nor a committed position (a new directory). */
  readonly fresh: boolean;
  /** Why the journal refuses writes, or null while it accepts them. */
  readonly failure: Error | null;
  /**
   * Everything up to seq is committed in MySQL or consumed by 8002: recorded (a write() before this returns,
   * so a kill -9 after it never brings those entries back) and whole segments below it are deleted.
   */
  committed(seq: number): void;
  /** Resolves once everything appended so far is durable (afterFlush() as a promise); rejects when refused. */
  flush(): Promise<void>;
  close(): Promise<void>;
  metrics(): MetricSample[];
}

/** The journal holds more uncommitted entries than the queue may take: raise the limits it names. */
export class JournalTooBigError extends Error {
  constructor(msg: string) {
    super(msg);
    this.name = 'JournalTooBigError';
  }
}

const SEG_RE = /^seg-(\d{16})\.jnl$/;
const TWO32 = 0x1_0000_0000;
const COMMITTED_FILE = 'committed';
const COMMITTED_MAGIC = 0x45534a43; // "ESJC"
const DAMAGED_DIR = 'damaged';

const fsOpen = promisify(fs.open);
const fsClose = promisify(fs.close);
function fsWrite(fd: number, buf: Buffer, off: number, len: number, pos: number | null): Promise<number> {
  return new Promise((resolve, reject) => fs.write(fd, buf, off, len, pos, (err, n) => (err ? reject(err) : resolve(n))));
}
const fsFdatasync = promisify(fs.fdatasync);
const fsFsync = promisify(fs.fsync);
const fsFtruncate = promisify(fs.ftruncate);
/** How often a failed journal tries a fresh segment (a full disk may be freed; an I/O error may clear). */
const RECOVER_EVERY_MS = 1000;
// 'wx' plus O_DSYNC; 0 where the platform has no O_DSYNC (then `always` falls back to write + fdatasync).
const O_DSYNC: number = fs.constants.O_DSYNC ?? 0;
const WX_DSYNC = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_TRUNC | O_DSYNC;

interface Segment {
  index: number;
  file: string;
  /** Highest seq stored in the segment (0 when it holds none). */
  lastSeq: number;
  bytes: number;
}

/** The callbacks waiting on one group write, in registration order. */
interface Group {
  fns: Array<DurableCallback<never>>;
  ctxs: unknown[];
}

function newGroup(): Group {
  return { fns: [], ctxs: [] };
}

function settlePromise(d: Deferred, err: Error | null): void {
  if (err === null) d.resolve();
  else d.reject(err);
}

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
  reject: (e: Error) => void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // A group nobody awaits must not become an unhandled rejection.
  promise.catch(() => {});
  return { promise, resolve, reject };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function segName(index: number): string {
  return `seg-${String(index).padStart(16, '0')}.jnl`;
}

export async function openJournal(opts: JournalOptions): Promise<Journal> {
  const j = new FileJournal(opts);
  try {
    await j.open();
  } catch (err) {
    await j.close().catch(() => {});
    throw err;
  }
  return j;
}

class FileJournal implements Journal {
  recovered: Recovered = { entries: [], lastSeq: 0, cutBytes: 0, committedSeq: 0, damagedSegments: 0 };
  fresh = false;

  private readonly dir: string;
  private readonly policy: FsyncPolicy;
  private readonly intervalMs: number;
  private readonly committedSyncMs: number;
  private readonly log: Logger;
  private readonly segmentBytes: number;
  private readonly limits: { maxEntries: number; maxBytes: number };
  private committedSeq: number;

  private segments: Segment[] = [];
  private fd = -1;
  private active!: Segment;
  private lastSeqAppended = 0;

  /** The `committed` file: overwritten in place (16 bytes, one sector) on every committed(). */
  private committedFd = -1;
  private readonly committedBuf = Buffer.alloc(16);
  private committedTimer: NodeJS.Timeout | null = null;
  private committedSyncing = false;

  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private pendingMaxSeq = 0;
  /** When the first entry of the pending group was appended (performance.now()). */
  private pendingSince = 0;
  private readonly commitDelayMs: number;
  private lastGroupEntries = 0;
  private nextGroup: Group | null = null;
  private inflight: Group | null = null;
  private busy = false;
  private scheduled = false;
  private syncRequested = false;
  private dirty = false;
  private failed: Error | null = null;
  private closing = false;
  private closed = false;
  private timer: NodeJS.Timeout | null = null;
  /** While failed with a known file position: the next attempt to write a fresh segment. */
  private recoverTimer: NodeJS.Timeout | null = null;
  private deleting: Promise<void> | null = null;
  private lock: JournalLock | null = null;
  private idle: Deferred | null = null;

  // metrics
  private appends = 0;
  private bytesWritten = 0;
  private writes = 0;
  private syncs = 0;
  private deleted = 0;
  private corruptBytes = 0;

  constructor(opts: JournalOptions) {
    this.dir = opts.dir;
    this.policy = opts.policy;
    this.intervalMs = Math.max(1, opts.intervalMs);
    this.committedSyncMs = Math.max(1, opts.committedSyncMs ?? this.intervalMs);
    this.log = opts.log;
    this.segmentBytes = opts.segmentBytes ?? 64 * 1024 * 1024;
    this.limits = opts.limits ?? { maxEntries: Infinity, maxBytes: Infinity };
    this.committedSeq = Math.max(0, opts.committedSeq);
    this.commitDelayMs = this.policy === 'always' ? Math.max(0, opts.commitDelayMs ?? 0) : 0;
    if (!['always', 'interval', 'off'].includes(this.policy)) throw new Error(`unknown fsync policy ${String(this.policy)}`);
  }

  get failure(): Error | null {
    return this.failed;
  }

  async open(): Promise<void> {
    await fs.promises.mkdir(this.dir, { recursive: true });
    this.lock = lockJournalDir(this.dir, this.log);
    const stored = await this.openCommittedFile();
    this.committedSeq = Math.max(this.committedSeq, stored);
    const names = (await fs.promises.readdir(this.dir)).filter((n) => SEG_RE.test(n)).sort();
    // Highest seq found in the segments so far: records must rise above it. The committed position is no
    // floor: entries at or below it are still in their segments until the segment is deleted whole.
    let seen = 0;
    let cutBytes = 0;
    let maxIndex = 0;
    let damaged = 0;
    const entries: Entry[] = [];
    let count = 0;
    let bytes = 0;
    let overflow = false;
    for (let i = 0; i < names.length; i++) {
      const name = names[i];
      const isLast = i === names.length - 1;
      const index = Number(SEG_RE.exec(name)![1]);
      maxIndex = Math.max(maxIndex, index);
      const file = path.join(this.dir, name);
      const floor = seen;
      const scan = await scanSegment(file, floor, (e) => {
        if (e.seq <= this.committedSeq) return;
        count++;
        bytes += entrySize(e.sql);
        // Past the queue's limits, keep counting (for the message) but stop holding entries.
        if (count > this.limits.maxEntries || bytes > this.limits.maxBytes) overflow = true;
        if (!overflow) entries.push(e);
      });
      if (!scan.headerOk && scan.size <= HEADER) {
        // A crash while a segment was being created leaves this; nothing in it was ever acknowledged.
        cutBytes += scan.size;
        this.log.warn('journal_segment_dropped', { file, bytes: scan.size, why: 'short header' });
        await fs.promises.unlink(file);
        continue;
      }
      const tail = scan.damage.at(-1);
      const tornTailOnly = scan.headerOk && isLast && scan.damage.length === 1 && tail !== undefined && tail.lostSeqTo === null;
      let goodEnd = scan.size;
      if (tornTailOnly) {
        // The last segment ends in a partial write: what a crash mid-write leaves. Never acknowledged under `always`.
        goodEnd = tail.offset;
        cutBytes += tail.bytes;
        this.log.warn('journal_tail_cut', { file, offset: tail.offset, bytes: tail.bytes, why: tail.why, lastSeq: scan.lastSeq });
        await fs.promises.truncate(file, goodEnd);
      } else if (scan.damage.length > 0) {
        damaged++;
        goodEnd = await this.setAside(file, name, Math.max(scan.prevLastSeq, floor), scan.ranges, scan.damage);
      }
      seen = Math.max(seen, scan.prevLastSeq, scan.lastSeq);
      this.segments.push({ index, file, lastSeq: scan.lastSeq, bytes: goodEnd });
    }
    if (overflow) {
      const over: string[] = [];
      if (count > this.limits.maxEntries) over.push(`--capacity ${count} (now ${this.limits.maxEntries})`);
      if (bytes > this.limits.maxBytes) over.push(`--max-queue-bytes ${bytes} (now ${this.limits.maxBytes})`);
      throw new JournalTooBigError(
        `journal ${this.dir} holds ${count} entries (${bytes} bytes in memory) not yet committed or consumed, more than the queue takes. ` +
          `They were acknowledged: do not delete the journal. Start with at least ${over.join(' and ')} on a machine with the memory for it, ` +
          'let them drain or be consumed, then restart with the usual limits.',
      );
    }
    const lastSeq = Math.max(seen, this.committedSeq);
    this.recovered = { entries, lastSeq, cutBytes, committedSeq: this.committedSeq, damagedSegments: damaged };
    this.fresh = lastSeq === 0;
    this.lastSeqAppended = lastSeq;
    this.log.info('journal_open', {
      dir: this.dir,
      policy: this.policy,
      segments: this.segments.length,
      replay: entries.length,
      lastSeq,
      committedSeq: this.committedSeq,
      cutBytes,
      damagedSegments: damaged,
    });

    // Appends always go to a fresh segment: never write after a tail that recovery just cut.
    await this.openSegment(maxIndex + 1, lastSeq);
    await this.syncDir();
    this.startDelete();
    await this.deleting;

    if (this.policy === 'interval') {
      this.timer = setInterval(() => {
        if (!this.dirty) return;
        this.syncRequested = true;
        this.schedule();
      }, this.intervalMs);
      this.timer.unref();
    }
  }

  append(entry: Entry): void {
    if (this.closed) throw new Error('journal is closed');
    if (this.failed !== null) throw this.failed;
    const b = encodeRecord(entry);
    if (this.pending.length === 0 && this.commitDelayMs > 0) this.pendingSince = performance.now();
    this.pending.push(b);
    this.pendingBytes += b.length;
    if (entry.seq > this.pendingMaxSeq) this.pendingMaxSeq = entry.seq;
    if (entry.seq > this.lastSeqAppended) this.lastSeqAppended = entry.seq;
    this.appends++;
  }

  afterFlush<T>(done: DurableCallback<T>, ctx: T): void {
    let g: Group | null = null;
    if (this.failed === null) {
      if (this.pending.length > 0) {
        g = this.nextGroup ??= newGroup();
        this.schedule();
      } else {
        g = this.inflight;
      }
    }
    if (g !== null) {
      g.fns.push(done as DurableCallback<never>);
      g.ctxs.push(ctx);
      return;
    }
    // Nothing to wait for (or refused already): still never called before afterFlush() returns.
    const err = this.failed;
    process.nextTick(() => done(ctx, err));
  }

  flush(): Promise<void> {
    const d = deferred();
    this.afterFlush(settlePromise, d);
    return d.promise;
  }

  committed(seq: number): void {
    if (seq <= this.committedSeq) return;
    this.committedSeq = seq;
    if (this.committedFd >= 0) {
      // Synchronous on purpose: a consumer's 8002 reply leaves after this, so a kill -9 after the reply cannot
      // bring the entry back. 16 bytes at offset 0 stay within one sector.
      this.encodeCommitted(seq);
      fs.writeSync(this.committedFd, this.committedBuf, 0, 16, 0);
      // Made durable within committedSyncMs (one timer while dirty, none while idle), except under `off`.
      if (this.policy !== 'off' && this.committedTimer === null) {
        this.committedTimer = setTimeout(() => {
          this.committedTimer = null;
          void this.syncCommitted();
        }, this.committedSyncMs);
        this.committedTimer.unref();
      }
    }
    // Segments are in seq order: only when the oldest is wholly committed is there anything to delete.
    const oldest = this.segments[0];
    if (oldest !== undefined && oldest !== this.active && oldest.lastSeq <= seq) this.startDelete();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    try {
      this.closing = true;
      if (this.timer !== null) clearInterval(this.timer);
      this.timer = null;
      if (this.recoverTimer !== null) clearTimeout(this.recoverTimer);
      this.recoverTimer = null;
      if (this.committedTimer !== null) clearTimeout(this.committedTimer);
      this.committedTimer = null;
      try {
        await this.flush();
      } catch {
        /* already logged */
      }
      while (this.busy) await this.waitIdle();
      while (this.deleting !== null) await this.deleting;
      this.closed = true;
      if (this.fd >= 0) {
        if (this.policy !== 'off' && this.failed === null) await fsFdatasync(this.fd).catch(() => {});
        await fsClose(this.fd);
        this.fd = -1;
      }
      if (this.committedFd >= 0) {
        while (this.committedSyncing) await new Promise((r) => setImmediate(r));
        if (this.policy !== 'off') await fsFdatasync(this.committedFd).catch(() => {});
        await fsClose(this.committedFd);
        this.committedFd = -1;
      }
    } finally {
      this.lock?.release();
      this.lock = null;
    }
  }

  metrics(): MetricSample[] {
    return [
      { name: 'eserver_journal_appends_total', help: 'Entries appended to the journal', type: 'counter', value: this.appends },
      { name: 'eserver_journal_bytes_total', help: 'Bytes written to the journal', type: 'counter', value: this.bytesWritten },
      { name: 'eserver_journal_writes_total', help: 'Group writes to the journal', type: 'counter', value: this.writes },
      { name: 'eserver_journal_fsyncs_total', help: 'fdatasync calls on the journal, and O_DSYNC group writes under always', type: 'counter', value: this.syncs },
      { name: 'eserver_journal_segments', help: 'Journal segment files on disk', type: 'gauge', value: this.segments.length },
      { name: 'eserver_journal_segments_deleted_total', help: 'Segments deleted once committed', type: 'counter', value: this.deleted },
      { name: 'eserver_journal_recovered_entries', help: 'Entries replayed from the journal at start', type: 'gauge', value: this.recovered.entries.length },
      { name: 'eserver_journal_cut_bytes', help: 'Bytes cut from torn journal tails at start', type: 'gauge', value: this.recovered.cutBytes },
      { name: 'eserver_journal_damaged_segments', help: 'Segments found damaged in the middle at start (kept in damaged/)', type: 'gauge', value: this.recovered.damagedSegments },
      { name: 'eserver_journal_corrupt_bytes', help: 'Bytes of damaged journal spans skipped at start (their entries are lost)', type: 'gauge', value: this.corruptBytes },
      { name: 'eserver_journal_committed_seq', help: 'Committed or consumed position recorded by the journal', type: 'gauge', value: this.committedSeq },
      { name: 'eserver_journal_up', help: '1 while the journal accepts writes', type: 'gauge', value: this.failed === null && !this.closed ? 1 : 0 },
    ];
  }

  // ---- internals ----

  private encodeCommitted(seq: number): void {
    const b = this.committedBuf;
    b.writeUInt32BE(COMMITTED_MAGIC, 0);
    b.writeUInt32BE(Math.floor(seq / TWO32), 4);
    b.writeUInt32BE(seq % TWO32, 8);
    b.writeUInt32BE(crc32(b, 0, 12), 12);
  }

  /** Opens (or creates) the committed-position file; returns the position it holds (0 when none or unreadable). */
  private async openCommittedFile(): Promise<number> {
    const file = path.join(this.dir, COMMITTED_FILE);
    const existed = fs.existsSync(file);
    this.committedFd = await fsOpen(file, fs.constants.O_RDWR | fs.constants.O_CREAT);
    let stored = 0;
    if (existed) {
      const b = Buffer.alloc(16);
      const n = fs.readSync(this.committedFd, b, 0, 16, 0);
      if (n === 16 && b.readUInt32BE(0) === COMMITTED_MAGIC && b.readUInt32BE(12) === crc32(b, 0, 12)) {
        stored = b.readUInt32BE(4) * TWO32 + b.readUInt32BE(8);
      } else if (n > 0) {
        // Replaying from MySQL's offset (or from the start) re-delivers, it never loses: say so and go on.
        this.log.error('journal_committed_unreadable', { file, bytes: n, msg: 'committed position unreadable; entries consumed by 8002 may be delivered again' });
      }
    }
    if (!existed || stored < this.committedSeq) {
      this.encodeCommitted(Math.max(stored, this.committedSeq));
      fs.writeSync(this.committedFd, this.committedBuf, 0, 16, 0);
      await fsFsync(this.committedFd);
      if (!existed) await this.syncDir();
    }
    return stored;
  }

  private async syncCommitted(): Promise<void> {
    if (this.committedSyncing || this.committedFd < 0) return;
    this.committedSyncing = true;
    try {
      await fsFdatasync(this.committedFd);
    } catch (err) {
      this.log.error('journal_committed_sync_failed', { err });
    } finally {
      this.committedSyncing = false;
    }
  }

  /**
   * A segment damaged in the middle (or at the tail of a segment that is not the last): keeps the original
   * in damaged/, rewrites the segment with the records that check out, and says loudly what was lost.
   * Returns the new size of the segment.
   */
  private async setAside(file: string, name: string, prevLastSeq: number, ranges: ReadonlyArray<[number, number]>, damage: readonly Damage[]): Promise<number> {
    const lost = damage.reduce((n, d) => n + d.bytes, 0);
    this.corruptBytes += lost;
    const keepDir = path.join(this.dir, DAMAGED_DIR);
    const kept = path.join(keepDir, `${name}.${new Date().toISOString().replace(/[:.]/g, '-')}`);
    for (const d of damage) {
      this.log.error('journal_corrupt', {
        file,
        offset: d.offset,
        bytes: d.bytes,
        why: d.why,
        lostSeqFrom: d.lostSeqFrom,
        lostSeqTo: d.lostSeqTo,
        keptAs: kept,
        msg:
          'journal damaged in the middle of a segment: entries in this span are lost (acknowledged ones included); ' +
          'the records after it were recovered by their checksums. Check the disk; the original is kept for inspection.',
      });
    }
    const tmp = `${file}.rewrite`;
    const size = HEADER + ranges.reduce((n, [a, b]) => n + b - a, 0);
    try {
      await fs.promises.mkdir(keepDir, { recursive: true });
      await fs.promises.rm(tmp, { force: true });
      await writeRanges(file, tmp, prevLastSeq, ranges);
      await fs.promises.link(file, kept);
      // rename() replaces the damaged segment atomically: a crash here leaves the old or the new, both readable.
      await fs.promises.rename(tmp, file);
      await this.syncDir();
      return size;
    } catch (err) {
      this.log.error('journal_set_aside_failed', { file, err, msg: 'the damaged segment stays in place and will be reported again at the next start' });
      await fs.promises.rm(tmp, { force: true }).catch(() => {});
      return (await fs.promises.stat(file)).size;
    }
  }

  private schedule(): void {
    if (this.busy || this.scheduled) return;
    this.scheduled = true;
    // setImmediate lets every socket read of this event-loop turn append before the group is cut.
    setImmediate(() => {
      this.scheduled = false;
      void this.pump();
    });
  }

  private waitIdle(): Promise<void> {
    if (this.idle === null) this.idle = deferred();
    return this.idle.promise;
  }

  private async pump(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      while (this.failed === null && (this.pending.length > 0 || this.syncRequested)) {
        if (this.pending.length > 0) {
          if (this.commitDelayMs > 0 && this.lastGroupEntries > 1 && !this.closing) {
            const wait = this.pendingSince + this.commitDelayMs - performance.now();
            if (wait >= 1) await sleep(wait);
          }
          const bufs = this.pending;
          const bytes = this.pendingBytes;
          const maxSeq = this.pendingMaxSeq;
          const group = this.nextGroup ?? newGroup();
          this.pending = [];
          this.pendingBytes = 0;
          this.nextGroup = null;
          this.inflight = group;
          try {
            if (this.active.bytes >= this.segmentBytes) await this.rotate();
            const buf = bufs.length === 1 ? bufs[0] : Buffer.concat(bufs, bytes);
            if (this.policy === 'always') {
              await this.writeAll(buf);
              if (O_DSYNC === 0) await fsFdatasync(this.fd);
              this.syncs++;
            } else {
              this.writeAllSync(buf);
              if (this.policy === 'interval') this.dirty = true;
            }
            this.active.bytes += bytes;
            if (maxSeq > this.active.lastSeq) this.active.lastSeq = maxSeq;
          } catch (e) {
            await this.fail(e as Error, group);
            break;
          }
          this.inflight = null;
          this.lastGroupEntries = bufs.length;
          this.settle(group, null);
        } else {
          this.syncRequested = false;
          if (this.dirty) {
            this.dirty = false;
            try {
              await fsFdatasync(this.fd);
              this.syncs++;
            } catch (e) {
              await this.fail(e as Error, null);
            }
          }
        }
      }
    } finally {
      this.busy = false;
      const idle = this.idle;
      this.idle = null;
      idle?.resolve();
    }
  }

  /** Runs a group's callbacks in order; one that throws is logged and does not keep the others from running. */
  private settle(group: Group, err: Error | null): void {
    const { fns, ctxs } = group;
    for (let i = 0; i < fns.length; i++) {
      try {
        (fns[i] as DurableCallback<unknown>)(ctxs[i], err);
      } catch (e) {
        this.log.error('journal_callback_failed', { err: e as Error });
      }
    }
  }

  private async fail(err: Error, group: Group | null): Promise<void> {
    // After a failed write the file position is unknown: stop accepting rather than risk a hole.
    this.failed = err;
    this.log.error('journal_failed', {
      err,
      file: this.active?.file,
      msg:
        'the journal cannot write: every 8001 is refused with JOURNAL_FAILED (/healthz answers 503) until a fresh ' +
        `segment can be written (tried every ${RECOVER_EVERY_MS} ms). Entries acknowledged before are safe in the journal. ` +
        'Free disk space or fix the disk.',
    });
    // Part of the failed group may have reached the file (a short write before ENOSPC). Its clients are told
    // it failed, so it must not replay: cut the segment back to the last acknowledged byte.
    if (this.fd >= 0 && this.active !== undefined) {
      try {
        await fsFtruncate(this.fd, this.active.bytes);
        if (this.policy !== 'off') await fsFdatasync(this.fd);
        // The file now ends at the last acknowledged byte: a fresh segment can carry on from there.
        this.scheduleRecovery();
      } catch (e) {
        this.log.error('journal_cut_failed', {
          err: e as Error,
          file: this.active.file,
          offset: this.active.bytes,
          msg: 'could not cut the refused entries from the journal; they may replay at the next start',
        });
      }
    }
    const next = this.nextGroup;
    this.nextGroup = null;
    this.inflight = null;
    this.pending = [];
    this.pendingBytes = 0;
    if (group !== null) this.settle(group, err);
    if (next !== null) this.settle(next, err);
  }

  private async writeAll(buf: Buffer): Promise<void> {
    let off = 0;
    while (off < buf.length) {
      off += await fsWrite(this.fd, buf, off, buf.length - off, null);
    }
    this.writes++;
    this.bytesWritten += buf.length;
  }

  private writeAllSync(buf: Buffer): void {
    let off = 0;
    while (off < buf.length) off += fs.writeSync(this.fd, buf, off, buf.length - off, null);
    this.writes++;
    this.bytesWritten += buf.length;
  }

  private async openSegment(index: number, prevLastSeq: number): Promise<void> {
    const file = path.join(this.dir, segName(index));
    const fd = await fsOpen(file, this.policy === 'always' ? WX_DSYNC : 'wx');
    try {
      const header = encodeHeader(prevLastSeq);
      let off = 0;
      while (off < header.length) off += await fsWrite(fd, header, off, header.length - off, null);
      // The header carries lastSeq across truncation, so it is made durable whatever the policy.
      await fsFsync(fd);
    } catch (err) {
      // A half-made segment would be dropped at the next start anyway; remove it now.
      await fsClose(fd).catch(() => {});
      await fs.promises.unlink(file).catch(() => {});
      throw err;
    }
    this.fd = fd;
    this.active = { index, file, lastSeq: 0, bytes: HEADER };
    this.segments.push(this.active);
  }

  private scheduleRecovery(): void {
    if (this.closed || this.recoverTimer !== null) return;
    this.recoverTimer = setTimeout(() => {
      this.recoverTimer = null;
      void this.recover();
    }, RECOVER_EVERY_MS);
    this.recoverTimer.unref();
  }

  /**
   * After a refused write whose bytes were cut off: appends go on in a fresh segment once one can be written
   * (its header, fsynced, proves the disk takes writes again). The refused entries' clients were told so and
   * the entries left the ring, so nothing of theirs is in any segment; their seqs stay unused.
   */
  private async recover(): Promise<void> {
    if (this.failed === null || this.closed) return;
    if (this.busy) return this.scheduleRecovery();
    this.busy = true;
    try {
      const old = this.fd;
      await this.openSegment(this.active.index + 1, Math.max(this.lastSeqAppended, this.lastSeqWrittenSoFar()));
      await fsClose(old).catch(() => {});
      await this.syncDir();
      const was = this.failed;
      this.failed = null;
      this.log.warn('journal_recovered', { file: this.active.file, after: was.message, msg: 'the journal writes again: 8001 is accepted again' });
    } catch {
      this.scheduleRecovery();
    } finally {
      this.busy = false;
      const idle = this.idle;
      this.idle = null;
      idle?.resolve();
    }
  }

  private async rotate(): Promise<void> {
    const old = this.fd;
    if (this.policy !== 'off') {
      await fsFdatasync(old);
      this.syncs++;
      this.dirty = false;
    }
    // If the new segment cannot be made (ENOSPC, EIO), the old one stays active and intact.
    await this.openSegment(this.active.index + 1, this.lastSeqWrittenSoFar());
    await fsClose(old);
    await this.syncDir();
    this.log.info('journal_rotated', { file: this.active.file });
    this.startDelete();
  }

  private lastSeqWrittenSoFar(): number {
    let m = this.recovered.lastSeq;
    for (const s of this.segments) if (s.lastSeq > m) m = s.lastSeq;
    return m;
  }

  private async syncDir(): Promise<void> {
    try {
      const dfd = await fsOpen(this.dir, 'r');
      try {
        await fsFsync(dfd);
      } finally {
        await fsClose(dfd);
      }
    } catch {
      // Some filesystems refuse fsync on a directory; the data files themselves are still synced.
    }
  }

  private startDelete(): void {
    if (this.deleting !== null) return;
    this.deleting = this.deleteCommitted().finally(() => {
      this.deleting = null;
    });
  }

  private async deleteCommitted(): Promise<void> {
    for (;;) {
      const victim = this.segments.find((s) => s !== this.active && s.lastSeq <= this.committedSeq);
      if (victim === undefined) break;
      this.segments = this.segments.filter((s) => s !== victim);
      try {
        await fs.promises.unlink(victim.file);
        this.deleted++;
      } catch (e) {
        this.log.warn('journal_delete_failed', { file: victim.file, err: e as Error });
      }
    }
  }
}
