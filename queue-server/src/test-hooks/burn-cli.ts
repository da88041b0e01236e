#!/usr/bin/env node
// TEST ONLY: `eserver-queue` with a known CPU burn, for the benchmark gate to prove it catches a regression.
// Takes every flag of cli.js plus --test-burn-cpu-us <us> and --test-burn-at enqueue|connection, installs the
// burn (burn.ts) and runs the normal CLI. Refuses to start without ESERVER_ENABLE_TEST_HOOKS=1.
import { JsonLogger } from '../log.js';
import { BURN_SITES, MAX_BURN_US, installBurn, parseBurnArgs, type Burn } from './burn.js';

const ENABLE = 'ESERVER_ENABLE_TEST_HOOKS';

function refuse(msg: string): never {
  process.stderr.write(`eserver-queue (test hooks): ${msg}\n`);
  process.exit(2);
}

/** The burn flags out of the arguments, the burn installed and announced; the rest is for cli.js. */
function installFromArgs(args: string[]): string[] {
  if (process.env[ENABLE] !== '1') {
    refuse(
      `refusing to start without ${ENABLE}=1: this entry slows the server on purpose (a test-only CPU burn). ` +
        `Set ${ENABLE}=1 for a test or a gate run, or run queue-server/dist/src/cli.js for the real server.`,
    );
  }
  let parsed: { burn: Burn; rest: string[] };
  try {
    parsed = parseBurnArgs(args);
  } catch (err) {
    refuse((err as Error).message);
  }
  const { burn, rest } = parsed;
  installBurn(burn);
  new JsonLogger({ base: { svc: 'eserver-queue' } }).warn('TEST_HOOK_ENABLED', {
    msg: `!!! test-only hook on: every ${burn.at === 'connection' ? 'accepted connection' : '8001'} burns ${burn.cpuUs} us of CPU. Never run this in production. !!!`,
    testBurnCpuUs: burn.cpuUs,
    testBurnAt: burn.at,
  });
  return rest;
}

const args = process.argv.slice(2);
let rest = args;
if (args.includes('--help') || args.includes('-h')) {
  process.stdout.write(
    `TEST ONLY, needs ${ENABLE}=1. The flags of eserver-queue (below), plus:\n` +
      `  --test-burn-cpu-us <us>   burn this much CPU (0-${MAX_BURN_US} us) per 8001, or per accepted connection\n` +
      `  --test-burn-at <where>    where the burn goes: ${BURN_SITES.join(' or ')} (default enqueue)\n\n`,
  );
} else {
  rest = installFromArgs(args);
}

// cli.js reads its flags from process.argv when it loads: it sees everything but the burn flags.
process.argv = [...process.argv.slice(0, 2), ...rest];
await import('../cli.js');
