// What the fsync policies promise at the level of the open file: under `always` the active segment is
// opened with O_DSYNC, so the one write of a group is on stable storage when it returns, before any ack
// (a machine crash loses nothing acknowledged); under `interval` and `off` it is not, and the writes
// reach the file before the ack (a kill -9 of the process loses nothing acknowledged).
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openJournal, parseSegment, type FsyncPolicy } from '../src/journal.js';
import { silentLogger } from '../src/log.js';

const dirs: string[] = [];
afterEach(() => {
  while (dirs.length > 0) fs.rmSync(dirs.pop()!, { recursive: true, force: true });
});

/** The open flags of this process's descriptor on `file`, from /proc/self/fdinfo (Linux). */
function openFlagsOf(file: string): number | null {
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    let target: string;
    try {
      target = fs.readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue;
    }
    if (target !== file) continue;
    const m = /^flags:\s+([0-7]+)$/m.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
    if (m) return parseInt(m[1], 8);
  }
  return null;
}

const linux = process.platform === 'linux' && fs.constants.O_DSYNC !== undefined;

describe('journal durability per policy', { skip: linux ? false : 'needs Linux /proc/self/fdinfo and O_DSYNC' }, () => {
  for (const policy of ['always', 'interval', 'off'] as FsyncPolicy[]) {
    it(`${policy}: the segment is ${policy === 'always' ? '' : 'not '}opened O_DSYNC, and an acked entry is in the file`, async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eserver-jdur-'));
      dirs.push(dir);
      const j = await openJournal({ dir, policy, intervalMs: 10, committedSeq: 0, log: silentLogger });
      try {
        const seg = fs.readdirSync(dir).filter((n) => n.endsWith('.jnl'));
        assert.equal(seg.length, 1);
        const file = path.join(dir, seg[0]);
        const flags = openFlagsOf(file);
        assert.notEqual(flags, null, 'the journal holds its segment open');
        assert.equal((flags! & fs.constants.O_DSYNC) === fs.constants.O_DSYNC, policy === 'always', `flags 0${flags!.toString(8)}`);
        j.append({ seq: 1, sql: 'insert into bench_events (num) values (1)' });
        await j.flush();
        // Acked: the record is in the file already (not only in a buffer of this process).
        assert.deepEqual(parseSegment(fs.readFileSync(file)).entries.map((e) => e.seq), [1]);
      } finally {
        await j.close();
      }
    });
  }
});
