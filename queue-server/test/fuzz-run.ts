#!/usr/bin/env node
// `make fuzz`: the long frame fuzz (default 1M well-formed frames plus garbage connections) against the
// real server process on loopback. Prints the report, RSS included; exits 1 if the server died, a frame
// went unanswered or wrongly answered, or an acknowledged entry did not come out exactly once. The server runs
// on the shipped runtime (Bun), or on the one QUEUE_RUNTIME names.
import { parseArgs } from 'node:util';
import { queueRuntime } from '../src/runtime.js';
import { runCli } from './helpers/cli.js';
import { runFuzz } from './helpers/fuzz-frames.js';

const { values } = parseArgs({
  options: {
    frames: { type: 'string', default: '1000000' },
    seed: { type: 'string', default: String(0xe5e7) },
    connections: { type: 'string', default: '8' },
    'max-size-every': { type: 'string', default: '200' },
    capacity: { type: 'string', default: '50000' },
    // Anything else the server should run with, e.g. --server-arg=--journal-dir=/tmp/j --server-arg=--fsync=interval
    'server-arg': { type: 'string', multiple: true, default: [] },
  },
});
const int = (k: keyof typeof values): number => {
  const n = Number(values[k]);
  if (!Number.isSafeInteger(n) || n <= 0) {
    process.stderr.write(`fuzz: --${k} must be a positive integer\n`);
    process.exit(2);
  }
  return n;
};
const frames = int('frames');

const mb = (b: number): string => `${(b / 1048576).toFixed(1)} MB`;
const runtime = queueRuntime();
const cli = await runCli(
  ['--host', '127.0.0.1', '--port', '0', '--metrics-port', '0', '--capacity', String(int('capacity')), ...(values['server-arg'] ?? [])],
  {},
  { ulimit: 4096, runtime },
);
let failed = false;
try {
  const ran = cli.logs().find((l) => l.event === 'listening')?.runtime as { name: string; version: string } | undefined;
  process.stderr.write(`fuzz: ${frames} frames against pid ${cli.proc.pid} on port ${cli.port}, the server on ${ran ? `${ran.name} ${ran.version}` : runtime.name}\n`);
  const r = await runFuzz({
    port: cli.port,
    metricsPort: cli.metricsPort,
    pid: cli.proc.pid!,
    frames,
    seed: int('seed'),
    connections: int('connections'),
    maxSizeEvery: int('max-size-every'),
    progress: (n, rss) => process.stderr.write(`fuzz: ${n} frames, server RSS ${mb(rss)}\n`),
  });
  process.stdout.write(JSON.stringify(r, null, 2) + '\n');
  process.stdout.write(
    `fuzz: ${r.frames} frames (${r.maxSizeFrames} of maximum size) + ${r.garbageConnections} garbage connections in ${r.seconds.toFixed(1)} s; ` +
      `server (${ran ? `${ran.name} ${ran.version}` : runtime.name}) up; ${r.acknowledged} acknowledged = ${r.dequeued} dequeued; RSS start ${mb(r.rssStartBytes)}, max ${mb(r.rssMaxBytes)}, end ${mb(r.rssEndBytes)}\n`,
  );
} catch (err) {
  failed = true;
  process.stderr.write(`fuzz: FAILED: ${(err as Error).stack ?? String(err)}\n`);
} finally {
  if (cli.proc.exitCode !== null || cli.proc.signalCode !== null) {
    failed = true;
    process.stderr.write(`fuzz: the server exited (${cli.proc.exitCode ?? cli.proc.signalCode}):\n${cli.stderr().slice(-4000)}\n`);
  }
  const code = await cli.stop();
  if (code !== 0 && !failed) {
    failed = true;
    process.stderr.write(`fuzz: the server stopped with exit code ${code}\n`);
  }
}
process.exit(failed ? 1 : 0);
