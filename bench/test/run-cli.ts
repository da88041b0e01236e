// Runs one of the bench's CLIs in a child node process, as a user would, and collects what it printed.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

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
