// The minimal node and Bun servers of bench-proto's runtime table: they must do the work they stand for
// (answer every 8001 byte for byte, split and coalesced frames alike) and end cleanly on SIGTERM. The journal
// kinds must also have written each statement to their file by the time its reply arrives.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMinServer, MIN_SERVERS, type MinServerKind } from '../src/protocol-bench/servers.js';
import { exchange } from './tcp-exchange.js';
import { enqueueRequest, EXPECTED_OK, frame, SEED_SQL } from '../src/protocol-bench/frames.js';

/** One write per chunk with a pause between, so that the server sees split frames. */
const SPLIT = { gapMs: 15 };

const statements = (from: number, to: number): string => Array.from({ length: to - from + 1 }, (_, i) => `${SEED_SQL.replace('%d', String(from + i))}\n`).join('');

for (const kind of Object.keys(MIN_SERVERS) as MinServerKind[]) {
  test(`${kind} answers 8001 byte for byte, split and coalesced frames alike, and closes on anything else`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'min-server-'));
    const srv = await startMinServer(kind, { runDir: dir });
    const journal = (): string => readFileSync(srv.journalFile!, 'utf8');
    try {
      assert.equal(srv.runtime, MIN_SERVERS[kind].runtime);
      assert.equal(srv.journalFile !== undefined, MIN_SERVERS[kind].journal);
      const req = enqueueRequest();
      const split = await exchange(srv.port, [...req].map((b) => Buffer.from([b])), 22, SPLIT);
      assert.deepEqual(split.data, EXPECTED_OK);
      if (srv.journalFile) assert.equal(journal(), statements(1, 1), 'the statement is in the journal when its reply arrives');
      const three = Buffer.concat([req, req, req]);
      const r = await exchange(srv.port, [Buffer.concat([three, req.subarray(0, 3)]), req.subarray(3)], 4 * 22, SPLIT);
      assert.deepEqual(r.data, Buffer.concat([EXPECTED_OK, EXPECTED_OK, EXPECTED_OK, EXPECTED_OK]));
      if (srv.journalFile) assert.equal(journal(), statements(1, 5));
      const other = await exchange(srv.port, [frame(8003, '{}')], 0);
      assert.equal(other.closed, true);
      assert.equal(other.data.length, 0);
    } finally {
      assert.equal(await srv.stop(), 0, 'SIGTERM ends the server cleanly');
      if (srv.journalFile) assert.equal(existsSync(srv.journalFile), false, 'stop() removes the journal file');
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('a journal kind of minimal server needs a directory for its journal', async () => {
  await assert.rejects(startMinServer('min-node-journal'), /min-node-journal needs a runDir/);
});
