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
    let peakRss = 0;
    const child = spawn('bash', ['-c', `ulimit -n 20000; exec "$0" "$@"`, process.execPath, CLIENT, String(cli.port), String(N), '1000'], { stdio: ['pipe', 'pipe', 'inherit'] });
    const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    let out = '';
    // The client reports once every connection is served, and holds them all open until told to close.
    const reported = new Promise<string>((resolve) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) resolve(out);
      });
    });
    const poll = setInterval(() => {
      peakRss = Math.max(peakRss, rssBytes(cli.proc.pid!));
    }, 100);
    const line = await Promise.race([reported, exited.then((c) => `exited ${c}: ${out}`)]);
    clearInterval(poll);
    const res = JSON.parse(line.trim().split('\n').pop()!) as { opened: number; served: number; failed: number; ms: number };
    assert.equal(res.opened, N);
    assert.equal(res.served, N);
    assert.equal(res.failed, 0);
    // The server's own gauge, read while the client still holds every socket: all N open at once.
    const m = await scrape(cli.metricsPort);
    assert.equal(m.get('eserver_connections_open'), N);
    assert.equal(m.get('eserver_enqueued_total'), N);
    assert.ok((m.get('eserver_connections_total') ?? 0) >= N);
    child.stdin.end('close\n');
    assert.equal(await exited, 0, out);
    // Informational: how much the server held with 10k sockets open.
    console.log(`# c10k: served ${res.served} in ${res.ms} ms; all ${N} open at once; peak server RSS ${(peakRss / 1048576).toFixed(1)} MiB`);
  } finally {
    assert.equal(await cli.stop(), 0);
  }
});
