// The worker counts and listen settings a stack ran with, read from the config files themselves (the
// shared nginx and php-fpm files both runtimes start from), so the results never restate them by hand.
import { readFileSync } from 'node:fs';

/** `key value;` (nginx) and `key = value` (php-fpm) lines; keys not found are left out. */
export function confValues(file: string, keys: string[]): Record<string, string> {
  const text = readFileSync(file, 'utf8');
  const out: Record<string, string> = {};
  for (const k of keys) {
    const esc = k.replace(/\./g, '\\.');
    const m = new RegExp(`^\\s*${esc}(?:\\s*=\\s*|\\s+)([^;\\n]+?);?\\s*$`, 'm').exec(text);
    if (m) out[k] = m[1]!;
  }
  return out;
}

/** What a results file records of nginx and php-fpm. */
export function webTierConfig(nginxConf: string, fpmConf: string): { nginx: Record<string, string>; phpFpm: Record<string, string> } {
  return {
    nginx: { ...confValues(nginxConf, ['worker_processes', 'worker_connections', 'worker_rlimit_nofile', 'listen']), conf: nginxConf },
    phpFpm: { ...confValues(fpmConf, ['pm', 'pm.max_children', 'listen', 'listen.backlog', 'rlimit_files']), conf: fpmConf },
  };
}
