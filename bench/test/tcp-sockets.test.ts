// The one /proc/net/tcp reader: a real listener of this process shows up with its port, state and inode.
import assert from 'node:assert/strict';
import { readdirSync, readlinkSync } from 'node:fs';
import net from 'node:net';
import { test } from 'node:test';
import { parseTcpSockets, readTcpSockets, TCP_STATE } from '../src/host/tcp-sockets.js';

test('a listener of this process is a LISTEN row whose inode one of our fds holds', async () => {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  try {
    const rows = (await readTcpSockets()).filter((s) => s.localPort === port && s.state === TCP_STATE.LISTEN);
    assert.equal(rows.length, 1, JSON.stringify(rows));
    const ours = readdirSync('/proc/self/fd').map((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`);
      } catch {
        return '';
      }
    });
    assert.ok(ours.includes(`socket:[${rows[0]!.inode}]`), `inode ${rows[0]!.inode} among our fds`);
  } finally {
    server.close();
  }
});

test('IPv4 and IPv6 rows: hex ports, the peer\'s address (IPv4-mapped as IPv4), state and inode; the header and blank lines are no rows', () => {
  const text = [
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
    '   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0 100 0 0 10 0',
    '   1: 0000000000000000FFFF00000100007F:D000 0000000000000000FFFF00000100007F:0050 06 00000000:00000000 03:00001770 00000000 0 0 0 3',
    '',
  ].join('\n');
  assert.deepEqual(parseTcpSockets(text), [
    { localAddress: '127.0.0.1', localPort: 8080, remotePort: 0, remoteAddress: '0.0.0.0', state: '0A', inode: '4242' },
    { localAddress: '127.0.0.1', localPort: 0xd000, remotePort: 80, remoteAddress: '127.0.0.1', state: '06', inode: '0' },
  ]);
});

test('the peer address of a connection from another address of this host is that address', async () => {
  const server = net.createServer((s) => s.on('error', () => {}));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const c = net.connect({ host: '127.0.0.1', port, localAddress: '127.0.0.3' });
  try {
    await new Promise<void>((r) => c.on('connect', r));
    // The server's end of this one connection (other sockets of the machine may have the port as theirs).
    const rows = (await readTcpSockets()).filter((s) => s.localPort === port && s.remotePort === c.localPort);
    assert.deepEqual(rows.map((r) => [r.localAddress, r.remoteAddress]), [['127.0.0.1', '127.0.0.3']]);
  } finally {
    c.destroy();
    server.close();
  }
});
