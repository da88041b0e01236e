// A Docker stack is taken down, read and followed on the engine it was started on, never on whichever engine
// the environment names now (issue 25): `lab down` after a remote `lab up`, run without its DOCKER_HOST, would
// otherwise send `compose down` for the same project to the local engine. Refused, with the engine to use.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dockerLogs, dockerRuntime, dockerServicePid } from '../src/lab/docker/index.js';

const dir = mkdtempSync(join(tmpdir(), 'esl-state-engine-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

// The stack's engine: an address in 198.18.0.0/15 that nothing here dials (the refusal comes first).
const STACK_ENGINE = 'tcp://198.18.254.2:2375';
const state = {
  runtime: 'docker', runDir: dir, project: 'esl-state-test', ports: { http: 1, fpm: 2, queue: 3, metrics: 4, mysql: 5 },
  cgroupParent: 'esl-state-test', baseImage: 'eserver-lab/bookworm-base:latest', budget: { cpus: 1, memory: '1g' },
  queueArgs: [], queueRuntime: 'bun', listenBacklog: 128, startedAt: new Date(0).toISOString(),
  engine: STACK_ENGINE,
};
writeFileSync(join(dir, 'docker-state.json'), JSON.stringify(state));

test('down, status, logs and a service pid refuse an engine other than the stack\'s, and name the one to use', async () => {
  const saved = { host: process.env.DOCKER_HOST, ctx: process.env.DOCKER_CONTEXT };
  // A local engine's socket: where a silent fall back would go.
  process.env.DOCKER_HOST = `unix://${join(dir, 'local.sock')}`;
  delete process.env.DOCKER_CONTEXT;
  try {
    const refused = (e: Error) => e.message.includes(STACK_ENGINE) && /DOCKER_HOST=/.test(e.message) && !/compose|Cannot connect/.test(e.message);
    await assert.rejects(dockerRuntime.down(dir), refused);
    await assert.rejects(dockerRuntime.status(dir), refused);
    await assert.rejects(dockerLogs(dir), refused);
    await assert.rejects(dockerServicePid(dir, 'nginx'), refused);
    assert.ok(existsSync(join(dir, 'docker-state.json')), 'the state file stays: the stack is still up on its engine');
  } finally {
    if (saved.host === undefined) delete process.env.DOCKER_HOST;
    else process.env.DOCKER_HOST = saved.host;
    if (saved.ctx !== undefined) process.env.DOCKER_CONTEXT = saved.ctx;
  }
});
