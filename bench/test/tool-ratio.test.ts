// webbench ÷ ours from a directory of single runs: the medians per page and their ratio, each run's
// figures (bytes per page, the stack's CPU per page, the clients' SYN retransmissions where the
// generator ran), on constructed results.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pageRatios, toolRatioTable, toolRun } from '../src/report/tool-ratio.js';
import type { ResultDoc } from '../src/results/types.js';
import { budget } from './helper.js';

let n = 0;
function run(page: string, tool: 'webbench' | 'eserver-bench', ppm: number, inNs = true): ResultDoc {
  n++;
  return {
    profile: page === 'client' ? 'seed2013' : 'baseline',
    started_at: `2026-12-06T14:00:${String(n).padStart(2, '0')}.000Z`,
    tool: { name: tool, version: null, command: null },
    config: { page, duration_s: 30 },
    loadgen: { cpu_us_per_request: 1, ...(tool === 'webbench' ? { wall_s: 31.5 } : {}) },
    summary: { pages_per_min: ppm, bytes_per_sec: (ppm / 60) * 151 },
    cpu_budget: budget(18, 300),
    listen_queues: { counters: { ListenOverflows: 0, ListenDrops: 2, TCPSynRetrans: 7 } },
    load_host: inNs
      ? {
          kind: 'netns', netns: 'esl-load-1', veth: { host: 'esll1h', ns: 'esll1n', mtu: 1500 },
          addresses: { stack: '198.19.0.1', generator: '198.19.0.2', prefix: 30 }, sysctl: {},
          counters: { ListenOverflows: 0, ListenDrops: 0, TCPSynRetrans: 3 }, peers: { '198.19.0.2': 100 },
          time_wait: { stack_side: 5000, generator_side: 12 },
        }
      : null,
  } as unknown as ResultDoc;
}

test('per page, the ratio of the two tools\' medians; each run\'s figures', () => {
  const docs = [
    run('client', 'webbench', 45_000), run('client', 'eserver-bench', 48_000), run('baseline', 'webbench', 100_000),
    run('baseline', 'eserver-bench', 98_000), run('client', 'eserver-bench', 47_000), run('client', 'webbench', 46_000),
    run('client', 'webbench', 30_000), run('client', 'eserver-bench', 49_000),
  ];
  const ratios = pageRatios(docs.map(toolRun));
  assert.deepEqual(ratios.map((r) => r.page), ['client', 'baseline']);
  assert.equal(ratios[0]!.ratio, 45_000 / 48_000);
  assert.equal(ratios[1]!.ratio, 100_000 / 98_000);
  const r = toolRun(docs[0]!);
  assert.equal(r.tool, 'webbench');
  assert.equal(r.bytesPerPage, 151);
  assert.equal(r.stackUsPerPage, Math.round((18 * 1e6) / ((45_000 * 30) / 60)));
  assert.equal(r.synRetrans, 3, 'the clients\' SYN retransmissions are counted in the namespace they ran in');
  assert.deepEqual(r.timeWait, { stack: 5000, generator: 12 });
  assert.equal(toolRun(run('client', 'eserver-bench', 1, false)).synRetrans, 7, 'here: this namespace\'s counter');
  const table = toolRatioTable(docs);
  assert.match(table, /\| client \| 45,000, 46,000, 30,000 \| 48,000, 47,000, 49,000 \| \*\*0\.938\*\* \|/);
  assert.match(table, /\| 1 \| client \(seed2013\) \| webbench \| 45,000 \| 100% \|/);
  assert.match(table, /\| 1 \| client \(seed2013\) \| webbench \| .* \| 31\.5 \(30\) \|$/m, 'webbench\'s own run beside its -t');
  assert.match(table, /\| 2 \| client \(seed2013\) \| ours \| .* \| - \|$/m);
  assert.match(table, /Where the load ran: netns\.$/);
});

test('a page measured by one tool only has no ratio', () => {
  assert.deepEqual(pageRatios([toolRun(run('client', 'webbench', 1))]).map((p) => p.ratio), [null]);
});
