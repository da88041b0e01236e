// QUEUE_RUNTIME picks the executable that runs the queue server; a wrong value or a missing bun is a
// clear error that names the fix.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { BUN_PACKAGE, findBun, queueRuntime, queueRuntimeName } from '../src/runtime.js';

test('QUEUE_RUNTIME: unset or empty is node; node and bun are accepted; anything else is refused with the choices', () => {
  assert.equal(queueRuntimeName(undefined), 'node');
  assert.equal(queueRuntimeName(''), 'node');
  assert.equal(queueRuntimeName('node'), 'node');
  assert.equal(queueRuntimeName(' bun '), 'bun');
  assert.throws(() => queueRuntimeName('deno'), /QUEUE_RUNTIME="deno" is not a runtime: use QUEUE_RUNTIME=node .* or QUEUE_RUNTIME=bun/);
});

test('bun resolves to the binary shipped in the npm package, which runs', () => {
  const { name, bin } = queueRuntime('bun');
  assert.equal(name, 'bun');
  assert.match(bin, /@oven\/bun-linux-x64\/bin\/bun$/);
  assert.match(execFileSync(bin, ['--version'], { encoding: 'utf8' }), /^\d+\.\d+\.\d+/);
});

test('node resolves to a node executable', () => {
  const { bin } = queueRuntime('node');
  assert.match(execFileSync(bin, ['-p', 'process.release.name'], { encoding: 'utf8' }), /^node/);
});

test('without the package and without bun on PATH, the error names the package and the command that installs it', () => {
  const noPackage = (): string => {
    throw new Error('Cannot find module');
  };
  assert.throws(() => findBun('', noPackage), (e: Error) => {
    assert.match(e.message, /QUEUE_RUNTIME=bun but no bun executable was found/);
    assert.ok(e.message.includes(BUN_PACKAGE), e.message);
    assert.match(e.message, /npm install/);
    return true;
  });
});
