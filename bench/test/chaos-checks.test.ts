// The chaos harness's checks on stand-in data: gaps, duplicates, the verdict, and the counters summed
// over the queue server's processes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { countDuplicates, findGaps, judge, type ScenarioFigures } from '../src/chaos/checks.js';
import { pickScenarios, SCENARIOS } from '../src/chaos/scenarios.js';
import { chaosTable, recoverCell } from '../src/chaos/table.js';
import { Incarnations, parsePoint, type MetricsPoint } from '../src/chaos/watch.js';

const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

const base = (over: Partial<ScenarioFigures> = {}): ScenarioFigures => ({
  strictOk: 90, serverAcks: 95, rows: 100, distinct: 100, duplicateDeadLetters: 0, otherDeadLetters: 0,
  nums: range(1, 100), lastSeq: 100, journalFailed: 0, drained: true, recoverS: [0.5], ...over,
});

test('findGaps: contiguous rows have none; missing seqs are counted and given as ranges', () => {
  assert.deepEqual(findGaps(range(1, 100), 100), { count: 0, ranges: [] });
  const nums = range(1, 100).filter((n) => n !== 7 && !(n >= 40 && n <= 42));
  assert.deepEqual(findGaps(nums, 100), { count: 4, ranges: [[7, 7], [40, 42]] });
  // Unordered, duplicated input; and seqs handed out after the last row are gaps too.
  assert.deepEqual(findGaps([3, 1, 2, 2], 5), { count: 2, ranges: [[4, 5]] });
  assert.deepEqual(findGaps([], 3), { count: 3, ranges: [[1, 3]] });
  assert.equal(findGaps(range(1, 50).filter((n) => n % 2 === 0), 50, 3).ranges.length, 3);
});

test('countDuplicates: extra rows plus duplicate-key dead letters', () => {
  assert.equal(countDuplicates(100, 100, 0), 0);
  assert.equal(countDuplicates(102, 100, 3), 5);
});

test('judge: a clean scenario passes', () => {
  const v = judge(base());
  assert.deepEqual(v.reasons, []);
  assert.equal(v.ok, true);
});

test('judge: fewer rows than client or server acks fails', () => {
  assert.match(judge(base({ rows: 80, distinct: 80, nums: range(1, 80), lastSeq: 80 })).reasons.join(), /80 rows < 90 client-side acks/);
  assert.match(judge(base({ strictOk: 10, rows: 90, distinct: 90, nums: range(1, 90), lastSeq: 90 })).reasons.join(), /90 rows < 95 acks counted by the server/);
});

test('judge: a gap fails unless refusals after the append explain it', () => {
  const nums = range(1, 101).filter((n) => n !== 50);
  const lost = judge(base({ nums, lastSeq: 101 }));
  assert.equal(lost.ok, false);
  assert.equal(lost.ackedGaps, 1);
  assert.match(lost.reasons.join(), /1 seqs missing \(50\), 0 refused/);
  const refused = judge(base({ nums, lastSeq: 101, journalFailed: 1 }));
  assert.equal(refused.ok, true, refused.reasons.join());
  assert.equal(refused.gaps.count, 1);
});

test('judge: duplicates, dead letters, no drain, no recovery and no ack at all each fail', () => {
  assert.match(judge(base({ rows: 101, duplicateDeadLetters: 0 })).reasons.join(), /1 duplicate deliveries/);
  assert.match(judge(base({ duplicateDeadLetters: 2 })).reasons.join(), /2 duplicate deliveries/);
  assert.match(judge(base({ otherDeadLetters: 1 })).reasons.join(), /dead-lettered/);
  assert.match(judge(base({ drained: false })).reasons.join(), /did not drain/);
  assert.match(judge(base({ recoverS: [1, null] })).reasons.join(), /1 of 2 faults/);
  assert.match(judge(base({ strictOk: 0 })).reasons.join(), /no client-side ack/);
});

const point = (over: Partial<MetricsPoint>): MetricsPoint => ({
  enqueued: 0, connections: 0, journalFailed: 0, nextSeq: 1, committedSeq: 0, depth: 0, mysqlUp: 1, ...over,
});

test('Incarnations: counters are summed over processes, a new one seen by its connection count going down', () => {
  const s = new Incarnations();
  s.add(point({ enqueued: 10, connections: 12, nextSeq: 11 }));
  s.add(point({ enqueued: 40, connections: 45, nextSeq: 41, journalFailed: 2 }));
  // kill -9, restart: the counters start again.
  s.add(point({ enqueued: 0, connections: 1, nextSeq: 41 }));
  s.add(point({ enqueued: 25, connections: 30, nextSeq: 66 }));
  assert.equal(s.processes, 2);
  assert.equal(s.enqueued, 65);
  assert.equal(s.journalFailed, 2);
  assert.equal(s.maxNextSeq, 66);
});

test('Incarnations: a point known to be fresh starts a new process even when its counters are higher', () => {
  const s = new Incarnations();
  s.add(point({ enqueued: 5, connections: 6 }));
  s.add(point({ enqueued: 9, connections: 20 }), true);
  assert.equal(s.processes, 2);
  assert.equal(s.enqueued, 14);
});

test('parsePoint reads the queue server metrics, JOURNAL_FAILED by its label', () => {
  const p = parsePoint(
    [
      'eserver_enqueued_total 12',
      'eserver_connections_total 30',
      'eserver_rejected_total{reason="QUEUE_FULL"} 4',
      'eserver_rejected_total{reason="JOURNAL_FAILED"} 3',
      'eserver_next_seq 13',
      'eserver_committed_seq 11',
      'eserver_queue_depth 1',
      'eserver_mysql_up 1',
    ].join('\n'),
  );
  assert.deepEqual(p, { enqueued: 12, connections: 30, journalFailed: 3, nextSeq: 13, committedSeq: 11, depth: 1, mysqlUp: 1 });
});

test('scenarios: kill -9 five times under each fsync policy, and the other faults; --only/--skip', () => {
  for (const f of ['always', 'interval', 'off']) {
    const s = SCENARIOS.find((x) => x.fsync === f && x.faults[0] === 'kill-queue');
    assert.equal(s?.faults.length, 5, f);
  }
  const kinds = new Set(SCENARIOS.flatMap((s) => s.faults));
  for (const k of ['restart-mysql', 'stop-mysql', 'restart-fpm', 'full-disk']) assert.ok(kinds.has(k as never), k);
  assert.deepEqual(pickScenarios(['kill-off'], []).map((s) => s.name), ['kill-off']);
  assert.equal(pickScenarios([], ['full-disk']).length, SCENARIOS.length - 1);
  assert.throws(() => pickScenarios(['nope'], []), /unknown chaos scenario 'nope'; known: kill-always/);
});

test('the table shows every column, and the failure reasons', () => {
  assert.equal(recoverCell([0.4, 1.2, 0.9]), 'max 1.2 s (median 0.9 s)');
  assert.equal(recoverCell([2]), '2.0 s');
  assert.equal(recoverCell([1, null]), 'never (1 of 2)');
  const sc = SCENARIOS[0]!;
  const t = chaosTable([
    { scenario: sc, queueRuntime: 'bun', strictOk: 90, serverAcks: 95, rows: 100, recoverS: [0.5], verdict: judge(base()) },
    { scenario: sc, queueRuntime: 'node', strictOk: 90, serverAcks: 95, rows: 80, recoverS: [0.5], verdict: judge(base({ rows: 80, distinct: 80, nums: range(1, 80), lastSeq: 80 })) },
  ]);
  assert.match(t, /^\| fault \| runtime \| fsync \| acks \(client\) \| acks \(server, >=\) \| rows \| duplicates \| gaps \(acked\) \| time to recover \| result \|/);
  assert.match(t, /\| kill -9 queue server x5 \| bun \| always \| 90 \| 95 \| 100 \| 0 \| 0 \(0\) \| 0.5 s \| OK \|/);
  assert.match(t, /\| kill -9 queue server x5 \| node \| always \| 90 \| 95 \| 80 \|/);
  assert.match(t, /FAIL: 80 rows < 90 client-side acks/);
});
