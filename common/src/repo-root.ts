// The repository root, found from this file's place (common/dist/src/ or common/src/): the nearest
// folder above whose package.json is the eserver-lab workspace root.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRepoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'eserver-lab') return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find the eserver-lab repository root (a package.json named "eserver-lab") above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

export const repoRoot = findRepoRoot();
