// TIME_WAIT counting on real loopback sockets: the side that closes first keeps the socket for 60 s.
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { countTimeWait, timeWaitNow } from '../src/metrics/time-wait.js';

/** One connection that the client closes first; resolves with the client's own port. */
async function closedByClient(port: number, localAddress: string): Promise<number> {
  const c = net.connect({ port, host: '127.0.0.1', localAddress });
  await new Promise<void>((resolve, reject) => c.once('connect', resolve).once('error', reject));
  const own = c.localPort!;
  // The client closes first: its socket goes to TIME_WAIT, the server's is gone at once.
  await new Promise<void>((resolve) => c.end(() => resolve()));
  await new Promise<void>((resolve) => c.once('close', () => resolve()));
  return own;
}

test('TIME_WAIT sockets left by real connections are counted on their port, and in the total', async () => {
  const server = net.createServer((s) => s.on('end', () => s.end()));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  try {
    // From a source address of their own: with tcp_tw_reuse (on for loopback) a new connection from
    // 127.0.0.1 may take over an old TIME_WAIT socket of the same four-tuple. Other TIME_WAIT sockets on the
    // same port numbers may come and go meanwhile (a busy machine's expire after 60 s), so the test counts at
    // least its own: on the server's port, and on the five clients' ports.
    const local = `127.${1 + Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`;
    const clientPorts: number[] = [];
    for (let i = 0; i < 5; i++) clientPorts.push(await closedByClient(port, local));
    const onServer = await timeWaitNow([port]);
    const onClients = await timeWaitNow(clientPorts);
    assert.ok(onServer.onPorts >= 5, `${onServer.onPorts} on the server's port after 5 closed connections`);
    assert.ok(onClients.onPorts >= 5, `${onClients.onPorts} on the clients' ports after 5 closed connections`);
    assert.ok(onServer.total >= onServer.onPorts);
  } finally {
    server.close();
  }
});

test('only rows in state 06 count, matched by local or remote port (hex, IPv4 and IPv6 rows)', () => {
  const text = [
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
    '   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1',
    '   1: 0100007F:C350 0100007F:1F90 06 00000000:00000000 03:00001770 00000000     0        0 0 3',
    '   2: 0100007F:1F90 0100007F:C351 06 00000000:00000000 03:00001770 00000000     0        0 0 3',
    '   3: 0000000000000000FFFF00000100007F:D000 0000000000000000FFFF00000100007F:0050 06 00000000:00000000 03:00001770 00000000 0 0 0 3',
    '   4: 0100007F:C352 0100007F:1F91 01 00000000:00000000 00:00000000 00000000     0        0 2 1',
  ].join('\n');
  assert.deepEqual(countTimeWait(text), { total: 3, onPorts: 0 });
  assert.deepEqual(countTimeWait(text, new Set([8080])), { total: 3, onPorts: 2 });
  assert.deepEqual(countTimeWait(text, new Set([80])), { total: 3, onPorts: 1 });
  assert.deepEqual(countTimeWait(text, new Set([8081])), { total: 3, onPorts: 0 }, 'an ESTABLISHED row on the port is not counted');
});
