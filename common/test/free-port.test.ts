import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { freePort, freePorts } from '../src/free-port.js';
import { repoRoot } from '../src/repo-root.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

test('freePort gives a port that can be bound right after', async () => {
  const port = await freePort();
  const srv = createServer();
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(port, '127.0.0.1', resolve);
  });
  await new Promise((r) => srv.close(r));
});

test('freePorts gives n distinct ports', async () => {
  const ports = await freePorts(5);
  assert.equal(new Set(ports).size, 5);
});

test('repoRoot is the workspace root', () => {
  assert.ok(existsSync(join(repoRoot, 'common', 'package.json')));
  assert.ok(existsSync(join(repoRoot, 'mysql', 'schema.sql')));
});
