// The load namespace (host/netns.ts): its /30 and names (RFC 2544's range only, one per run), the runs it
// refuses, and, as root, a real one: a process started through its wrapper connects from the namespace's
// address to a listener on the stack's end of the pair, and nothing is left once it is removed.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import {
  cannotMakeNetworkNamespace,
  createLoadNamespace,
  inBenchmarkRange,
  loadNamespaceLeftovers,
  loadNamespaceSettings,
  planLoadNamespace,
  readInside,
  removeLoadNamespace,
  wrap,
} from '../src/host/netns.js';
import { loadHostProblem } from '../src/run/bench.js';
import { resolveProfile } from '../src/plan/profiles.js';
import { peersOf } from '../src/metrics/load-host.js';
import type { TcpSocket } from '../src/host/tcp-sockets.js';

test('a run takes a /30 of 198.19.0.0/16 named after its pid, skipping the addresses in use', () => {
  const a = planLoadNamespace(4242, new Set());
  assert.deepEqual(a.addresses, { host: '198.19.66.73', ns: '198.19.66.74', prefix: 30 });
  assert.equal(a.name, 'esl-load-4242');
  assert.equal(a.path, '/run/netns/esl-load-4242');
  // Another run (another pid) gets another /30 and other names.
  const b = planLoadNamespace(4243, new Set());
  assert.notEqual(b.addresses.host, a.addresses.host);
  assert.notEqual(b.veth.host, a.veth.host);
  // An address already on this machine (another engine's pair, a run of the same slot) moves it on.
  const c = planLoadNamespace(4242, new Set(['198.19.66.74']));
  assert.deepEqual(c.addresses, { host: '198.19.66.77', ns: '198.19.66.78', prefix: 30 });
  // Interface names fit the kernel's 15 characters, up to the largest pid.
  const big = planLoadNamespace(4_194_304, new Set());
  for (const n of [big.veth.host, big.veth.ns]) assert.ok(n.length <= 15, n);
  for (const x of [a, b, c, big]) for (const addr of [x.addresses.host, x.addresses.ns]) assert.ok(inBenchmarkRange(addr), addr);
});

test('only 198.18.0.0/15 counts as the benchmarking range', () => {
  for (const ok of ['198.18.0.1', '198.19.255.254']) assert.equal(inBenchmarkRange(ok), true, ok);
  for (const no of ['198.17.255.255', '198.20.0.1', '10.0.0.1', '192.168.1.1', '127.0.0.1', '198.19.1.256', 'example.com']) {
    assert.equal(inBenchmarkRange(no), false, no);
  }
});

test('a load from a namespace is refused, with the fix, for --url, the Docker runtime and the autocannon profile', () => {
  const smoke = [resolveProfile('smoke', {})];
  assert.equal(loadHostProblem({ runtime: 'native' }, smoke), null);
  assert.equal(loadHostProblem({ runtime: 'auto' }, smoke), null);
  assert.match(loadHostProblem({ runtime: 'native', url: 'http://127.0.0.1:8080/' }, smoke) ?? '', /drop --url/);
  assert.match(loadHostProblem({ runtime: 'docker' }, smoke) ?? '', /needs the native runtime \(--runtime native, RUNTIME=native\)/);
  assert.match(loadHostProblem({ runtime: 'native' }, [...smoke, resolveProfile('keepalive', {})]) ?? '', /keepalive.*drop it/);
});

test('nginx\'s peers are its own sockets: the same port bound on another address (an ephemeral one) is not counted', () => {
  const row = (localAddress: string, localPort: number, remoteAddress: string, state: string): TcpSocket => ({ localAddress, localPort, remoteAddress, remotePort: 40000, state, inode: '0' });
  const at = { address: '198.19.0.1', port: 38325 };
  assert.deepEqual(peersOf([
    row('198.19.0.1', 38325, '0.0.0.0', '0A'), // the listener
    row('198.19.0.1', 38325, '198.19.0.2', '01'),
    row('198.19.0.1', 38325, '198.19.0.2', '06'),
    row('127.0.0.1', 38325, '127.0.0.1', '01'), // php-fpm's connection to the queue that got 38325 as its port
    row('198.19.0.1', 38326, '198.19.0.2', '01'),
  ], at), { '198.19.0.2': 2 });
});

test('as root: the load namespace\'s process connects from its own address; removing it leaves nothing', async (t) => {
  const why = cannotMakeNetworkNamespace();
  if (why) return t.skip(why);
  const logs: string[] = [];
  const ns = await createLoadNamespace((l) => logs.push(l));
  const server = net.createServer((s) => s.end());
  try {
    assert.deepEqual(loadNamespaceLeftovers(ns).sort(), [`network namespace ${ns.name}`, `veth ${ns.veth.host}`].sort());
    await new Promise<void>((r) => server.listen(0, ns.addresses.host, r));
    const port = (server.address() as net.AddressInfo).port;
    const peer = new Promise<string>((r) => server.once('connection', (s) => r(s.remoteAddress ?? '')));
    const w = wrap(ns, process.execPath, ['-e', `require('net').connect(${port}, '${ns.addresses.host}').on('close', () => process.exit(0)).on('error', (e) => { console.error(e.message); process.exit(3); })`]);
    const child = spawn(w.cmd, w.args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const code = await new Promise<number | null>((r) => child.on('close', r));
    assert.equal(code, 0, err);
    assert.equal(await peer, ns.addresses.ns, 'the connection came from the namespace\'s end of the pair');
    // Inside, the stack's end is the only address beyond the /30's own: nothing else is routed.
    const route = spawn(wrap(ns, 'ip', ['-4', 'route', 'show']).cmd, wrap(ns, 'ip', ['-4', 'route', 'show']).args);
    let routes = '';
    route.stdout.on('data', (d) => (routes += d));
    await new Promise((r) => route.on('close', r));
    assert.doesNotMatch(routes, /default/, routes);
    // /proc/net/tcp inside, with 10,000 clients' sockets, is megabytes: read whole, not cut at a buffer's size.
    const big = path.join(os.tmpdir(), `load-netns-big-${process.pid}`);
    fs.writeFileSync(big, 'x'.repeat(3 * 1024 * 1024));
    try {
      assert.equal((await readInside(ns, big))?.length, 3 * 1024 * 1024);
    } finally {
      fs.rmSync(big, { force: true });
    }
    const settings = await loadNamespaceSettings(ns);
    assert.equal(settings.mtu, 1500);
    assert.match(settings.sysctl['net.ipv4.ip_local_port_range'] ?? '', /^\d+ \d+$/);
    // Its connections may reuse its own TIME_WAIT ports, as loopback's may here (tcp_tw_reuse 2): webbench's
    // warm-up leaves 10,000 of them (its clients close first at the alarm) for the measured run's connect().
    assert.equal(settings.sysctl['net.ipv4.tcp_tw_reuse'], '1');
  } finally {
    server.close();
    await removeLoadNamespace(ns);
  }
  assert.deepEqual(loadNamespaceLeftovers(ns), []);
});
