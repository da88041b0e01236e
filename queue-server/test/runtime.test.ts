// QUEUE_RUNTIME picks the executable that runs the queue server; a wrong value or a missing bun is a
// clear error that names the fix.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { BUN_PACKAGE, DEFAULT_QUEUE_RUNTIME, findBun, queueRuntime, queueRuntimeName } from '../src/runtime.js';

test('QUEUE_RUNTIME: unset or empty is bun (the default); node and bun are accepted; anything else is refused with the choices', () => {
  assert.equal(DEFAULT_QUEUE_RUNTIME, 'bun');
  assert.equal(queueRuntimeName(undefined), 'bun');
  assert.equal(queueRuntimeName(''), 'bun');
  assert.equal(queueRuntimeName(' '), 'bun');
  assert.equal(queueRuntimeName('node'), 'node');
  assert.equal(queueRuntimeName(' bun '), 'bun');
  assert.throws(() => queueRuntimeName('deno'), /QUEUE_RUNTIME="deno" is not a runtime: use QUEUE_RUNTIME=bun \(the default\) or QUEUE_RUNTIME=node/);
});

test('with QUEUE_RUNTIME unset the server resolves to bun; QUEUE_RUNTIME=node overrides it', () => {
  const saved = process.env.QUEUE_RUNTIME;
  try {
    delete process.env.QUEUE_RUNTIME;
    assert.equal(queueRuntime().name, 'bun');
    assert.match(queueRuntime().bin, /\/bun$/);
    process.env.QUEUE_RUNTIME = 'node';
    assert.equal(queueRuntime().name, 'node');
    assert.match(execFileSync(queueRuntime().bin, ['-p', 'process.release.name'], { encoding: 'utf8' }), /^node/);
  } finally {
    if (saved === undefined) delete process.env.QUEUE_RUNTIME;
    else process.env.QUEUE_RUNTIME = saved;
  }
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
    assert.match(e.message, /runs on Bun \(QUEUE_RUNTIME=bun, the default\) but no bun executable was found/);
    assert.match(e.message, /QUEUE_RUNTIME=node/);
    assert.ok(e.message.includes(BUN_PACKAGE), e.message);
    assert.match(e.message, /npm install/);
    return true;
  });
});
