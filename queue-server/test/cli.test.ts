// The eserver-queue CLI as a user runs it: config precedence, refusals at start, SIGTERM under load.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, resolveConfig } from '../src/config.js';
import { FrameCollector, encodeFrame } from '../src/codec.js';
import { Client, enqueueFrame } from './helpers/net.js';
import { RUNTIME, runCli, runCliToExit, scrape } from './helpers/cli.js';
import { waitFor } from '@eserver-lab/common/wait';

test('config precedence: defaults < file < env < flags', () => {
  const file = { queue: { port: 1111, capacity: 10, idleTimeoutMs: 5, allowTables: ['a', 'b'] } };
  const d = resolveConfig({});
  assert.equal(d.port, 8888);
  assert.equal(d.host, '0.0.0.0');
  assert.deepEqual(d.allow, ['127.0.0.0/8', '::1']);
  assert.equal(d.batchSize, 5000);
  assert.equal(d.guard, true);
  assert.equal(d.fsync, 'always');
  const f = resolveConfig({ file });
  assert.equal(f.port, 1111);
  assert.deepEqual(f.allowTables, ['a', 'b']);
  const e = resolveConfig({ file, env: { ESERVER_PORT: '2222', ESERVER_CAPACITY: '20', ESERVER_GUARD: 'off', ESERVER_ALLOW_TABLES: 'x,y' } });
  assert.deepEqual([e.port, e.capacity, e.idleTimeoutMs, e.guard, e.allowTables], [2222, 20, 5, false, ['x', 'y']]);
  const g = resolveConfig({ file, env: { ESERVER_PORT: '2222' }, flags: { port: '3333', mysqlUrl: 'mysql://u:p@127.0.0.1:3306/eserver' } });
  assert.equal(g.port, 3333);
  assert.equal(g.capacity, 10);
  assert.equal(g.mysqlUrl, 'mysql://u:p@127.0.0.1:3306/eserver');
});

test('config validation gives clear errors', () => {
  const bad: Array<[Parameters<typeof resolveConfig>[0], RegExp]> = [
    [{ flags: { port: '70000' } }, /--port: must be <= 65535/],
    [{ env: { ESERVER_FSYNC: 'sometimes' } }, /ESERVER_FSYNC: expected one of always, interval, off/],
    [{ file: { queue: { prot: 1 } } }, /unknown key queue.prot/],
    [{ file: { port: 1 } }, /unknown top-level key "port"/],
    [{ flags: { mysqlUrl: 'postgres://x' } }, /mysqlUrl must start with mysql:\/\//],
    [{ flags: { maxBufferedBytes: '100' } }, /maxBufferedBytes/],
    [{ flags: { allowTables: 'ok,bad;table' } }, /not a plain table name/],
  ];
  for (const [src, re] of bad) assert.throws(() => resolveConfig(src), (e: unknown) => e instanceof ConfigError && re.test(e.message));
});

test('CLI: file < env < flags, for real, and --help lists every option', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'eserver-cli-'));
  try {
    const path = join(dir, 'queue.json');
    writeFileSync(path, JSON.stringify({ queue: { port: 0, capacity: 7, maxConnections: 11, idleTimeoutMs: 12345 } }));
    const cli = await runCli(['--config', path, '--metrics-port', '0', '--max-connections', '13'], { ESERVER_CAPACITY: '9', ESERVER_MAX_CONNECTIONS: '12' });
    try {
      const cfg = cli.logs().find((l) => l.event === 'listening')!.config as Record<string, unknown>;
      assert.equal(cfg.capacity, 9); // env over file
      assert.equal(cfg.maxConnections, 13); // flag over env
      assert.equal(cfg.idleTimeoutMs, 12345); // file over default
      const m = await scrape(cli.metricsPort);
      assert.equal(m.get('eserver_queue_capacity'), 9);
    } finally {
      assert.equal(await cli.stop(), 0);
    }
    const help = await runCliToExit(['--help']);
    assert.equal(help.code, 0);
    for (const flag of ['--port', '--metrics-port', '--config', '--allow', '--mysql-url', '--journal-dir', '--fsync', '--batch-size', '--allow-tables', '--no-guard', '--idle-timeout-ms']) {
      assert.ok(help.stderr.includes(flag), `--help misses ${flag}`);
    }
    // The test-only CPU burn is the test-hooks entry's (burn-cli.test.ts), not the server's.
    assert.ok(!help.stderr.includes('--test-burn'), 'the plain CLI lists no test hook');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('CLI refuses to start: bad config, a test-hook flag (even with the hooks enabled), port in use', async () => {
  const bad = await runCliToExit(['--port', 'x']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /--port: expected an integer/);
  for (const flag of ['--test-burn-cpu-us', '--test-burn-at']) {
    const hook = await runCliToExit(['--port', '0', '--metrics-port', '0', flag, flag === '--test-burn-at' ? 'enqueue' : '50'], { ESERVER_ENABLE_TEST_HOOKS: '1' });
    assert.notEqual(hook.code, 0);
    assert.match(hook.stderr, new RegExp(`unknown option '${flag}'`));
  }
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, '0.0.0.0', () => r()));
  try {
    const port = (blocker.address() as net.AddressInfo).port;
    const busy = await runCliToExit(['--port', String(port), '--metrics-port', '0']);
    assert.notEqual(busy.code, 0);
    assert.match(busy.stderr, /port already in use/);
  } finally {
    blocker.close();
  }
});

test('SIGTERM under load: exit 0, and every acknowledged enqueue is accounted for', { timeout: 60_000 }, async () => {
  const cli = await runCli(['--port', '0', '--metrics-port', '0']);
  let acked = 0;
  let oneShotAcked = 0;
  let stop = false;
  const frame = enqueueFrame('insert into bench_events (num) values (%d)');
  // Persistent clients pipelining requests, and connection-per-request clients, until the server closes them.
  const persistent = async (i: number): Promise<void> => {
    const s = net.connect({ port: cli.port, host: '127.0.0.1', localAddress: `127.0.0.${10 + i}` });
    const col = new FrameCollector();
    let seen = 0;
    await new Promise<void>((resolve) => {
      s.on('error', () => {});
      s.on('close', () => resolve());
      s.on('data', (d: Buffer) => {
        col.push(d);
        for (; seen < col.frames.length; seen++) if (col.frames[seen].cmd === 8001) acked++;
        if (!stop && col.frames.length % 4 === 0) s.write(Buffer.concat([frame, frame, frame, frame]));
      });
      s.on('connect', () => s.write(Buffer.concat([frame, frame, frame, frame])));
    });
  };
  const oneShot = async (i: number): Promise<void> => {
    while (!stop) {
      const got = await new Promise<boolean>((resolve) => {
        const s = net.connect({ port: cli.port, host: '127.0.0.1', localAddress: `127.0.0.${100 + i}` });
        const col = new FrameCollector();
        s.on('error', () => resolve(false));
        s.on('connect', () => s.write(frame));
        s.on('data', (d: Buffer) => {
          col.push(d);
          if (col.frames.length > 0) {
            if (col.frames[0].cmd === 8001) {
              acked++;
              oneShotAcked++;
            }
            s.destroy();
            resolve(true);
          }
        });
        s.on('close', () => resolve(false));
      });
      if (!got) return;
    }
  };
  const load = [...Array.from({ length: 20 }, (_, i) => persistent(i)), ...Array.from({ length: 20 }, (_, i) => oneShot(i))];
  // SIGTERM once both kinds of clients are being served.
  await waitFor(() => acked > 100 && oneShotAcked > 0 && acked > oneShotAcked, { timeoutMs: 30_000, what: 'acks on persistent and one-shot connections' });
  const code = await cli.stop('SIGTERM');
  stop = true;
  await Promise.all(load);
  assert.equal(code, 0, cli.stderr());
  const stopped = cli.logs().find((l) => l.event === 'stopped');
  assert.ok(stopped, 'final log line');
  assert.equal(stopped.enqueued_total, acked, 'server count of acked enqueues equals the acks clients received');
  assert.equal(stopped.depth, acked);
});

test('a 8003 on a persistent connection right after start (sanity for the helper)', async () => {
  const cli = await runCli(['--port', '0', '--metrics-port', '0']);
  try {
    const c = await Client.connect(cli.port);
    c.write(encodeFrame(8003, '{}'));
    assert.equal((await c.waitFrames(1))[0].body.toString(), '0');
    c.close();
  } finally {
    assert.equal(await cli.stop(), 0);
  }
});

test('/metrics and the listening line say which runtime runs the server, with its version', async () => {
  const cli = await runCli(['--port', '0', '--metrics-port', '0']);
  try {
    const version = execFileSync(RUNTIME.bin, RUNTIME.name === 'bun' ? ['--version'] : ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim();
    const m = await scrape(cli.metricsPort);
    assert.equal(m.get(`eserver_runtime_info{runtime="${RUNTIME.name}",version="${version}"}`), 1, [...m.keys()].filter((k) => k.startsWith('eserver_runtime')).join(', '));
    const listening = cli.logs().find((l) => l.event === 'listening');
    assert.deepEqual(listening?.runtime, { name: RUNTIME.name, version });
  } finally {
    assert.equal(await cli.stop(), 0);
  }
});
