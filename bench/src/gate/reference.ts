// The gate's reference: our own queue server at a pinned commit, built in a temporary git worktree under
// the run directory, so that a change is judged against the code it changes, measured in the same run.
// The worktree reuses this checkout's node_modules when the lock file is the same (a few seconds), and
// runs `npm ci` otherwise; it is removed when the gate ends, Ctrl-C included.
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { teardownOnSignal } from '../host/on-signal.js';

/** A pin that cannot be built. The gate exits 2 with this message: it never falls back to passing. */
export class RefusedReference extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RefusedReference';
  }
}

export interface BuiltReference {
  /** What was asked for (a commit, a branch, a tag). */
  rev: string;
  commit: string;
  subject: string;
  dir: string;
  /** The queue server's CLI script in the worktree, run by the lab in place of this checkout's. */
  entry: string;
  /** How node_modules was made: linked to this checkout's (same lock file) or installed with npm ci. */
  modules: 'linked' | 'installed';
  /** Whether a worktree built by an earlier gate run of this run directory was reused as it was. */
  reused: boolean;
  seconds: number;
}

const MARKER = '.eserver-gate-reference';
const HOW_TO_MOVE = "Move the pin with 'make bench-gate-accept REF=<commit>' (it writes reference.commit in results/baseline.json), or judge against another commit with 'make bench-ci BASE=<commit or branch>'.";

/** Runs a command to its end; async, so that a Ctrl-C meanwhile is handled at once. */
function exec(cmd: string, args: string[], cwd?: string): Promise<{ ok: boolean; output: string }> {
  return new Promise((res) => {
    execFile(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 1 << 26 }, (err, stdout, stderr) => res({ ok: !err, output: `${stdout}${stderr}` }));
  });
}

function tryGit(repo: string, args: string[]): string | null {
  const r = spawnSync('git', ['-C', repo, ...args], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

/** The commit `rev` names in `repo`, or a refusal that says why and how to move the pin. */
export function resolveCommit(repo: string, rev: string): { commit: string; subject: string } {
  const commit = tryGit(repo, ['rev-parse', '--verify', '--quiet', `${rev}^{commit}`]);
  if (!commit) {
    const shallow = tryGit(repo, ['rev-parse', '--is-shallow-repository']) === 'true';
    throw new RefusedReference(
      `the gate's reference "${rev}" is not a commit of this clone${shallow ? " (this clone is shallow: 'git fetch --unshallow' brings the history)" : ''}. ${HOW_TO_MOVE}`,
    );
  }
  // The subject names the commit in the output; this repository's subjects run long.
  const subject = tryGit(repo, ['log', '-1', '--format=%s', commit]) ?? '';
  return { commit, subject: subject.length > 72 ? `${subject.slice(0, 71)}…` : subject };
}

interface Workspace {
  dir: string;
  name: string;
  deps: string[];
}

/** The workspaces of the tree at `root`, as its own package.json lists them. */
function workspaces(root: string): Workspace[] {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { workspaces?: string[] };
  return (pkg.workspaces ?? []).map((dir) => {
    const p = JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8')) as { name: string; dependencies?: object; devDependencies?: object };
    return { dir, name: p.name, deps: [...Object.keys(p.dependencies ?? {}), ...Object.keys(p.devDependencies ?? {})] };
  });
}

/** The queue server's workspace and the workspaces it needs to compile (its tests included), dependencies first. */
export function buildOrder(all: Workspace[], target = 'queue-server'): string[] {
  const byName = new Map(all.map((w) => [w.name, w]));
  const out: string[] = [];
  const visit = (w: Workspace, seen: Set<string>): void => {
    if (out.includes(w.dir) || seen.has(w.dir)) return;
    seen.add(w.dir);
    for (const d of w.deps) {
      const dep = byName.get(d);
      if (dep) visit(dep, seen);
    }
    out.push(w.dir);
  };
  const t = all.find((w) => w.dir === target);
  if (!t) throw new RefusedReference(`the reference has no "${target}" workspace to build`);
  visit(t, new Set());
  return out;
}

/**
 * node_modules for the worktree without an install: every package is a link into this checkout's, except
 * the workspaces' own links, which point at the worktree's workspaces so that the reference runs its own code.
 */
function linkModules(repo: string, dir: string): void {
  const src = join(repo, 'node_modules');
  const dst = join(dir, 'node_modules');
  mkdirSync(dst, { recursive: true });
  const wss = workspaces(dir);
  const scopes = new Set(wss.map((w) => w.name.split('/')[0]!).filter((s) => s.startsWith('@')));
  for (const e of readdirSync(src)) {
    if (e === '.package-lock.json') continue;
    if (scopes.has(e)) {
      mkdirSync(join(dst, e), { recursive: true });
      for (const s of readdirSync(join(src, e))) {
        if (!wss.some((w) => w.name === `${e}/${s}`)) symlinkSync(join(src, e, s), join(dst, e, s));
      }
    } else symlinkSync(join(src, e), join(dst, e));
  }
  for (const w of wss) {
    const link = join(dst, ...w.name.split('/'));
    mkdirSync(resolve(link, '..'), { recursive: true });
    symlinkSync(join(dir, w.dir), link);
    // A workspace's own nested packages (versions that differ from the root's) come along too.
    const nested = join(repo, w.dir, 'node_modules');
    if (existsSync(nested) && !existsSync(join(dir, w.dir, 'node_modules'))) symlinkSync(nested, join(dir, w.dir, 'node_modules'));
  }
}

function sameLockFile(repo: string, commit: string): boolean {
  const then = tryGit(repo, ['show', `${commit}:package-lock.json`]);
  const lock = join(repo, 'package-lock.json');
  return then !== null && existsSync(lock) && then.trim() === readFileSync(lock, 'utf8').trim();
}

/** Removes the worktree (its directory and git's record of it). Synchronous, so that an exit hook can run it. */
export function removeReference(repo: string, dir: string): void {
  if (existsSync(dir)) {
    // --force: the build wrote dist/ files git does not track.
    if (!tryGit(repo, ['worktree', 'remove', '--force', dir]) && existsSync(dir)) rmSync(dir, { recursive: true, force: true });
  }
  tryGit(repo, ['worktree', 'prune']);
}

export interface BuildOptions {
  repo: string;
  rev: string;
  /** The gate's run directory; the worktree goes in it. */
  runDir: string;
  log: (line: string) => void;
}

/** Where the worktree of `commit` goes. */
export const referenceDir = (runDir: string, commit: string): string => resolve(runDir, `reference-${commit.slice(0, 12)}`);

/**
 * Checks out `commit` into a worktree under runDir and builds its queue server. A worktree of the same commit
 * left complete by an earlier build in this run directory is reused (the power runs build once).
 */
async function build(o: BuildOptions, commit: string, subject: string): Promise<BuiltReference> {
  const t0 = performance.now();
  const dir = referenceDir(o.runDir, commit);
  const entry = join(dir, 'queue-server', 'dist', 'src', 'cli.js');
  const done = (modules: BuiltReference['modules'], reused: boolean): BuiltReference => ({
    rev: o.rev, commit, subject, dir, entry, modules, reused, seconds: Math.round(performance.now() - t0) / 1000,
  });
  const marker = join(dir, MARKER);
  if (existsSync(marker) && existsSync(entry)) {
    const m = JSON.parse(readFileSync(marker, 'utf8')) as { commit: string; modules: BuiltReference['modules'] };
    if (m.commit === commit) return done(m.modules, true);
  }
  removeReference(o.repo, dir);
  mkdirSync(o.runDir, { recursive: true });
  const short = commit.slice(0, 12);
  o.log(`reference: building ${short} (${subject}) in ${dir}`);
  const add = await exec('git', ['-C', o.repo, 'worktree', 'add', '--detach', '--force', dir, commit]);
  if (!add.ok) throw new RefusedReference(`git could not check out the reference ${short}: ${add.output.trim()}. ${HOW_TO_MOVE}`);
  let modules: BuiltReference['modules'];
  if (sameLockFile(o.repo, commit)) {
    linkModules(o.repo, dir);
    modules = 'linked';
  } else {
    o.log("reference: its package-lock.json differs from this checkout's: npm ci in the worktree (a minute or more)");
    const ci = await exec('npm', ['ci', '--no-audit', '--no-fund'], dir);
    if (!ci.ok) throw new RefusedReference(`npm ci failed in the reference worktree ${dir}:\n${ci.output.slice(-2000)}\n${HOW_TO_MOVE}`);
    modules = 'installed';
  }
  let order: string[];
  try {
    order = buildOrder(workspaces(dir));
  } catch (e) {
    throw new RefusedReference(`the reference ${short} has no queue server to build (${(e as Error).message}). ${HOW_TO_MOVE}`);
  }
  const tsc = join(o.repo, 'node_modules', 'typescript', 'bin', 'tsc');
  const b = await exec(process.execPath, [tsc, '-b', ...order], dir);
  if (!b.ok) throw new RefusedReference(`the reference ${short} does not build (tsc -b ${order.join(' ')}):\n${b.output.slice(-2000)}\n${HOW_TO_MOVE}`);
  if (!existsSync(entry)) throw new RefusedReference(`the reference ${short} built, but has no ${entry}. ${HOW_TO_MOVE}`);
  writeFileSync(marker, JSON.stringify({ commit, modules }) + '\n');
  return done(modules, false);
}

/**
 * Builds the reference and runs `fn` with it; the worktree is removed when `fn` ends, on Ctrl-C or TERM, and
 * at exit whatever happened. With `keep`, it stays for the next call (the power runs), and goes at exit.
 */
export async function withReference<T>(o: BuildOptions, fn: (r: BuiltReference) => Promise<T>, keep = false): Promise<T> {
  const { commit, subject } = resolveCommit(o.repo, o.rev);
  const dir = referenceDir(o.runDir, commit);
  const remove = (): void => removeReference(o.repo, dir);
  // Registered before the checkout starts: a Ctrl-C during the build must not leave half a worktree.
  process.once('exit', remove);
  const unregister = teardownOnSignal(async () => remove(), { log: o.log });
  try {
    const ref = await build(o, commit, subject);
    o.log(`reference: ${ref.commit.slice(0, 12)} (${ref.subject}), ${ref.reused ? 'built earlier in this run directory' : `built in ${ref.seconds} s, node_modules ${ref.modules}`}`);
    return await fn(ref);
  } finally {
    unregister();
    if (!keep) {
      remove();
      process.off('exit', remove);
    }
  }
}
