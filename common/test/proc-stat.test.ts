import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { clockTicksPerSecond, cpuMs, isRunning, pageSizeBytes, parseProcStat, readProcStat } from '../src/proc-stat.js';

test('parseProcStat counts fields after the last ")", so a command name with spaces and parentheses parses', () => {
  const stat = '1234 (my (odd) proc) S 77 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 1 0 98765 1000 200 18446744073709551615\n';
  const s = parseProcStat(stat);
  assert.deepEqual(s, { state: 'S', ppid: 77, cpuTicks: 325, startTime: '98765', rssPages: 200 });
  assert.throws(() => parseProcStat('garbage'), /not a \/proc\/<pid>\/stat line/);
});

test('readProcStat reads this process: its parent, its state, its RSS in pages of getconf PAGESIZE', () => {
  const s = readProcStat(process.pid);
  assert.ok(s);
  assert.equal(s.ppid, process.ppid);
  assert.equal(s.state, 'R');
  assert.equal(pageSizeBytes(), Number(execFileSync('getconf', ['PAGESIZE'], { encoding: 'utf8' })));
  // VmRSS (status, kB) and the stat's page count are two views of one figure, read a moment apart.
  const statusKb = Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${process.pid}/status`, 'utf8'))![1]);
  const statKb = (s.rssPages * pageSizeBytes()) / 1024;
  assert.ok(Math.abs(statKb - statusKb) < statusKb * 0.1, `stat ${statKb} kB vs status ${statusKb} kB`);
});

test('clockTicksPerSecond is getconf CLK_TCK, and cpuMs converts with it', () => {
  assert.equal(clockTicksPerSecond(), Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' })));
  const s = readProcStat(process.pid)!;
  const ms = cpuMs(process.pid);
  // cpuMs reads later, so it can only be equal or larger than the ticks read before, converted.
  assert.ok(ms >= (s.cpuTicks * 1000) / clockTicksPerSecond(), `${ms} ms from ${s.cpuTicks} ticks`);
});

test('isRunning: a running child is, a zombie is not, a reaped one is gone', async () => {
  // sh forks `sleep 0`, prints its pid and execs into `sleep 30`, which never reaps it: a zombie.
  const child = spawn('sh', ['-c', 'sleep 0 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  const zombie = Number(line.toString().trim());
  assert.equal(isRunning(child.pid!), true);
  const deadline = Date.now() + 10_000;
  while (readProcStat(zombie)?.state !== 'Z') {
    assert.ok(Date.now() < deadline, `pid ${zombie} never became a zombie: ${JSON.stringify(readProcStat(zombie))}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(isRunning(zombie), false);
  child.kill('SIGKILL');
  await once(child, 'exit');
  assert.equal(isRunning(child.pid!), false);
  assert.equal(readProcStat(child.pid!), null);
});
