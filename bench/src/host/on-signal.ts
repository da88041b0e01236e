// Ctrl-C (or a TERM, as from a CI timeout) while the bench runs: the child processes it started are
// killed, every registered teardown runs to its end (stacks down, the gate's reference worktree removed),
// then the process exits 130/143. One handler for the whole process, so that no teardown is cut short by
// another one's exit. A second Ctrl-C meanwhile is answered with a line: leaving then would leave stacks
// running (`eserver-lab down` is the way out of a runner that was killed outright).
import type { ChildProcess } from 'node:child_process';

interface Teardown {
  run: () => Promise<unknown>;
  label: string;
  log: (line: string) => void;
}

const live = new Set<ChildProcess>();
const teardowns = new Set<Teardown>();
let installed = false;
let tearingDown = false;
/** Beyond this the process exits anyway: a teardown that hangs must not hold a CI job forever. */
const TEARDOWN_LIMIT_MS = 120_000;

const stderr = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

/** The exit status after a teardown: the shell's 128 + the signal's number. */
const EXIT_STATUS: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 130, SIGPIPE: 141, SIGTERM: 143 };

function onSignal(sig: NodeJS.Signals): void {
  if (tearingDown) {
    // Not for a lost output: the line would fail again, and again.
    if (sig !== 'SIGPIPE') for (const t of teardowns) t.log(`${t.label}${sig} again: still tearing down, a few seconds more (leaving now would leave it running)`);
    return;
  }
  tearingDown = true;
  for (const c of live) c.kill('SIGKILL');
  for (const t of teardowns) t.log(`${t.label}${sig}: tearing down`);
  const all = Promise.allSettled([...teardowns].map((t) => t.run()));
  const limit = new Promise((r) => setTimeout(r, TEARDOWN_LIMIT_MS).unref());
  void Promise.race([all, limit]).then(() => process.exit(EXIT_STATUS[sig] ?? 143));
}

/**
 * Its output's reader gone (`make bench | head` once head has its lines, a test runner that died): the next
 * line fails with EPIPE, which would end the process with its stacks left running. It is taken as a Ctrl-C
 * instead: children killed, teardowns run, exit 141 (SIGPIPE's status). Any other write error stays fatal.
 */
export function teardownOnLostOutput(): void {
  for (const s of [process.stdout, process.stderr]) {
    s.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
      onSignal('SIGPIPE');
    });
  }
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

/** Registers a child process to be killed on Ctrl-C or TERM (by its pid: nothing is found by name). */
export function track(child: ChildProcess): ChildProcess {
  install();
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

/** Registers a teardown to run on Ctrl-C or TERM; returns the function that unregisters it. */
export function teardownOnSignal(run: () => Promise<unknown>, o: { label?: string; log?: (line: string) => void } = {}): () => void {
  install();
  const t: Teardown = { run, label: o.label ?? '', log: o.log ?? stderr };
  teardowns.add(t);
  return () => teardowns.delete(t);
}
