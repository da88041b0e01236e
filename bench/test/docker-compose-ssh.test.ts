// Compose v1 (Debian's docker-compose, Python) reaches an ssh:// engine only with the Python package
// paramiko, which Debian's docker-compose does not pull in without its recommends. The README's way to a real
// server is an ssh context, so that failure must name its fix, not end in a Python traceback.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compose } from '../src/lab/docker/exec.js';

test('compose v1 without paramiko on an ssh:// engine: the error names the package to install', async () => {
  const bin = mkdtempSync(join(tmpdir(), 'esl-compose-ssh-'));
  const saved = { PATH: process.env.PATH, DOCKER_HOST: process.env.DOCKER_HOST };
  try {
    // No Compose v2 plugin; a docker-compose 1.29 that fails as Debian's does without paramiko.
    writeFileSync(join(bin, 'docker'), '#!/bin/sh\necho "docker: unknown command: compose" >&2; exit 1\n');
    writeFileSync(
      join(bin, 'docker-compose'),
      '#!/bin/sh\n[ "$1" = version ] && { echo 1.29.2; exit 0; }\n' +
        'echo "Traceback (most recent call last):" >&2\n' +
        'echo "docker.errors.DockerException: Install paramiko package to enable ssh:// support" >&2; exit 1\n',
    );
    for (const f of ['docker', 'docker-compose']) chmodSync(join(bin, f), 0o755);
    process.env.PATH = `${bin}:${saved.PATH}`;
    process.env.DOCKER_HOST = 'ssh://root@198.18.0.2';
    await assert.rejects(compose('esl-x', ['ps'], {}), (err: Error) => {
      assert.match(err.message, /docker-compose 1\.29\.2 reaches an ssh:\/\/ engine \(ssh:\/\/root@198\.18\.0\.2\) through the Python package paramiko, which is missing/);
      assert.match(err.message, /apt-get install -y python3-paramiko/);
      assert.doesNotMatch(err.message, /Traceback/);
      return true;
    });
  } finally {
    process.env.PATH = saved.PATH;
    if (saved.DOCKER_HOST === undefined) delete process.env.DOCKER_HOST;
    else process.env.DOCKER_HOST = saved.DOCKER_HOST;
    rmSync(bin, { recursive: true, force: true });
  }
});
