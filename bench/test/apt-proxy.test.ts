// The second engine's way out (bench/src/lab/docker/apt-proxy.ts): GET and HEAD to the allowed apt mirrors
// are forwarded; any other host, method or a CONNECT tunnel is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { startAptProxy } from '../src/lab/docker/apt-proxy.js';

async function listen(server: http.Server | net.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

/** One request through the proxy: the absolute URL as the request target, as apt sends it. */
function viaProxy(proxyPort: number, url: string, method = 'GET'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: proxyPort, method, path: url, headers: { host: new URL(url).host } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('apt-proxy forwards GET to an allowed mirror and refuses other hosts, methods and CONNECT', async () => {
  const mirror = http.createServer((req, res) => res.end(`mirror saw ${req.method} ${req.url}`));
  const mirrorPort = await listen(mirror);
  const proxy = await startAptProxy({ host: '127.0.0.1', port: 0, allow: ['127.0.0.1'] });
  const proxyPort = (proxy.address() as AddressInfo).port;
  try {
    assert.deepEqual(await viaProxy(proxyPort, `http://127.0.0.1:${mirrorPort}/debian/dists/bookworm/Release`), {
      status: 200, body: 'mirror saw GET /debian/dists/bookworm/Release',
    });
    const other = await viaProxy(proxyPort, `http://localhost:${mirrorPort}/x`);
    assert.equal(other.status, 403);
    assert.match(other.body, /not an apt mirror/);
    assert.equal((await viaProxy(proxyPort, `http://127.0.0.1:${mirrorPort}/x`, 'POST')).status, 403);
    const tunnel = await new Promise<string>((resolve, reject) => {
      const s = net.connect(proxyPort, '127.0.0.1', () => s.write(`CONNECT 127.0.0.1:${mirrorPort} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`));
      let got = '';
      s.on('data', (d: Buffer) => (got += d.toString()));
      s.on('end', () => resolve(got));
      s.on('error', reject);
    });
    assert.match(tunnel, /^HTTP\/1\.1 403/);
  } finally {
    await new Promise((r) => proxy.close(r));
    await new Promise((r) => mirror.close(r));
  }
});
