// Finds a program on PATH or in the sbin folders (Debian puts mariadbd and php-fpm there), and names the
// Debian package when it is missing.
import { accessSync, constants, readdirSync } from 'node:fs';
import { join } from 'node:path';

export class MissingBinaryError extends Error {}

const SEARCH = [...(process.env.PATH ?? '').split(':').filter(Boolean), '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The first name (or name pattern) found on PATH or in /usr/sbin, or null. */
export function findBinary(names: (string | RegExp)[]): string | null {
  for (const dir of [...new Set(SEARCH)]) {
    let entries: string[] | null = null;
    for (const n of names) {
      if (typeof n === 'string') {
        if (executable(join(dir, n))) return join(dir, n);
        continue;
      }
      try {
        entries ??= readdirSync(dir);
      } catch {
        entries = [];
      }
      // Newest version first (php-fpm8.3 before php-fpm8.2).
      const hit = entries.filter((e) => n.test(e)).sort().reverse().find((e) => executable(join(dir, e)));
      if (hit) return join(dir, hit);
    }
  }
  return null;
}

export function requireBinary(what: string, names: (string | RegExp)[], pkg: string): string {
  const p = findBinary(names);
  if (p) return p;
  throw new MissingBinaryError(
    `${what} not found (looked for ${names.map(String).join(', ')} on PATH and in /usr/sbin). ` +
      `Install the Debian package "${pkg}" (make setup does it as root on Debian/Ubuntu).`,
  );
}
