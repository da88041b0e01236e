// The small filesystem under the queue journal for the full-disk scenario: a tmpfs with a size, mounted
// by the harness (root only) on a directory that the lab then uses as the journal (UpOptions.journalDir).
// A host mount, so that it outlives the queue server's restarts on both runtimes.
import { execFile } from 'node:child_process';
import { mkdirSync, rmdirSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);

export class JournalFsError extends Error {}

export async function mountJournalFs(dir: string, sizeMiB: number): Promise<void> {
  if (process.getuid?.() !== 0) {
    throw new JournalFsError(
      `the full-disk scenario mounts a ${sizeMiB} MiB tmpfs under the queue journal, which needs root: run make chaos as root, or leave the scenario out with --skip full-disk`,
    );
  }
  mkdirSync(dir, { recursive: true });
  try {
    await run('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m,mode=0777`, 'eserver-chaos-journal', dir]);
  } catch (err) {
    throw new JournalFsError(
      `could not mount a tmpfs on ${dir} for the full-disk scenario (${(err as Error).message.trim()}); ` +
        'the machine must allow tmpfs mounts (a container needs CAP_SYS_ADMIN), or leave the scenario out with --skip full-disk',
    );
  }
}

export async function unmountJournalFs(dir: string): Promise<void> {
  await run('umount', [dir]);
  rmdirSync(dir);
}
