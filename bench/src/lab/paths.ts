// Where the repo's config sources are, found from this file's location (bench/dist/src/lab/), for both runtimes.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRepoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'eserver-lab') {
      return dir;
    }
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the eserver-lab repository root above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
}

export const repoRoot = findRepoRoot();

export const sources = {
  nginxConf: join(repoRoot, 'nginx', 'nginx.conf'),
  fpmConf: join(repoRoot, 'php-client', 'php-fpm.conf'),
  myCnf: join(repoRoot, 'mysql', 'my.cnf'),
  schema: join(repoRoot, 'mysql', 'schema.sql'),
  labUserSql: join(repoRoot, 'mysql', 'lab-user.sql'),
  docRoot: join(repoRoot, 'php-client', 'public'),
  queueCli: join(repoRoot, 'queue-server', 'dist', 'src', 'cli.js'),
};

export const defaultRunDir = join(repoRoot, 'run', 'lab');
