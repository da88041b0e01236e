// Live progress: a cli-progress bar on a terminal, plain lines in a log (stderr not a terminal).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import type { Progress } from '../src/load/generator.js';
import { PLAIN_EVERY_S, progressLine } from '../src/run/progress.js';

function sink(isTTY: boolean): { stream: PassThrough & { isTTY?: boolean; columns?: number }; text: () => string } {
  const stream: PassThrough & { isTTY?: boolean; columns?: number } = new PassThrough();
  stream.isTTY = isTTY;
  stream.columns = 120;
  let out = '';
  stream.on('data', (d: Buffer) => (out += d.toString()));
  return { stream, text: () => out };
}

const at = (phase: Progress['phase'], elapsedS: number, phaseS: number, reqPerSec = 100): Progress => ({ phase, elapsedS, phaseS, reqPerSec, errorsTotal: 0 });

test('not a terminal: a line when each phase starts and every PLAIN_EVERY_S seconds, no escape codes', async () => {
  const { stream, text } = sink(false);
  const p = progressLine('[seed]', stream);
  p.update(at('warmup', 0, 5));
  for (let s = 1; s <= 5; s++) p.update(at('warmup', s, 5));
  for (let s = 0; s <= 2 * PLAIN_EVERY_S + 5; s++) p.update(at('measure', s + 0.4, 30, 1000 + s));
  p.done();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(text().split('\n').filter(Boolean), [
    '[seed] warm-up 0/5 s  100 req/s  errors 0',
    '[seed] measuring 0/30 s  1000 req/s  errors 0',
    `[seed] measuring ${PLAIN_EVERY_S}/30 s  ${1000 + PLAIN_EVERY_S} req/s  errors 0`,
    `[seed] measuring ${2 * PLAIN_EVERY_S}/30 s  ${1000 + 2 * PLAIN_EVERY_S} req/s  errors 0`,
  ]);
  assert.doesNotMatch(text(), /\x1b/);
});

test('terminal: a bar with the phase, seconds, rate and errors, cleared when the step ends', async () => {
  const { stream, text } = sink(true);
  const p = progressLine('[seed]', stream);
  p.update(at('measure', 3, 30, 4321));
  p.done();
  await new Promise((r) => setImmediate(r));
  const out = text();
  assert.match(out, /\[seed\] measuring \[[^\]]*\] 3\/30 s {2}4321 req\/s {2}errors 0/);
  // Cleared when the step ends: the cursor is shown again and the last thing written erases the line.
  assert.ok(out.includes('\x1b[?25h'), JSON.stringify(out));
  assert.ok(out.endsWith('\x1b[2K'), JSON.stringify(out));
});
