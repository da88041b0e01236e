// Where the repo's config sources are, for both runtimes.
import { join } from 'node:path';
import { repoRoot } from '@eserver-lab/common/repo-root';

export { repoRoot };

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
