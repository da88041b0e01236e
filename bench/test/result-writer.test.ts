// A result that fails its schema is refused, but what the run measured is kept beside it for a look.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeResult } from '../src/results/writer.js';
import type { ResultDoc } from '../src/results/types.js';

test('a result that fails its schema: exit with the errors, the document kept as .invalid.json, latest.json untouched', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eserver-writer-'));
  try {
    const doc = { started_at: '2026-12-06T12:19:31.000Z', runtime: 'native', profile: 'seed', summary: { pages_per_min: 46976 } } as unknown as ResultDoc;
    const kept = path.join(dir, '2026-12-06T12-19-31Z-native-seed.invalid.json');
    assert.throws(() => writeResult(dir, doc), (e: Error) => e.message.includes('does not match its schema') && e.message.includes(kept));
    assert.equal(JSON.parse(fs.readFileSync(kept, 'utf8')).summary.pages_per_min, 46976);
    assert.equal(fs.existsSync(path.join(dir, 'latest.json')), false);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
