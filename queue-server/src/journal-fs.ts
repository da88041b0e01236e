// The journal's fsync policies, the file calls it makes (as promises), and how its segment files are named.
import * as fs from 'node:fs';
import { promisify } from 'node:util';

/** always: group commit before the ack; interval: fdatasync every intervalMs; off: the page cache only. */
export const FSYNC_POLICIES = ['always', 'interval', 'off'] as const;
export type FsyncPolicy = (typeof FSYNC_POLICIES)[number];

export const SEG_RE = /^seg-(\d{16})\.jnl$/;

export function segName(index: number): string {
  return `seg-${String(index).padStart(16, '0')}.jnl`;
}

/** One segment file: `seg-<index>.jnl`. */
export interface Segment {
  index: number;
  file: string;
  /** Highest seq stored in the segment (0 when it holds none). */
  lastSeq: number;
  bytes: number;
}

export const fsOpen = promisify(fs.open);
export const fsClose = promisify(fs.close);
export function fsWrite(fd: number, buf: Buffer, off: number, len: number, pos: number | null): Promise<number> {
  return new Promise((resolve, reject) => fs.write(fd, buf, off, len, pos, (err, n) => (err ? reject(err) : resolve(n))));
}
export const fsFdatasync = promisify(fs.fdatasync);
export const fsFsync = promisify(fs.fsync);
export const fsFtruncate = promisify(fs.ftruncate);

// 'wx' plus O_DSYNC; 0 where the platform has no O_DSYNC (then `always` falls back to write + fdatasync).
export const O_DSYNC: number = fs.constants.O_DSYNC ?? 0;
export const WX_DSYNC = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_TRUNC | O_DSYNC;

/** Makes a directory entry (a new or renamed file) durable. */
export async function syncDir(dir: string): Promise<void> {
  try {
    const dfd = await fsOpen(dir, 'r');
    try {
      await fsFsync(dfd);
    } finally {
      await fsClose(dfd);
    }
  } catch {
    // Some filesystems refuse fsync on a directory; the data files themselves are still synced.
  }
}
