// Every workspace declares what it imports and imports what it declares (issue 11: no dependency declared and
// unused). Read from the package.json files and the sources as they are, so a leftover cannot come back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, relative } from 'node:path';
import { repoRoot } from '../src/lab/paths.js';

interface Manifest {
  workspaces?: string[];
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

/** Packages used by a tool or found by path rather than imported, each with the text that shows the use. */
const USED_WITHOUT_IMPORT: Record<string, { file: string; shows: string; why: string }> = {
  typescript: { file: 'Makefile', shows: 'npx tsc -b', why: 'the compiler of make build' },
  '@types/node': { file: 'tsconfig.base.json', shows: '"types": ["node"]', why: "node's types for every workspace" },
  '@oven/bun-linux-x64': { file: 'queue-server/src/runtime.ts', shows: "BUN_PACKAGE = '@oven/bun-linux-x64'", why: 'the bun executable, found by require.resolve' },
};

const SOURCE = /\.(ts|mts|js|mjs|cjs)$/;
const SKIP = new Set(['node_modules', 'dist', '.git']);

function sources(dir: string, nested: string[]): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (!SKIP.has(e.name) && !nested.includes(p)) out.push(...sources(p, nested));
    } else if (SOURCE.test(e.name)) out.push(p);
  }
  return out;
}

/** Bare package names a file imports (static, dynamic with a literal, require), builtins left out. */
function importedPackages(text: string): Set<string> {
  const out = new Set<string>();
  const re = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\brequire\s*\(\s*)['"]([^'"\s]+)['"]/g;
  for (const m of text.matchAll(re)) {
    const spec = m[1];
    if (spec.startsWith('.') || spec.startsWith('/') || spec.startsWith('node:') || builtinModules.includes(spec.split('/')[0])) continue;
    const parts = spec.split('/');
    out.add(spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]);
  }
  return out;
}

const root = readJson(join(repoRoot, 'package.json'));
function readJson(file: string): Manifest {
  return JSON.parse(readFileSync(file, 'utf8')) as Manifest;
}
const workspaces = ['.', ...(root.workspaces ?? [])];
// The root's own files: neither a workspace's nor the scratch and results directories.
const notRoot = [...(root.workspaces ?? []), 'run', 'results'].map((w) => join(repoRoot, w));

for (const ws of workspaces) {
  test(`${ws === '.' ? 'the root' : ws}: every declared dependency is imported, every imported package declared`, () => {
    const dir = join(repoRoot, ws);
    const m = readJson(join(dir, 'package.json'));
    const declared = new Set(Object.keys({ ...m.dependencies, ...m.devDependencies, ...m.optionalDependencies }));
    const imported = new Map<string, string>();
    for (const f of sources(dir, ws === '.' ? notRoot : [])) {
      for (const p of importedPackages(readFileSync(f, 'utf8'))) if (!imported.has(p)) imported.set(p, relative(repoRoot, f));
    }
    const unused = [...declared].filter((d) => {
      if (imported.has(d)) return false;
      const tool = USED_WITHOUT_IMPORT[d];
      if (tool) return !readFileSync(join(repoRoot, tool.file), 'utf8').includes(tool.shows);
      // @types/x is used where x is (@types/scope__name types @scope/name).
      return !(d.startsWith('@types/') && imported.has(d.slice('@types/'.length).replace(/^(.+)__(.+)$/, '@$1/$2')));
    });
    assert.deepEqual(unused, [], `${ws}/package.json declares packages its sources never import: remove them, or import them where they do the job`);
    const own = new Set([...declared, ...Object.keys(root.devDependencies ?? {})]);
    const undeclared = [...imported].filter(([p]) => !own.has(p)).map(([p, f]) => `${p} (${f})`);
    assert.deepEqual(undeclared, [], `${ws} imports packages its package.json does not declare: npm install <pkg> -w ${ws}`);
  });
}

test('the import scan sees static, dynamic and type imports and leaves builtins and relative paths out', () => {
  // Quotes stand as § so that this file's own scan does not take the examples for imports.
  const text = [
    'import { a } from §alpha§;',
    'import type { B } from §@scope/beta/deep/path§;',
    'const c = await import(§gamma§);',
    'import §delta/register§;',
    'const r = require(§epsilon§);',
    'import fs from §node:fs§; import path from §path§; import x from §./x.js§;',
  ].join('\n').replaceAll('§', "'");
  assert.deepEqual([...importedPackages(text)].sort(), ['@scope/beta', 'alpha', 'delta', 'epsilon', 'gamma']);
  assert.ok(existsSync(join(repoRoot, 'package.json')));
});
