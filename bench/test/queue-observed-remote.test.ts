// A stack on a remote engine (issue 25): its queue server's runtime and fsync policy are read back over the
// network, from its /metrics (eserver_runtime_info) and from its container's log through the engine, not from
// this host's /proc or files (which know nothing of it), and a contradiction is still caught.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mismatch, observeRemoteQueueServer } from '../src/results/queue-observed.js';
import type { StackInfo } from '../src/lab/types.js';

/** A stand-in /metrics on loopback that says which runtime it runs on. */
async function metricsServer(runtime: string): Promise<{ port: number; close: () => Promise<void> }> {
  const srv = http.createServer((_req, res) => {
    res.end(`# TYPE eserver_runtime_info gauge\neserver_runtime_info{runtime="${runtime}",version="1.2.3"} 1\n`);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { port: (srv.address() as AddressInfo).port, close: () => new Promise((r) => srv.close(() => r())) };
}

function remoteStack(metricsPort: number): StackInfo {
  return {
    runtime: 'docker', runDir: '/nonexistent', httpBase: '', pages: { client: '', baseline: '', persistent: '' },
    queue: { host: '127.0.0.1', port: 1, metricsPort }, mysql: { host: '127.0.0.1', port: 1, user: 'u', password: 'p', database: 'd' },
    // A pid that is this very process: what /proc would wrongly say (node), were it read.
    services: [{ name: 'queue-server', pid: process.pid, ports: [], healthy: true, logFile: '/nonexistent.log' }],
    limits: { cgroup: null, cgroupVersion: null, cpus: null, memoryBytes: null, note: '' }, versions: {}, config: {},
    remote: { host: { engine: 'DOCKER_HOST=tcp://198.18.254.2:2375', name: 'srv', cpu_model: 'x', cores: 2, memory_bytes: 1, kernel: '', os: '', docker_version: '', cgroup: { version: 'v1', driver: 'cgroupfs' } }, containers: { mysql: 'm', 'queue-server': 'q1', 'php-fpm': 'f', nginx: 'n' }, cpuCgroup: null },
  };
}

test('runtime from the server\'s /metrics, fsync from its container log through the engine', async () => {
  const m = await metricsServer('bun');
  const asked: string[] = [];
  try {
    const r = await observeRemoteQueueServer(remoteStack(m.port), { runtime: 'bun', fsync: 'interval' }, async (id) => {
      asked.push(id);
      return '{"event":"starting"}\n{"event":"listening","journal":"interval"}\n';
    });
    assert.deepEqual(asked, ['q1'], 'the queue server\'s container');
    assert.equal(r.runtime, 'bun');
    assert.equal(r.fsync, 'interval');
    assert.deepEqual(r.read_back, { runtime: true, fsync: true });
    assert.equal(r.exe, null, 'no executable of this host');
    assert.equal(mismatch(r), null);
  } finally {
    await m.close();
  }
});

test('a remote server on another runtime than asked is a mismatch; what cannot be read is marked so', async () => {
  const m = await metricsServer('node');
  try {
    const r = await observeRemoteQueueServer(remoteStack(m.port), { runtime: 'bun', fsync: 'always' }, async () => {
      throw new Error('no logs');
    });
    assert.equal(r.runtime, 'node');
    assert.deepEqual(r.read_back, { runtime: true, fsync: false });
    assert.match(mismatch(r) ?? '', /runtime node/);
  } finally {
    await m.close();
  }
});
