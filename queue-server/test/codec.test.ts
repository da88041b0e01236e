import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CMD, ENQUEUE_OK, FrameCollector, FrameParser, encodeFrame, pyJsonObject, pyJsonString, pyJsonStringLength } from '../src/codec.js';
import { MAX_ERROR_MSG_CHARS, errorFrame } from '../src/errors.js';

// Bytes from the reference (original-eserver.md).
const REF_8001_OK = Buffer.from('1f4100127b226d7367223a202273756363657373227d', 'hex');

test('8001 success reply is byte-exact with the original', () => {
  assert.deepEqual(ENQUEUE_OK, REF_8001_OK);
  assert.equal(ENQUEUE_OK.length, 22);
});

test('8003 and 8002 bodies follow json.dumps', () => {
  assert.deepEqual(encodeFrame(CMD.LENGTH, '2'), Buffer.from([0x1f, 0x43, 0x00, 0x01, 0x32]));
  const sql = 'insert into bench_events (num) values (1)';
  const f = encodeFrame(CMD.DEQUEUE, pyJsonString(sql));
  assert.deepEqual(f.subarray(0, 4), Buffer.from([0x1f, 0x42, 0x00, sql.length + 2]));
  assert.equal(f.subarray(4).toString(), `"${sql}"`);
});

test('pyJsonString escapes like Python ensure_ascii', () => {
  // json.dumps('é"\\\n\x7f\U0001F600') in Python 3.11:
  assert.equal(pyJsonString('é"\\\n\x7f😀'), '"\\u00e9\\"\\\\\\n\\u007f\\ud83d\\ude00"');
  assert.equal(pyJsonString('\x01\t'), '"\\u0001\\t"');
  assert.equal(pyJsonObject({ code: 'X', msg: 'a, b' }), '{"code": "X", "msg": "a, b"}');
});

test('error frames are cmd 9000 with {"code": ..., "msg": ...}', () => {
  const f = errorFrame('QUEUE_FULL', 'full');
  assert.equal(f.readUInt16BE(0), 9000);
  assert.equal(f.readUInt16BE(2), f.length - 4);
  assert.equal(f.subarray(4).toString(), '{"code": "QUEUE_FULL", "msg": "full"}');
});

test('error frames cannot exceed the frame limit, whatever the message: long ones are cut', () => {
  for (const unit of ['\u007f', '\u0001', '"', '\\', '\u{1F600}', 'a']) {
    const f = errorFrame('SQL_REFUSED', unit.repeat(70_000));
    assert.ok(f.length <= 65539);
    const msg = (JSON.parse(f.subarray(4).toString()) as { msg: string }).msg;
    assert.match(msg, /\.\.\. \(\d+ more characters\)$/);
    assert.ok(msg.length <= MAX_ERROR_MSG_CHARS + 40);
    assert.ok(!/[\ud800-\udbff]\.\.\./.test(msg), 'a surrogate pair is never split');
  }
  assert.equal(JSON.parse(errorFrame('SQL_REFUSED', 'x'.repeat(MAX_ERROR_MSG_CHARS)).subarray(4).toString()).msg.length, MAX_ERROR_MSG_CHARS);
});

test('stop() during onFrame leaves the rest of the chunk unread; pushing it later continues in sync', () => {
  const chunk = stream([[8001, 'a'], [8002, 'bb'], [8003, 'ccc']]);
  const got: string[] = [];
  const p = new FrameParser();
  const sink = {
    onFrame(cmd: number, body: Buffer) {
      got.push(`${cmd}:${body.toString()}`);
      if (cmd === 8001) p.stop();
    },
    onOversize() {},
  };
  const used = p.push(chunk, sink);
  assert.deepEqual(got, ['8001:a']);
  assert.equal(used, 5);
  assert.equal(p.push(chunk.subarray(used), sink), chunk.length - used);
  assert.deepEqual(got, ['8001:a', '8002:bb', '8003:ccc']);
});

test('encodeFrame refuses bodies beyond uint16', () => {
  assert.throws(() => encodeFrame(8001, Buffer.alloc(65536)), RangeError);
  assert.equal(encodeFrame(8001, Buffer.alloc(65535)).length, 65539);
});

function stream(frames: Array<[number, string]>): Buffer {
  return Buffer.concat(frames.map(([c, b]) => encodeFrame(c, b)));
}

test('a frame split at every byte boundary parses the same', () => {
  const whole = stream([[8001, '{"sql": "insert into bench_events (num) values (%d)"}'], [8003, '{}'], [8002, '']]);
  for (let i = 0; i <= whole.length; i++) {
    for (let j = i; j <= whole.length; j += 7) {
      const c = new FrameCollector();
      c.push(whole.subarray(0, i)).push(whole.subarray(i, j)).push(whole.subarray(j));
      assert.equal(c.frames.length, 3, `split ${i}/${j}`);
      assert.equal(c.frames[0].body.toString(), '{"sql": "insert into bench_events (num) values (%d)"}');
      assert.equal(c.frames[1].cmd, 8003);
      assert.equal(c.frames[2].body.length, 0);
      assert.equal(c.inFrame, false);
    }
  }
});

test('one byte at a time and many frames coalesced in one chunk', () => {
  const frames: Array<[number, string]> = Array.from({ length: 500 }, (_, i) => [8001, JSON.stringify({ sql: `v (${i}) %d` })]);
  const whole = stream(frames);
  const a = new FrameCollector();
  for (const b of whole) a.push(Buffer.from([b]));
  const b = new FrameCollector().push(whole);
  for (const c of [a, b]) {
    assert.equal(c.frames.length, 500);
    c.frames.forEach((f, i) => assert.equal(f.body.toString(), frames[i][1]));
  }
});

test('oversized frames are skipped and reported, and the stream stays in sync', () => {
  const c = new FrameCollector({ maxBody: 10 });
  c.push(Buffer.concat([encodeFrame(8001, 'x'.repeat(11)), encodeFrame(8003, '{}')]));
  assert.deepEqual(c.oversize, [{ cmd: 8001, len: 11 }]);
  assert.equal(c.frames.length, 1);
  assert.equal(c.frames[0].cmd, 8003);
  assert.throws(() => new FrameParser({ maxBody: 70000 }), RangeError);
});

test('parser memory follows the bytes received, not the declared length', () => {
  const p = new FrameParser();
  const got: Buffer[] = [];
  const sink = { onFrame: (_c: number, b: Buffer) => void got.push(Buffer.from(b)), onOversize() {} };
  p.push(Buffer.from([0x1f, 0x41, 0xff, 0xff, 1, 2, 3]), sink);
  assert.ok(p.buffered <= 256, `holds ${p.buffered} bytes after 3`);
  assert.equal(p.missing, 65532);
  assert.equal(p.inFrame, true);
  const rest = Buffer.alloc(65532, 7);
  for (let i = 0; i < rest.length; i += 1000) p.push(rest.subarray(i, i + 1000), sink);
  assert.equal(got.length, 1);
  assert.equal(got[0].length, 65535);
  assert.deepEqual(got[0].subarray(0, 4), Buffer.from([1, 2, 3, 7]));
  assert.equal(p.inFrame, false);
  assert.equal(p.buffered, 0);
});

const frameArb = fc.record({ cmd: fc.integer({ min: 0, max: 0xffff }), body: fc.uint8Array({ maxLength: 300 }) });

test('property: encode then parse round-trips under arbitrary chunking', () => {
  fc.assert(
    fc.property(fc.array(frameArb, { maxLength: 20 }), fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 20 }), (frames, cuts) => {
      const bytes = Buffer.concat(frames.map((f) => encodeFrame(f.cmd, Buffer.from(f.body))));
      const c = new FrameCollector();
      let off = 0;
      let k = 0;
      while (off < bytes.length) {
        const n = cuts[k++ % cuts.length];
        c.push(bytes.subarray(off, off + n));
        off += n;
      }
      assert.equal(c.frames.length, frames.length);
      frames.forEach((f, i) => {
        assert.equal(c.frames[i].cmd, f.cmd);
        assert.deepEqual(new Uint8Array(c.frames[i].body), f.body);
      });
      assert.equal(c.inFrame, false);
    }),
    { numRuns: 300 },
  );
});

test('property: random bytes never throw, and frames + skipped + partial account for every byte', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 2000 }), fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 1, max: 50 }), (bytes, maxBody, step) => {
      const c = new FrameCollector({ maxBody });
      const buf = Buffer.from(bytes);
      for (let i = 0; i < buf.length; i += step) c.push(buf.subarray(i, i + step));
      const consumed = c.frames.reduce((s, f) => s + 4 + f.body.length, 0) + c.oversize.reduce((s, o) => s + 4 + o.len, 0);
      // Everything not in a whole frame is the tail of an incomplete one.
      assert.ok(consumed >= buf.length - (maxBody + 4) || c.inFrame);
      for (const f of c.frames) assert.ok(f.body.length <= maxBody);
    }),
    { numRuns: 300 },
  );
});

test('property: pyJsonString output is valid JSON, ASCII-only, and decodes to the input', () => {
  fc.assert(
    fc.property(fc.string({ unit: fc.oneof(fc.constantFrom('"', '\\', '\b', '\f', '\x7f', '\x00'), fc.string({ unit: 'binary', maxLength: 1 })), maxLength: 50 }), (s) => {
      const j = pyJsonString(s);
      assert.match(j, /^[\x20-\x7e]*$/);
      assert.equal(pyJsonStringLength(s), j.length);
      assert.equal(JSON.parse(j), s);
    }),
    { numRuns: 500 },
  );
});
