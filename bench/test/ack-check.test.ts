// The ack check of a queue server with no drain: the queue's growth must cover every page that said ok.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ackLine, judgeAcks } from '../src/check/ack-check.js';

test('judgeAcks: growth >= strict ok passes; fewer entries than ok pages fails and says why', () => {
  const ok = judgeAcks(10, 110, 95, 1.5);
  assert.deepEqual([ok.acked, ok.ok], [100, true]);
  assert.match(ackLine(ok), /queue length 10 -> 110 = 100 acked, 95 strict ok: OK \(MySQL loss check not applicable\)/);
  const lost = judgeAcks(0, 90, 95, 1);
  assert.equal(lost.ok, false);
  assert.match(lost.note, /95 pages answered ok but the queue holds only 90 new entries/);
  assert.match(ackLine(lost), /FAILED/);
  // A queue that shrank (someone dequeued during the run) cannot vouch for anything.
  assert.equal(judgeAcks(50, 40, null, 0).ok, false);
  // No strict figure (webbench): only the growth is checked.
  assert.equal(judgeAcks(0, 7, null, 0).ok, true);
});
