// Which engine the lab's docker and compose calls go to (lab/docker/endpoint.ts): the one the environment
// names, as the Docker CLI picks it, and never the lab's local engine in its place.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { remoteHostOf, resolveEngine, type CliRunner } from '../src/lab/docker/endpoint.js';

/** A docker CLI that knows the given contexts and has `current` in use; records what it was asked. */
function fakeCli(contexts: Record<string, { host: string; tls?: boolean }>, current = 'default') {
  const calls: string[][] = [];
  const cli: CliRunner = (args) => {
    calls.push(args);
    if (args[0] === 'context' && args[1] === 'show') return `${current}\n`;
    if (args[0] === 'context' && args[1] === 'inspect') {
      const c = contexts[args[2]!];
      if (!c) throw Object.assign(new Error('exit 1'), { stderr: `context "${args[2]}" does not exist` });
      return JSON.stringify([{
        Name: args[2], Endpoints: { docker: { Host: c.host, SkipTLSVerify: false } },
        TLSMaterial: c.tls ? { docker: ['ca.pem', 'cert.pem', 'key.pem'] } : {}, Storage: { TLSPath: `/ctx/tls/${args[2]}` },
      }]);
    }
    throw new Error(`unexpected docker ${args.join(' ')}`);
  };
  return { cli, calls };
}

const dir = mkdtempSync(join(tmpdir(), 'esl-endpoint-'));
const labSocket = join(dir, 'docker.sock');
writeFileSync(labSocket, ''); // the lab's engine "runs": the place a silent fall back would go
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

test('DOCKER_CONTEXT names the engine even while the lab engine runs: its host, not the lab socket', () => {
  const { cli } = fakeCli({ srv: { host: 'tcp://198.18.1.2:2375' } });
  const e = resolveEngine({ DOCKER_CONTEXT: 'srv' }, labSocket, cli);
  assert.equal(e.host, 'tcp://198.18.1.2:2375');
  assert.deepEqual(e.env, { DOCKER_HOST: 'tcp://198.18.1.2:2375' });
  assert.equal(e.remoteHost, '198.18.1.2');
  assert.match(e.via, /DOCKER_CONTEXT=srv/);
});

test('a context over TLS brings its certificates; an ssh context is remote', () => {
  const { cli } = fakeCli({ tls: { host: 'tcp://srv.example:2376', tls: true }, box: { host: 'ssh://me@box.example' } });
  assert.deepEqual(resolveEngine({ DOCKER_CONTEXT: 'tls' }, labSocket, cli).env, {
    DOCKER_HOST: 'tcp://srv.example:2376', DOCKER_CERT_PATH: '/ctx/tls/tls/docker', DOCKER_TLS_VERIFY: '1',
  });
  assert.equal(resolveEngine({ DOCKER_CONTEXT: 'box' }, labSocket, cli).remoteHost, 'box.example');
});

test('a context that does not exist is an error with the fix, never the local engine', () => {
  const { cli } = fakeCli({});
  assert.throws(() => resolveEngine({ DOCKER_CONTEXT: 'nope' }, labSocket, cli), /context "nope" cannot be read .*docker context create nope/);
});

test('the current context (docker context use) wins over the lab engine; default falls to the lab engine', () => {
  const { cli } = fakeCli({ srv: { host: 'ssh://me@srv' } }, 'srv');
  assert.equal(resolveEngine({}, labSocket, cli).host, 'ssh://me@srv');
  assert.equal(resolveEngine({}, labSocket, fakeCli({}).cli).host, `unix://${labSocket}`);
  assert.equal(resolveEngine({}, join(dir, 'absent.sock'), fakeCli({}).cli).host, 'unix:///var/run/docker.sock');
});

test('DOCKER_HOST wins over a context, as in the Docker CLI, and no context is looked up', () => {
  const { cli, calls } = fakeCli({ srv: { host: 'tcp://198.18.1.2:2375' } }, 'srv');
  const e = resolveEngine({ DOCKER_HOST: 'tcp://198.18.9.2:2375', DOCKER_CONTEXT: 'srv', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: '/c' }, labSocket, cli);
  assert.equal(e.host, 'tcp://198.18.9.2:2375');
  assert.deepEqual(e.env, { DOCKER_HOST: 'tcp://198.18.9.2:2375', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: '/c' });
  assert.deepEqual(calls, []);
});

test('remote means tcp or ssh to another machine', () => {
  assert.equal(remoteHostOf('unix:///run/docker.sock'), null);
  assert.equal(remoteHostOf('tcp://127.0.0.1:2375'), null);
  assert.equal(remoteHostOf('tcp://localhost:2375'), null);
  assert.equal(remoteHostOf('tcp://198.18.3.2:2375'), '198.18.3.2');
  assert.equal(remoteHostOf('ssh://user@server.lan:2222'), 'server.lan');
});
