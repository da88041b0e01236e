// The journal's on-disk format and its reader. Reading streams a segment through a window of about 1 MiB, so
// a replay never holds a whole segment in memory, and resynchronises after damage on the next record whose
// checksum and sequence number hold.
//
// A segment starts with a 20-byte header
//   magic "ESJ1" | u16 version | u16 flags | u32 prevLastSeq hi | u32 lo | u32 crc32(header bytes 0..16)
// where prevLastSeq is the highest seq written before the segment was opened: it keeps sequence numbers
// increasing across restarts even after every older segment was deleted. Then records:
//   u32 payloadLen | u32 crc32(payload) | payload = u32 seq hi | u32 seq lo | sql (UTF-8)
import * as fs from 'node:fs';
import type { Entry } from './entry.js';
import { crc32 } from './crc32.js';

const MAGIC = 0x45534a31; // "ESJ1"
const VERSION = 1;
export const HEADER = 20;
const REC_HEAD = 8;
const MAX_PAYLOAD = 16 * 1024 * 1024; // entries are < 64 KiB; anything bigger is garbage
/** Records looked for when resynchronising: a frame body is at most 64 KiB (+ the seq's digits). */
const RESYNC_MAX_PAYLOAD = 128 * 1024;
const READ_CHUNK = 1024 * 1024;
const TWO32 = 0x1_0000_0000;
const MAX_SEQ_HI = 0x20_0000; // seqs are safe integers, below 2^53

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

/** prevLastSeq of a valid header at the start of buf, or null. */
function readHeader(buf: Buffer): number | null {
  if (buf.length < HEADER || buf.readUInt32BE(0) !== MAGIC || buf.readUInt32BE(16) !== crc32(buf, 0, 16)) return null;
  return buf.readUInt32BE(8) * TWO32 + buf.readUInt32BE(12);
}

type RecordCheck = { ok: true; seq: number; end: number } | { ok: false; why: string; needs?: number };

/**
 * The record at buf[off], which must carry a seq above `last`. `needs` asks for more bytes when buf ends
 * before the record does (the caller decides whether the file has them).
 */
function checkRecord(buf: Buffer, off: number, last: number, maxPayload: number): RecordCheck {
  if (off + REC_HEAD > buf.length) return { ok: false, why: 'torn record header', needs: REC_HEAD };
  const len = buf.readUInt32BE(off);
  if (len < 8 || len > maxPayload) return { ok: false, why: `bad record length ${len}` };
  if (off + REC_HEAD + len > buf.length) return { ok: false, why: 'torn record', needs: REC_HEAD + len };
  if (buf.readUInt32BE(off + 4) !== crc32(buf, off + REC_HEAD, off + REC_HEAD + len)) return { ok: false, why: 'checksum mismatch' };
  const hi = buf.readUInt32BE(off + 8);
  const seq = hi * TWO32 + buf.readUInt32BE(off + 12);
  if (hi >= MAX_SEQ_HI || seq <= last) return { ok: false, why: `seq ${seq} not above ${last}` };
  return { ok: true, seq, end: off + REC_HEAD + len };
}

interface ParsedSegment {
  prevLastSeq: number;
  entries: Entry[];
  /** Offset after the last whole record before any damage (== length when intact). */
  goodEnd: number;
  headerOk: boolean;
  why?: string;
}

/** Reads a segment held in memory up to its first damage (tests and tools; the server streams with scanSegment). */
export function parseSegment(buf: Buffer): ParsedSegment {
  const prev = readHeader(buf);
  if (prev === null) return { prevLastSeq: 0, entries: [], goodEnd: 0, headerOk: false, why: buf.length < HEADER ? 'short header' : 'bad header' };
  const entries: Entry[] = [];
  let off = HEADER;
  let last = prev;
  let why: string | undefined;
  while (off < buf.length) {
    const r = checkRecord(buf, off, last, MAX_PAYLOAD);
    if (!r.ok) {
      why = r.why;
      break;
    }
    entries.push({ seq: r.seq, sql: buf.toString('utf8', off + 16, r.end) });
    last = r.seq;
    off = r.end;
  }
  return { prevLastSeq: prev, entries, goodEnd: off, headerOk: true, why };
}

export interface Damage {
  offset: number;
  bytes: number;
  why: string;
  /** Seqs between the last good record before the damage and the first after it (to = null: up to the end). */
  lostSeqFrom: number;
  lostSeqTo: number | null;
}

export interface SegmentScan {
  size: number;
  headerOk: boolean;
  prevLastSeq: number;
  /** Highest good seq in the segment (0 when none). */
  lastSeq: number;
  /** Byte ranges [start, end) of the good records, in order. */
  ranges: Array<[number, number]>;
  /** Damaged spans in offset order; the last one may reach the end of the file. */
  damage: Damage[];
}

/** A window of a file, refilled from where the reader is, so memory stays at about READ_CHUNK. */
class Window {
  buf: Buffer = Buffer.alloc(0);
  base = 0;
  constructor(
    private readonly fd: number,
    readonly size: number,
  ) {}

  has(pos: number, n: number): boolean {
    return pos >= this.base && pos + n <= this.base + this.buf.length;
  }

  /** Makes bytes [pos, pos+n) available; false when the file ends first. */
  async fill(pos: number, n: number): Promise<boolean> {
    if (this.has(pos, n)) return true;
    if (pos + n > this.size) return false;
    const len = Math.min(Math.max(n, READ_CHUNK), this.size - pos);
    const nb = Buffer.allocUnsafe(len);
    let have = 0;
    if (pos >= this.base && pos < this.base + this.buf.length) have = this.buf.copy(nb, 0, pos - this.base);
    while (have < len) {
      const r = await new Promise<number>((resolve, reject) =>
        fs.read(this.fd, nb, have, len - have, pos + have, (err, k) => (err ? reject(err) : resolve(k))),
      );
      if (r === 0) break;
      have += r;
    }
    this.buf = have === len ? nb : nb.subarray(0, have);
    this.base = pos;
    return have >= n;
  }

  /** checkRecord at a file position, reading as much as the record needs. */
  async record(pos: number, last: number, maxPayload: number): Promise<RecordCheck> {
    if (!(await this.fill(pos, Math.min(REC_HEAD, this.size - pos)))) return { ok: false, why: 'torn record header' };
    let r = checkRecord(this.buf, pos - this.base, last, maxPayload);
    if (!r.ok && r.needs !== undefined && pos + r.needs <= this.size) {
      await this.fill(pos, r.needs);
      r = checkRecord(this.buf, pos - this.base, last, maxPayload);
    }
    return r.ok ? { ok: true, seq: r.seq, end: r.end + this.base } : r;
  }
}

/**
 * Streams a segment: calls onEntry for every good record (seq above max(floorSeq, header's prevLastSeq)),
 * in order. After a damaged span it looks for the next record that checks out and goes on from there.
 */
export async function scanSegment(file: string, floorSeq: number, onEntry: (e: Entry) => void): Promise<SegmentScan> {
  const fd = await new Promise<number>((resolve, reject) => fs.open(file, 'r', (err, f) => (err ? reject(err) : resolve(f))));
  try {
    const size = (await fs.promises.stat(file)).size;
    const w = new Window(fd, size);
    const out: SegmentScan = { size, headerOk: false, prevLastSeq: 0, lastSeq: 0, ranges: [], damage: [] };
    await w.fill(0, Math.min(HEADER, size));
    const prev = readHeader(w.buf);
    let last = floorSeq;
    if (prev !== null) {
      out.headerOk = true;
      out.prevLastSeq = prev;
      last = Math.max(last, prev);
    }
    let off = HEADER;
    if (prev === null && size > HEADER) {
      const next = await resync(w, 0, last);
      out.damage.push({ offset: 0, bytes: (next?.pos ?? size) - 0, why: 'bad header', lostSeqFrom: last + 1, lostSeqTo: next === null ? null : next.seq - 1 });
      off = next?.pos ?? size;
    }
    while (off < size) {
      const r = await w.record(off, last, MAX_PAYLOAD);
      if (r.ok) {
        const start = off - w.base;
        onEntry({ seq: r.seq, sql: w.buf.toString('utf8', start + 16, r.end - w.base) });
        const prevRange = out.ranges[out.ranges.length - 1];
        if (prevRange !== undefined && prevRange[1] === off) prevRange[1] = r.end;
        else out.ranges.push([off, r.end]);
        last = r.seq;
        out.lastSeq = r.seq;
        off = r.end;
        continue;
      }
      const next = await resync(w, off + 1, last);
      out.damage.push({ offset: off, bytes: (next?.pos ?? size) - off, why: r.why, lostSeqFrom: last + 1, lostSeqTo: next === null ? null : next.seq - 1 });
      if (next === null) break;
      off = next.pos;
    }
    return out;
  } finally {
    await new Promise<void>((resolve) => fs.close(fd, () => resolve()));
  }
}

/** The next position at or after `from` holding a whole record whose checksum holds and whose seq is above last. */
async function resync(w: Window, from: number, last: number): Promise<{ pos: number; seq: number } | null> {
  for (let p = from; p + REC_HEAD + 8 <= w.size; p++) {
    if (!w.has(p, REC_HEAD + 8) && !(await w.fill(p, REC_HEAD + 8))) return null;
    const o = p - w.base;
    const len = w.buf.readUInt32BE(o);
    if (len < 8 || len > RESYNC_MAX_PAYLOAD || p + REC_HEAD + len > w.size) continue;
    const hi = w.buf.readUInt32BE(o + 8);
    if (hi >= MAX_SEQ_HI || hi * TWO32 + w.buf.readUInt32BE(o + 12) <= last) continue;
    const r = await w.record(p, last, RESYNC_MAX_PAYLOAD);
    if (!r.ok) continue;
    // A chance match of the checksum on garbage (about 2^-32 per candidate that passes the filters above)
    // must not become an entry: the record after it has to check out too, unless the file ends there.
    if (r.end === w.size || (await w.record(r.end, r.seq, MAX_PAYLOAD)).ok) return { pos: p, seq: r.seq };
  }
  return null;
}

/** Copies the byte ranges of src after a fresh header into dst (a damaged segment's good records). */
export async function writeRanges(src: string, dst: string, prevLastSeq: number, ranges: ReadonlyArray<[number, number]>): Promise<void> {
  const out = await fs.promises.open(dst, 'wx');
  try {
    const inp = await fs.promises.open(src, 'r');
    try {
      await out.write(encodeHeader(prevLastSeq));
      const buf = Buffer.allocUnsafe(READ_CHUNK);
      for (const [start, end] of ranges) {
        for (let pos = start; pos < end; ) {
          const { bytesRead } = await inp.read(buf, 0, Math.min(buf.length, end - pos), pos);
          if (bytesRead === 0) throw new Error(`${src} ended at ${pos} while copying its good records`);
          await out.write(buf, 0, bytesRead);
          pos += bytesRead;
        }
      }
    } finally {
      await inp.close();
    }
    await out.sync();
  } finally {
    await out.close();
  }
}
