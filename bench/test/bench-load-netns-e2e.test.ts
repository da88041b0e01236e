// `make bench PROFILE=smoke LOAD_HOST=netns` end to end, as root: ours and the 2013-style stack listen on
// the host's end of a veth pair, the load comes from the namespace's end (nginx's connections are from
// that address, not from loopback), the loss check passes, the generator's CPU is still counted in its own
// cgroup, and no namespace or veth is left; then a Ctrl-C while the stacks are up leaves none either.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { waitFor } from '@eserver-lab/common/wait';
import { repoRoot } from '@eserver-lab/common/repo-root';
import { cannotMakeNetworkNamespace, loadNamespaceLeftovers } from '../src/host/netns.js';
import { cgroupDirsNamed } from './two-host.js';
import type { ResultDoc } from '../src/results/types.js';
import { validateResult } from '../src/results/validate.js';
import { processesUsing } from './lab-procs.js';
import { runCli, watchCli } from './run-cli.js';

const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const LAB_CLI = fileURLToPath(new URL('../src/lab/cli.js', import.meta.url));
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-loadns-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const skip = cannotMakeNetworkNamespace();
// The load generators' cgroups (load/generator-cgroup.ts) there before this file: any other one is a run's of it.
const generatorsBefore = new Set(cgroupDirsNamed('eserver-gen-*'));
const newGeneratorCgroups = () => cgroupDirsNamed('eserver-gen-*').filter((d) => !generatorsBefore.has(d));

/** The namespace and veth a run announced ("load namespace NAME: ... (VETH_NS) ... (VETH_HOST)"). */
function announced(out: string): { name: string; veth: { host: string; ns: string } } | null {
  const m = /load namespace (esl-load-\d+): the generator at [\d.]+ \((\S+)\), the stack at [\d.]+ \((\S+)\)/.exec(out);
  return m ? { name: m[1]!, veth: { ns: m[2]!, host: m[3]! } } : null;
}

test('make bench PROFILE=smoke LOAD_HOST=netns: the load comes from the namespace, the loss check passes, nothing is left', { skip: skip ?? false, timeout: 240_000 }, async () => {
  const out = path.join(dir, 'smoke');
  fs.mkdirSync(out);
  fs.copyFileSync(path.join(repoRoot, 'results/seed.json'), path.join(out, 'seed.json'));
  const r = await runCli(CLI, ['run', '--profile', 'smoke', '--runtime', 'native', '--load-host', 'netns', '--out', out, '--run-dir', path.join(out, 'lab'), '--free-ports', '--no-report']);
  const text = r.out + r.err;
  assert.equal(r.code, 0, text);
  assert.match(text, /^Loss check: (\d+) acked, \1 rows, \1 distinct: OK/m);
  const ns = announced(text);
  assert.ok(ns, `the run names its namespace:\n${text}`);
  assert.deepEqual(loadNamespaceLeftovers(ns), [], 'no namespace or veth left');
  assert.deepEqual(newGeneratorCgroups(), [], "the load generator's cgroup");

  const read = (re: RegExp) => {
    const f = fs.readdirSync(out).filter((x) => re.test(x));
    assert.equal(f.length, 1, f.join(' '));
    return JSON.parse(fs.readFileSync(path.join(out, f[0]!), 'utf8')) as ResultDoc;
  };
  for (const doc of [read(/-native-smoke\.json$/), read(/-native-seed2013\.json$/)]) {
    assert.deepEqual(validateResult(doc), { ok: true });
    const h = doc.load_host!;
    assert.ok(h, `${doc.profile}: load_host recorded`);
    assert.equal(h.netns, ns.name);
    assert.equal(new URL(doc.url).hostname, h.addresses.stack, 'the page was loaded at the stack\'s end of the pair');
    // Where nginx's connections came from, mid-window: the namespace's end, never loopback.
    const peers = h.peers ?? {};
    const fromNs = peers[h.addresses.generator] ?? 0;
    const all = Object.values(peers).reduce((a, b) => a + b, 0);
    assert.ok(fromNs > 0 && !('127.0.0.1' in peers), `${doc.profile}: peers ${JSON.stringify(peers)}`);
    assert.ok(fromNs >= 0.95 * all, `${doc.profile}: the load's connections are the namespace's: ${JSON.stringify(peers)}`);
    // The generator in the namespace is still counted in its own cgroup here.
    if (doc.cpu_budget) {
      assert.ok(doc.cpu_budget.generator.cpu_s !== null && doc.cpu_budget.generator.cpu_s > 0, JSON.stringify(doc.cpu_budget.generator));
      assert.equal(doc.cpu_budget.generator.outside_stack, true);
    }
  }
  const ours = read(/-native-smoke\.json$/);
  assert.ok(ours.loss_check?.ok && ours.loss_check.acked > 0, JSON.stringify(ours.loss_check));
});

test('Ctrl-C during make bench LOAD_HOST=netns leaves no namespace, veth or stack process', { skip: skip ?? false, timeout: 240_000 }, async () => {
  const out = path.join(dir, 'sigint');
  const runDir = path.join(out, 'lab');
  fs.mkdirSync(out);
  fs.copyFileSync(path.join(repoRoot, 'results/seed.json'), path.join(out, 'seed.json'));
  const w = watchCli(CLI, ['run', '--profile', 'smoke', '--runtime', 'native', '--load-host', 'netns', '--out', out, '--run-dir', runDir, '--free-ports', '--no-report', '--no-control'], repoRoot);
  try {
    await waitFor(() => w.ended() || /stack up at /.test(w.output()), { timeoutMs: 180_000, intervalMs: 20, what: 'the stack to be up' });
    assert.ok(!w.ended(), `the run ended before its stack was up:\n${w.output()}`);
    const ns = announced(w.output());
    assert.ok(ns, w.output());
    assert.equal(loadNamespaceLeftovers(ns).length, 2, 'the namespace and its veth exist while the run does');
    process.kill(-w.child.pid!, 'SIGINT');
    assert.deepEqual(await w.closed, { code: 130, signal: null }, w.output());
    assert.deepEqual(loadNamespaceLeftovers(ns), [], w.output());
    assert.deepEqual(processesUsing(runDir), [], `no process of the stack is left:\n${w.output()}`);
    assert.deepEqual(newGeneratorCgroups(), [], `the load generator's cgroup:\n${w.output()}`);
  } finally {
    if (!w.ended()) process.kill(-w.child.pid!, 'SIGKILL');
    if (processesUsing(runDir).length > 0) spawnSync(process.execPath, [LAB_CLI, 'down', '--runtime', 'native', '--run-dir', runDir], { stdio: 'ignore' });
  }
});
