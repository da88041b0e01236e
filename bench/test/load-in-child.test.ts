// Loads side by side, each in a process of its own (a process cannot hold two 10,000-client loads here),
// starting at one instant, with their counts and errors carried back whole.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runLoadsTogether } from '../src/load/in-child.js';
import { httpResponse, startServer } from './helper.js';

test('two loads run in two processes of their own, start at the same instant, and count what their server answered', async () => {
  const a = await startServer((_, s) => s.end(httpResponse('200 OK', 'ok')));
  const b = await startServer((_, s) => s.end(httpResponse('502 Bad Gateway', 'bad')));
  try {
    const phases: string[] = [];
    const [ra, rb] = await runLoadsTogether(
      [
        { url: a.url, clients: 20, durationS: 2, warmupS: 1, successSignal: 'ok' },
        { url: b.url, clients: 10, durationS: 2, warmupS: 1, successSignal: 'ok' },
      ],
      (p) => phases.push(p.phase),
    );
    assert.notEqual(ra!.pid, process.pid);
    assert.notEqual(rb!.pid, process.pid);
    assert.notEqual(ra!.pid, rb!.pid);
    assert.equal(ra!.startedAt, rb!.startedAt);
    assert.ok(ra!.counters.strictOk > 0 && ra!.counters.strictOk === ra!.counters.succeeded - ra!.counters.cutAtEnd, JSON.stringify(ra!.counters));
    assert.equal(rb!.counters.strictOk, 0);
    assert.ok(rb!.counters.status['502']! > 0);
    assert.equal(ra!.clients, 20);
    assert.ok(phases.includes('measure'), 'the first load reports its progress');
  } finally {
    await a.close();
    await b.close();
  }
});

test('a load that cannot start fails with its own error, and the other is not left waiting', async () => {
  const a = await startServer((_, s) => s.end(httpResponse('200 OK', 'ok')));
  try {
    await assert.rejects(
      runLoadsTogether([
        { url: a.url, clients: 5, durationS: 1, warmupS: 0, successSignal: 'ok' },
        { url: 'ftp://127.0.0.1/x', clients: 5, durationS: 1, warmupS: 0, successSignal: 'ok' },
      ]),
      /the load on ftp:\/\/127\.0\.0\.1\/x failed: /,
    );
  } finally {
    await a.close();
  }
});
