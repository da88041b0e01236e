// A small real filesystem for disk-full tests: a tmpfs mounted (as root) on a temp dir, unmounted by release().
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface Tmpfs {
  dir: string;
  release(): void;
}

/** Mounts a tmpfs with the given options (e.g. `size=256k,nr_inodes=8`); returns why it can't instead. */
export function mountTmpfs(options: string): Tmpfs | string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eserver-tmpfs-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) {
    fs.rmdirSync(dir);
    return `cannot mount a tmpfs here (${(r.stderr || r.error?.message || `exit ${r.status}`).trim()}); needs root`;
  }
  return {
    dir,
    release: () => {
      spawnSync('umount', ['-l', dir]);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Creates empty files in dir until the filesystem has no inode left; returns how many it made. */
export function exhaustInodes(dir: string): number {
  for (let i = 0; ; i++) {
    try {
      fs.writeFileSync(path.join(dir, `filler-${i}`), '');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOSPC') return i;
      throw e;
    }
  }
}
