// The import rules of every workspace (.dependency-cruiser.cjs at the repo root): no import cycle anywhere,
// common imports no other workspace, the queue server never the bench, and bench/src's folders only import
// their own layer or lower ones. dependency-cruiser reads the TypeScript sources (type-only imports count).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { cruise, type ICruiseOptions, type IReporterOutput } from 'dependency-cruiser';
import { repoRoot } from '../src/repo-root.js';

const WORKSPACE_SOURCES = ['common/src', 'queue-server/src', 'php-client', 'bench/src'];

async function violations(files: string[], config: { forbidden: unknown[]; options: Record<string, unknown> }) {
  const cwd = process.cwd();
  process.chdir(repoRoot);
  try {
    const opts = { ...config.options, validate: true, ruleSet: { forbidden: config.forbidden } } as ICruiseOptions;
    const res: IReporterOutput = await cruise(files, opts);
    if (typeof res.output === 'string') throw new Error(res.output);
    return res.output.summary.violations.map((v) => ({ rule: v.rule.name, from: v.from, to: v.to, cycle: (v.cycle ?? []).map((c) => c.name) }));
  } finally {
    process.chdir(cwd);
  }
}

const config = createRequire(import.meta.url)(join(repoRoot, '.dependency-cruiser.cjs')) as { forbidden: unknown[]; options: Record<string, unknown> };

test('no import cycle and no upward import in any workspace', async () => {
  const found = await violations(WORKSPACE_SOURCES, config);
  assert.deepEqual(
    found.map((v) => `${v.rule}: ${v.from} -> ${v.to}${v.cycle.length ? ` (cycle ${v.cycle.join(' -> ')})` : ''}`),
    [],
    'move what both sides need into a lower module (see the layers in .dependency-cruiser.cjs)',
  );
});

test('the check can fail: a cycle and an upward import written for the test are reported', async () => {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const dir = mkdtempSync(join(repoRoot, 'bench', 'src', 'host', 'import-graph-probe-'));
  const rel = dir.slice(repoRoot.length + 1);
  try {
    writeFileSync(join(dir, 'a.ts'), "import { b } from './b.js';\nexport const a = (): unknown => b;\n");
    writeFileSync(join(dir, 'b.ts'), "import { a } from './a.js';\nexport const b = (): unknown => a;\n");
    // host/ is bench's lowest layer: importing the run pipeline from it is upward.
    writeFileSync(join(dir, 'up.ts'), "export { logStep } from '../../run/progress.js';\n");
    const found = await violations([rel], config);
    assert.ok(found.some((v) => v.rule === 'no-cycle' && v.from.endsWith('/a.ts')), JSON.stringify(found));
    assert.ok(found.some((v) => v.rule === 'bench-layer-host' && v.from.endsWith('/up.ts') && v.to.endsWith('run/progress.ts')), JSON.stringify(found));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
