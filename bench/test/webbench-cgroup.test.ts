// --tool webbench on a real stack: webbench and every process it forks run in the load generator's
// cgroup, beside the stack's and never inside it. The stand-in webbench records the cgroups of itself and
// of a child it forks (the real one forks one process per client) and prints webbench's two lines.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { runBench } from '../src/run/bench.js';
import { validateResult } from '../src/results/validate.js';
import { processesUsing } from './lab-procs.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-wb-cg-'));
after(() => {
  if (processesUsing(dir).length === 0) fs.rmSync(dir, { recursive: true, force: true });
});

const cpuPath = (procCgroup: string) => /^\d+:cpu:(.*)$/m.exec(procCgroup)?.[1] ?? null;

test('webbench and its forked clients run in the generator cgroup, not in the stack cgroup', { timeout: 180_000 }, async (t) => {
  if (process.getuid?.() !== 0) return t.skip('cgroups need root here');
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin);
  fs.writeFileSync(
    path.join(bin, 'webbench'),
    [
      '#!/bin/sh',
      `cat /proc/self/cgroup > ${dir}/parent.cgroup`,
      `sh -c 'cat /proc/self/cgroup > ${dir}/child.cgroup' &`,
      'wait',
      "echo 'Speed=1200 pages/min, 3000 bytes/sec.'",
      "echo 'Requests: 60 susceed, 0 failed.'",
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
  const oldPath = process.env.PATH;
  process.env.PATH = `${bin}:${oldPath}`;
  try {
    const out = await runBench({
      profiles: ['seed2013'], overrides: { concurrency: 10, durationS: 3, warmupS: 0 }, runtime: 'native', tool: 'webbench',
      outDir: dir, noReport: true, freePorts: true, runDir: path.join(dir, 'lab'), cpus: 0.5,
    });
    const d = out.docs[0]!;
    assert.deepEqual(validateResult(d), { ok: true });
    assert.equal(d.tool.name, 'webbench');
    if (!d.limits?.cgroup || !d.cpu_budget?.generator.cgroup) return t.skip(`no cgroups here: ${d.limits?.note ?? ''}`);
    const stackCg = d.limits!.cgroup!.replace(/^\/sys\/fs\/cgroup\/cpu/, '');
    const genCg = d.cpu_budget!.generator.cgroup!.replace(/^\/sys\/fs\/cgroup\/cpu/, '');
    for (const who of ['parent', 'child']) {
      const cg = cpuPath(fs.readFileSync(path.join(dir, `${who}.cgroup`), 'utf8'));
      assert.equal(cg, genCg, `webbench ${who} in the generator's cpu cgroup`);
      assert.notEqual(cg, stackCg);
    }
    assert.equal(d.cpu_budget!.generator.outside_stack, true);
  } finally {
    process.env.PATH = oldPath;
  }
});
