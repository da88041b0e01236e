// Recovery at start: locks the directory, reads the committed position, reads every segment and replays the
// entries above that position, cuts a torn tail (what a crash mid-write leaves), sets aside a segment damaged
// in the middle (kept in `damaged/`, rewritten with the records that check out, reported loudly), and opens a
// fresh segment for the appends. Refuses a journal that holds more than the queue may take, saying which
// limits to raise.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from './contracts.js';
import { entrySize, type Entry } from './entry.js';
import { CommittedFile } from './journal-committed.js';
import { HEADER, scanSegment, writeRanges, type Damage } from './journal-format.js';
import { SEG_RE, syncDir, type FsyncPolicy, type Segment } from './journal-fs.js';
import { lockJournalDir, type JournalLock } from './journal-lock.js';
import { JournalSegments } from './journal-segments.js';

const DAMAGED_DIR = 'damaged';

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

/** The journal holds more uncommitted entries than the queue may take: raise the limits it names. */
export class JournalTooBigError extends Error {
  constructor(msg: string) {
    super(msg);
    this.name = 'JournalTooBigError';
  }
}

export interface RecoveryOptions {
  dir: string;
  policy: FsyncPolicy;
  /** Highest seq known to be committed to MySQL (0 when unknown): the journal's own record may be higher. */
  committedSeq: number;
  /** What the queue can take back. */
  limits: { maxEntries: number; maxBytes: number };
  /** How often, at most, the committed position is fdatasynced while it changes (not under `off`). */
  committedSyncMs: number;
  log: Logger;
}

/** A journal read back and ready for appends. */
export interface JournalAtStart {
  lock: JournalLock;
  committedFile: CommittedFile;
  /** The higher of the given committed position and the journal's own. */
  committedSeq: number;
  recovered: Recovered;
  /** Bytes of damaged spans skipped (their entries are lost). */
  corruptBytes: number;
  /** With a fresh active segment: never write after a tail that recovery just cut. */
  segments: JournalSegments;
}

export async function recoverJournal(o: RecoveryOptions): Promise<JournalAtStart> {
  await fs.promises.mkdir(o.dir, { recursive: true });
  const lock = lockJournalDir(o.dir, o.log);
  const committedFile = new CommittedFile(o.dir, { sync: o.policy !== 'off', syncMs: o.committedSyncMs, log: o.log });
  try {
    const committedSeq = Math.max(o.committedSeq, await committedFile.open(o.committedSeq));
    const r = await recoverSegments({ ...o, committedSeq });
    const { entries, lastSeq, cutBytes, damagedSegments } = r.recovered;
    const segments = new JournalSegments(o.dir, { dsync: o.policy === 'always', floorSeq: lastSeq, committedSeq, log: o.log }, r.segments);
    o.log.info('journal_open', { dir: o.dir, policy: o.policy, segments: segments.count, replay: entries.length, lastSeq, committedSeq, cutBytes, damagedSegments });
    await segments.open(r.maxIndex + 1, lastSeq);
    await segments.syncDir();
    segments.deleteCommitted();
    await segments.settled();
    return { lock, committedFile, committedSeq, recovered: r.recovered, corruptBytes: r.corruptBytes, segments };
  } catch (err) {
    await committedFile.close().catch(() => {});
    lock.release();
    throw err;
  }
}

interface Recovery {
  recovered: Recovered;
  /** The segments kept, oldest first. */
  segments: Segment[];
  /** Highest segment index found (0 when none): appends go to a fresh segment above it. */
  maxIndex: number;
  corruptBytes: number;
}

async function recoverSegments(o: RecoveryOptions): Promise<Recovery> {
  const names = (await fs.promises.readdir(o.dir)).filter((n) => SEG_RE.test(n)).sort();
  // Highest seq found in the segments so far: records must rise above it. The committed position is no
  // floor: entries at or below it are still in their segments until the segment is deleted whole.
  let seen = 0;
  let cutBytes = 0;
  let corruptBytes = 0;
  let maxIndex = 0;
  let damaged = 0;
  const segments: Segment[] = [];
  const entries: Entry[] = [];
  let count = 0;
  let bytes = 0;
  let overflow = false;
  for (let i = 0; i < names.length; i++) {
    const name = names[i];
    const isLast = i === names.length - 1;
    const index = Number(SEG_RE.exec(name)![1]);
    maxIndex = Math.max(maxIndex, index);
    const file = path.join(o.dir, name);
    const floor = seen;
    const scan = await scanSegment(file, floor, (e) => {
      if (e.seq <= o.committedSeq) return;
      count++;
      bytes += entrySize(e.sql);
      // Past the queue's limits, keep counting (for the message) but stop holding entries.
      if (count > o.limits.maxEntries || bytes > o.limits.maxBytes) overflow = true;
      if (!overflow) entries.push(e);
    });
    if (!scan.headerOk && scan.size <= HEADER) {
      // A crash while a segment was being created leaves this; nothing in it was ever acknowledged.
      cutBytes += scan.size;
      o.log.warn('journal_segment_dropped', { file, bytes: scan.size, why: 'short header' });
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
      o.log.warn('journal_tail_cut', { file, offset: tail.offset, bytes: tail.bytes, why: tail.why, lastSeq: scan.lastSeq });
      await fs.promises.truncate(file, goodEnd);
    } else if (scan.damage.length > 0) {
      damaged++;
      corruptBytes += scan.damage.reduce((n, d) => n + d.bytes, 0);
      goodEnd = await setAside(o, file, name, Math.max(scan.prevLastSeq, floor), scan.ranges, scan.damage);
    }
    seen = Math.max(seen, scan.prevLastSeq, scan.lastSeq);
    segments.push({ index, file, lastSeq: scan.lastSeq, bytes: goodEnd });
  }
  if (overflow) {
    const over: string[] = [];
    if (count > o.limits.maxEntries) over.push(`--capacity ${count} (now ${o.limits.maxEntries})`);
    if (bytes > o.limits.maxBytes) over.push(`--max-queue-bytes ${bytes} (now ${o.limits.maxBytes})`);
    throw new JournalTooBigError(
      `journal ${o.dir} holds ${count} entries (${bytes} bytes in memory) not yet committed or consumed, more than the queue takes. ` +
        `They were acknowledged: do not delete the journal. Start with at least ${over.join(' and ')} on a machine with the memory for it, ` +
        'let them drain or be consumed, then restart with the usual limits.',
    );
  }
  const lastSeq = Math.max(seen, o.committedSeq);
  return { recovered: { entries, lastSeq, cutBytes, committedSeq: o.committedSeq, damagedSegments: damaged }, segments, maxIndex, corruptBytes };
}

/**
 * A segment damaged in the middle (or at the tail of a segment that is not the last): keeps the original
 * in damaged/, rewrites the segment with the records that check out, and says loudly what was lost.
 * Returns the new size of the segment.
 */
async function setAside(o: RecoveryOptions, file: string, name: string, prevLastSeq: number, ranges: ReadonlyArray<[number, number]>, damage: readonly Damage[]): Promise<number> {
  const keepDir = path.join(o.dir, DAMAGED_DIR);
  const kept = path.join(keepDir, `${name}.${new Date().toISOString().replace(/[:.]/g, '-')}`);
  for (const d of damage) {
    o.log.error('journal_corrupt', {
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
    await syncDir(o.dir);
    return size;
  } catch (err) {
    o.log.error('journal_set_aside_failed', { file, err, msg: 'the damaged segment stays in place and will be reported again at the next start' });
    await fs.promises.rm(tmp, { force: true }).catch(() => {});
    return (await fs.promises.stat(file)).size;
  }
}
