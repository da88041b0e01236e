// One process per journal directory: two servers appending to one journal would interleave their segments,
// and each would replay the other's entries after a restart (acknowledged entries applied twice, or lost
// behind a cut it did not write).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openJournal, type Journal } from '../src/journal.js';
import { runCli, runCliToExit } from './helpers/cli.js';
import { Client, enqueueFrame } from './helpers/net.js';
import { MemLog } from './helpers/mem-log.js';

const BASE = ['--host', '127.0.0.1', '--port', '0', '--metrics-port', '0'];

function tmp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'eserver-jlock-'));
}

function open(dir: string, log = new MemLog()): Promise<Journal> {
  return openJournal({ dir, policy: 'always', intervalMs: 10, committedSeq: 0, log });
}

test('a second server on a journal directory in use exits with an error naming the first one and the fix; the first is untouched', async () => {
  const dir = tmp();
  try {
    const a = await runCli([...BASE, '--journal-dir', dir]);
    try {
      const b = await runCliToExit([...BASE, '--journal-dir', dir]);
      assert.notEqual(b.code, 0, b.stderr);
      assert.match(b.stderr, new RegExp(`journal directory ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is in use by process ${a.proc.pid}`));
      assert.match(b.stderr, /another --journal-dir/);
      // The first server still takes and acknowledges entries.
      const c = await Client.connect(a.port);
      c.write(enqueueFrame('insert into bench_events (num) values (%d)'));
      assert.equal((await c.waitFrames(1, 5000))[0].cmd, 8001);
      c.close();
    } finally {
      await a.stop();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the same directory opened twice in one process is refused too', async () => {
  const dir = tmp();
  const j = await open(dir);
  try {
    await assert.rejects(open(dir), /is in use by process \d+ \(this one\)/);
  } finally {
    await j.close();
  }
  // Released on close: it opens again.
  const again = await open(dir);
  await again.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a lock left by a process that died (kill -9) is taken over, with a warning naming it', async () => {
  const dir = tmp();
  try {
    const a = await runCli([...BASE, '--journal-dir', dir]);
    const pid = a.proc.pid!;
    await a.stop('SIGKILL');
    const log = new MemLog();
    const j = await open(dir, log);
    await j.close();
    const w = log.find('journal_lock_taken_over');
    assert.ok(w, JSON.stringify(log.events));
    assert.equal(w.fields?.previousPid, pid);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a lock whose pid now belongs to another process (pid reused after a reboot or in a new container) is taken over', async () => {
  const dir = tmp();
  try {
    // A live process that never opened the journal: its start time differs from the one in the lock.
    const j0 = await open(dir);
    const lockBody = fs.readFileSync(path.join(dir, 'journal.lock'), 'utf8');
    await j0.close();
    fs.writeFileSync(path.join(dir, 'journal.lock'), lockBody);
    const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
    const livePid = sleeper.pid!;
    try {
      const held = JSON.parse(fs.readFileSync(path.join(dir, 'journal.lock'), 'utf8')) as Record<string, unknown>;
      fs.writeFileSync(path.join(dir, 'journal.lock'), JSON.stringify({ ...held, pid: livePid }));
      const log = new MemLog();
      const j = await open(dir, log);
      await j.close();
      assert.equal(log.find('journal_lock_taken_over')?.fields?.previousPid, livePid);
    } finally {
      sleeper.kill('SIGKILL');
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a copy of a journal in use (a restored backup, a copy to inspect) opens: its lock names the original directory', async () => {
  const dir = tmp();
  const copy = tmp();
  const j = await open(dir);
  try {
    j.append({ seq: 1, sql: 'insert into bench_events (num) values (1)' });
    await j.flush();
    fs.cpSync(dir, copy, { recursive: true });
    const log = new MemLog();
    const k = await open(copy, log);
    assert.equal(k.recovered.lastSeq, 1);
    await k.close();
    assert.equal(log.find('journal_lock_taken_over')?.fields?.why, 'the lock was copied from another directory');
  } finally {
    await j.close();
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(copy, { recursive: true, force: true });
  }
});
