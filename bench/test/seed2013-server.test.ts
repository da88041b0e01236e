// The 2013-style queue server (bench/seed2013/eserver2013.py), spawned with python3 and spoken to over
// real sockets: its replies byte for byte, the cases where it answers nothing and closes, and the
// original's defects it must not have (shared replies, frames cut across reads, exit on a client error).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, openSync, closeSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { queueLength, seed2013Argv, seed2013Script } from '../src/lab/seed2013.js';
import { EXPECTED_OK, frame } from '../src/protocol-bench/frames.js';
import { repoRoot } from '@eserver-lab/common/repo-root';
import { exchange } from './tcp-exchange.js';
import { freePorts } from '@eserver-lab/common/free-port';

const SQL = 'insert into bench_events (num) values (%d)';
const enqueue = (sql = SQL) => frame(8001, JSON.stringify({ sql }));

interface Server {
  port: number;
  proc: ChildProcess;
  out: string;
  stop(): Promise<number | null>;
  remove(): void;
}

async function startServer(extra: string[] = []): Promise<Server> {
  const dir = mkdtempSync(join(tmpdir(), 'eserver2013-'));
  const out = join(dir, 'requests.log');
  const fd = openSync(out, 'a');
  const [port] = await freePorts(1);
  const argv = seed2013Argv('python3', seed2013Script(repoRoot), '127.0.0.1', port!, extra);
  const proc = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', fd, 'pipe'] });
  closeSync(fd);
  let err = '';
  proc.stderr!.setEncoding('utf8');
  // It says so on stderr once it listens: the condition to wait on.
  await new Promise<void>((resolve, reject) => {
    proc.stderr!.on('data', (d: string) => {
      err += d;
      if (err.includes('listening on')) resolve();
    });
    proc.once('exit', (c) => reject(new Error(`eserver2013 exited with ${c}: ${err}`)));
  });
  return {
    port: port!, proc, out,
    stop: async () => {
      if (proc.exitCode !== null) return proc.exitCode;
      const code = new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));
      proc.kill('SIGTERM');
      return code;
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

const reply = (cmd: number, json: string) => frame(cmd, json);

let srv: Server;
before(async () => {
  srv = await startServer();
});
after(async () => {
  assert.equal(await srv.stop(), 0, 'SIGTERM ends it with status 0');
  srv.remove();
});

test('8001 answers the 22 bytes of the original; 8003 the length; 8002 the statement with %d replaced', async () => {
  assert.equal(EXPECTED_OK.length, 22);
  const a = await exchange(srv.port, [enqueue()], 22);
  assert.deepEqual(a.data, EXPECTED_OK);
  const b = await exchange(srv.port, [enqueue()], 22);
  assert.deepEqual(b.data, EXPECTED_OK);
  const len = await exchange(srv.port, [frame(8003, '{}')], 5);
  assert.equal(len.data.toString('hex'), '1f43000132', '8003 -> cmd 8003, len 1, body "2"');
  // Python's json.dumps of a str: a JSON string, the counter (1, then 2) put in by %.
  const first = await exchange(srv.port, [frame(8002, '{}')], 4 + 43);
  assert.deepEqual(first.data, reply(8002, '"insert into bench_events (num) values (1)"'));
  const second = await exchange(srv.port, [frame(8002, '{}')], 4 + 43);
  assert.deepEqual(second.data, reply(8002, '"insert into bench_events (num) values (2)"'));
  assert.equal(await queueLength('127.0.0.1', srv.port), 0);
});

test('no reply, connection closed: empty queue on 8002, unknown cmd, body not JSON, statement without one %d', async () => {
  const cases: Array<[string, Buffer]> = [
    ['8002 on an empty queue', frame(8002, '{}')],
    ['unknown cmd 7', frame(7, '{}')],
    ['body not JSON', frame(8001, '{"sql": ')],
    ['no %d', enqueue('insert into bench_events (num) values (1)')],
    ['two %d', enqueue('insert into t (a, b) values (%d, %d)')],
    ['no sql key', frame(8001, '{"q": "x %d"}')],
  ];
  for (const [what, req] of cases) {
    const r = await exchange(srv.port, [req], 1);
    assert.equal(r.closed, true, `${what}: closed`);
    assert.equal(r.data.length, 0, `${what}: no byte sent`);
  }
  // None of them took the server down or queued anything.
  assert.equal(await queueLength('127.0.0.1', srv.port), 0);
});

test('frames cut across reads, and several frames in one write, are each answered', async () => {
  const req = enqueue();
  const split = await exchange(srv.port, [req.subarray(0, 2), req.subarray(2, 9), req.subarray(9)], 22, { gapMs: 50 });
  assert.deepEqual(split.data, EXPECTED_OK);
  const three = await exchange(srv.port, [Buffer.concat([req, frame(8003, '{}'), req])], 22 + 5 + 22);
  assert.deepEqual(three.data, Buffer.concat([EXPECTED_OK, reply(8003, '2'), EXPECTED_OK]));
  // Drain what this test queued, so later tests start from 0.
  for (let i = 0; i < 3; i++) await exchange(srv.port, [frame(8002, '{}')], 4 + 43);
  assert.equal(await queueLength('127.0.0.1', srv.port), 0);
});

test('concurrent clients mixing 8001 and 8003 each get their own reply (no shared reply slot)', async () => {
  const n = 40;
  const rs = await Promise.all(
    Array.from({ length: n }, (_, i) => (i % 2 === 0 ? exchange(srv.port, [enqueue()], 22) : exchange(srv.port, [frame(8003, '{}')], 5))),
  );
  rs.forEach((r, i) => {
    if (i % 2 === 0) assert.deepEqual(r.data, EXPECTED_OK, `client ${i} (8001)`);
    else assert.equal(r.data.readUInt16BE(0), 8003, `client ${i} (8003) got cmd ${r.data.readUInt16BE(0)}`);
  });
  assert.equal(await queueLength('127.0.0.1', srv.port), n / 2);
  for (let i = 0; i < n / 2; i++) await exchange(srv.port, [frame(8002, '{}')], 10);
});

test('a client that resets mid-frame ends only its own connection', async () => {
  await new Promise<void>((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port: srv.port }, () => {
      s.write(enqueue().subarray(0, 6), () => {
        s.resetAndDestroy();
        resolve();
      });
    });
    s.on('error', reject);
  });
  const r = await exchange(srv.port, [enqueue()], 22);
  assert.deepEqual(r.data, EXPECTED_OK);
  assert.equal(srv.proc.exitCode, null, 'still running');
  await exchange(srv.port, [frame(8002, '{}')], 10);
});


test('queue full: the capacity-th + 1 enqueue gets no reply; the allow-list refuses by exact address and keeps accepting', async () => {
  const small = await startServer(['--capacity', '2', '--allow', '127.0.0.2']);
  try {
    // 127.0.0.1 is not 127.0.0.2: refused at accept, closed without a byte.
    const refused = await exchange(small.port, [enqueue()], 1);
    assert.deepEqual([refused.closed, refused.data.length], [true, 0]);
    const from2 = { localAddress: '127.0.0.2' };
    assert.deepEqual((await exchange(small.port, [enqueue()], 22, from2)).data, EXPECTED_OK);
    assert.deepEqual((await exchange(small.port, [enqueue()], 22, from2)).data, EXPECTED_OK);
    const full = await exchange(small.port, [enqueue()], 1, from2);
    assert.deepEqual([full.closed, full.data.length], [true, 0], 'full: no reply, closed');
    const len = await exchange(small.port, [frame(8003, '{}')], 5, from2);
    assert.deepEqual(len.data, reply(8003, '2'));
  } finally {
    assert.equal(await small.stop(), 0);
  }
  const printed = readFileSync(small.out, 'utf8').trim().split('\n');
  // Four requests reached the app (the refused one never did); each has its line.
  assert.equal(printed.length, 4, printed.join('\n'));
  assert.match(printed[0]!, /^127\.0\.0\.2:\d+ cmd=8001 \{"sql":"insert into bench_events \(num\) values \(%d\)"\}$/);
  assert.match(printed[3]!, /cmd=8003 \{\}$/);
  small.remove();
});
