// 10,000 clients need 10,000+ descriptors. Node cannot raise its own RLIMIT_NOFILE, so when the soft
// limit is low and the hard limit allows more, the CLI re-runs itself under `ulimit -n` (once).
import { spawn } from 'node:child_process';
import fs from 'node:fs';

const MARK = 'ESERVER_BENCH_NOFILE_RAISED';

export function nofileLimits(): { soft: number; hard: number } | null {
  try {
    const m = /Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
    if (!m) return null;
    const n = (s: string) => (s === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(s));
    return { soft: n(m[1]), hard: n(m[2]) };
  } catch {
    return null;
  }
}

/**
 * Resolves to an exit code when the CLI was re-run with a higher limit (the caller exits with it),
 * or null to go on in this process.
 */
export async function reexecWithNofile(want: number): Promise<number | null> {
  const l = nofileLimits();
  if (!l || process.env[MARK] || l.soft >= want || l.soft >= l.hard) return null;
  const target = Math.min(want, l.hard);
  const child = spawn('sh', ['-c', `ulimit -n ${target} && exec "$0" "$@"`, process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, [MARK]: '1' },
  });
  // The terminal's Ctrl-C reaches the child too; this process only waits for its teardown.
  const ignore = () => {};
  process.on('SIGINT', ignore);
  process.on('SIGTERM', (sig) => child.kill(sig));
  return new Promise((resolve) => child.on('close', (code, sig) => resolve(code ?? (sig ? 128 + 2 : 1))));
}
