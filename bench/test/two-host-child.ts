// The two-host flow as a program of its own, for the Ctrl-C test in docker-remote-e2e.test.ts: start the
// second engine, run `make bench RUNTIME=docker PROFILE=smoke` against it, stop the engine; what a Ctrl-C
// reaches in the middle of `make test`. Its output, the bench's included, goes to the file in argv[2] as it
// comes; argv[3] is the stack's cgroup parent.
import { appendFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { remoteEngineHost, startRemoteEngine } from '../src/lab/docker/remote-engine.js';
import { dockerCallRecorder, runBench, stopEverythingOnSignal, stopRemoteEngineOnce, wasInterrupted, type BenchRun } from './two-host.js';

const [out, cgroupParent] = process.argv.slice(2) as [string, string];
const log = (l: string) => appendFileSync(out, `# ${l.trim()}\n`);
let bench: BenchRun | null = null;
stopEverythingOnSignal(() => bench, log);
log(await startRemoteEngine());
const dir = join(dirname(out), 'run');
bench = runBench({
  dir, runtime: 'docker', env: { DOCKER_HOST: remoteEngineHost() }, cgroupParent, tee: out,
  shim: dockerCallRecorder(dir, join(dir, 'docker-calls.log')),
});
const r = await bench.closed;
log(`bench exited ${r.code}`);
// After a signal its handler stops the engine and exits; this flow must not race it.
if (wasInterrupted()) await new Promise(() => {});
log(await stopRemoteEngineOnce());
process.exit(r.code ?? 1);
