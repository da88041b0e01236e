// The gate's budget: both stacks get the same one, whatever this CPU model's calibration says or lacks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { machineInfo } from '../src/host/machine.js';
import { gateBudget } from '../src/gate/budget.js';

const host = (model: string) => ({ ...machineInfo(), cpu_model: model, cores: 2 });

test('with no calibration for this CPU model, each stack gets the gate\'s default budget, and the note says why', () => {
  const b = gateBudget({ defaultCpus: 0.5 }, host('Intel(R) Xeon(R) Processor of a model nobody calibrated'));
  assert.deepEqual([b.source, b.cpus], ['default', 0.5]);
  assert.match(b.note, /no calibration for this CPU model \("Intel\(R\) Xeon\(R\) Processor of a model nobody calibrated"\).*same budget/);
});

test('a calibrated CPU model gives the emulated 2013 box; --cpus overrides both', () => {
  const cal = gateBudget({ defaultCpus: 0.5 }, host('AMD EPYC'));
  assert.equal(cal.source, 'calibration');
  assert.ok(cal.cpus > 0 && cal.cpus < 2);
  assert.match(cal.note, /emulated 2013 box/);
  const x = gateBudget({ defaultCpus: 0.5, cpus: 0.7 }, host('AMD EPYC'));
  assert.deepEqual([x.source, x.cpus], ['explicit', 0.7]);
});
