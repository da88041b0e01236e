// The lab runner's small parts, without starting the stack: rendering, port owners, memory sizes, and
// that the repo's config files use only the documented tokens.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderTemplate, tokensIn, RenderError } from '@eserver-lab/common/render';
import { assertPortFree, findPortOwner, PortInUseError } from '../src/lab/ports.js';
import { parseMemory } from '../src/host/cgroup.js';
import { repoRoot, sources } from '../src/lab/paths.js';
import { freePort } from '@eserver-lab/common/free-port';
import { stackLimits } from './helper.js';

test('renderTemplate replaces every token and refuses a token without a value', () => {
  const out = renderTemplate('listen 127.0.0.1:@@HTTP_PORT@@; root @@DOC_ROOT@@; again @@HTTP_PORT@@', {
    HTTP_PORT: 18080,
    DOC_ROOT: '/srv/x',
  });
  assert.equal(out, 'listen 127.0.0.1:18080; root /srv/x; again 18080');
  assert.throws(() => renderTemplate('a @@FPM_PORT@@ b @@NOPE@@', { FPM_PORT: 1 }, 'f.conf'), (e: unknown) => {
    assert.ok(e instanceof RenderError);
    assert.match((e as Error).message, /f\.conf: no value for token\(s\) @@NOPE@@/);
    return true;
  });
  // Lower-case words between @@ are not tokens (comments may name the syntax).
  assert.deepEqual(tokensIn('the @@name@@ syntax, @@RUN_DIR@@'), ['RUN_DIR']);
});

test('the repo config files use only tokens documented in tokens.md', () => {
  const doc = readFileSync(join(repoRoot, 'bench', 'src', 'lab', 'tokens.md'), 'utf8');
  const documented = new Set(tokensIn(doc));
  for (const f of [sources.nginxConf, sources.fpmConf]) {
    const used = tokensIn(readFileSync(f, 'utf8'));
    assert.ok(used.length > 0, `${f} uses tokens`);
    for (const t of used) assert.ok(documented.has(t), `${f} uses @@${t}@@, which tokens.md does not list`);
  }
});

test('a port in use is reported with its number and the owning process', async () => {
  const srv: Server = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  try {
    const owner = await findPortOwner(port);
    assert.equal(owner?.pid, process.pid);
    await assert.rejects(assertPortFree(port, 'nginx', '--http-port'), (e: unknown) => {
      assert.ok(e instanceof PortInUseError);
      assert.equal(e.port, port);
      assert.match(e.message, new RegExp(`port ${port} for nginx is already in use by pid ${process.pid} \\(`));
      assert.match(e.message, /--http-port/);
      return true;
    });
  } finally {
    await new Promise((r) => srv.close(r));
  }
  // Once closed, the same port passes.
  await assertPortFree(port, 'nginx', '--http-port');
  assert.ok((await freePort()) > 0);
});

test('parseMemory reads the --memory forms', () => {
  assert.equal(parseMemory('2g'), 2 * 1024 ** 3);
  assert.equal(parseMemory('512m'), 512 * 1024 ** 2);
  assert.equal(parseMemory('1.5G'), 1.5 * 1024 ** 3);
  assert.equal(parseMemory('1048576'), 1048576);
  assert.equal(parseMemory('2GiB'), 2 * 1024 ** 3);
  assert.throws(() => parseMemory('lots'), /cannot read memory size/);
});

test('a missing program names the Debian package that provides it', async () => {
  const { requireBinary, MissingBinaryError, findBinaries } = await import('../src/lab/native/binaries.js');
  assert.throws(
    () => requireBinary('the MariaDB server', ['mariadbd-that-does-not-exist'], 'mariadb-server'),
    (e: unknown) => {
      assert.ok(e instanceof MissingBinaryError);
      assert.match((e as Error).message, /the MariaDB server not found .*Install the Debian package "mariadb-server"/);
      return true;
    },
  );
  // php-fpm is found whatever its minor version (php-fpm8.2 on Debian 12).
  assert.match(findBinaries().phpFpm, /\/php-fpm[\d.]*$/);
});

test('createBudgetCgroup writes the limits that readLimits reads back, and removeCgroup removes the group', async () => {
  const { createBudgetCgroup, readLimits, removeCgroup, cgroupExists, CgroupUnavailable } = await import('../src/host/cgroup.js');
  let rec;
  try {
    rec = await createBudgetCgroup(`eserver-lab-unit-${process.pid}`, stackLimits(1.5, 512 * 1024 ** 2));
  } catch (e) {
    // Where no cgroup is writable the runner goes on unlimited; the error must say why.
    assert.ok(e instanceof CgroupUnavailable);
    assert.match((e as Error).message, /cannot create a v[12] cgroup/);
    return;
  }
  try {
    const l = await readLimits(rec);
    assert.equal(l.cpus, 1.5);
    assert.equal(l.memoryBytes, 512 * 1024 ** 2);
    assert.equal(l.cgroupVersion, rec.version);
  } finally {
    assert.deepEqual(await removeCgroup(rec), []);
  }
  assert.equal(cgroupExists(rec), false);
  // A group that cannot be made is reported, not half-created.
  await assert.rejects(createBudgetCgroup('no-such-parent/child', stackLimits(1, 1024 ** 3)), (e: unknown) => {
    assert.ok(e instanceof CgroupUnavailable);
    assert.match((e as Error).message, /cannot create a v[12] cgroup "no-such-parent\/child": .*ENOENT/);
    return true;
  });
});
