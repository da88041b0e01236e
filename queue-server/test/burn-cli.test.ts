// The test-only CPU burn's entry (src/test-hooks/burn-cli.ts): it refuses to start unless the hooks are
// enabled, and its burn shows both as a count of burns and as CPU, compared with the plain entry doing the
// same work in the same test (never against a fixed time). Runs the server on node, and on Bun through
// runtime-bun.test.ts (the Bun.listen server then).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpuMs } from '@eserver-lab/common/proc-stat';
import { BURN_CLI, runCli, runCliToExit, scrape, type CliProcess } from './helpers/cli.js';
import { Client, enqueueFrame } from './helpers/net.js';
import { encodeFrame } from '../src/codec.js';

const BASE = ['--host', '127.0.0.1', '--port', '0', '--metrics-port', '0'];
const HOOKS_ON = { ESERVER_ENABLE_TEST_HOOKS: '1' };
const SQL = 'insert into bench_events (num) values (%d)';

/** CPU ms the server spent on `work`, and its figures afterwards. */
async function measure(cli: CliProcess, work: (port: number) => Promise<void>): Promise<{ cpu: number; m: Map<string, number> }> {
  const cpu0 = cpuMs(cli.proc.pid!);
  await work(cli.port);
  const cpu = cpuMs(cli.proc.pid!) - cpu0;
  return { cpu, m: await scrape(cli.metricsPort) };
}

/** The same work on the plain entry, then on the burn entry: CPU and figures of each. */
async function plainThenBurnt(burnArgs: string[], work: (port: number) => Promise<void>) {
  const plain = await runCli(BASE);
  let p;
  try {
    p = await measure(plain, work);
  } finally {
    assert.equal(await plain.stop(), 0);
  }
  const burnt = await runCli([...BASE, ...burnArgs], HOOKS_ON, { entry: BURN_CLI });
  try {
    const b = await measure(burnt, work);
    return { plain: p, burnt: b, logs: burnt.logs() };
  } finally {
    assert.equal(await burnt.stop(), 0);
  }
}

test('the burn entry refuses to start without ESERVER_ENABLE_TEST_HOOKS=1, and says how to run either entry', async () => {
  for (const value of ['', '0', 'yes']) {
    const r = await runCliToExit([...BASE, '--test-burn-cpu-us', '50'], { ESERVER_ENABLE_TEST_HOOKS: value }, BURN_CLI);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /refusing to start without ESERVER_ENABLE_TEST_HOOKS=1/);
    assert.match(r.stderr, /dist\/src\/cli\.js for the real server/);
  }
});

test('the burn entry refuses a missing or bad burn flag, naming what it takes', async () => {
  const cases: Array<[string[], RegExp]> = [
    [[], /--test-burn-cpu-us <us> is required/],
    [['--test-burn-cpu-us', 'lots'], /--test-burn-cpu-us: expected microseconds from 0 to 1000000/],
    [['--test-burn-cpu-us', '50', '--test-burn-at', 'dequeue'], /--test-burn-at: expected one of enqueue, connection/],
    [['--test-burn-cpu-us'], /--test-burn-cpu-us needs a value/],
  ];
  for (const [args, re] of cases) {
    const r = await runCliToExit([...BASE, ...args], HOOKS_ON, BURN_CLI);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, re);
  }
  // Every other flag is the plain CLI's, with its own refusals.
  const r = await runCliToExit([...BASE, '--test-burn-cpu-us=50', '--capacity', 'x'], HOOKS_ON, BURN_CLI);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /--capacity: expected an integer/);
});

test('--help of the burn entry shows the burn flags and the plain CLI\'s', async () => {
  const r = await runCliToExit(['--help'], {}, BURN_CLI);
  assert.equal(r.code, 0);
  for (const flag of ['--test-burn-cpu-us', '--test-burn-at', '--journal-dir', '--mysql-url']) assert.ok(r.stderr.includes(flag), `--help misses ${flag}`);
});

test('burn per 8001: one burn per enqueue (none for 8003), and the CPU per enqueue rises against the plain entry', async () => {
  const n = 500;
  const work = async (port: number): Promise<void> => {
    const c = await Client.connect(port);
    c.write(Buffer.concat([...Array.from({ length: n }, () => enqueueFrame(SQL)), encodeFrame(8003, '{}')]));
    const frames = await c.waitFrames(n + 1);
    assert.ok(frames.slice(0, n).every((f) => f.cmd === 8001));
    c.close();
  };
  const { plain, burnt, logs } = await plainThenBurnt(['--test-burn-cpu-us', '1000'], work);
  assert.ok(logs.some((l) => l.event === 'TEST_HOOK_ENABLED' && l.level === 'warn' && /every 8001/.test(String(l.msg))));
  assert.equal(burnt.m.get('eserver_test_burns_total'), n, 'one burn per 8001, none for the 8003');
  assert.equal(burnt.m.get('eserver_test_burn_cpu_us'), 1000);
  assert.equal(plain.m.has('eserver_test_burn_cpu_us'), false, 'the plain entry has no hook');
  assert.equal(burnt.m.get('eserver_enqueued_total'), n);
  assert.ok(burnt.cpu > 2 * plain.cpu, `${n} enqueues: ${burnt.cpu} ms of CPU with the burn, ${plain.cpu} ms without`);
});

test('burn per connection: one burn per accepted connection whatever its frames, and the CPU rises against the plain entry', async () => {
  const n = 200;
  // 8003 (length) frames only, one connection each: a per-8001 burn would cost nothing here.
  const work = async (port: number): Promise<void> => {
    for (let i = 0; i < n; i++) {
      const c = await Client.connect(port);
      c.write(encodeFrame(8003, '{}'));
      const [f] = await c.waitFrames(1);
      assert.equal(f.cmd, 8003);
      c.close();
    }
  };
  const { plain, burnt, logs } = await plainThenBurnt(['--test-burn-cpu-us', '2000', '--test-burn-at', 'connection'], work);
  assert.ok(logs.some((l) => l.event === 'TEST_HOOK_ENABLED' && /accepted connection/.test(String(l.msg))));
  assert.equal(burnt.m.get('eserver_test_burns_total'), n, 'one burn per connection');
  assert.ok(burnt.cpu > 2 * plain.cpu, `${n} connections: ${burnt.cpu} ms of CPU with the burn, ${plain.cpu} ms without`);
});
