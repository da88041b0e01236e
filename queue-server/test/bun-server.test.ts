// createQueueServer picks the socket layer of the runtime: on Bun the Bun.listen adapter (unless
// QUEUE_BUN_SOCKETS=node-net), on node the node:net server. This file runs on both (runtime-bun.test.ts),
// and every other in-process server test goes through the same factory (helpers/net.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BunQueueServer, bunSockets, createQueueServer } from '../src/bun-server.js';
import { Queue } from '../src/queue.js';
import { enqueueFrame, roundTrip } from './helpers/net.js';

const onBun = process.versions.bun !== undefined;

test('QUEUE_BUN_SOCKETS: native by default, node-net on request, anything else refused with the choices', () => {
  assert.equal(bunSockets(undefined), 'native');
  assert.equal(bunSockets(''), 'native');
  assert.equal(bunSockets('native'), 'native');
  assert.equal(bunSockets('node-net'), 'node-net');
  assert.throws(() => bunSockets('uws'), /QUEUE_BUN_SOCKETS="uws" is not a socket layer: use native .* or node-net/);
});

test(`on ${onBun ? 'Bun' : 'node'}, createQueueServer gives the ${onBun ? 'Bun.listen' : 'node:net'} server, and it serves`, async () => {
  for (const env of [{}, { QUEUE_BUN_SOCKETS: 'node-net' }]) {
    const server = createQueueServer({ queue: new Queue() }, env);
    assert.equal(server instanceof BunQueueServer, onBun && env.QUEUE_BUN_SOCKETS === undefined, JSON.stringify(env));
    const { port } = await server.listen(0, '127.0.0.1');
    try {
      assert.equal(server.isListening, true);
      assert.equal(server.address()?.port, port);
      const replies = await roundTrip(port, enqueueFrame('insert into bench_events (num) values (%d)'), 1);
      assert.equal(replies[0].cmd, 8001);
    } finally {
      await server.close();
    }
  }
});

test('BunQueueServer on node refuses to listen, naming the runtime it needs', { skip: onBun ? 'running on Bun' : false }, async () => {
  await assert.rejects(new BunQueueServer({ queue: new Queue() }).listen(0, '127.0.0.1'), /needs the Bun runtime: run with QUEUE_RUNTIME=bun/);
});
