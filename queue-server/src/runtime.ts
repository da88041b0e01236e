// Which JavaScript runtime runs the queue server's compiled code: `QUEUE_RUNTIME=bun|node` (default bun).
// The lab (native and Docker), make bench, the gate, make chaos, bench-proto and the tests all start the
// server through this one helper, so the default, the choice and the error that names the fix live in one
// place. Bun is the default because it runs the same code for less CPU and memory per connection than node
// (queue-server/README.md, "Runtimes"). It comes from the npm package @oven/bun-linux-x64 (an optional
// dependency of this workspace: the binary is inside the package, nothing is fetched at run time).
import { accessSync, constants, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join } from 'node:path';

export const QUEUE_RUNTIMES = ['node', 'bun'] as const;
export type QueueRuntimeName = (typeof QUEUE_RUNTIMES)[number];

export interface QueueRuntime {
  name: QueueRuntimeName;
  /** Absolute path (or PATH name) of the executable that runs dist/src/cli.js. */
  bin: string;
}

/** What runs the queue server when QUEUE_RUNTIME is unset: the lab ships it on Bun. */
export const DEFAULT_QUEUE_RUNTIME: QueueRuntimeName = 'bun';

export const BUN_PACKAGE = '@oven/bun-linux-x64';

/** Parses QUEUE_RUNTIME (unset or empty = the default, bun); anything else is refused with the accepted values. */
export function queueRuntimeName(value: string | undefined): QueueRuntimeName {
  const v = (value ?? '').trim();
  if (v === '') return DEFAULT_QUEUE_RUNTIME;
  if ((QUEUE_RUNTIMES as readonly string[]).includes(v)) return v as QueueRuntimeName;
  throw new Error(`QUEUE_RUNTIME="${v}" is not a runtime: use QUEUE_RUNTIME=bun (the default) or QUEUE_RUNTIME=node`);
}

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string, pathEnv: string): string | null {
  for (const dir of pathEnv.split(delimiter)) {
    if (dir && executable(join(dir, name))) return join(dir, name);
  }
  return null;
}

const resolveBunPackage = (): string => createRequire(import.meta.url).resolve(`${BUN_PACKAGE}/package.json`);

/**
 * The bun executable: the one inside @oven/bun-linux-x64 (its package.json found by `packageJson`), else
 * `bun` on PATH. Throws an error that says how to get it.
 */
export function findBun(pathEnv: string = process.env.PATH ?? '', packageJson: () => string = resolveBunPackage): string {
  try {
    const bin = join(dirname(packageJson()), 'bin', 'bun');
    if (executable(bin)) return bin;
  } catch {
    // Not installed (another platform, or npm ran with --omit=optional): try PATH below.
  }
  const fromPath = onPath('bun', pathEnv);
  if (fromPath) return fromPath;
  throw new Error(
    `the queue server runs on Bun (QUEUE_RUNTIME=bun, the default) but no bun executable was found: run \`npm install\` (or \`make deps\`) at the repository root, ` +
      `which installs the optional dependency ${BUN_PACKAGE} on Linux x64 (glibc); elsewhere install Bun and put \`bun\` on PATH, ` +
      `or run it on node with QUEUE_RUNTIME=node`,
  );
}

/** The node executable: this process's own when it is node, else `node` from PATH. */
function findNode(pathEnv: string = process.env.PATH ?? ''): string {
  if (!process.versions.bun && existsSync(process.execPath)) return process.execPath;
  const fromPath = onPath('node', pathEnv);
  if (fromPath) return fromPath;
  throw new Error('QUEUE_RUNTIME=node but no node executable was found on PATH: install Node.js >= 20');
}

/** Resolves the runtime named by QUEUE_RUNTIME (or `name`) to its executable. */
export function queueRuntime(name: QueueRuntimeName = queueRuntimeName(process.env.QUEUE_RUNTIME)): QueueRuntime {
  return { name, bin: name === 'bun' ? findBun() : findNode() };
}
