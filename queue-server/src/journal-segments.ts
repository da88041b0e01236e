// The journal's segment files: which exist, the active one appends go to (and its fd), opening the next one,
// and deleting those whose every entry is committed (whole files, never rewritten).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from './contracts.js';
import { HEADER, encodeHeader } from './journal-format.js';
import { WX_DSYNC, fsClose, fsFdatasync, fsFsync, fsFtruncate, fsOpen, fsWrite, segName, syncDir, type Segment } from './journal-fs.js';

export class JournalSegments {
  /** The active segment's fd; -1 once closed. */
  fd = -1;
  active!: Segment;
  // metrics
  deleted = 0;
  writes = 0;
  bytesWritten = 0;
  private list: Segment[];
  private deleting: Promise<void> | null = null;
  /** Segments whose entries are all at or below it may go (it may rise while a deletion runs). */
  private committedSeq: number;

  constructor(
    private readonly dir: string,
    private readonly o: {
      /** Open segments with O_DSYNC (the `always` policy): a write is durable when it returns. */
      dsync: boolean;
      /** Highest seq known at start (recovery's): no segment header may go below it. */
      floorSeq: number;
      /** The committed position at start. */
      committedSeq: number;
      log: Logger;
    },
    found: Segment[],
  ) {
    this.list = [...found];
    this.committedSeq = o.committedSeq;
  }

  get count(): number {
    return this.list.length;
  }

  /** Highest seq written to any segment so far (or known at start). */
  lastSeqWritten(): number {
    let m = this.o.floorSeq;
    for (const s of this.list) if (s.lastSeq > m) m = s.lastSeq;
    return m;
  }

  /**
   * Creates segment `index` with a durable header carrying prevLastSeq and makes it the active one. Returns
   * the previous active fd (-1 when none), still open. If the new segment cannot be made (ENOSPC, EIO), the
   * old one stays active and intact.
   */
  async open(index: number, prevLastSeq: number): Promise<number> {
    const file = path.join(this.dir, segName(index));
    const fd = await fsOpen(file, this.o.dsync ? WX_DSYNC : 'wx');
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
    const old = this.fd;
    this.fd = fd;
    this.active = { index, file, lastSeq: 0, bytes: HEADER };
    this.list.push(this.active);
    return old;
  }

  /**
   * Writes buf at the end of the active segment, on the calling thread (under `always` the fd is O_DSYNC, so
   * this returns once the bytes are durable); appended() once it is as durable as the policy asks.
   */
  writeSync(buf: Buffer): void {
    let off = 0;
    while (off < buf.length) off += fs.writeSync(this.fd, buf, off, buf.length - off, null);
    this.writes++;
    this.bytesWritten += buf.length;
  }

  /** The bytes written are acknowledged: a refused write later is cut back to here, not before. */
  appended(bytes: number, maxSeq: number): void {
    this.active.bytes += bytes;
    if (maxSeq > this.active.lastSeq) this.active.lastSeq = maxSeq;
  }

  /** Rotation: appends go on in the next segment; the old one is closed (an error there fails the write). */
  async rotate(): Promise<void> {
    const old = await this.open(this.active.index + 1, this.lastSeqWritten());
    await fsClose(old);
    await this.syncDir();
    this.o.log.info('journal_rotated', { file: this.active.file });
    this.deleteCommitted();
  }

  /** Cuts the active segment back to its last acknowledged byte: part of a refused write may have reached it. */
  async cutBack(sync: boolean): Promise<void> {
    await fsFtruncate(this.fd, this.active.bytes);
    if (sync) await fsFdatasync(this.fd);
  }

  /** After a refused write: a fresh segment, whose durable header proves the disk takes writes again. */
  async startFresh(prevLastSeq: number): Promise<void> {
    const old = await this.open(this.active.index + 1, Math.max(prevLastSeq, this.lastSeqWritten()));
    await fsClose(old).catch(() => {});
    await this.syncDir();
  }

  async close(sync: boolean): Promise<void> {
    if (this.fd < 0) return;
    if (sync) await fsFdatasync(this.fd).catch(() => {});
    await fsClose(this.fd);
    this.fd = -1;
  }

  syncDir(): Promise<void> {
    return syncDir(this.dir);
  }

  /** The committed position moved: whole segments at or below it go, in the background. */
  committed(seq: number): void {
    if (seq > this.committedSeq) this.committedSeq = seq;
    // Segments are in seq order: only when the oldest is wholly committed is there anything to delete.
    const oldest = this.list[0];
    if (oldest !== undefined && oldest !== this.active && oldest.lastSeq <= seq) this.deleteCommitted();
  }

  /** Deletes, in the background, every segment but the active one whose entries are all committed. */
  deleteCommitted(): void {
    if (this.deleting !== null) return;
    this.deleting = this.deleteUpToCommitted().finally(() => {
      this.deleting = null;
    });
  }

  /** Resolves once no deletion is running. */
  async settled(): Promise<void> {
    while (this.deleting !== null) await this.deleting;
  }

  private async deleteUpToCommitted(): Promise<void> {
    for (;;) {
      const victim = this.list.find((s) => s !== this.active && s.lastSeq <= this.committedSeq);
      if (victim === undefined) break;
      this.list = this.list.filter((s) => s !== victim);
      try {
        await fs.promises.unlink(victim.file);
        this.deleted++;
      } catch (e) {
        this.o.log.warn('journal_delete_failed', { file: victim.file, err: e as Error });
      }
    }
  }
}
