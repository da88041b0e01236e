// The loss check against a real native stack (MariaDB, queue server, php-fpm, nginx) on free ports:
// after real client.php load it passes; a row that no ack accounts for makes it fail.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { nativeRuntime } from '../src/lab/index.js';
import type { StackInfo } from '../src/lab/types.js';
import { runHttpLoad } from '../src/load/generator.js';
import { connectMysql, lossCheck, readCounts } from '../src/check/loss-check.js';
import { freePorts } from '@eserver-lab/common/free-port';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-loss-'));
const runDir = path.join(dir, 'lab');
let stack: StackInfo;

before(async () => {
  const [http, fpm, queue, metrics, mysql] = await freePorts(5);
  stack = await nativeRuntime.up({ runDir, ports: { http, fpm, queue, metrics, mysql }, log: () => {} });
});

after(async () => {
  await nativeRuntime.down(runDir);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('after real load every ack is one row; an unacked row fails the check', { timeout: 120_000 }, async () => {
  const beforeCounts = await readCounts(stack.mysql, stack.queue);
  const r = await runHttpLoad({ url: stack.pages.client, clients: 8, durationS: 1, warmupS: 0, successSignal: 'ok' });
  assert.ok(r.counters.strictOk > 0, 'client.php answered 200 ok');
  const ok = await lossCheck({ mysql: stack.mysql, queue: stack.queue, before: beforeCounts, strictOk: r.counters.strictOk, timeoutS: 60 });
  assert.equal(ok.ok, true, JSON.stringify(ok));
  assert.ok(ok.acked >= r.counters.strictOk);
  assert.equal(ok.rows, ok.acked);
  assert.equal(ok.distinct, ok.rows);

  // A row no ack accounts for: the check must see it.
  const c = await connectMysql(stack.mysql);
  try {
    await c.query('INSERT INTO bench_events (num) VALUES (?)', [2_000_000_000]);
  } finally {
    await c.end();
  }
  const bad = await lossCheck({ mysql: stack.mysql, queue: stack.queue, before: beforeCounts, strictOk: r.counters.strictOk, timeoutS: 10 });
  assert.equal(bad.ok, false);
  assert.equal(bad.rows, ok.rows + 1);
  assert.equal(bad.acked, ok.acked);
});
