// The budget of a stack on a remote engine's host (issue 25): that host's calibration (by its CPU model) when
// one exists, otherwise the whole of that machine, said so; and make bench never calibrates on this machine
// for a stack that will run on another one.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { stackBudget } from '../src/lab/budget.js';
import { coarseCalibrationWanted } from '../src/calibrate/coarse.js';
import { repoRoot } from '@eserver-lab/common/repo-root';

test("no calibration for the stack host's CPU model: its whole machine, said to be that host's", () => {
  const model = `Esl Test CPU ${process.pid}`;
  const b = stackBudget({ host: { cpu_model: model, cores: 8, label: 'stack host srv1' } });
  assert.equal(b.cpus, 8, "the stack host's cores, not this machine's");
  assert.equal(b.use.cpus, null);
  assert.match(b.use.note, /^stack host srv1: WHOLE MACHINE \(8 CPUs\)/);
  assert.ok(b.use.note.includes(model));
  // The file that would make it the emulated box is one made on that host; make calibrate here measures this one.
  assert.match(b.use.note, /make calibrate on that host/);
  assert.doesNotMatch(b.use.note, /make bench CALIBRATE=1/);
});

test("the stack host's own calibration when its CPU model has one", () => {
  const files = fs.readdirSync(path.join(repoRoot, 'results', 'calibration')).filter((f) => f.endsWith('.json'));
  const withQuota = files.map((f) => JSON.parse(fs.readFileSync(path.join(repoRoot, 'results', 'calibration', f), 'utf8')) as { cpu_model: string; found: boolean; cpus: number | null })
    .find((c) => c.found && c.cpus !== null);
  if (!withQuota) return; // nothing calibrated in this checkout
  const b = stackBudget({ host: { cpu_model: withQuota.cpu_model, cores: 64, label: 'stack host srv2' } });
  assert.equal(b.cpus, withQuota.cpus);
  assert.match(b.use.note, /^stack host srv2: emulated 2013 box/);
});

test('make bench calibrates coarsely on this machine only for a stack on this machine', () => {
  const local = { runtime: 'auto', remoteEngine: false } as const;
  assert.equal(coarseCalibrationWanted(local), true);
  assert.equal(coarseCalibrationWanted({ ...local, runtime: 'native' }), true);
  assert.equal(coarseCalibrationWanted({ ...local, runtime: 'docker' }), false, 'the 2013-style stack has no image');
  assert.equal(coarseCalibrationWanted({ ...local, url: 'http://x' }), false);
  assert.equal(coarseCalibrationWanted({ ...local, cpus: 1 }), false);
  // RUNTIME=auto with DOCKER_HOST or a context on another machine: the stack runs there, or not at all.
  assert.equal(coarseCalibrationWanted({ runtime: 'auto', remoteEngine: true }), false);
  assert.equal(coarseCalibrationWanted({ runtime: 'native', remoteEngine: true }), true, 'native is this machine whatever DOCKER_HOST says');
});
