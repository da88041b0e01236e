// CPU per request of two builds of the queue server (A = "old", B = "new"), loaded at the same time so that a
// shared machine's noise hits both; the ratio B/A is what to read. Each tree must be built (make build).
// Usage: node queue-server/scripts/cpu-pair.mjs <treeA> <treeB> <journal|none> <reps> <requests> [pop]
//   journal: --journal-dir on a temp dir with --fsync always; pop: measure 8002 (after as many 8001s).
import { spawn } from 'node:child_process';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
const [treeA, treeB, mode, repsArg, nArg, popArg] = process.argv.slice(2);
const POP = popArg === 'pop';
const [reps, perServer] = [Number(repsArg), Number(nArg)];
const TREES = { old: treeA, new: treeB };
const cpuMs = (pid) => { const f = readFileSync(`/proc/${pid}/stat`, 'utf8'); const a = f.slice(f.lastIndexOf(')') + 2).split(' '); return (Number(a[11]) + Number(a[12])) * 10; };
function start(tree) {
  const dir = mkdtempSync(join(tmpdir(), 'eserver-cpu-pair-'));
  const args = [`${tree}/queue-server/dist/src/cli.js`, '--host', '127.0.0.1', '--port', '0', '--metrics-port', '0', '--capacity', '5000000'];
  if (mode === 'journal') args.push('--journal-dir', dir, '--fsync', 'always');
  const p = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ESERVER_CONFIG: '' } });
  let err = '';
  return new Promise((res) => p.stderr.on('data', (d) => { err += d; const m = /"event":"listening".*?"port":(\d+)/.exec(err); if (m) res({ p, port: Number(m[1]), dir }); }));
}
const FRAME = (() => { const b = Buffer.from(JSON.stringify({ sql: 'insert into bench_events (num) values (%d)' })); const h = Buffer.alloc(4); h.writeUInt16BE(8001, 0); h.writeUInt16BE(b.length, 2); return Buffer.concat([h, b]); })();
const POPF = (() => { const h = Buffer.alloc(4); h.writeUInt16BE(8002, 0); return h; })();
function pops(port, n, conns) {
  let left = n;
  return Promise.all(Array.from({ length: conns }, () => new Promise((res) => {
    const s = net.connect(port, '127.0.0.1'); s.setNoDelay(true);
    let buf = Buffer.alloc(0);
    const next = () => { if (left <= 0) { s.end(); return res(); } left--; s.write(POPF); };
    s.on('connect', next);
    s.on('data', (d) => { buf = Buffer.concat([buf, d]); while (buf.length >= 4 && buf.length >= 4 + buf.readUInt16BE(2)) { buf = buf.subarray(4 + buf.readUInt16BE(2)); next(); } });
    s.on('close', res);
  })));
}
function load(port, n, conns) {
  let left = n;
  return Promise.all(Array.from({ length: conns }, () => new Promise((res) => {
    const s = net.connect(port, '127.0.0.1'); s.setNoDelay(true);
    let buf = 0;
    const next = () => { if (left <= 0) { s.end(); return res(); } left--; s.write(FRAME); };
    s.on('connect', next);
    s.on('data', (d) => { buf += d.length; while (buf >= 22) { buf -= 22; next(); } });
    s.on('close', res);
  })));
}
const out = { old: [], new: [] };
for (let r = 0; r < reps; r++) {
  const s = { old: await start(TREES.old), new: await start(TREES.new) };
  await Promise.all(Object.values(s).map((x) => load(x.port, 2000, 50))); // warm-up
  if (POP) await Promise.all(['old', 'new'].map((k) => load(s[k].port, perServer, 50)));
  const c0 = { old: cpuMs(s.old.p.pid), new: cpuMs(s.new.p.pid) };
  await Promise.all(['old', 'new'].map((k) => (POP ? pops : load)(s[k].port, perServer, 50)));
  for (const k of ['old', 'new']) { out[k].push(((cpuMs(s[k].p.pid) - c0[k]) * 1000) / perServer); s[k].p.kill('SIGKILL'); rmSync(s[k].dir, { recursive: true, force: true }); }
}
const med = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
console.log(JSON.stringify({ op: POP ? '8002' : '8001', mode, reps, perServer, old_us: out.old.map((v) => +v.toFixed(1)), new_us: out.new.map((v) => +v.toFixed(1)), median_old: +med(out.old).toFixed(1), median_new: +med(out.new).toFixed(1), ratios: out.new.map((v, i) => +(v / out.old[i]).toFixed(3)), median_ratio: +med(out.new.map((v, i) => v / out.old[i])).toFixed(3) }));
