// --queue-runtime and --fsync: which profiles run once per (runtime, policy) and which once, the lists
// parsed with errors that name the accepted values, the Docker refusal for Bun, and what the results
// record when the runtime or the policy is read back from a queue server.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULTS } from '@eserver-lab/queue-server/config';
import { resolveProfile } from '../src/plan/profiles.js';
import {
  defaultQueueRuntimes,
  expandPlan,
  isShipped,
  parseFsyncPolicies,
  parseQueueRuntimes,
  queueSetups,
  setupArgs,
  SHIPPED_FSYNC,
} from '../src/plan/queue-matrix.js';
import { fsyncOfLog, mismatch, runtimeOfExe, type QueueServerRecord } from '../src/results/queue-observed.js';

const prof = (n: string) => resolveProfile(n, {}, {});

test('every (runtime, policy) pair, runtime by runtime', () => {
  assert.deepEqual(queueSetups(['node', 'bun'], ['always', 'interval']), [
    { runtime: 'node', fsync: 'always' },
    { runtime: 'node', fsync: 'interval' },
    { runtime: 'bun', fsync: 'always' },
    { runtime: 'bun', fsync: 'interval' },
  ]);
  assert.throws(() => queueSetups([], ['always']), /at least one/);
});

test('enqueuing profiles on our server run per combination with their own repeat; seed2013 and baseline once', () => {
  const setups = queueSetups(['node', 'bun'], ['always', 'interval']);
  const plan = expandPlan(['seed2013', 'seed', 'baseline', 'persistent', 'smoke'].map(prof), setups);
  const rows = plan.map((r) => [r.profile.name, r.setup ? `${r.setup.runtime}/${r.setup.fsync}` : null, r.repeat]);
  assert.deepEqual(rows, [
    ['seed2013', null, 1],
    ['seed', 'node/always', 5],
    ['seed', 'node/interval', 5],
    ['seed', 'bun/always', 5],
    ['seed', 'bun/interval', 5],
    // The no-queue page does not depend on the queue server: once, on the first combination's stack.
    ['baseline', 'node/always', 1],
    ['persistent', 'node/always', 1],
    ['persistent', 'node/interval', 1],
    ['persistent', 'bun/always', 1],
    ['persistent', 'bun/interval', 1],
    ['smoke', 'node/always', 1],
    ['smoke', 'node/interval', 1],
    ['smoke', 'bun/always', 1],
    ['smoke', 'bun/interval', 1],
  ]);
  // --repeat applies to each combination, and to the profiles that run once.
  assert.deepEqual(expandPlan([prof('seed2013'), prof('seed')], setups.slice(0, 2), 5).map((r) => r.repeat), [5, 5, 5]);
  // A profile turned to the no-queue page by --page stops depending on the queue server.
  assert.equal(expandPlan([resolveProfile('seed', { page: 'baseline' }, {})], setups).length, 1);
});

test('the defaults: QUEUE_RUNTIME (bun when unset) and the queue server\'s own default policy', () => {
  assert.deepEqual(defaultQueueRuntimes({}), ['bun']);
  assert.deepEqual(defaultQueueRuntimes({ QUEUE_RUNTIME: 'node' }), ['node']);
  assert.deepEqual(defaultQueueRuntimes({ QUEUE_RUNTIME: 'bun' }), ['bun']);
  assert.throws(() => defaultQueueRuntimes({ QUEUE_RUNTIME: 'deno' }), /QUEUE_RUNTIME="deno" is not a runtime/);
  assert.equal(SHIPPED_FSYNC, DEFAULTS.fsync);
  assert.ok(isShipped({ runtime: 'bun', fsync: DEFAULTS.fsync }));
  assert.ok(!isShipped({ runtime: 'node', fsync: DEFAULTS.fsync }));
  assert.deepEqual(setupArgs({ runtime: 'bun', fsync: 'interval' }), ['--fsync', 'interval']);
});

test('lists: trimmed, repeats dropped, unknown names refused with the accepted ones', () => {
  assert.deepEqual(parseQueueRuntimes(' bun, node ,bun'), ['bun', 'node']);
  assert.deepEqual(parseFsyncPolicies('always,interval,off'), ['always', 'interval', 'off']);
  assert.throws(() => parseQueueRuntimes('node,deno'), /--queue-runtime: "deno" is not a queue server runtime; use a comma-separated list of node, bun/);
  assert.throws(() => parseFsyncPolicies('sometimes'), /--fsync: "sometimes" is not a fsync policy; use a comma-separated list of always, interval, off/);
  assert.throws(() => parseFsyncPolicies(' , '), /--fsync needs at least one/);
});

test('read back: the runtime from the executable, the policy from the last listening line', () => {
  assert.equal(runtimeOfExe('/work/node_modules/@oven/bun-linux-x64/bin/bun'), 'bun');
  assert.equal(runtimeOfExe('/usr/local/bin/node'), 'node');
  assert.equal(runtimeOfExe('/usr/bin/python3.11'), null);
  const log = [
    '{"ts":"t","level":"info","event":"listening","journal":"always"}',
    'some runtime warning',
    '{"ts":"t","level":"info","event":"stopped"}',
    '{"ts":"t","level":"info","event":"listening","journal":"interval","config":{"fsync":"interval"}}',
    '{"ts":"t","level":"info","event":"writer_started"}',
  ].join('\n');
  assert.equal(fsyncOfLog(log), 'interval', 'the latest start of the server counts');
  assert.equal(fsyncOfLog('{"event":"listening","journal":"none"}'), null);
  assert.equal(fsyncOfLog(''), null);
  // A container's log as Docker's json-file driver keeps it on the host.
  const docker = JSON.stringify({ log: '{"ts":"t","level":"info","event":"listening","journal":"off"}\n', stream: 'stderr', time: 't' });
  assert.equal(fsyncOfLog(`${docker}\n`), 'off');

  const rec = (runtime: 'node' | 'bun', fsync: 'always' | 'interval'): QueueServerRecord => ({
    impl: 'ts', runtime, fsync, requested: { runtime: 'bun', fsync: 'interval' }, exe: `/x/${runtime}`, read_back: { runtime: true, fsync: true },
  });
  assert.equal(mismatch(rec('bun', 'interval')), null);
  assert.match(mismatch(rec('node', 'always'))!, /ran with runtime node \(\/x\/node\) instead of bun and fsync always instead of interval/);
});
