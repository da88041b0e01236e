// `eserver-lab logs`: the native stack's log files, or the docker stack's container output with --runtime docker.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../src/lab/paths.js';

const cli = join(repoRoot, 'bench', 'dist', 'src', 'lab', 'cli.js');
const lab = (...args: string[]): string => execFileSync(process.execPath, [cli, 'logs', ...args], { encoding: 'utf8', timeout: 60_000 });

test('native: the last lines of each log file, filtered by service', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lab-logs-'));
  try {
    mkdirSync(join(dir, 'logs'));
    writeFileSync(join(dir, 'logs', 'queue-server.log'), 'one\ntwo\nthree\n');
    writeFileSync(join(dir, 'logs', 'nginx.log'), 'nginx line\n');
    const out = lab('--runtime', 'native', '--run-dir', dir, '--service', 'queue', '-n', '2');
    assert.equal(out, `==> ${join(dir, 'logs', 'queue-server.log')} <==\ntwo\nthree\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('docker: the docker stack is asked (through its run directory), not the native log files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lab-logs-'));
  try {
    mkdirSync(join(dir, 'logs'));
    writeFileSync(join(dir, 'logs', 'queue-server.log'), 'a native line\n');
    const out = lab('--runtime', 'docker', '--run-dir', dir);
    assert.equal(out, `lab: no docker stack in ${dir} (start one with make lab-up RUNTIME=docker)\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
