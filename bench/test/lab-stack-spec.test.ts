// The stack spec on its own: every port has one listener, clashes are refused, the account's URL reads back
// as the account, and the command lines it renders are accepted by the programs installed here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { findBinaries } from '../src/lab/native/binaries.js';
import { parseMemory } from '../src/host/cgroup.js';
import { DEFAULTS } from '@eserver-lab/queue-server/config';
import {
  DATABASE,
  DEFAULT_MEMORY,
  DEFAULT_PORTS,
  SERVICE_MEMORY,
  PORTS,
  SERVICES,
  assertDistinctPorts,
  healthArgs,
  healthCheck,
  mariadbdArgs,
  mysqlUrl,
  runLayout,
  servicePorts, type LabPorts } from '@eserver-lab/common/stack-spec';


test('every port belongs to exactly one service, and every service is checked on one of its own ports', () => {
  const all = SERVICES.flatMap((s) => servicePorts(s, DEFAULT_PORTS)).sort();
  assert.deepEqual(all, Object.values(DEFAULT_PORTS).sort());
  for (const svc of SERVICES) assert.ok(servicePorts(svc, DEFAULT_PORTS).includes(healthCheck(svc, DEFAULT_PORTS).port), `${svc}`);
  assert.equal(new Set(Object.values(PORTS).map((p) => p.flag)).size, Object.keys(PORTS).length, 'one flag per port');
});

test('each service\'s own memory limit fits the stack\'s budget together with the others, and the queue\'s own byte budget fits its limit', () => {
  assert.deepEqual(Object.keys(SERVICE_MEMORY).sort(), [...SERVICES].sort());
  const sum = SERVICES.reduce((a, s) => a + parseMemory(SERVICE_MEMORY[s]), 0);
  assert.ok(sum <= parseMemory(DEFAULT_MEMORY), `the services' limits (${sum} bytes) overcommit the ${DEFAULT_MEMORY} box`);
  // QUEUE_FULL, the server's own answer to a full queue, must come before the kernel's OOM kill.
  assert.ok(parseMemory(SERVICE_MEMORY['queue-server']) > DEFAULTS.maxQueueBytes, 'the queue server\'s limit holds its byte budget');
});

test('two services on one port are refused, naming both', () => {
  assertDistinctPorts(DEFAULT_PORTS);
  const clash: LabPorts = { ...DEFAULT_PORTS, metrics: DEFAULT_PORTS.http };
  assert.throws(() => assertDistinctPorts(clash), /port \d+ is given to both http and metrics/);
});

test("the queue server's MySQL URL is the lab's one account", () => {
  const u = new URL(mysqlUrl(4321));
  assert.equal(decodeURIComponent(u.username), DATABASE.user);
  assert.equal(decodeURIComponent(u.password), DATABASE.password);
  assert.equal(u.port, '4321');
  assert.equal(u.pathname, `/${DATABASE.database}`);
});

test('health checks travel to the images as blank-free words', () => {
  for (const svc of SERVICES) {
    const words = healthArgs(healthCheck(svc, DEFAULT_PORTS));
    assert.ok(words.every((w) => w !== '' && !/\s/.test(w)), `${svc}: ${JSON.stringify(words)}`);
  }
});

test("mariadbd accepts every flag the spec gives it (the installed server's own option check)", (t) => {
  let mariadbd: string;
  try {
    mariadbd = findBinaries().mariadbd;
  } catch (err) {
    t.skip(`no MariaDB here: ${(err as Error).message}`);
    return;
  }
  const args = mariadbdArgs({ defaultsFile: null, osUser: 'root', layout: runLayout('/nonexistent/run'), port: 3307, errorLog: '/nonexistent/err' });
  execFileSync(mariadbd, [...args, '--verbose', '--help'], { stdio: 'ignore' });
  // The check is real: an unknown flag fails it.
  assert.throws(() => execFileSync(mariadbd, [...args, '--no-such-flag=1', '--verbose', '--help'], { stdio: 'ignore' }));
});

test("mariadbd's tmpdir is the stack's own, never the shared /tmp (a starting mariadbd deletes every #sql* file there)", () => {
  const layout = runLayout('/srv/run-a');
  const tmp = mariadbdArgs({ defaultsFile: null, osUser: 'root', layout, port: 3307 }).find((a) => a.startsWith('--tmpdir='));
  assert.equal(tmp, `--tmpdir=${layout.mysqlTmp}`);
  assert.ok(layout.mysqlTmp.startsWith('/srv/run-a/'), layout.mysqlTmp);
  assert.notEqual(runLayout('/srv/run-b').mysqlTmp, layout.mysqlTmp, 'two stacks, two tmpdirs');
});
