// Append-only journal of accepted entries, so that an acknowledged 8001 survives a crash of the server.
//
// Layout: a directory of segments `seg-<16 digits>.jnl` (format in journal-format.ts), a 16-byte file
// `committed` holding the position up to which entries are committed to MySQL or consumed by 8002, and
// `damaged/`, where segments found damaged in the middle are kept for inspection. At start, recovery
// (journal-recovery.ts) reads them back; from then on this file appends and flushes, through the segment
// files (journal-segments.ts) and the committed position (journal-committed.ts).
//
// Group commit: append() only encodes into memory. afterFlush() puts a callback in the group that the next
// write will carry; one write settles every callback that was waiting when it started, in order, and those that
// arrive meanwhile form the next group. So N connections waiting cost one fsync, not N, and no promise per entry.
// Under `always`, once groups hold several entries (concurrent clients), the write of a group waits until
// commitDelayMs after its first entry, so that more clients join it: fewer syncs per entry for a little ack
// latency. A lone client (groups of one) never waits.
// Under `always` the segment is opened with O_DSYNC, so the group's one write is durable when it returns. That
// write is made on the event-loop thread (writeSync), not through the thread pool: the loop sleeps in the kernel
// for the device's flush, and whatever arrives meanwhile waits in the socket buffers, to be read in one batch
// when the write returns and to form the next group. Measured on the emulated box, the thread-pool write cost
// more CPU per page than the blocked loop: each group woke a pool thread and then the loop for its completion,
// and the loop, free to run during the flush, woke for every arrival on its own (docs/experiments/
// 2026-12-06-seed-path-cpu.md). Under `interval` and `off` the write only reaches the page cache (microseconds),
// and is synchronous for the same reason. Under every policy the ack follows the write, so a kill -9 of the
// process loses nothing acknowledged.
import type { DurableCallback, JournalSink, Logger, MetricSample } from './contracts.js';
import type { CommittedFile } from './journal-committed.js';
import { deferred, joinGroup, newGroup, settleGroup, settlePromise, type Deferred, type Group } from './journal-groups.js';
import { encodeRecord } from './journal-format.js';
import { fdatasyncSync } from 'node:fs';
import { FSYNC_POLICIES, O_DSYNC, fsFdatasync, type FsyncPolicy } from './journal-fs.js';
import type { JournalLock } from './journal-lock.js';
import { recoverJournal, type JournalAtStart, type Recovered } from './journal-recovery.js';
import type { JournalSegments } from './journal-segments.js';
import type { Entry } from './entry.js';

export { encodeHeader, encodeRecord, parseSegment } from './journal-format.js';
export { JournalTooBigError, type Recovered } from './journal-recovery.js';
export { FSYNC_POLICIES, type FsyncPolicy } from './journal-fs.js';

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
   * previous group held more than one entry. Default 0 (written as soon as the previous group's write has returned).
   */
  commitDelayMs?: number;
  /**
   * How often, at most, the `committed` file is fdatasynced while it changes (not under `off`). Default
   * intervalMs. With MySQL's offset as the truth, a stale position after a machine crash only costs replay work
   * (the writer skips what MySQL holds), so a drain can make it rare: one sync per batch otherwise.
   */
  committedSyncMs?: number;
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

/** How often a failed journal tries a fresh segment (a full disk may be freed; an I/O error may clear). */
const RECOVER_EVERY_MS = 1000;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function openJournal(opts: JournalOptions): Promise<Journal> {
  if (!(FSYNC_POLICIES as readonly string[]).includes(opts.policy)) throw new Error(`unknown fsync policy ${String(opts.policy)}`);
  const intervalMs = Math.max(1, opts.intervalMs);
  const start = await recoverJournal({
    dir: opts.dir,
    policy: opts.policy,
    committedSeq: Math.max(0, opts.committedSeq),
    limits: opts.limits ?? { maxEntries: Infinity, maxBytes: Infinity },
    committedSyncMs: Math.max(1, opts.committedSyncMs ?? intervalMs),
    log: opts.log,
  });
  return new FileJournal({ ...opts, intervalMs }, start);
}

/** Appends and flushes (group commit) into the segments recovery left ready. */
class FileJournal implements Journal {
  readonly recovered: Recovered;
  readonly fresh: boolean;

  private readonly policy: FsyncPolicy;
  private readonly log: Logger;
  private readonly segmentBytes: number;
  private committedSeq: number;
  private readonly committedFile: CommittedFile;
  private readonly segs: JournalSegments;
  private lastSeqAppended: number;

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
  private lock: JournalLock | null;
  private idle: Deferred | null = null;

  // metrics
  private appends = 0;
  private syncs = 0;
  private readonly corruptBytes: number;

  constructor(opts: JournalOptions, start: JournalAtStart) {
    this.policy = opts.policy;
    this.log = opts.log;
    this.segmentBytes = opts.segmentBytes ?? 64 * 1024 * 1024;
    this.commitDelayMs = this.policy === 'always' ? Math.max(0, opts.commitDelayMs ?? 0) : 0;
    ({ recovered: this.recovered, committedSeq: this.committedSeq, committedFile: this.committedFile, segments: this.segs, lock: this.lock, corruptBytes: this.corruptBytes } = start);
    this.fresh = this.recovered.lastSeq === 0;
    this.lastSeqAppended = this.recovered.lastSeq;
    if (this.policy === 'interval') {
      this.timer = setInterval(() => {
        if (!this.dirty) return;
        this.syncRequested = true;
        this.schedule();
      }, opts.intervalMs);
      this.timer.unref();
    }
  }

  get failure(): Error | null {
    return this.failed;
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
      joinGroup(g, done, ctx);
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
    this.committedFile.write(seq);
    this.segs.committed(seq);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    try {
      this.closing = true;
      if (this.timer !== null) clearInterval(this.timer);
      this.timer = null;
      if (this.recoverTimer !== null) clearTimeout(this.recoverTimer);
      this.recoverTimer = null;
      this.committedFile.stopTimer();
      try {
        await this.flush();
      } catch {
        /* already logged */
      }
      while (this.busy) await this.waitIdle();
      await this.segs.settled();
      this.closed = true;
      await this.segs.close(this.policy !== 'off' && this.failed === null);
      await this.committedFile.close();
    } finally {
      this.lock?.release();
      this.lock = null;
    }
  }

  metrics(): MetricSample[] {
    return [
      { name: 'eserver_journal_appends_total', help: 'Entries appended to the journal', type: 'counter', value: this.appends },
      { name: 'eserver_journal_bytes_total', help: 'Bytes written to the journal', type: 'counter', value: this.segs.bytesWritten },
      { name: 'eserver_journal_writes_total', help: 'Group writes to the journal', type: 'counter', value: this.segs.writes },
      { name: 'eserver_journal_fsyncs_total', help: 'fdatasync calls on the journal, and O_DSYNC group writes under always', type: 'counter', value: this.syncs },
      { name: 'eserver_journal_segments', help: 'Journal segment files on disk', type: 'gauge', value: this.segs.count },
      { name: 'eserver_journal_segments_deleted_total', help: 'Segments deleted once committed', type: 'counter', value: this.segs.deleted },
      { name: 'eserver_journal_recovered_entries', help: 'Entries replayed from the journal at start', type: 'gauge', value: this.recovered.entries.length },
      { name: 'eserver_journal_cut_bytes', help: 'Bytes cut from torn journal tails at start', type: 'gauge', value: this.recovered.cutBytes },
      { name: 'eserver_journal_damaged_segments', help: 'Segments found damaged in the middle at start (kept in damaged/)', type: 'gauge', value: this.recovered.damagedSegments },
      { name: 'eserver_journal_corrupt_bytes', help: 'Bytes of damaged journal spans skipped at start (their entries are lost)', type: 'gauge', value: this.corruptBytes },
      { name: 'eserver_journal_committed_seq', help: 'Committed or consumed position recorded by the journal', type: 'gauge', value: this.committedSeq },
      { name: 'eserver_journal_up', help: '1 while the journal accepts writes', type: 'gauge', value: this.failed === null && !this.closed ? 1 : 0 },
    ];
  }

  // ---- group commit ----

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

  private becameIdle(): void {
    this.busy = false;
    const idle = this.idle;
    this.idle = null;
    idle?.resolve();
  }

  private async pump(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    const segs = this.segs;
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
            if (segs.active.bytes >= this.segmentBytes) await this.rotate(segs);
            const buf = bufs.length === 1 ? bufs[0] : Buffer.concat(bufs, bytes);
            segs.writeSync(buf);
            if (this.policy === 'always') {
              if (O_DSYNC === 0) fdatasyncSync(segs.fd);
              this.syncs++;
            } else if (this.policy === 'interval') this.dirty = true;
            segs.appended(bytes, maxSeq);
          } catch (e) {
            await this.fail(e as Error, group);
            break;
          }
          this.inflight = null;
          this.lastGroupEntries = bufs.length;
          settleGroup(group, null, this.log);
        } else {
          this.syncRequested = false;
          if (this.dirty) {
            this.dirty = false;
            try {
              await fsFdatasync(segs.fd);
              this.syncs++;
            } catch (e) {
              await this.fail(e as Error, null);
            }
          }
        }
      }
    } finally {
      this.becameIdle();
    }
  }

  private async rotate(segs: JournalSegments): Promise<void> {
    if (this.policy !== 'off') {
      await fsFdatasync(segs.fd);
      this.syncs++;
      this.dirty = false;
    }
    await segs.rotate();
  }

  // ---- a refused write, and writing again ----

  private async fail(err: Error, group: Group | null): Promise<void> {
    // After a failed write the file position is unknown: stop accepting rather than risk a hole.
    this.failed = err;
    const segs = this.segs;
    this.log.error('journal_failed', {
      err,
      file: segs.active?.file,
      msg:
        'the journal cannot write: every 8001 is refused with JOURNAL_FAILED (/healthz answers 503) until a fresh ' +
        `segment can be written (tried every ${RECOVER_EVERY_MS} ms). Entries acknowledged before are safe in the journal. ` +
        'Free disk space or fix the disk.',
    });
    // Part of the failed group may have reached the file (a short write before ENOSPC). Its clients are told
    // it failed, so it must not replay: cut the segment back to the last acknowledged byte.
    if (segs.fd >= 0 && segs.active !== undefined) {
      try {
        await segs.cutBack(this.policy !== 'off');
        // The file now ends at the last acknowledged byte: a fresh segment can carry on from there.
        this.scheduleRecovery();
      } catch (e) {
        this.log.error('journal_cut_failed', {
          err: e as Error,
          file: segs.active.file,
          offset: segs.active.bytes,
          msg: 'could not cut the refused entries from the journal; they may replay at the next start',
        });
      }
    }
    const next = this.nextGroup;
    this.nextGroup = null;
    this.inflight = null;
    this.pending = [];
    this.pendingBytes = 0;
    if (group !== null) settleGroup(group, err, this.log);
    if (next !== null) settleGroup(next, err, this.log);
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
    const segs = this.segs;
    try {
      await segs.startFresh(this.lastSeqAppended);
      const was = this.failed;
      this.failed = null;
      this.log.warn('journal_recovered', { file: segs.active.file, after: was.message, msg: 'the journal writes again: 8001 is accepted again' });
    } catch {
      this.scheduleRecovery();
    } finally {
      this.becameIdle();
    }
  }
}
