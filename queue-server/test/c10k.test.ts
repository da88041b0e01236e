// 10,000 concurrent connections, all open at once, each served. Server and client run in their own
// processes with `ulimit -n 20000`, as each side needs 10k descriptors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { rssBytes, runCli, scrape } from './helpers/cli.js';

const CLIENT = fileURLToPath(new URL('./helpers/c10k-client.js', import.meta.url));
const N = 10_000;

test('10,000 concurrent connections are opened and served', { timeout: 90_000 }, async () => {
  const cli = await runCli(['--port', '0', '--metrics-port', '0', '--host', '127.0.0.1', '--max-connections', '15000'], {}, { ulimit: 20000 });
  try {
    let peakOpen = 0;
    let peakRss = 0;
    const child = spawn('bash', ['-c', `ulimit -n 20000; exec "$0" "$@"`, process.execPath, CLIENT, String(cli.port), String(N), '1000'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const poll = setInterval(() => {
      void scrape(cli.metricsPort)
        .then((m) => {
          peakOpen = Math.max(peakOpen, m.get('eserver_connections_open') ?? 0);
          peakRss = Math.max(peakRss, rssBytes(cli.proc.pid!));
        })
        .catch(() => {});
    }, 100);
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    clearInterval(poll);
    assert.equal(code, 0, out);
    const res = JSON.parse(out.trim().split('\n').pop()!) as { opened: number; served: number; failed: number; ms: number };
    assert.equal(res.opened, N);
    assert.equal(res.served, N);
    assert.equal(res.failed, 0);
    const m = await scrape(cli.metricsPort);
    assert.equal(m.get('eserver_enqueued_total'), N);
    assert.ok((m.get('eserver_connections_total') ?? 0) >= N);
    // Informational: how much the server held with (up to) 10k sockets open.
    console.log(`# c10k: served ${res.served} in ${res.ms} ms; peak open seen ${peakOpen}; peak server RSS ${(peakRss / 1048576).toFixed(1)} MiB`);
  } finally {
    assert.equal(await cli.stop(), 0);
  }
});
