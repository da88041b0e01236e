// Runs one of the bench's CLIs in a child node process, as a user would, and collects what it printed.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BASELINE_SCHEMA, type Baseline } from '../src/gate/baseline.js';
import { METRICS } from '../src/gate/metrics.js';

export const GATE_CLI = fileURLToPath(new URL('../src/gate/cli.js', import.meta.url));

export interface CliResult {
  code: number | null;
  out: string;
  err: string;
}

/** `node <script> ...args`, with `env` added to this process's environment; resolves once it has exited. */
export function runCli(script: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((res) => {
    const p = spawn(process.execPath, [script, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (b) => (out += b));
    p.stderr.on('data', (b) => (err += b));
    p.on('exit', (code) => res({ code, out, err }));
  });
}

export interface WatchedCli {
  child: ChildProcess;
  /** Everything printed so far, stdout and stderr interleaved. */
  output: () => string;
  closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  ended: () => boolean;
}

/**
 * `node <script> ...args` in a process group of its own (so a test can send it a terminal's Ctrl-C with
 * `process.kill(-pid, 'SIGINT')`), watched while it runs.
 */
export function watchCli(script: string, args: string[], cwd?: string): WatchedCli {
  const child = spawn(process.execPath, [script, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
  let ended = false;
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.on('close', (code, signal) => {
      ended = true;
      r({ code, signal });
    }),
  );
  return { child, output: () => out, closed, ended: () => ended };
}

/**
 * A gate baseline file in `dir` that pins `commit` as the reference, with `tolerance` for every deciding
 * ratio (null: none measured, each metric's default).
 */
export function pinnedBaseline(dir: string, commit: string, tolerance: number | null = null): string {
  const f = join(dir, 'baseline.json');
  const tolerances: Baseline['tolerances'] =
    tolerance === null
      ? null
      : {
          taken_at: 'test', command: 'test', commit, machine: { model: 'test' }, settings: {}, judged_repetitions: 1, z: 2.5,
          metrics: Object.fromEntries(METRICS.filter((m) => m.decides).map((m) => [m.id, { tolerance, values: [1, 1], median: 1, sd_log: 0 }])),
        };
  const b: Baseline = { schema: BASELINE_SCHEMA, reference: { commit, subject: 'test pin', accepted_at: 'test' }, tolerances, record: {} };
  writeFileSync(f, JSON.stringify(b));
  return f;
}
