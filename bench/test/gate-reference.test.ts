// The gate's reference: our own queue server at a pinned commit, built in a temporary worktree and removed
// at the end, on Ctrl-C too; and a pin that cannot be built refused with exit 2 and the way to move it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '@eserver-lab/common/repo-root';
import { waitFor } from '@eserver-lab/common/wait';
import { buildOrder, referenceDir, RefusedReference, withReference } from '../src/gate/reference.js';
import { GATE_CLI, pinnedBaseline, runCli, watchCli } from './run-cli.js';

const git = (...args: string[]) => execFileSync('git', ['-C', repoRoot, ...args], { encoding: 'utf8' }).trim();
const head = git('rev-parse', 'HEAD');
const worktrees = () => git('worktree', 'list', '--porcelain');
const shallow = git('rev-parse', '--is-shallow-repository') === 'true';
/** Whether HEAD's lock file is the working tree's: then the worktree links node_modules, else it installs them. */
const sameLock = git('show', 'HEAD:package-lock.json') === readFileSync(join(repoRoot, 'package-lock.json'), 'utf8').trim();

/** A commit object (no branch points at it) whose queue server does not compile: HEAD with cli.ts broken. */
function brokenCommit(dir: string): string {
  const env = { ...process.env, GIT_INDEX_FILE: join(dir, 'index') };
  const g = (args: string[], input?: string) => execFileSync('git', ['-C', repoRoot, ...args], { encoding: 'utf8', env, input }).trim();
  g(['read-tree', 'HEAD']);
  const blob = g(['hash-object', '-w', '--stdin'], 'export const broken: number = "not a number";\n');
  g(['update-index', '--cacheinfo', `100644,${blob},queue-server/src/cli.ts`]);
  const tree = g(['write-tree']);
  return g(['commit-tree', tree, '-p', 'HEAD', '-m', 'gate test: a queue server that does not build']);
}

test('the build order is the queue server after the workspaces it imports, test-only ones included', () => {
  const ws = [
    { dir: 'bench', name: '@x/bench', deps: ['@x/queue-server', '@x/kit'] },
    { dir: 'kit', name: '@x/kit', deps: ['mysql2'] },
    { dir: 'queue-server', name: '@x/queue-server', deps: ['commander', '@x/kit'] },
  ];
  assert.deepEqual(buildOrder(ws), ['kit', 'queue-server']);
  assert.throws(() => buildOrder(ws.filter((w) => w.dir !== 'queue-server')), RefusedReference);
});

test('the reference is built in a worktree of the pinned commit, linked to this checkout\'s node_modules, and removed afterwards', { timeout: 180_000 }, async () => {
  const runDir = mkdtempSync(join(tmpdir(), 'gate-ref-'));
  const lines: string[] = [];
  try {
    const seen = await withReference({ repo: repoRoot, rev: 'HEAD', runDir, log: (l) => lines.push(l) }, async (ref) => {
      assert.equal(ref.commit, head);
      assert.equal(ref.dir, referenceDir(runDir, head));
      assert.match(worktrees(), new RegExp(`worktree ${ref.dir}\\n`));
      assert.equal(git('-C', ref.dir, 'rev-parse', 'HEAD'), head);
      // The reference runs its own code: its workspace links point into the worktree.
      assert.equal(realpathSync(join(ref.dir, 'node_modules', '@eserver-lab', 'queue-server')), realpathSync(join(ref.dir, 'queue-server')));
      if (sameLock) {
        // The rest is this checkout's, linked rather than installed.
        assert.equal(ref.modules, 'linked');
        assert.equal(realpathSync(join(ref.dir, 'node_modules', 'mysql2')), realpathSync(join(repoRoot, 'node_modules', 'mysql2')));
        assert.ok(lstatSync(join(ref.dir, 'node_modules', 'mysql2')).isSymbolicLink(), readlinkSync(join(ref.dir, 'node_modules', 'mysql2')));
      } else assert.equal(ref.modules, 'installed');
      // It runs: the built CLI answers --help.
      const help = spawnSync(process.execPath, [ref.entry, '--help'], { encoding: 'utf8' });
      assert.equal(help.status, 0, help.stderr);
      assert.match(help.stdout, /--port/);
      return ref.dir;
    });
    assert.equal(existsSync(seen), false, 'the worktree is gone');
    assert.doesNotMatch(worktrees(), new RegExp(seen));
    assert.ok(lines.some((l) => new RegExp(`built in .* node_modules ${sameLock ? 'linked' : 'installed'}`).test(l)), lines.join('\n'));
  } finally {
    rmSync(runDir, { recursive: true, force: true });
    git('worktree', 'prune');
  }
});

test('a pin that is no commit here is refused: exit 2, and the message says how to move it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gate-pin-'));
  try {
    const r = await runCli(GATE_CLI, ['run', '--baseline', pinnedBaseline(dir, 'f'.repeat(40)), '--out', dir, '--run-dir', join(dir, 'run')]);
    assert.equal(r.code, 2, r.out + r.err);
    assert.match(r.err, /is not a commit of this clone.*make bench-gate-accept REF=<commit>.*make bench-ci BASE=/s);
    assert.doesNotMatch(r.out, /VERDICT: PASS/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a pin whose queue server does not build is refused: exit 2 with the compiler\'s words, and no worktree is left', { skip: shallow ? 'a shallow clone' : false, timeout: 180_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gate-broken-'));
  try {
    const broken = brokenCommit(dir);
    const r = await runCli(GATE_CLI, ['run', '--parts', 'proto', '--baseline', pinnedBaseline(dir, broken), '--out', dir, '--run-dir', join(dir, 'run')]);
    assert.equal(r.code, 2, r.out + r.err);
    assert.match(r.err, new RegExp(`the reference ${broken.slice(0, 12)} does not build`));
    assert.match(r.err, /not assignable to type 'number'/);
    assert.match(r.err, /make bench-gate-accept/);
    assert.equal(existsSync(referenceDir(join(dir, 'run'), broken)), false);
    assert.doesNotMatch(worktrees(), new RegExp(broken.slice(0, 12)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
    git('worktree', 'prune');
  }
});

test('Ctrl-C while the reference is measured removes its worktree', { timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gate-ref-sigint-'));
  const runDir = join(dir, 'run');
  const wt = referenceDir(runDir, head);
  const w = watchCli(GATE_CLI, ['run', '--parts', 'proto', '-r', '3', '--proto-warmup', '20', '--baseline', pinnedBaseline(dir, head), '--out', dir, '--run-dir', runDir]);
  try {
    // Built, and its server measured: the output names the first protocol repetition's start.
    await waitFor(() => w.ended() || /reference: .* built in/.test(w.output()), { timeoutMs: 120_000, what: 'the reference build' });
    assert.ok(!w.ended(), w.output());
    assert.ok(existsSync(wt));
    process.kill(-w.child.pid!, 'SIGINT');
    const end = await w.closed;
    assert.deepEqual(end, { code: 130, signal: null }, w.output());
    assert.equal(existsSync(wt), false, `the worktree is removed:\n${w.output()}`);
    assert.doesNotMatch(worktrees(), new RegExp(`worktree ${wt}`));
  } finally {
    if (!w.ended()) w.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    git('worktree', 'prune');
  }
});
