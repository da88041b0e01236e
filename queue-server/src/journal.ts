// Append-only journal of accepted entries, so that an acknowledged 8001 survives a crash of the server.
//
// Layout: a directory of segments `seg-<16 digits>.jnl`. Each starts with a 20-byte header
//   magic "ESJ1" | u16 version | u16 flags | u32 prevLastSeq hi | u32 lo | u32 crc32(header bytes 0..16)
// where prevLastSeq is the highest seq written before the segment was opened: it keeps sequence numbers
// increasing across restarts even after every older segment was deleted. Then records:
//   u32 payloadLen | u32 crc32(payload) | payload = u32 seq hi | u32 seq lo | sql (UTF-8)
//
// Group commit: append() only encodes into memory. flush() joins the group that the next write will carry;
// one write settles every flush() that was waiting when it started, and the flushes that arrive meanwhile form
// the next group. So N connections waiting cost one fsync, not N.
// Under `always` the segment is opened with O_DSYNC, so the group's one write is durable when it returns: one
// thread-pool hop per group instead of two (write, then fdatasync). Under `interval` and `off` the write only
// reaches the page cache (microseconds), so it is done synchronously, with no thread-pool hop at all; the ack
// still follows the write, so a kill -9 of the process loses nothing acknowledged.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { Entry } from './entry.js';
import type { JournalSink, Logger, MetricSample } from './contracts.js';
import { crc32 } from './crc32.js';

export type FsyncPolicy = 'always' | 'interval' | 'off';

export interface JournalOptions {
  dir: string;
  policy: FsyncPolicy;
  /** fsync period under `interval`. */
  intervalMs: number;
  /** Highest seq known to be committed to MySQL; older entries are not replayed. */
  committedSeq: number;
  log: Logger;
  /** Rotate to a new segment once the active one reaches this size. Default 64 MiB. */
  segmentBytes?: number;
}

export interface Recovered {
  /** Entries with seq > committedSeq, in seq order. */
  entries: Entry[];
  /** Highest seq ever written (or committed): the next seq handed out must be above it. */
  lastSeq: number;
  /** Bytes cut from torn or corrupt tails. */
  cutBytes: number;
}

export interface Journal extends JournalSink {
  readonly recovered: Recovered;
  /** Tells the journal that everything up to seq is committed in MySQL; whole segments below it are deleted. */
  committed(seq: number): void;
  close(): Promise<void>;
  metrics(): MetricSample[];
}

const MAGIC = 0x45534a31; // "ESJ1"
const VERSION = 1;
const HEADER = 20;
const REC_HEAD = 8;
const MAX_PAYLOAD = 16 * 1024 * 1024; // entries are < 64 KiB; anything bigger is garbage
const SEG_RE = /^seg-(\d{16})\.jnl$/;
const TWO32 = 0x1_0000_0000;

const fsOpen = promisify(fs.open);
const fsClose = promisify(fs.close);
function fsWrite(fd: number, buf: Buffer, off: number, len: number, pos: null): Promise<number> {
  return new Promise((resolve, reject) => fs.write(fd, buf, off, len, pos, (err, n) => (err ? reject(err) : resolve(n))));
}
const fsFdatasync = promisify(fs.fdatasync);
const fsFsync = promisify(fs.fsync);
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

function segName(index: number): string {
  return `seg-${String(index).padStart(16, '0')}.jnl`;
}

export function encodeHeader(prevLastSeq: number): Buffer {
  const b = Buffer.alloc(HEADER);
  b.writeUInt32BE(MAGIC, 0);
  b.writeUInt16BE(VERSION, 4);
  b.writeUInt16BE(0, 6);
  b.writeUInt32BE(Math.floor(prevLastSeq / TWO32), 8);
  b.writeUInt32BE(prevLastSeq % TWO32, 12);
  b.writeUInt32BE(crc32(b, 0, 16), 16);
  return b;
}

export function encodeRecord(e: Entry): Buffer {
  const n = Buffer.byteLength(e.sql);
  const b = Buffer.allocUnsafe(REC_HEAD + 8 + n);
  b.writeUInt32BE(8 + n, 0);
  b.writeUInt32BE(Math.floor(e.seq / TWO32), 8);
  b.writeUInt32BE(e.seq % TWO32, 12);
  b.write(e.sql, 16, 'utf8');
  b.writeUInt32BE(crc32(b, 8, b.length), 4);
  return b;
}

interface ParsedSegment {
  prevLastSeq: number;
  entries: Entry[];
  /** Offset after the last whole record (== file length when intact). */
  goodEnd: number;
  headerOk: boolean;
  why?: string;
}

/** Reads one segment up to its last whole, checksummed record. Exported for tests. */
export function parseSegment(buf: Buffer): ParsedSegment {
  if (buf.length < HEADER) return { prevLastSeq: 0, entries: [], goodEnd: 0, headerOk: false, why: 'short header' };
  if (buf.readUInt32BE(0) !== MAGIC || buf.readUInt32BE(16) !== crc32(buf, 0, 16)) {
    return { prevLastSeq: 0, entries: [], goodEnd: 0, headerOk: false, why: 'bad header' };
  }
  const prevLastSeq = buf.readUInt32BE(8) * TWO32 + buf.readUInt32BE(12);
  const entries: Entry[] = [];
  let off = HEADER;
  let last = prevLastSeq;
  let why: string | undefined;
  while (off < buf.length) {
    if (off + REC_HEAD > buf.length) {
      why = 'torn record header';
      break;
    }
    const len = buf.readUInt32BE(off);
    if (len < 8 || len > MAX_PAYLOAD) {
      why = `bad record length ${len}`;
      break;
    }
    if (off + REC_HEAD + len > buf.length) {
      why = 'torn record';
      break;
    }
    if (buf.readUInt32BE(off + 4) !== crc32(buf, off + REC_HEAD, off + REC_HEAD + len)) {
      why = 'checksum mismatch';
      break;
    }
    const seq = buf.readUInt32BE(off + 8) * TWO32 + buf.readUInt32BE(off + 12);
    if (seq <= last) {
      why = `seq ${seq} not above ${last}`;
      break;
    }
    last = seq;
    entries.push({ seq, sql: buf.toString('utf8', off + 16, off + REC_HEAD + len) });
    off += REC_HEAD + len;
  }
  return { prevLastSeq, entries, goodEnd: off, headerOk: true, why };
}

export async function openJournal(opts: JournalOptions): Promise<Journal> {
  const j = new FileJournal(opts);
  await j.open();
  return j;
}

class FileJournal implements Journal {
  recovered: Recovered = { entries: [], lastSeq: 0, cutBytes: 0 };

  private readonly dir: string;
  private readonly policy: FsyncPolicy;
  private readonly intervalMs: number;
  private readonly log: Logger;
  private readonly segmentBytes: number;
  private committedSeq: number;

  private segments: Segment[] = [];
  private fd = -1;
  private active!: Segment;
  private lastSeqAppended = 0;

  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private pendingMaxSeq = 0;
  private nextGroup: Deferred | null = null;
  private inflight: Deferred | null = null;
  private busy = false;
  private scheduled = false;
  private syncRequested = false;
  private dirty = false;
  private failed: Error | null = null;
  private closed = false;
  private timer: NodeJS.Timeout | null = null;
  private deleting = false;
  private idle: Deferred | null = null;

  // metrics
  private appends = 0;
  private bytesWritten = 0;
  private writes = 0;
  private syncs = 0;
  private deleted = 0;

  constructor(opts: JournalOptions) {
    this.dir = opts.dir;
    this.policy = opts.policy;
    this.intervalMs = Math.max(1, opts.intervalMs);
    this.log = opts.log;
    this.segmentBytes = opts.segmentBytes ?? 64 * 1024 * 1024;
    this.committedSeq = Math.max(0, opts.committedSeq);
    if (!['always', 'interval', 'off'].includes(this.policy)) throw new Error(`unknown fsync policy ${String(this.policy)}`);
  }

  async open(): Promise<void> {
    await fs.promises.mkdir(this.dir, { recursive: true });
    const names = (await fs.promises.readdir(this.dir)).filter((n) => SEG_RE.test(n)).sort();
    let lastSeq = this.committedSeq;
    let cutBytes = 0;
    let maxIndex = 0;
    const entries: Entry[] = [];
    for (const name of names) {
      const index = Number(SEG_RE.exec(name)![1]);
      maxIndex = Math.max(maxIndex, index);
      const file = path.join(this.dir, name);
      const buf = await fs.promises.readFile(file);
      const p = parseSegment(buf);
      if (!p.headerOk) {
        // Only a crash while a segment was being created leaves this; nothing in it was ever acknowledged.
        cutBytes += buf.length;
        this.log.warn('journal_segment_dropped', { file, bytes: buf.length, why: p.why });
        await fs.promises.unlink(file);
        continue;
      }
      if (p.goodEnd < buf.length) {
        const cut = buf.length - p.goodEnd;
        cutBytes += cut;
        this.log.warn('journal_tail_cut', { file, offset: p.goodEnd, bytes: cut, why: p.why, kept: p.entries.length });
        await fs.promises.truncate(file, p.goodEnd);
      }
      lastSeq = Math.max(lastSeq, p.prevLastSeq);
      let segLast = 0;
      for (const e of p.entries) {
        // Segments are in seq order; a seq at or below one already seen can only come from corruption.
        if (e.seq <= lastSeq && e.seq > this.committedSeq && entries.length > 0 && e.seq <= entries[entries.length - 1].seq) continue;
        segLast = e.seq;
        lastSeq = Math.max(lastSeq, e.seq);
        if (e.seq > this.committedSeq) entries.push(e);
      }
      this.segments.push({ index, file, lastSeq: segLast, bytes: p.goodEnd });
    }
    this.recovered = { entries, lastSeq, cutBytes };
    this.lastSeqAppended = lastSeq;
    this.log.info('journal_open', {
      dir: this.dir,
      policy: this.policy,
      segments: this.segments.length,
      replay: entries.length,
      lastSeq,
      committedSeq: this.committedSeq,
      cutBytes,
    });

    // Appends always go to a fresh segment: never write after a tail that recovery just cut.
    await this.openSegment(maxIndex + 1, lastSeq);
    await this.syncDir();
    await this.deleteCommitted();

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
    this.pending.push(b);
    this.pendingBytes += b.length;
    if (entry.seq > this.pendingMaxSeq) this.pendingMaxSeq = entry.seq;
    if (entry.seq > this.lastSeqAppended) this.lastSeqAppended = entry.seq;
    this.appends++;
  }

  flush(): Promise<void> {
    if (this.failed !== null) return Promise.reject(this.failed);
    if (this.pending.length > 0) {
      if (this.nextGroup === null) this.nextGroup = deferred();
      const p = this.nextGroup.promise;
      this.schedule();
      return p;
    }
    if (this.inflight !== null) return this.inflight.promise;
    return Promise.resolve();
  }

  committed(seq: number): void {
    if (seq <= this.committedSeq) return;
    this.committedSeq = seq;
    void this.deleteCommitted();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    try {
      await this.flush();
    } catch {
      /* already logged */
    }
    while (this.busy) await this.waitIdle();
    this.closed = true;
    if (this.fd >= 0) {
      if (this.policy !== 'off' && this.failed === null) await fsFdatasync(this.fd).catch(() => {});
      await fsClose(this.fd);
      this.fd = -1;
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
      { name: 'eserver_journal_up', help: '1 while the journal accepts writes', type: 'gauge', value: this.failed === null && !this.closed ? 1 : 0 },
    ];
  }

  // ---- internals ----

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
          if (this.active.bytes >= this.segmentBytes) await this.rotate();
          const bufs = this.pending;
          const bytes = this.pendingBytes;
          const maxSeq = this.pendingMaxSeq;
          const group = this.nextGroup ?? deferred();
          this.pending = [];
          this.pendingBytes = 0;
          this.nextGroup = null;
          this.inflight = group;
          try {
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
            this.fail(e as Error, group);
            break;
          }
          this.inflight = null;
          group.resolve();
        } else {
          this.syncRequested = false;
          if (this.dirty) {
            this.dirty = false;
            try {
              await fsFdatasync(this.fd);
              this.syncs++;
            } catch (e) {
              this.fail(e as Error, null);
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

  private fail(err: Error, group: Deferred | null): void {
    // After a failed write the file position is unknown: stop accepting rather than risk a hole.
    this.failed = err;
    this.log.error('journal_failed', { err, file: this.active?.file });
    group?.reject(err);
    this.nextGroup?.reject(err);
    this.nextGroup = null;
    this.inflight = null;
    this.pending = [];
    this.pendingBytes = 0;
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
    const header = encodeHeader(prevLastSeq);
    let off = 0;
    while (off < header.length) off += await fsWrite(fd, header, off, header.length - off, null);
    // The header carries lastSeq across truncation, so it is made durable whatever the policy.
    await fsFsync(fd);
    this.fd = fd;
    this.active = { index, file, lastSeq: 0, bytes: HEADER };
    this.segments.push(this.active);
  }

  private async rotate(): Promise<void> {
    const old = this.fd;
    if (this.policy !== 'off') {
      await fsFdatasync(old);
      this.syncs++;
      this.dirty = false;
    }
    await this.openSegment(this.active.index + 1, this.lastSeqWrittenSoFar());
    await fsClose(old);
    await this.syncDir();
    this.log.info('journal_rotated', { file: this.active.file });
    void this.deleteCommitted();
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

  private async deleteCommitted(): Promise<void> {
    if (this.deleting) return;
    this.deleting = true;
    try {
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
    } finally {
      this.deleting = false;
    }
  }
}
