// The PHP client library (lib/eserver_client.php) run by the real php CLI against the real queue server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { Queue, QueueServer } from '@eserver-lab/queue-server';
import { waitFor } from '@eserver-lab/common/wait';

const LIB = fileURLToPath(new URL('../../lib/eserver_client.php', import.meta.url));

interface PhpResult {
  ok: boolean;
  cmd: number | null;
  code: string | null;
  msg: string | null;
  body: unknown;
}

const PAUSE = 'PAUSED';

/**
 * Runs PHP code with the library loaded; the code must end with `echo json_encode(...)`. The code may call
 * test_pause(): PHP then waits, with its connections as they are, until `whilePaused` resolves.
 */
function php(code: string, whilePaused?: () => Promise<void>): Promise<unknown> {
  const script = `require ${JSON.stringify(LIB)};\nfunction test_pause() { echo "${PAUSE}\\n"; fflush(STDOUT); fgets(STDIN); }\n${code}`;
  return new Promise((resolve, reject) => {
    const child = spawn('php', ['-d', 'display_errors=stderr', '-r', script], { stdio: ['pipe', 'pipe', 'pipe'], timeout: 30_000 });
    let stdout = '';
    let stderr = '';
    let paused = false;
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (paused || !stdout.startsWith(`${PAUSE}\n`)) return;
      paused = true;
      stdout = stdout.slice(PAUSE.length + 1);
      (whilePaused ?? (async () => {}))().then(
        () => child.stdin.end('\n'),
        (err: unknown) => {
          child.kill('SIGKILL');
          reject(err);
        },
      );
    });
    child.once('error', reject);
    child.once('close', (code) => {
      if (code !== 0) return reject(new Error(`php exited with ${code}:\n${stderr}`));
      try {
        resolve(JSON.parse(stdout));
      } catch {
        reject(new Error(`php printed no JSON:\n${stdout}\n${stderr}`));
      }
    });
  });
}

async function withServer(
  opts: { capacity?: number; allow?: string[]; idleTimeoutMs?: number },
  fn: (port: number, q: Queue, s: QueueServer) => Promise<void>,
): Promise<void> {
  const q = new Queue({ capacity: opts.capacity ?? 100 });
  const s = new QueueServer({ queue: q, allow: opts.allow, limits: { idleTimeoutMs: opts.idleTimeoutMs ?? 60_000 } });
  const { port } = await s.listen(0, '127.0.0.1');
  try {
    await fn(port, q, s);
  } finally {
    await s.close();
  }
}

test('php: eserver_insert_queue succeeds the seed way and the statement is numbered', async () => {
  await withServer({}, async (port, q) => {
    const r = (await php(`echo json_encode([
      eserver_insert_queue('insert into bench_events (num) values (%d)', ['port' => ${port}]),
      eserver_insert_queue('insert into bench_events (num) values (%d)', ['port' => ${port}]),
      eserver_queue_length(['port' => ${port}]),
    ]);`)) as PhpResult[];
    assert.deepEqual(r[0], { ok: true, cmd: 8001, code: null, msg: 'success', body: { msg: 'success' } });
    assert.equal(r[1].ok, true);
    assert.equal(r[2].cmd, 8003);
    assert.equal(r[2].body, 2);
    assert.deepEqual(q.peekBatch(2).map((e) => e.sql), ['insert into bench_events (num) values (1)', 'insert into bench_events (num) values (2)']);
  });
});

test('php: server errors surface with their code (queue full, bad placeholder)', async () => {
  await withServer({ capacity: 1 }, async (port) => {
    const r = (await php(`$o = ['port' => ${port}]; echo json_encode([
      eserver_insert_queue('no placeholder', $o),
      eserver_insert_queue('x %d', $o),
      eserver_insert_queue('x %d', $o),
    ]);`)) as PhpResult[];
    assert.equal(r[0].ok, false);
    assert.equal(r[0].cmd, 9000);
    assert.equal(r[0].code, 'BAD_PLACEHOLDER');
    assert.equal(r[1].ok, true);
    assert.equal(r[2].code, 'QUEUE_FULL');
    assert.ok((r[2].msg ?? '').length > 0);
  });
});

test('php: connect failure, read timeout and a closed connection are distinct codes, never a bare false', async () => {
  // A port with nothing listening.
  const tmp = net.createServer();
  await new Promise<void>((r) => tmp.listen(0, '127.0.0.1', () => r()));
  const deadPort = (tmp.address() as net.AddressInfo).port;
  await new Promise<void>((r) => tmp.close(() => r()));
  // A server that accepts and never answers.
  const silent = net.createServer((s) => s.on('error', () => {}));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
  const silentPort = (silent.address() as net.AddressInfo).port;
  try {
    await withServer({ allow: ['10.0.0.1'] }, async (refusingPort) => {
      const r = (await php(`echo json_encode([
        eserver_insert_queue('x %d', ['port' => ${deadPort}, 'connect_timeout' => 0.5]),
        eserver_insert_queue('x %d', ['port' => ${silentPort}, 'read_timeout' => 0.3]),
        eserver_insert_queue('x %d', ['port' => ${refusingPort}]),
      ]);`)) as PhpResult[];
      assert.equal(r[0].ok, false);
      assert.equal(r[0].code, 'CONNECT_FAILED');
      assert.equal(r[1].code, 'READ_TIMEOUT');
      assert.equal(r[2].code, 'CONNECTION_CLOSED');
      for (const x of r) assert.equal(x.cmd, null);
    });
  } finally {
    silent.close();
  }
});

test('php: persistent mode reuses one connection and reconnects once after the server dropped it', async () => {
  await withServer({ idleTimeoutMs: 200 }, async (port, q, s) => {
    // PHP waits while the server closes the kept connection as idle.
    const idleClosed = (): Promise<unknown> =>
      waitFor(() => s.rejectedCounts().idle_timeout === 1 && s.connectionCount === 0, { timeoutMs: 10_000, what: 'the server to close the idle connection' });
    const r = (await php(
      `$o = ['port' => ${port}, 'persistent' => true]; $out = [];
      for ($i = 0; $i < 5; $i++) $out[] = eserver_insert_queue('x %d', $o);
      test_pause();
      for ($i = 0; $i < 3; $i++) $out[] = eserver_insert_queue('x %d', $o);
      echo json_encode($out);`,
      async () => {
        await idleClosed();
      },
    )) as PhpResult[];
    assert.equal(r.length, 8);
    r.forEach((x, i) => assert.equal(x.ok, true, `request ${i}: ${JSON.stringify(x)}`));
    assert.equal(q.length, 8);
    const m = Object.fromEntries(s.metrics().map((x) => [x.name + (x.labels ? JSON.stringify(x.labels) : ''), x.value]));
    assert.equal(m.eserver_connections_total, 2, 'one connection before the idle close, one after');
    assert.equal(m['eserver_rejected_total{"reason":"idle_timeout"}'], 1);
  });
});

/** A server that reads whole request frames and closes the connection without answering. */
async function closingAfterFrame(): Promise<{ port: number; frames: number; close(): Promise<void> }> {
  const st = { frames: 0 };
  const srv = net.createServer((sock) => {
    let buf = Buffer.alloc(0);
    sock.on('error', () => {});
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 4 && buf.length >= 4 + buf.readUInt16BE(2)) {
        buf = buf.subarray(4 + buf.readUInt16BE(2));
        st.frames++;
        sock.destroy(); // as a server that crashed or shed the connection right after reading the request
      }
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  return {
    port: (srv.address() as net.AddressInfo).port,
    get frames() {
      return st.frames;
    },
    close: () => new Promise<void>((r) => srv.close(() => r())),
  };
}

test('php: persistent mode never re-sends an 8001 whose frame was fully written (CONNECTION_CLOSED, sent once)', async () => {
  const srv = await closingAfterFrame();
  try {
    const r = (await php(`echo json_encode(eserver_insert_queue('x %d', ['port' => ${srv.port}, 'persistent' => true]));`)) as PhpResult;
    assert.equal(srv.frames, 1, 'the request reached the server exactly once');
    assert.equal(r.ok, false);
    assert.equal(r.code, 'CONNECTION_CLOSED');
    assert.match(r.msg ?? '', /may have been enqueued/);
  } finally {
    await srv.close();
  }
});
