// Deep listen queues: the sysctl handling (against a temp directory standing in for /proc/sys, and the
// real one read-only), the netstat counters (on the real /proc/net/netstat, and a real overflow), and
// the backlog knob carried into the rendered configs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderTemplate } from '@eserver-lab/common/render';
import { sources } from '../src/lab/paths.js';
import { effectiveBacklog, ensureListenSysctls, parseListenBacklog, planListenSysctls, readListenSysctls, sysctlCommand } from '../src/host/sysctl.js';
import { listenLine, parseRemoteListen, watchListenQueues } from '../src/metrics/listen-queues.js';
import { listenerDrops, parseSsListeners } from '../src/metrics/listener-drops.js';
import { counterDelta, listenCounters, parseNetstat, readListenCounters } from '../src/metrics/netstat.js';
import { DEFAULT_LISTEN_BACKLOG, DEFAULT_PORTS, runLayout, stackTokens } from '@eserver-lab/common/stack-spec';
import { waitFor } from '@eserver-lab/common/wait';

function fakeProcSys(values: Record<string, string | null>): string {
  const root = mkdtempSync(join(tmpdir(), 'esl-procsys-'));
  for (const [key, v] of Object.entries(values)) {
    const parts = key.split('.');
    mkdirSync(join(root, ...parts.slice(0, -1)), { recursive: true });
    if (v !== null) writeFileSync(join(root, ...parts), v);
  }
  return root;
}
const read = (root: string, key: string) => readFileSync(join(root, ...key.split('.')), 'utf8').trim();

test('sysctls below 65535 are raised, and the result is read back', () => {
  const root = fakeProcSys({ 'net.core.somaxconn': '4096\n', 'net.ipv4.tcp_max_syn_backlog': '2048\n' });
  try {
    const out = ensureListenSysctls(DEFAULT_LISTEN_BACKLOG, root);
    assert.equal(read(root, 'net.core.somaxconn'), '65535');
    assert.equal(read(root, 'net.ipv4.tcp_max_syn_backlog'), '65535');
    assert.deepEqual(out.in_force, { 'net.core.somaxconn': 65535, 'net.ipv4.tcp_max_syn_backlog': 65535 });
    assert.deepEqual(out.raised, ['net.core.somaxconn: 4096 -> 65535', 'net.ipv4.tcp_max_syn_backlog: 2048 -> 65535']);
    assert.equal(out.command, null);
    assert.equal(out.error, null);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a value already higher is never lowered', () => {
  const root = fakeProcSys({ 'net.core.somaxconn': '200000\n', 'net.ipv4.tcp_max_syn_backlog': '1024\n' });
  try {
    const out = ensureListenSysctls(DEFAULT_LISTEN_BACKLOG, root);
    assert.equal(read(root, 'net.core.somaxconn'), '200000');
    assert.equal(read(root, 'net.ipv4.tcp_max_syn_backlog'), '65535');
    assert.deepEqual(out.raised, ['net.ipv4.tcp_max_syn_backlog: 1024 -> 65535']);
    assert.deepEqual(planListenSysctls({ 'net.core.somaxconn': 65535, 'net.ipv4.tcp_max_syn_backlog': 70000 }), [
      { key: 'net.core.somaxconn', current: 65535, raiseTo: null },
      { key: 'net.ipv4.tcp_max_syn_backlog', current: 70000, raiseTo: null },
    ]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('when a sysctl cannot be written, the exact command is returned and nothing else changes', () => {
  // A directory where the file should be: the write fails (EISDIR) even for root, as EACCES would for a user.
  const root = fakeProcSys({ 'net.core.somaxconn': '4096\n', 'net.ipv4.tcp_max_syn_backlog': null });
  mkdirSync(join(root, 'net', 'ipv4', 'tcp_max_syn_backlog'));
  try {
    const out = ensureListenSysctls(DEFAULT_LISTEN_BACKLOG, root);
    assert.equal(out.in_force['net.core.somaxconn'], 65535, 'the writable one is still raised');
    assert.equal(out.in_force['net.ipv4.tcp_max_syn_backlog'], null);
    assert.equal(out.command, 'sysctl -w net.ipv4.tcp_max_syn_backlog=65535');
    assert.match(out.error ?? '', /^net\.ipv4\.tcp_max_syn_backlog: EISDIR$/);
    assert.equal(
      sysctlCommand(planListenSysctls({ 'net.core.somaxconn': 4096, 'net.ipv4.tcp_max_syn_backlog': 2048 })),
      'sysctl -w net.core.somaxconn=65535 net.ipv4.tcp_max_syn_backlog=65535',
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('the real /proc/sys reads as integers (read-only)', () => {
  const v = readListenSysctls();
  assert.ok(Number.isInteger(v['net.core.somaxconn']) && v['net.core.somaxconn']! > 0, JSON.stringify(v));
  assert.ok(Number.isInteger(v['net.ipv4.tcp_max_syn_backlog']) && v['net.ipv4.tcp_max_syn_backlog']! > 0, JSON.stringify(v));
});

test('--listen-backlog: 1-65535, capped by somaxconn in effect', () => {
  assert.equal(parseListenBacklog('128'), 128);
  assert.throws(() => parseListenBacklog('0'), /--listen-backlog must be an integer 1-65535 \(e\.g\. 128/);
  assert.throws(() => parseListenBacklog('70000'), /1-65535/);
  assert.throws(() => parseListenBacklog('12.5'), /1-65535/);
  assert.equal(effectiveBacklog(65535, 4096), 4096);
  assert.equal(effectiveBacklog(128, 65535), 128);
});

test('the rendered nginx and php-fpm configs carry the backlog N', () => {
  for (const n of [128, 65535]) {
    // The spec's tokens, as the runtimes render them (a token list of its own here missed LISTEN_HOST).
    const tokens = { ...stackTokens({ layout: runLayout('/r'), ports: DEFAULT_PORTS, backlog: n }), DOC_ROOT: '/d', USER: 'u', GROUP: 'g' };
    const nginx = renderTemplate(readFileSync(sources.nginxConf, 'utf8'), tokens);
    assert.match(nginx, new RegExp(`^\\s*listen 127\\.0\\.0\\.1:8080 backlog=${n} reuseport;$`, 'm'));
    const fpm = renderTemplate(readFileSync(sources.fpmConf, 'utf8'), tokens);
    assert.match(fpm, new RegExp(`^listen\\.backlog = ${n}$`, 'm'));
  }
});

const NETSTAT = `TcpExt: SyncookiesSent ListenOverflows ListenDrops TCPSynRetrans
TcpExt: 3 10 12 7
IpExt: InNoRoutes InOctets
IpExt: 0 123456
`;

test('netstat parser: the real /proc/net/netstat, and deltas', () => {
  const real = parseNetstat(readFileSync('/proc/net/netstat', 'utf8'));
  for (const c of ['TcpExt.ListenOverflows', 'TcpExt.ListenDrops', 'TcpExt.TCPSynRetrans', 'IpExt.InOctets']) {
    assert.ok(Number.isInteger(real.get(c)), `${c} in /proc/net/netstat`);
  }
  // /proc/net/snmp has the same two-line layout.
  assert.ok(Number.isInteger(parseNetstat(readFileSync('/proc/net/snmp', 'utf8')).get('Tcp.ActiveOpens')));
  const before = listenCounters(parseNetstat(NETSTAT));
  assert.deepEqual(before, { ListenOverflows: 10, ListenDrops: 12, TCPSynRetrans: 7 });
  const after = listenCounters(parseNetstat(NETSTAT.replace('3 10 12 7', '3 15 20 9')));
  assert.deepEqual(counterDelta(before, after), { ListenOverflows: 5, ListenDrops: 8, TCPSynRetrans: 2 });
  assert.deepEqual(counterDelta(null, after), { ListenOverflows: null, ListenDrops: null, TCPSynRetrans: null });
  assert.throws(() => parseNetstat('TcpExt: a b\nTcpExt: 1\n'), /unexpected netstat format/);
});

/** A listener with backlog 1 in a child that then blocks its event loop (Atomics.wait, no CPU): it never accepts. */
async function stuckListener(t: { after: (fn: () => void) => void }): Promise<number> {
  const child = spawn(process.execPath, ['-e', `
    const s = require('net').createServer().listen({ port: 0, backlog: 1 }); // no host: bound synchronously
    require('fs').writeSync(1, s.address().port + '\\n');
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 30000);
  `], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => child.kill('SIGKILL'));
  return new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    child.once('exit', () => reject(new Error('listener exited early')));
  });
}

test('a listener that never accepts, with backlog 1, shows up in ListenOverflows', async (t) => {
  const port = await stuckListener(t);
  const before = readListenCounters();
  const ownBefore = await listenerDrops([port]);
  assert.equal(ownBefore?.get(port), 0, 'a fresh listener has dropped nothing');
  const socks: net.Socket[] = [];
  t.after(() => socks.forEach((s) => s.destroy()));
  for (let i = 0; i < 20; i++) socks.push(net.connect(port, '127.0.0.1').on('error', () => {}));
  // Wait on the condition (the kernel counts when the handshake's last ACK finds the queue full).
  const d = await waitFor(() => {
    const delta = counterDelta(before, readListenCounters());
    return (delta.ListenOverflows ?? 0) > 0 ? delta : null;
  }, { intervalMs: 50, what: 'ListenOverflows to count the listener\'s full queue' });
  assert.ok((d.ListenDrops ?? 0) >= (d.ListenOverflows ?? 0), 'every overflow is also a drop');
  // The listener's own count, which no other load on the machine can add to.
  const own = await listenerDrops([port, 1]);
  assert.ok((own?.get(port) ?? 0) > 0, `the listener's own drops: ${JSON.stringify([...(own ?? new Map())])}`);
  assert.equal(own?.get(1), 0, 'a port with no listener: nothing');
});

test('ss -tlnm parser: sockets, backlog, drops (summed per port by listenerDrops)', () => {
  const text = [
    'LISTEN 0      65535  127.0.0.1:8080 0.0.0.0:*',
    '\t skmem:(r0,rb131072,t0,tb16384,f0,w0,o0,bl0,d12)',
    'LISTEN 3      65535  127.0.0.1:8080 0.0.0.0:*',
    '\t skmem:(r0,rb131072,t0,tb16384,f0,w0,o0,bl0,d5)',
    'LISTEN 0      4096   [::]:9000 [::]:*',
    '\t skmem:(r0,rb131072,t0,tb16384,f0,w0,o0,bl0,d0)',
  ].join('\n');
  assert.deepEqual(parseSsListeners(text), [
    { queued: 0, backlog: 65535, local: '127.0.0.1', port: 8080, drops: 12 },
    { queued: 3, backlog: 65535, local: '127.0.0.1', port: 8080, drops: 5 },
    { queued: 0, backlog: 4096, local: '[::]', port: 9000, drops: 0 },
  ]);
});

test('watchListenQueues records the stack\'s backlog, the sysctls and its own listeners\' drops', async (t) => {
  const port = await stuckListener(t);
  const watch = await watchListenQueues({ listen: { backlog: 1 } }, [
    { name: 'mysql', ports: [port] },
    { name: 'php-fpm', ports: [port] },
    { name: 'nginx', ports: [1] },
  ]);
  const socks: net.Socket[] = [];
  t.after(() => socks.forEach((s) => s.destroy()));
  for (let i = 0; i < 20; i++) socks.push(net.connect(port, '127.0.0.1').on('error', () => {}));
  const r = await waitFor(async () => {
    const now = await watch();
    return (now.listener_drops?.['php-fpm'] ?? 0) > 0 ? now : null;
  }, { intervalMs: 50, what: "the stuck listener's drops under php-fpm" });
  assert.deepEqual(Object.keys(r.listener_drops ?? {}), ['nginx', 'php-fpm'], 'the HTTP path only, in order');
  assert.ok((r.listener_drops?.['php-fpm'] ?? 0) > 0, JSON.stringify(r.listener_drops));
  assert.equal(r.listener_drops?.['nginx'], 0);
  assert.deepEqual(r.backlog, { nginx: 1, 'php-fpm': 1, 'queue-server': 1 });
  assert.equal(r.effective_backlog, 1);
  assert.deepEqual(r.sysctl, readListenSysctls());
  assert.match(listenLine(r), /^Listen queues: backlog 1, somaxconn \d+, tcp_max_syn_backlog \d+; ListenOverflows \d+, ListenDrops \d+, TCPSynRetrans \d+ \(whole machine\); this stack's listeners dropped nginx 0, php-fpm [1-9]\d*$/);
});

test("a stack on another host: its sysctls and its listeners' overflows are that host's, the SYN retransmits the generator's", async () => {
  // The stack's host as its engine shows it: two readings, 5 overflows and 7 drops apart.
  const readings = [
    { counters: { ListenOverflows: 10, ListenDrops: 20, TCPSynRetrans: 1000 }, sysctl: { 'net.core.somaxconn': 4096, 'net.ipv4.tcp_max_syn_backlog': 2048 } },
    { counters: { ListenOverflows: 15, ListenDrops: 27, TCPSynRetrans: 5000 }, sysctl: { 'net.core.somaxconn': 4096, 'net.ipv4.tcp_max_syn_backlog': 2048 } },
  ];
  let n = 0;
  const watch = await watchListenQueues({ listen: { backlog: 65535 } }, null, { where: 'the stack host srv1', read: async () => readings[n++]! });
  const r = await watch();
  assert.equal(n, 2, 'read before and after');
  assert.deepEqual(r.sysctl, readings[1]!.sysctl, "the stack host's limits, not this machine's");
  assert.equal(r.effective_backlog, 4096, "capped by that host's somaxconn");
  assert.equal(r.counters.ListenOverflows, 5);
  assert.equal(r.counters.ListenDrops, 7);
  // A client's SYN is retransmitted by the client's kernel: this machine's count, not the 4000 of the stack's host.
  assert.notEqual(r.counters.TCPSynRetrans, 4000);
  assert.equal(r.listener_drops, null);
  assert.match(listenLine(r), /ListenOverflows 5, ListenDrops 7 \(the stack host srv1\), TCPSynRetrans (\d+|\?) \(the generator's host\)$/);
});

test("parseRemoteListen: a host's /proc/net/netstat and its sysctl line, as remote-host.sh listen prints them", () => {
  const r = parseRemoteListen(`${NETSTAT}sysctl 65535 2048\n`);
  assert.deepEqual(r.counters, { ListenOverflows: 10, ListenDrops: 12, TCPSynRetrans: 7 });
  assert.deepEqual(r.sysctl, { 'net.core.somaxconn': 65535, 'net.ipv4.tcp_max_syn_backlog': 2048 });
  assert.throws(() => parseRemoteListen(NETSTAT), /no sysctl line/);
});
