// The C reference server: it must compile here and answer exactly like the original for 8001.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRefServer } from '../src/protocol-bench/servers.js';
import { exchange } from './tcp-exchange.js';
import { enqueueRequest, EXPECTED_OK, frame } from '../src/protocol-bench/frames.js';

/** One write per chunk with a pause between, so that the server sees split frames. */
const SPLIT = { gapMs: 15 };

test('eserver-ref compiles with cc -O2 and answers 8001 byte for byte, split and coalesced frames alike', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'eserver-ref-'));
  const srv = await startRefServer(dir);
  try {
    assert.equal(EXPECTED_OK.toString('hex'), '1f4100127b226d7367223a202273756363657373227d');
    const req = enqueueRequest();
    // One frame, one byte per write.
    const split = await exchange(srv.port, [...req].map((b) => Buffer.from([b])), 22, SPLIT);
    assert.deepEqual(split.data, EXPECTED_OK);
    // Three frames in one write, then a frame split in the middle of its header.
    const three = Buffer.concat([req, req, req]);
    const r = await exchange(srv.port, [Buffer.concat([three, req.subarray(0, 3)]), req.subarray(3)], 4 * 22, SPLIT);
    assert.deepEqual(r.data, Buffer.concat([EXPECTED_OK, EXPECTED_OK, EXPECTED_OK, EXPECTED_OK]));
    // Anything but 8001 ends the connection without a reply.
    const other = await exchange(srv.port, [frame(8003, '{}')], 0);
    assert.equal(other.closed, true);
    assert.equal(other.data.length, 0);
  } finally {
    assert.equal(await srv.stop(), 0, 'SIGTERM ends the reference server cleanly');
    rmSync(dir, { recursive: true, force: true });
  }
});
