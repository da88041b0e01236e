// The composition root: start-up order with a journal (replay, seq continuity across restarts), metrics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startApp } from '../src/app.js';
import { resolveConfig } from '../src/config.js';
import { silentLogger } from '../src/log.js';
import { enqueueFrame, roundTrip } from './helpers/net.js';

const SQL = 'insert into bench_events (num) values (%d)';

test('app: a journal-backed queue keeps its entries and its sequence across a restart', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'eserver-app-'));
  try {
    const cfg = resolveConfig({ flags: { port: '0', metricsPort: '0', host: '127.0.0.1', journalDir: dir, fsync: 'always' } });
    const a = await startApp(cfg, silentLogger);
    for (let i = 0; i < 3; i++) assert.equal((await roundTrip(a.address.port, enqueueFrame(SQL)))[0].cmd, 8001);
    const text = await (await fetch(`http://127.0.0.1:${a.metricsAddress!.port}/metrics`)).text();
    assert.match(text, /^eserver_enqueued_total 3$/m);
    await a.stop();
    const b = await startApp(cfg, silentLogger);
    try {
      assert.equal(b.queue.length, 3);
      assert.equal((await roundTrip(b.address.port, enqueueFrame(SQL)))[0].cmd, 8001);
      assert.deepEqual(b.queue.peekBatch(10).map((e) => e.seq), [1, 2, 3, 4]);
      assert.equal(b.queue.peekBatch(10)[3].sql, 'insert into bench_events (num) values (4)');
    } finally {
      await b.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('app: the guard is on by default and refuses other tables; --no-guard lets them in', async () => {
  const on = await startApp(resolveConfig({ flags: { port: '0', metricsPort: '0', host: '127.0.0.1' } }), silentLogger);
  try {
    const [f] = await roundTrip(on.address.port, enqueueFrame('insert into users (id) values (%d)'));
    assert.equal(f.cmd, 9000);
    assert.equal((JSON.parse(f.body.toString()) as { code: string }).code, 'SQL_REFUSED');
    const [ok] = await roundTrip(on.address.port, enqueueFrame("insert into bench_events (num) values (%d); drop table x"));
    assert.equal(ok.cmd, 9000);
  } finally {
    await on.stop();
  }
  const off = await startApp(resolveConfig({ flags: { port: '0', metricsPort: '0', host: '127.0.0.1', guard: false } }), silentLogger);
  try {
    assert.equal((await roundTrip(off.address.port, enqueueFrame('anything %d')))[0].cmd, 8001);
  } finally {
    await off.stop();
  }
});
