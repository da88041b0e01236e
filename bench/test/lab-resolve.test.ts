// The one resolver: options beat the environment, the environment beats the spec's defaults, in whichever
// runtime asks; free ports, the budget's quota and period, the queue server's entry.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DEFAULT_CGROUP_PARENT, DEFAULT_COMPOSE_PROJECT, DEFAULT_LISTEN_BACKLOG, DEFAULT_PORTS } from '@eserver-lab/common/stack-spec';
import { portsFromEnv, resolveStack } from '../src/lab/resolve.js';
import { sources } from '../src/lab/paths.js';

const RUN = '/tmp/esl-resolve-test';

test('the Compose variables override the default ports in both runtimes; a flag overrides them', async () => {
  const env = { HTTP_PORT: '18080', MYSQL_PORT: '13307' };
  for (const rt of ['native', 'docker'] as const) {
    const r = await resolveStack(rt, {}, RUN, env);
    assert.deepEqual(r.ports, { ...DEFAULT_PORTS, http: 18080, mysql: 13307 }, rt);
    const flag = await resolveStack(rt, { ports: { http: 28080, fpm: undefined } }, RUN, env);
    assert.equal(flag.ports.http, 28080, `${rt}: the flag wins`);
    assert.equal(flag.ports.fpm, DEFAULT_PORTS.fpm, `${rt}: an unset flag is no value`);
  }
  assert.throws(() => portsFromEnv({ QUEUE_PORT: 'eight' }), /QUEUE_PORT=eight is not a port number/);
  await assert.rejects(resolveStack('native', { ports: { http: 9000 } }, RUN, {}), /port 9000 is given to both/);
});

test('free ports: distinct, none of the defaults unless given', async () => {
  const r = await resolveStack('native', { freePorts: true, ports: { mysql: 23306 } }, RUN, {});
  assert.equal(new Set(Object.values(r.ports)).size, 5);
  assert.equal(r.ports.mysql, 23306);
  assert.notEqual(r.ports.http, DEFAULT_PORTS.http);
});

test('the budget: an explicit --cpus with its quota, period and weight, said to be explicit', async () => {
  const r = await resolveStack('native', { cpus: 0.33 }, RUN, {});
  assert.deepEqual([r.budget.cpus, r.budget.quotaUs, r.budget.periodUs], [0.33, 6600, 20000]);
  assert.equal(r.budget.shares, 262144);
  assert.equal(r.budget.memoryBytes, 2 * 1024 ** 3);
  assert.match(r.budget.use.note, /explicit --cpus 0.33/);
  assert.deepEqual([r.budget.use.quota_us, r.budget.use.period_us], [6600, 20000]);
});

test('Docker names, the queue runtime and the entry script: option, then environment, then default', async () => {
  const d = await resolveStack('docker', {}, RUN, {});
  assert.deepEqual([d.project, d.cgroupParent, d.queueRuntime, d.listenBacklog], [DEFAULT_COMPOSE_PROJECT, DEFAULT_CGROUP_PARENT, 'bun', DEFAULT_LISTEN_BACKLOG]);
  assert.equal(d.queueEntry, sources.queueCli);
  assert.equal((await resolveStack('native', {}, RUN, {})).queueRuntime, 'bun', 'Bun is the default natively too');
  const e = await resolveStack('docker', {}, RUN, { COMPOSE_PROJECT_NAME: 'p2', CGROUP_PARENT: 'cg2', QUEUE_RUNTIME: 'node' });
  assert.deepEqual([e.project, e.cgroupParent, e.queueRuntime], ['p2', 'cg2', 'node']);
  assert.equal((await resolveStack('native', {}, RUN, { QUEUE_RUNTIME: 'node' })).queueRuntime, 'node');
  const o = await resolveStack('native', { queueRuntime: 'node', queueEntry: 'x/cli.js', listenBacklog: 128, runDir: 'rel' }, RUN, { QUEUE_RUNTIME: 'bun' });
  assert.equal(o.queueRuntime, 'node');
  assert.equal((await resolveStack('docker', { queueRuntime: 'bun' }, RUN, { QUEUE_RUNTIME: 'node' })).queueRuntime, 'bun');
  assert.equal(o.queueEntry, join(process.cwd(), 'x/cli.js'));
  assert.equal(o.listenBacklog, 128);
  assert.equal(o.runDir, join(process.cwd(), 'rel'));
});
