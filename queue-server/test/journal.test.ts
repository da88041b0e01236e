// The journal: durability policies, group commit, torn-tail recovery, rotation, seq surviving truncation.
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openJournal, parseSegment, encodeRecord, type FsyncPolicy, type Journal } from '../src/journal.js';
import { crc32, crc32Table } from '../src/crc32.js';
import type { Entry } from '../src/entry.js';
import { waitFor } from '@eserver-lab/common/wait';
import { MemLog } from './helpers/mem-log.js';

const dirs: string[] = [];
function tmpDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'eserver-journal-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  while (dirs.length > 0) fs.rmSync(dirs.pop()!, { recursive: true, force: true });
});

function entry(seq: number): Entry {
  return { seq, sql: `insert into bench_events (num) values (${seq})` };
}

function open(
  dir: string,
  policy: FsyncPolicy,
  committedSeq = 0,
  extra: { segmentBytes?: number; log?: MemLog; intervalMs?: number; commitDelayMs?: number } = {},
): Promise<Journal> {
  return openJournal({
    dir,
    policy,
    intervalMs: extra.intervalMs ?? 10,
    committedSeq,
    log: extra.log ?? new MemLog(),
    segmentBytes: extra.segmentBytes,
    commitDelayMs: extra.commitDelayMs,
  });
}

/** Highest seq in the active segment, read from the file itself. */
function lastSeqInFile(dir: string): number {
  return parseSegment(fs.readFileSync(path.join(dir, segments(dir).at(-1)!))).entries.at(-1)?.seq ?? 0;
}

/** The journal's active segment file, for closing its fd behind the journal's back (a write then fails). */
function activeSegment(j: Journal): { fd: number } {
  return (j as unknown as { segs: { fd: number } }).segs;
}

function metric(j: Journal, name: string): number {
  const m = j.metrics().find((s) => s.name === name);
  assert.ok(m, name);
  return m.value;
}

function segments(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((n) => n.endsWith('.jnl'))
    .sort();
}

describe('crc32', () => {
  it('table and native versions agree with the known check value', () => {
    const b = Buffer.from('123456789');
    assert.equal(crc32Table(b), 0xcbf43926);
    assert.equal(crc32(b), 0xcbf43926);
    const r = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 7919) & 0xff));
    assert.equal(crc32Table(r, 10, 900), crc32(r, 10, 900));
  });
});

describe('journal', () => {
  for (const policy of ['always', 'interval', 'off'] as const) {
    it(`${policy}: flushed entries are there after a reopen, and seq continues`, async () => {
      const dir = tmpDir();
      const j = await open(dir, policy);
      assert.deepEqual(j.recovered, { entries: [], lastSeq: 0, cutBytes: 0, committedSeq: 0, damagedSegments: 0 });
      for (let s = 1; s <= 500; s++) j.append(entry(s));
      await j.flush();
      if (policy === 'always') assert.ok(metric(j, 'eserver_journal_fsyncs_total') >= 1);
      if (policy === 'off') assert.equal(metric(j, 'eserver_journal_fsyncs_total'), 0);
      if (policy === 'interval') {
        await waitFor(() => metric(j, 'eserver_journal_fsyncs_total') >= 1, { timeoutMs: 5000, intervalMs: 5, what: 'the interval timer to fsync' });
      }
      // No close(): the process may die without one; what flush() acknowledged must be in the file. A copy
      // of the directory is what a crash leaves (the live journal's lock keeps the original to itself).
      const crashed = tmpDir();
      fs.cpSync(dir, crashed, { recursive: true });
      const k = await open(crashed, policy, 100);
      assert.equal(k.recovered.entries.length, 400);
      assert.deepEqual(k.recovered.entries[0], entry(101));
      assert.deepEqual(k.recovered.entries[399], entry(500));
      assert.equal(k.recovered.lastSeq, 500);
      await j.close();
      await k.close();
    });
  }

  it('always: group commit settles many concurrent flushes with few fsyncs', async () => {
    const dir = tmpDir();
    const j = await open(dir, 'always');
    const waits: Promise<void>[] = [];
    let seq = 0;
    // 2000 "connections", arriving in 20 waves like socket reads of successive event-loop turns.
    for (let wave = 0; wave < 20; wave++) {
      for (let c = 0; c < 100; c++) {
        j.append(entry(++seq));
        waits.push(j.flush());
      }
      await new Promise((r) => setImmediate(r));
    }
    await Promise.all(waits);
    const fsyncs = metric(j, 'eserver_journal_fsyncs_total');
    assert.ok(fsyncs >= 1 && fsyncs <= 40, `2000 acks cost ${fsyncs} fsyncs`);
    assert.equal(metric(j, 'eserver_journal_appends_total'), 2000);
    await j.close();
    const k = await open(dir, 'always');
    assert.equal(k.recovered.entries.length, 2000);
    await k.close();
  });

  it('a flush resolves only after its own entry is written (never before)', async () => {
    const dir = tmpDir();
    const j = await open(dir, 'always');
    for (let s = 1; s <= 50; s++) {
      j.append(entry(s));
      await j.flush();
      const file = path.join(dir, segments(dir).at(-1)!);
      const p = parseSegment(fs.readFileSync(file));
      assert.equal(p.entries.at(-1)?.seq, s);
    }
    await j.close();
  });

  for (const policy of ['always', 'interval', 'off'] as const) {
    it(`${policy}: afterFlush calls every callback once, in order, never before its entry is in the file`, async () => {
      const dir = tmpDir();
      const j = await open(dir, policy);
      const calls: Array<{ seq: number; err: Error | null; inFile: number; sync: boolean }> = [];
      let registering = false;
      const done = (seq: number, err: Error | null): void => {
        calls.push({ seq, err, inFile: lastSeqInFile(dir), sync: registering });
      };
      let seq = 0;
      // Three waves, as socket reads of successive event-loop turns: several groups, several entries each.
      for (let wave = 0; wave < 3; wave++) {
        for (let c = 0; c < 7; c++) {
          j.append(entry(++seq));
          registering = true;
          j.afterFlush(done, seq);
          registering = false;
        }
        await new Promise((r) => setImmediate(r));
      }
      await waitFor(() => calls.length >= seq, { timeoutMs: 10_000, what: 'every callback' });
      // Nothing pending: the callback still comes, and still not from inside afterFlush().
      let late = 0;
      j.afterFlush(() => late++, null);
      assert.equal(late, 0);
      await waitFor(() => late === 1, { timeoutMs: 5000, what: 'the callback with nothing pending' });
      // Closed, the journal has nothing left to call back: a callback run twice would show by now.
      await j.close();
      assert.equal(calls.length, seq, 'each callback exactly once');
      assert.equal(late, 1, 'the late callback once');
      assert.deepEqual(
        calls.map((c) => c.seq),
        Array.from({ length: seq }, (_, i) => i + 1),
        'in registration order',
      );
      for (const c of calls) {
        assert.equal(c.err, null);
        assert.equal(c.sync, false, 'never called from inside afterFlush()');
        assert.ok(c.inFile >= c.seq, `callback of ${c.seq} ran when the file held up to ${c.inFile}`);
      }
      assert.ok(metric(j, 'eserver_journal_writes_total') < seq, 'entries shared group writes');
    });
  }

  it('a refused write fails every waiting callback once, with the error, and nothing is acknowledged', async () => {
    const dir = tmpDir();
    const j = await open(dir, 'always');
    fs.closeSync(activeSegment(j).fd); // the next write fails with EBADF
    const calls: Array<{ seq: number; err: Error | null }> = [];
    const done = (seq: number, err: Error | null): void => {
      calls.push({ seq, err });
    };
    for (let s = 1; s <= 5; s++) {
      j.append(entry(s));
      j.afterFlush(done, s);
    }
    await waitFor(() => calls.length >= 5, { timeoutMs: 5000, what: 'the callbacks of the refused group' });
    assert.deepEqual(
      calls.map((c) => c.seq),
      [1, 2, 3, 4, 5],
    );
    for (const c of calls) assert.ok(c.err instanceof Error && /EBADF|bad file/i.test(c.err.message), String(c.err));
    // After the refusal: appends throw, and a late afterFlush gets the error too (once).
    assert.throws(() => j.append(entry(6)));
    j.afterFlush(done, 6);
    await waitFor(() => calls.length >= 6, { timeoutMs: 5000, what: 'the late callback' });
    assert.ok(calls[5].err instanceof Error);
    activeSegment(j).fd = -1;
    // Closed, the journal has nothing left to call back: a callback run twice would show by now.
    await j.close();
    assert.equal(calls.length, 6, 'each callback exactly once');
  });

  it('always + commit delay: a lone client (groups of one) never waits for the delay', async () => {
    const j = await open(tmpDir(), 'always', 0, { commitDelayMs: 1000 });
    // Groups of one only, each flushed before the next append. The delay is 1 s and the deadline 10 s, so
    // flushes that waited would miss it (the second and third waited in an earlier version).
    let flushed = 0;
    void (async () => {
      for (let s = 1; s <= 30; s++) {
        j.append(entry(s));
        await j.flush();
        flushed++;
      }
    })();
    await waitFor(() => flushed === 30, { timeoutMs: 10_000, what: '30 lone flushes, none waiting for the commit delay' });
    await j.close();
  });

  it('always + commit delay: once groups hold several entries, a group waits for later entries to join it', async () => {
    const dir = tmpDir();
    const j = await open(dir, 'always', 0, { commitDelayMs: 2000 });
    const settled: number[] = [];
    const done = (seq: number, err: Error | null): void => {
      assert.equal(err, null);
      settled.push(seq);
    };
    for (let s = 1; s <= 3; s++) {
      j.append(entry(s));
      await j.flush();
    }
    // Two entries in one group: the next group may wait.
    j.append(entry(4));
    j.append(entry(5));
    await j.flush();
    const writes = metric(j, 'eserver_journal_writes_total');
    j.append(entry(6));
    j.afterFlush(done, 6);
    // The group's write is under way once the event loop has turned (afterFlush scheduled it first): without
    // the delay it has taken entry 6 alone, and entry 7 needs a write of its own.
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(settled, [], 'the group waits for the delay');
    j.append(entry(7));
    j.afterFlush(done, 7);
    await waitFor(() => settled.length === 2, { timeoutMs: 10_000, what: 'the delayed group' });
    assert.deepEqual(settled, [6, 7]);
    assert.equal(metric(j, 'eserver_journal_writes_total'), writes + 1, 'entries 6 and 7 in one write');
    assert.equal(lastSeqInFile(dir), 7);
    await j.close();
  });

  it('recovers a torn tail up to the last whole entry and logs what it cut', async () => {
    const dir = tmpDir();
    const j = await open(dir, 'always');
    for (let s = 1; s <= 100; s++) j.append(entry(s));
    await j.flush();
    await j.close();
    const file = path.join(dir, segments(dir).at(-1)!);
    const whole = fs.statSync(file).size;
    // A torn write: half of record 101 made it to disk.
    const rec = encodeRecord(entry(101));
    fs.appendFileSync(file, rec.subarray(0, 20));
    const log = new MemLog();
    const k = await open(dir, 'always', 0, { log });
    assert.equal(k.recovered.entries.length, 100);
    assert.equal(k.recovered.lastSeq, 100);
    assert.equal(k.recovered.cutBytes, 20);
    const cut = log.events.find((e) => e.event === 'journal_tail_cut');
    assert.ok(cut, 'the cut is logged');
    assert.equal(cut.fields?.offset, whole);
    assert.equal(cut.fields?.bytes, 20);
    assert.equal(fs.statSync(file).size, whole, 'the torn bytes are removed from the file');
    // Appends continue after recovery, with the next seq.
    k.append(entry(101));
    await k.flush();
    await k.close();
    const m = await open(dir, 'always');
    assert.deepEqual(
      m.recovered.entries.map((e) => e.seq),
      Array.from({ length: 101 }, (_, i) => i + 1),
    );
    await m.close();
  });

  it('a corrupted last record (bad checksum) is cut, earlier ones kept', async () => {
    const dir = tmpDir();
    const j = await open(dir, 'off');
    for (let s = 1; s <= 10; s++) j.append(entry(s));
    await j.flush();
    await j.close();
    const file = path.join(dir, segments(dir).at(-1)!);
    const buf = fs.readFileSync(file);
    buf[buf.length - 3] ^= 0xff; // flip a byte of the last record's SQL
    fs.writeFileSync(file, buf);
    const log = new MemLog();
    const k = await open(dir, 'off', 0, { log });
    assert.equal(k.recovered.entries.length, 9);
    assert.equal(k.recovered.entries.at(-1)?.seq, 9);
    assert.ok(k.recovered.cutBytes > 0);
    assert.match(String(log.events.find((e) => e.event === 'journal_tail_cut')?.fields?.why), /checksum/);
    await k.close();
  });

  it('a segment whose header never made it to disk is dropped', async () => {
    const dir = tmpDir();
    const j = await open(dir, 'always');
    j.append(entry(1));
    await j.flush();
    await j.close();
    fs.writeFileSync(path.join(dir, 'seg-9999999999999999.jnl'), Buffer.from([0x45, 0x53]));
    const k = await open(dir, 'always');
    assert.equal(k.recovered.entries.length, 1);
    assert.equal(k.recovered.cutBytes, 2);
    await k.close();
  });

  it('rotates segments and deletes those that are wholly committed', async () => {
    const dir = tmpDir();
    const j = await open(dir, 'interval', 0, { segmentBytes: 2048 });
    for (let s = 1; s <= 400; s++) {
      j.append(entry(s));
      if (s % 10 === 0) await j.flush();
    }
    await j.flush();
    const before = segments(dir).length;
    assert.ok(before >= 5, `rotated into ${before} segments`);
    j.committed(300);
    await waitFor(() => metric(j, 'eserver_journal_segments_deleted_total') > 0, { timeoutMs: 5000, intervalMs: 5, what: 'a committed segment to be deleted' });
    const after = segments(dir).length;
    assert.ok(after < before, `segments ${before} -> ${after}`);
    await j.close();
    // What is left still replays everything above 300.
    const k = await open(dir, 'interval', 300);
    assert.deepEqual(
      k.recovered.entries.map((e) => e.seq),
      Array.from({ length: 100 }, (_, i) => 301 + i),
    );
    await k.close();
  });

  it('the highest seq survives when every entry was committed and every old segment deleted', async () => {
    const dir = tmpDir();
    const j = await open(dir, 'always');
    for (let s = 1; s <= 100; s++) j.append(entry(s));
    await j.flush();
    j.committed(100);
    await j.close();
    const k = await open(dir, 'always', 100); // deletes the old, fully committed segment
    assert.equal(k.recovered.entries.length, 0);
    assert.equal(k.recovered.lastSeq, 100);
    await k.close();
    assert.equal(segments(dir).length, 1, 'only the fresh segment is left');
    // Even if MySQL's offset is unknown (0), the journal remembers where seq got to.
    const m = await open(dir, 'always', 0);
    assert.equal(m.recovered.lastSeq, 100);
    assert.equal(m.recovered.entries.length, 0);
    await m.close();
  });

  it('rejects flush after a write failure instead of acknowledging', async () => {
    const dir = tmpDir();
    const j = await open(dir, 'always');
    // Close the fd behind the journal's back: the next write fails with EBADF.
    const fdField = activeSegment(j).fd;
    fs.closeSync(fdField);
    j.append(entry(1));
    await assert.rejects(j.flush());
    assert.equal(metric(j, 'eserver_journal_up'), 0);
    assert.throws(() => j.append(entry(2)));
    activeSegment(j).fd = -1;
    await j.close();
  });
});

describe('journal: damage in the middle of a segment', () => {
  async function threeSegments(dir: string): Promise<string[]> {
    const j = await open(dir, 'off', 0, { segmentBytes: 4096 });
    for (let s = 1; s <= 300; s++) {
      j.append(entry(s));
      if (s % 10 === 0) await j.flush();
    }
    await j.flush();
    await j.close();
    const segs = segments(dir);
    assert.ok(segs.length >= 3, `${segs.length} segments`);
    return segs;
  }

  /** Offset of the record holding seq in a segment file. */
  function recordOffset(buf: Buffer, seq: number): number {
    let off = 20;
    while (off < buf.length) {
      if (buf.readUInt32BE(off + 12) === seq) return off;
      off += 8 + buf.readUInt32BE(off);
    }
    throw new Error(`seq ${seq} not in segment`);
  }

  for (const what of ['payload byte', 'length field'] as const) {
    it(`a damaged ${what} loses only that record: the rest of the segment is recovered, loudly, and the original kept aside`, async () => {
      const dir = tmpDir();
      const segs = await threeSegments(dir);
      const file = path.join(dir, segs[1]);
      const original = fs.readFileSync(file);
      const p = parseSegment(original);
      const victim = p.entries[Math.floor(p.entries.length / 2)].seq;
      const buf = Buffer.from(original);
      const at = recordOffset(buf, victim);
      if (what === 'payload byte') buf[at + 20] ^= 0xff;
      else buf.writeUInt32BE(0x00ffff00, at);
      fs.writeFileSync(file, buf);

      const log = new MemLog();
      const k = await open(dir, 'off', 0, { log });
      const seqs = k.recovered.entries.map((e) => e.seq);
      assert.deepEqual(seqs, Array.from({ length: 300 }, (_, i) => i + 1).filter((s) => s !== victim));
      const ev = log.events.find((e) => e.event === 'journal_corrupt');
      assert.ok(ev, 'the damage is reported');
      assert.equal(ev.level, 'error');
      assert.equal(ev.fields?.file, file);
      assert.equal(ev.fields?.lostSeqFrom, victim);
      assert.equal(ev.fields?.lostSeqTo, victim);
      assert.equal(metric(k, 'eserver_journal_damaged_segments'), 1);
      const kept = fs.readdirSync(path.join(dir, 'damaged'));
      assert.equal(kept.length, 1);
      assert.deepEqual(fs.readFileSync(path.join(dir, 'damaged', kept[0])), buf, 'the damaged file is kept as it was found');
      await k.close();

      // The segment was rewritten with its good records: the next start is clean and replays the same.
      const log2 = new MemLog();
      const m = await open(dir, 'off', 0, { log: log2 });
      assert.deepEqual(m.recovered.entries.map((e) => e.seq), seqs);
      assert.equal(log2.events.find((e) => e.event === 'journal_corrupt'), undefined);
      await m.close();
    });
  }

  it('a damaged header of an older segment: its records are still recovered, and the damage reported', async () => {
    const dir = tmpDir();
    const segs = await threeSegments(dir);
    const file = path.join(dir, segs[1]);
    const buf = fs.readFileSync(file);
    buf[2] ^= 0xff;
    fs.writeFileSync(file, buf);
    const log = new MemLog();
    const k = await open(dir, 'off', 0, { log });
    assert.deepEqual(k.recovered.entries.map((e) => e.seq), Array.from({ length: 300 }, (_, i) => i + 1));
    assert.match(String(log.events.find((e) => e.event === 'journal_corrupt' && e.level === 'error')?.fields?.why), /header/);
    assert.equal(fs.readdirSync(path.join(dir, 'damaged')).length, 1);
    await k.close();
  });

  it('entries at or below the committed position are not damage', async () => {
    const dir = tmpDir();
    await threeSegments(dir);
    const log = new MemLog();
    const k = await open(dir, 'off', 150, { log });
    assert.deepEqual(k.recovered.entries.map((e) => e.seq), Array.from({ length: 150 }, (_, i) => 151 + i));
    assert.equal(log.events.find((e) => e.event === 'journal_corrupt'), undefined);
    assert.equal(fs.existsSync(path.join(dir, 'damaged')), false);
    await k.close();
  });

  it('a torn tail of the last segment is an ordinary crash: cut with a warning, nothing set aside', async () => {
    const dir = tmpDir();
    await threeSegments(dir);
    const last = path.join(dir, segments(dir).at(-1)!);
    fs.appendFileSync(last, encodeRecord(entry(301)).subarray(0, 30));
    const log = new MemLog();
    const k = await open(dir, 'off', 0, { log });
    assert.equal(k.recovered.entries.length, 300);
    assert.equal(log.events.find((e) => e.event === 'journal_corrupt'), undefined);
    assert.equal(fs.existsSync(path.join(dir, 'damaged')), false);
    await k.close();
  });

  it('replays records larger than the read chunk and segments of many chunks, in order', async () => {
    const dir = tmpDir();
    const j = await open(dir, 'off', 0, { segmentBytes: 8 * 1024 * 1024 });
    const sizes = [10, 70_000, 5, 1_500_000, 64_000, 3];
    let seq = 0;
    for (let round = 0; round < 3; round++) for (const n of sizes) j.append({ seq: ++seq, sql: 'v'.repeat(n) + seq });
    await j.flush();
    await j.close();
    const k = await open(dir, 'off');
    assert.equal(k.recovered.entries.length, seq);
    k.recovered.entries.forEach((e, i) => assert.equal(e.sql, 'v'.repeat(sizes[i % sizes.length]) + (i + 1)));
    await k.close();
  });
});
