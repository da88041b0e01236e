import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Queue } from '../src/queue.js';
import { QueueError } from '../src/errors.js';
import type { Entry } from '../src/entry.js';
import type { JournalSink } from '../src/contracts.js';

const T = 'insert into bench_events (num) values (%d)';

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof QueueError);
    return e.code;
  }
  assert.fail('expected a QueueError');
}

test('queue: %d becomes a strictly increasing seq starting at 1', () => {
  const q = new Queue({ capacity: 10 });
  const a = q.enqueue(T) as Entry;
  const b = q.enqueue('x %d y') as Entry;
  assert.deepEqual(a, { seq: 1, sql: 'insert into bench_events (num) values (1)' });
  assert.deepEqual(b, { seq: 2, sql: 'x 2 y' });
  assert.equal(q.length, 2);
  assert.equal(q.dequeue()?.sql, 'insert into bench_events (num) values (1)');
  assert.equal(q.nextSeq, 3);
});

test('queue: placeholder validation, full queue, and no seq burnt on refusal', () => {
  const q = new Queue({ capacity: 2 });
  assert.equal(code(() => q.enqueue('no placeholder')), 'BAD_PLACEHOLDER');
  assert.equal(code(() => q.enqueue('%d and %d')), 'BAD_PLACEHOLDER');
  q.enqueue(T);
  q.enqueue(T);
  assert.equal(code(() => q.enqueue(T)), 'QUEUE_FULL');
  assert.equal(q.length, 2);
  q.commit(1);
  assert.equal((q.enqueue(T) as Entry).seq, 3);
});

test('queue: guard refusals (final statement, or template when the guard offers it)', () => {
  const seen: string[] = [];
  const q = new Queue({ guard: { check: (s) => (seen.push(s), s.includes('drop') ? { ok: false, reason: 'no' } : { ok: true }) } });
  assert.equal(code(() => q.enqueue('drop %d')), 'SQL_REFUSED');
  q.enqueue('ok %d');
  assert.deepEqual(seen, ['drop 1', 'ok 1']);
  const templates: string[] = [];
  const q2 = new Queue({
    guard: { check: () => assert.fail('final check not expected'), checkTemplate: (t) => (templates.push(t), { ok: true }) },
  });
  q2.enqueue('a %d');
  assert.deepEqual(templates, ['a %d']);
});

test('queue: dequeue disabled, peekBatch/commit, restore', () => {
  const q = new Queue({ dequeueEnabled: false });
  assert.equal(code(() => q.dequeue()), 'DEQUEUE_DISABLED');
  q.restore([{ seq: 5, sql: 'a' }, { seq: 7, sql: 'b' }], 3);
  assert.equal(q.nextSeq, 8);
  assert.deepEqual(q.peekBatch(5).map((e) => e.seq), [5, 7]);
  assert.equal(q.commit(1), 1);
  assert.equal((q.enqueue('%d') as Entry).seq, 8);
  assert.throws(() => q.restore([], 1));
});

test('queue: wakes the writer on enqueue via onEnqueue and the data event', () => {
  const q = new Queue();
  let calls = 0;
  let events = 0;
  q.onEnqueue = () => calls++;
  const onData = (): void => {
    events++;
  };
  q.on('data', onData);
  q.enqueue('%d');
  q.off('data', onData);
  q.enqueue('%d');
  assert.equal(calls, 2);
  assert.equal(events, 1);
});

test('queue: with a journal the ack waits for flush, and a failed flush is JOURNAL_FAILED', async () => {
  const appended: Entry[] = [];
  let release!: () => void;
  let fail = false;
  const journal: JournalSink = {
    append: (e) => appended.push(e),
    afterFlush: (done, ctx) => (release = () => done(ctx, fail ? new Error('disk') : null)),
  };
  const q = new Queue({ journal });
  const p = q.enqueue('%d');
  assert.ok(p instanceof Promise);
  let done = false;
  void p.then(() => (done = true));
  await new Promise((r) => setImmediate(r));
  assert.equal(done, false);
  assert.equal(appended.length, 1);
  release();
  assert.deepEqual(await p, { seq: 1, sql: '1' });
  fail = true;
  const p2 = q.enqueue('%d') as Promise<Entry>;
  release();
  await assert.rejects(p2, (e: unknown) => e instanceof QueueError && e.code === 'JOURNAL_FAILED');
  const m = Object.fromEntries(q.metrics().map((s) => [s.name, s.value]));
  assert.equal(m.eserver_enqueued_total, 1);
});

test('queue: an entry is visible to consumers only once durable; a refused group leaves nothing behind', async () => {
  const groups: Array<{ res: () => void; rej: (e: Error) => void }> = [];
  const journal: JournalSink = {
    append: () => {},
    afterFlush: (done, ctx) => groups.push({ res: () => done(ctx, null), rej: (e) => done(ctx, e) }),
  };
  const q = new Queue({ journal, maxBytes: 10_000 });
  const woke: number[] = [];
  q.onEnqueue = () => woke.push(q.length);
  const a = q.enqueue('a %d') as Promise<Entry>;
  const b = q.enqueue('b %d') as Promise<Entry>;
  assert.equal(q.length, 0, 'nothing durable yet');
  assert.equal(q.dequeue(), undefined);
  assert.deepEqual(q.peekBatch(10), []);
  assert.equal(q.byteSize, 2 * (3 + 64), 'pending entries still count against the budget');
  groups[0].res();
  await a;
  assert.equal(q.length, 1);
  assert.deepEqual(woke, [1], 'the writer is woken when an entry becomes visible, not before');
  const c = q.enqueue('c %d') as Promise<Entry>;
  groups[1].rej(new Error('ENOSPC'));
  groups[2].rej(new Error('ENOSPC'));
  await assert.rejects(b, (e: unknown) => e instanceof QueueError && e.code === 'JOURNAL_FAILED');
  await assert.rejects(c, (e: unknown) => e instanceof QueueError && e.code === 'JOURNAL_FAILED');
  assert.equal(q.length, 1);
  assert.equal(q.byteSize, 3 + 64);
  assert.deepEqual(q.peekBatch(10).map((e) => e.sql), ['a 1']);
  assert.equal(q.dequeue()?.sql, 'a 1');
  assert.equal(q.dequeue(), undefined, 'the refused entries never reach a consumer');
  assert.equal(q.byteSize, 0);
});

test('queue: byte budget refuses with QUEUE_FULL and frees on dequeue and commit', () => {
  const q = new Queue({ maxBytes: 3 * (10 + 64) });
  const t = '%d' + 'x'.repeat(9); // 10 characters once numbered (seq 1..9)
  for (let i = 0; i < 3; i++) q.enqueue(t);
  assert.throws(() => q.enqueue(t), (e: unknown) => e instanceof QueueError && e.code === 'QUEUE_FULL' && /bytes/.test(e.message));
  q.dequeue();
  q.enqueue(t);
  assert.equal(q.commit(2), 2);
  assert.equal(q.byteSize, 10 + 64);
});
