// The C reference server: it must compile here and answer exactly like the original for 8001.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRefServer } from '../src/protocol-bench/servers.js';
import { enqueueRequest, EXPECTED_OK, frame } from '../src/protocol-bench/frames.js';

function exchange(port: number, chunks: Buffer[], expectBytes: number): Promise<{ data: Buffer; closed: boolean }> {
  return new Promise((res, rej) => {
    const s = connect({ host: '127.0.0.1', port });
    let data = Buffer.alloc(0);
    const t = setTimeout(() => {
      s.destroy();
      res({ data, closed: false });
    }, 3000);
    s.on('error', rej);
    s.on('data', (c) => {
      data = Buffer.concat([data, c]);
      if (data.length >= expectBytes && expectBytes > 0) {
        clearTimeout(t);
        s.destroy();
        res({ data, closed: false });
      }
    });
    s.on('end', () => {
      clearTimeout(t);
      res({ data, closed: true });
    });
    // Send each chunk in its own write with a pause, so the server sees split frames.
    (async () => {
      for (const c of chunks) {
        s.write(c);
        await new Promise((r) => setTimeout(r, 15));
      }
    })();
  });
}

test('eserver-ref compiles with cc -O2 and answers 8001 byte for byte, split and coalesced frames alike', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'eserver-ref-'));
  const srv = await startRefServer(dir);
  try {
    assert.equal(EXPECTED_OK.toString('hex'), '1f4100127b226d7367223a202273756363657373227d');
    const req = enqueueRequest();
    // One frame, one byte per write.
    const split = await exchange(srv.port, [...req].map((b) => Buffer.from([b])), 22);
    assert.deepEqual(split.data, EXPECTED_OK);
    // Three frames in one write, then a frame split in the middle of its header.
    const three = Buffer.concat([req, req, req]);
    const r = await exchange(srv.port, [Buffer.concat([three, req.subarray(0, 3)]), req.subarray(3)], 4 * 22);
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
