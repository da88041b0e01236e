// Child process for the 10k-connection test: it needs its own fd budget (`ulimit -n` raised by the
// parent's bash wrapper). Opens N connections over 127.0.0.x, sends one 8001 on each, waits for every
// reply while all stay open, then prints one JSON line, and closes them all and exits when a line
// arrives on stdin.
import net from 'node:net';
import { FrameCollector, encodeFrame } from '../../src/codec.js';

const [portArg, nArg, parallelArg] = process.argv.slice(2);
const port = Number(portArg);
const n = Number(nArg ?? 10_000);
const parallel = Number(parallelArg ?? 500);
const frame = encodeFrame(8001, JSON.stringify({ sql: 'insert into bench_events (num) values (%d)' }));

const sockets: net.Socket[] = [];
let opened = 0;
let served = 0;
let failed = 0;
let next = 0;
let inflight = 0;
const t0 = Date.now();

function done(): void {
  // All connections are open at the same time here (none closed yet): report, and keep them open until
  // the parent has checked the server's own count of open connections and says "close" on stdin.
  process.stdout.write(JSON.stringify({ opened, served, failed, ms: Date.now() - t0 }) + '\n');
  process.stdin.once('data', () => {
    for (const s of sockets) s.destroy();
    setTimeout(() => process.exit(0), 50);
  });
}

function launch(): void {
  while (inflight < parallel && next < n) {
    const i = next++;
    inflight++;
    // Spread source addresses so ephemeral ports never run out.
    const s = net.connect({ port, host: '127.0.0.1', localAddress: `127.0.${1 + ((i >> 8) % 200)}.${1 + (i % 250)}` });
    const col = new FrameCollector();
    let finished = false;
    const finish = (ok: boolean): void => {
      if (finished) return;
      finished = true;
      inflight--;
      if (ok) served++;
      else failed++;
      if (served + failed === n) done();
      else launch();
    };
    s.on('connect', () => {
      opened++;
      s.write(frame);
    });
    s.on('data', (d: Buffer) => {
      col.push(d);
      if (col.frames.length > 0) finish(col.frames[0].cmd === 8001);
    });
    s.on('error', () => finish(false));
    s.on('close', () => finish(false));
    sockets.push(s);
  }
}
launch();
setTimeout(() => {
  process.stdout.write(JSON.stringify({ opened, served, failed, ms: Date.now() - t0, timeout: true }) + '\n');
  process.exit(1);
}, 60_000).unref();
