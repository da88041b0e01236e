// One process per journal directory. Two servers appending to one directory would write interleaved
// segments, and after a restart each would replay the other's entries: acknowledged entries applied twice,
// or cut as damage. The lock is a file naming its holder: pid, the process's start time (so a pid reused by
// another process after a reboot, or in a new container, is not taken for the holder) and the boot id.
// A holder that died (kill -9) leaves the file; the next server sees the holder is gone and takes over.
// The file also names the directory (device and inode), so a copy of a journal (a backup restored, a copy
// taken to inspect a live one) does not stay locked by the process that ran on the original.
// What it does not cover: two servers in different pid namespaces (containers) sharing one directory at the
// same time, since neither can see the other's process.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Logger } from './contracts.js';

const FILE = 'journal.lock';

interface Holder {
  pid: number;
  /** Field 22 of /proc/<pid>/stat: clock ticks after boot when the process started. */
  startTicks: number;
  bootId: string;
  host: string;
  /** The locked directory's device and inode. */
  dirId: string;
}

export interface JournalLock {
  release(): void;
}

/** Takes the directory's lock or throws an error that names the holder and the fix. */
export function lockJournalDir(dir: string, log: Logger): JournalLock {
  const file = path.join(dir, FILE);
  const me = self(dir);
  const body = JSON.stringify(me);
  for (let attempt = 0; ; attempt++) {
    try {
      fs.writeFileSync(file, body, { flag: 'wx' });
      return { release: () => releaseIfOurs(file, body) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw err;
    }
    const held = readHolder(file);
    if (held !== null && holds(held, me)) {
      const who = held.pid === me.pid ? `process ${held.pid} (this one)` : `process ${held.pid} on ${held.host}`;
      throw new Error(
        `the journal directory ${dir} is in use by ${who}: two servers on one journal would replay each other's entries. ` +
          `Stop that server first, or give this one another --journal-dir (and its own --stream when it drains into MySQL).` +
          (held.host !== me.host ? ` If no server runs on ${held.host} any more, remove ${file}.` : ''),
      );
    }
    const why = held === null ? 'unreadable lock file' : held.dirId !== me.dirId ? 'the lock was copied from another directory' : 'its holder is no longer running';
    log.warn('journal_lock_taken_over', { dir, previousPid: held?.pid ?? null, why });
    fs.rmSync(file, { force: true });
  }
}

function releaseIfOurs(file: string, body: string): void {
  try {
    if (fs.readFileSync(file, 'utf8') === body) fs.rmSync(file, { force: true });
  } catch {
    /* gone already */
  }
}

function readHolder(file: string): Holder | null {
  try {
    const h = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<Holder>;
    if (typeof h.pid !== 'number' || typeof h.startTicks !== 'number' || typeof h.bootId !== 'string' || typeof h.host !== 'string' || typeof h.dirId !== 'string') {
      return null;
    }
    return h as Holder;
  } catch {
    return null;
  }
}

function holds(h: Holder, me: Holder): boolean {
  if (h.dirId !== me.dirId) return false;
  // Another machine (a directory on shared storage): its processes cannot be checked from here.
  if (h.host !== me.host) return true;
  if (h.bootId !== me.bootId) return false;
  return startTicks(h.pid) === h.startTicks;
}

function self(dir: string): Holder {
  const st = fs.statSync(dir);
  return { pid: process.pid, startTicks: startTicks(process.pid) ?? 0, bootId: bootId(), host: os.hostname(), dirId: `${st.dev}:${st.ino}` };
}

function startTicks(pid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
  } catch {
    return null;
  }
}

function bootId(): string {
  try {
    return fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return '';
  }
}
