// The lab's PHP pages run by php-cli against a real queue server (no MySQL: pure queue mode):
// client.php says "ok" when the queue acknowledged, "err CODE" when it could not; baseline.php never
// touches the queue. The HTTP status (200/503) is checked through nginx in bench/test/lab-native.test.ts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '@eserver-lab/common/free-port';
import { repoRoot } from '@eserver-lab/common/repo-root';
import { waitFor } from '@eserver-lab/common/wait';

const run = promisify(execFile);
const pub = join(repoRoot, 'php-client', 'public');
const queueCli = join(repoRoot, 'queue-server', 'dist', 'src', 'cli.js');

async function page(name: string, queuePort: number | null): Promise<string> {
  const env: NodeJS.ProcessEnv = { ...process.env, ESERVER_QUEUE_HOST: '127.0.0.1', ESERVER_QUEUE_PORT: String(queuePort) };
  if (queuePort === null) delete env.ESERVER_QUEUE_PORT;
  const { stdout } = await run('php', ['-d', 'display_errors=stderr', join(pub, name)], { env });
  return stdout;
}

async function queueLength(metricsPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const m = /^eserver_queue_depth(?:\{[^}]*\})? (\d+)/m.exec(text);
  assert.ok(m, 'eserver_queue_depth in /metrics');
  return Number(m[1]);
}

describe('lab PHP pages', { timeout: 30_000 }, () => {
  let server: ChildProcess;
  let port: number;
  let metricsPort: number;

  before(async () => {
    port = await freePort();
    metricsPort = await freePort();
    server = spawn(process.execPath, [queueCli, '--host', '127.0.0.1', '--port', `${port}`, '--metrics-port', `${metricsPort}`], {
      stdio: 'ignore',
    });
    const healthy = async (): Promise<boolean> => (await fetch(`http://127.0.0.1:${metricsPort}/healthz`).catch(() => null))?.ok === true;
    await waitFor(healthy, { timeoutMs: 10_000, intervalMs: 25, what: 'the queue server to answer /healthz' });
  });

  after(() => {
    server.kill('SIGKILL');
  });

  test('client.php enqueues one statement and prints ok', async () => {
    const before = await queueLength(metricsPort);
    assert.equal(await page('client.php', port), 'ok');
    assert.equal(await queueLength(metricsPort), before + 1);
  });

  test('client_persistent.php enqueues through the persistent mode and prints ok', async () => {
    const before = await queueLength(metricsPort);
    assert.equal(await page('client_persistent.php', port), 'ok');
    assert.equal(await queueLength(metricsPort), before + 1);
  });

  test('client.php prints "err CODE" when the queue cannot be reached', async () => {
    const closed = await freePort();
    assert.match(await page('client.php', closed), /^err \S+$/);
  });

  test('client.php refuses to guess a queue port: without ESERVER_QUEUE_PORT it enqueues nothing', async () => {
    // The port is the lab's (php-fpm.conf's env[], rendered from the stack spec), never a default of the page's.
    const before = await queueLength(metricsPort);
    assert.equal(await page('client.php', null), 'err NO_QUEUE_PORT');
    assert.equal(await queueLength(metricsPort), before);
  });

  test('baseline.php prints the same small body without any queue call', async () => {
    const before = await queueLength(metricsPort);
    assert.equal(await page('baseline.php', 1), 'ok');
    assert.equal(await queueLength(metricsPort), before);
  });
});
