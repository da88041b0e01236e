// Two hosts on one machine (issue 25): a second Docker engine in a network namespace of its own
// (make docker-engine-remote), reached over TCP on a veth pair in 198.18.0.0/15, and `make bench RUNTIME=docker
// PROFILE=smoke` against it: the stack on that engine, the load, the loss check, the queue server's metrics
// and each service's CPU and memory over the network, every docker and compose call to that engine alone;
// then the same over ssh:// (the README's way to a real server), an `ssh` on PATH standing in for the server's
// sshd: it runs `docker system dial-stdio` in the engine's namespace, as sshd would run it there.
// Then nothing left behind: no namespace, veth, engine process, container or cgroup, Ctrl-C included.
// Not in `make test` (a fresh clone builds the second host's base and images, about 2 minutes more):
// `make test-two-host` runs it. Skipped, with the reason, only where the machine cannot do it (not root,
// no `ip netns`, no dockerd).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from '@eserver-lab/common/wait';
import { SERVICES } from '@eserver-lab/common/stack-spec';
import {
  cannotStartRemoteEngine,
  remoteEngineHost,
  remoteEngineLeftovers,
  remoteEngineNames,
  startRemoteEngine,
} from '../src/lab/docker/remote-engine.js';
import { BASE_IMAGE_TAG } from '../src/lab/docker/compose-env.js';
import { labSocket } from '../src/lab/docker/exec.js';
import { validateResult } from '../src/results/validate.js';
import type { ResultDoc } from '../src/results/types.js';
import {
  callsElsewhere, cgroupDirsNamed, dockerCallRecorder, readDockerCalls, runBench, sshIntoEngine, stopEverythingOnSignal, stopRemoteEngineOnce, twoHostLeftovers, type BenchRun,
} from './two-host.js';

const log = (l: string) => console.log(`# ${l.trim().replace(/\n/g, '\n# ')}`);
const skipReason = cannotStartRemoteEngine();
if (skipReason) console.log(`# two-host e2e SKIPPED: ${skipReason}`);
const t0 = Date.now();
const since = () => `${((Date.now() - t0) / 1000).toFixed(1)} s`;

/** The docker CLI on one engine only (its DOCKER_HOST; no context). */
function dockerOn(host: string, args: string[]): string {
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: host };
  delete env.DOCKER_CONTEXT;
  return execFileSync('docker', args, { env, encoding: 'utf8', timeout: 120_000 });
}

/** 198.18.0.0/15: 198.18.x.x or 198.19.x.x. */
const inBenchmarkRange = (addr: string) => /^198\.(18|19)\.\d{1,3}\.\d{1,3}$/.test(addr);

const dir = mkdtempSync(join(tmpdir(), 'esl-two-host-'));
// The load generators' cgroups (load/generator-cgroup.ts) there before this file: any other one is a run's of it.
const generatorsBefore = new Set(cgroupDirsNamed('eserver-gen-*'));
const newGeneratorCgroups = () => cgroupDirsNamed('eserver-gen-*').filter((d) => !generatorsBefore.has(d));
let bench: BenchRun | null = null;
if (!skipReason) stopEverythingOnSignal(() => bench, log);

if (skipReason) test('two hosts: the stack on a second Docker engine', { skip: `cannot start one here: ${skipReason}` }, () => {});
else describe('two hosts: the stack on a second Docker engine in a network namespace', { timeout: 900_000 }, () => {
  const names = remoteEngineNames();
  const host = remoteEngineHost();
  const cgroupParent = `esl-two-host-${process.pid}`;

  before(async () => {
    log(await startRemoteEngine());
    log(`second engine up (${since()})`);
  });

  after(async () => {
    log(await stopRemoteEngineOnce());
    assert.deepEqual(twoHostLeftovers(names, cgroupParent), [], 'nothing of the second engine or the stack is left');
    log(`two-host e2e: engine and bench done in ${since()}`);
  });

  test('its addresses are RFC 2544 benchmarking addresses, and the engine answers on its own only', () => {
    assert.ok(inBenchmarkRange(names.hostAddr) && inBenchmarkRange(names.engineAddr), JSON.stringify(names));
    assert.equal(host, `tcp://${names.engineAddr}:2375`);
    // Inside the namespace: the veth end and lo, and dockerd listening on the veth address alone.
    const links = execFileSync('ip', ['-n', names.ns, '-o', 'link'], { encoding: 'utf8' });
    assert.deepEqual(links.split('\n').filter(Boolean).map((l) => l.split(': ')[1]!.split('@')[0]).sort(), ['lo', names.vethNs].sort());
    const listening = execFileSync('nsenter', [`--net=/run/netns/${names.ns}`, 'ss', '-Hltn'], { encoding: 'utf8' });
    assert.deepEqual(listening.trim().split('\n').map((l) => l.trim().split(/\s+/)[3]), [`${names.engineAddr}:2375`]);
  });

  test("its containers run on the namespace's host network", () => {
    const dev = dockerOn(host, ['run', '--rm', '--network', 'host', '--entrypoint', 'cat', BASE_IMAGE_TAG, '/proc/net/dev']);
    const ifs = dev.split('\n').slice(2).map((l) => l.split(':')[0]!.trim()).filter(Boolean).sort();
    assert.deepEqual(ifs, ['lo', names.vethNs].sort());
  });

  describe('make bench RUNTIME=docker PROFILE=smoke DOCKER_HOST=<the second engine>', () => {
    const out = join(dir, 'bench');
    const calls = join(dir, 'docker-calls.log');
    let code: number | null = null;
    let doc: ResultDoc;
    let text = '';

    before(async () => {
      const t = Date.now();
      bench = runBench({ dir: out, runtime: 'docker', env: { DOCKER_HOST: host }, shim: dockerCallRecorder(dir, calls), cgroupParent });
      code = (await bench.closed).code;
      text = bench.output();
      bench = null;
      log(`make bench against the second engine: exit ${code} in ${((Date.now() - t) / 1000).toFixed(1)} s`);
      const files = readdirSync(out).filter((f) => /-docker-smoke\.json$/.test(f));
      assert.equal(files.length, 1, text);
      doc = JSON.parse(readFileSync(join(out, files[0]!), 'utf8')) as ResultDoc;
    });

    test('it succeeds with a result that validates and a report', () => {
      assert.equal(code, 0, text);
      assert.match(text, /^Speed=\d+ pages\/min, \d+ bytes\/sec\.$/m);
      assert.deepEqual(validateResult(doc), { ok: true });
      assert.ok(existsSync(join(out, 'latest.md')) && existsSync(join(out, 'latest.html')));
      assert.match(readFileSync(join(out, 'latest.md'), 'utf8'), new RegExp(`the stack on another host: ${doc.stack_host?.name}`));
    });

    test('every docker and compose call went to the second engine, none to a local one', () => {
      const all = readDockerCalls(calls);
      // compose up/down, the stats the samples came from (dial-stdio), the remote host's cgroup and facts.
      for (const what of [/^-f .* up -d/, /^-f .* down/, /^system dial-stdio/, /^run -i --rm .* setup /, /^run -i --rm .* remove /, /^run -i --rm .* listen$/, /^logs /]) {
        assert.ok(all.some((c) => what.test(c.args)), `a call ${what} was made (${all.length} calls)`);
      }
      assert.deepEqual(callsElsewhere(all, host), [], 'calls with another engine');
      // The lab's local engine, when one runs, never saw the stack.
      if (existsSync(labSocket)) {
        assert.equal(dockerOn(`unix://${labSocket}`, ['ps', '-aq', '--filter', 'label=com.docker.compose.project=eserver-lab']).trim(), '');
      }
    });

    test('the load and the loss check went over the veth pair to the stack\'s address', () => {
      assert.equal(new URL(doc.url!).hostname, names.engineAddr);
      const remote = (doc.config.stack as { remote?: { addresses: { listen: string; client: string } } }).remote;
      assert.deepEqual(remote?.addresses, { listen: names.engineAddr, client: names.hostAddr });
      // MariaDB listens in the namespace: from this one only its veth address reaches it, so an OK check read
      // its rows over the network.
      const m = /^Loss check: (\d+) acked, \1 rows, \1 distinct: OK/m.exec(text);
      assert.ok(m && Number(m[1]) > 0, text);
      assert.ok(doc.loss_check?.ok && doc.loss_check.rows === doc.loss_check.acked && doc.loss_check.rows > 0);
      assert.ok(doc.loss_check.acked >= (doc.summary.strict_ok ?? Infinity), 'every strict success was acked');
    });

    test('the result records both hosts, and the stack\'s CPU and memory per service came from its engine', () => {
      const h = doc.stack_host!;
      assert.ok(h, 'stack_host');
      assert.equal(h.engine, `DOCKER_HOST=${host}`);
      assert.ok(h.cpu_model && h.cores > 0 && h.memory_bytes > 0);
      assert.ok(doc.machine.cpu_model && doc.machine.cores > 0, 'the generator\'s host');
      // Other work before the load, read on each host: the stack's through its engine.
      assert.equal(typeof h.busy_before_pct, 'number', JSON.stringify(h));
      assert.match(readFileSync(join(out, 'latest.md'), 'utf8'), /the stack host's CPUs [\d.]+% busy with other work just before the load.*this machine's [\d.]+%/);
      assert.match(doc.limits?.note ?? '', new RegExp(`^on ${h.name}: `));
      assert.equal(doc.limits?.cgroup, null, 'no cgroup directory of this host');
      for (const s of SERVICES) {
        assert.ok(doc.series.samples.some((x) => (x.services[s]?.rss_bytes ?? 0) > 0), `${s}: memory sampled`);
        assert.ok(doc.series.samples.some((x) => (x.services[s]?.cpu_pct ?? 0) > 0), `${s}: CPU sampled`);
      }
      assert.ok(doc.series.samples.some((x) => (x.cgroup?.memory_bytes ?? 0) > 0), 'the stack\'s total');
      assert.ok((doc.cpu_budget?.stack.cpu_s ?? 0) > 0, 'the stack\'s CPU over the window, from its engine');
      // Its quota is the parent's: the parent's CFS periods, read on the stack's host.
      assert.ok((doc.cpu_budget?.stack.nr_periods ?? 0) > 0 && Number.isInteger(doc.cpu_budget?.stack.nr_throttled), JSON.stringify(doc.cpu_budget?.stack));
      assert.match(text, /throttled in \d+% of periods/);
      // The budget: this CPU model's calibration, said to be the stack host's, or the whole of that machine.
      assert.match(doc.limits?.calibration?.note ?? '', new RegExp(`^stack host ${h.name}: `));
    });

    test('the listen queues are the stack host\'s, read through its engine; the SYN retransmits the generator\'s', () => {
      assert.equal(doc.listen_queues?.stack_host, `the stack host ${doc.stack_host?.name}`);
      assert.ok(Number.isInteger(doc.listen_queues?.counters.ListenOverflows) && Number.isInteger(doc.listen_queues?.sysctl['net.core.somaxconn']));
      assert.match(text, /^Listen queues: .*ListenDrops \d+ \(the stack host [^)]+\), TCPSynRetrans \d+ \(the generator's host\)$/m);
    });

    test('the queue server\'s runtime and fsync policy were read back over the network and through the engine', () => {
      assert.deepEqual(doc.queue_server?.read_back, { runtime: true, fsync: true }, JSON.stringify(doc.queue_server));
      assert.deepEqual([doc.queue_server?.runtime, doc.queue_server?.fsync], ['bun', 'always']);
    });

    test('teardown: no container on the second engine, no cgroup of the stack on its host', () => {
      assert.equal(dockerOn(host, ['ps', '-aq']).trim(), '');
      assert.deepEqual(cgroupDirsNamed(cgroupParent), []);
      assert.deepEqual(newGeneratorCgroups(), [], 'the load generator\'s cgroup');
    });
  });

  // The README's way to a real server: an ssh:// engine (a context over ssh is the same DOCKER_HOST).
  describe('the same over ssh: make bench RUNTIME=docker PROFILE=smoke DOCKER_HOST=ssh://root@<the second engine>', () => {
    const sub = join(dir, 'ssh');
    const out = join(sub, 'bench');
    const calls = join(sub, 'docker-calls.log');
    const sshCalls = join(sub, 'ssh-calls.log');
    const sshHost = `ssh://root@${names.engineAddr}`;
    let code: number | null = null;
    let doc: ResultDoc;
    let text = '';

    before(async () => {
      const t = Date.now();
      const shim = dockerCallRecorder(sub, calls);
      sshIntoEngine(shim, names, sshCalls);
      bench = runBench({ dir: out, runtime: 'docker', env: { DOCKER_HOST: sshHost }, shim, cgroupParent: `${cgroupParent}-ssh` });
      code = (await bench.closed).code;
      text = bench.output();
      bench = null;
      log(`make bench over ssh: exit ${code} in ${((Date.now() - t) / 1000).toFixed(1)} s`);
      const files = readdirSync(out).filter((f) => /-docker-smoke\.json$/.test(f));
      assert.equal(files.length, 1, text);
      doc = JSON.parse(readFileSync(join(out, files[0]!), 'utf8')) as ResultDoc;
    });

    test('it succeeds, the loss check over the network included, with the stack host named and its engine', () => {
      assert.equal(code, 0, text);
      assert.deepEqual(validateResult(doc), { ok: true });
      assert.equal(doc.loss_check?.ok, true, JSON.stringify(doc.loss_check));
      assert.ok((doc.loss_check?.acked ?? 0) > 0 && doc.loss_check?.rows === doc.loss_check?.acked);
      assert.equal(doc.stack_host?.engine, `DOCKER_HOST=${sshHost}`);
      assert.equal(doc.queue_server?.read_back?.runtime, true);
    });

    test('every docker and compose call went over ssh to that engine, the engine API\'s included', () => {
      const made = readDockerCalls(calls);
      assert.ok(made.some((c) => c.prog === 'docker-compose') && made.some((c) => /^system dial-stdio/.test(c.args)));
      assert.deepEqual(callsElsewhere(made, sshHost), []);
      const through = readFileSync(sshCalls, 'utf8').split('\n').filter(Boolean);
      assert.ok(through.length > 0, 'ssh was used');
      assert.deepEqual(through.filter((l) => !l.endsWith(`-- ${names.engineAddr} docker system dial-stdio`)), []);
    });

    test('each service\'s CPU and memory, and the stack\'s throttling, came from the stack\'s host', () => {
      for (const s of SERVICES) assert.ok(doc.series.samples.some((x) => (x.services[s]?.cpu_pct ?? 0) > 0), `${s}: CPU sampled`);
      assert.ok((doc.cpu_budget?.stack.cpu_s ?? 0) > 0 && (doc.cpu_budget?.stack.nr_periods ?? 0) > 0, JSON.stringify(doc.cpu_budget?.stack));
    });

    test('teardown: no container on the engine, no cgroup of the stack', () => {
      assert.equal(dockerOn(host, ['ps', '-aq']).trim(), '');
      assert.deepEqual(cgroupDirsNamed(`${cgroupParent}-ssh`), []);
      assert.deepEqual(newGeneratorCgroups(), []);
    });
  });

  describe('an engine that does not answer: a clear error, never a local stack', () => {
    const refused = `tcp://${names.engineAddr}:2376`; // the engine's address, a port nothing listens on
    for (const [runtime, env] of [
      ['docker', { DOCKER_HOST: refused }],
      ['auto', { DOCKER_HOST: refused }],
      ['auto', { DOCKER_CONTEXT: 'esl-refused' }],
    ] as const) {
      test(`RUNTIME=${runtime} ${Object.entries(env)[0]!.join('=')}`, async () => {
        const sub = join(dir, `refused-${runtime}-${Object.keys(env)[0]}`);
        mkdirSync(sub, { recursive: true });
        const calls = join(sub, 'docker-calls.log');
        const shim = dockerCallRecorder(sub, calls);
        // A Docker context of its own (DOCKER_CONFIG: not the user's contexts).
        const extra = 'DOCKER_CONTEXT' in env ? { DOCKER_CONFIG: join(sub, 'docker-config') } : {};
        if ('DOCKER_CONTEXT' in env) {
          execFileSync('docker', ['context', 'create', env.DOCKER_CONTEXT, '--docker', `host=${refused}`], { env: { ...process.env, ...extra }, stdio: 'ignore' });
        }
        const b = runBench({ dir: sub, runtime, env: { ...env, ...extra }, shim, cgroupParent: `${cgroupParent}-refused` });
        const r = await b.closed;
        assert.equal(r.code, 2, b.output());
        assert.match(b.output(), new RegExp(`no Docker engine answers on ${refused.replace(/\./g, '\\.')}.*does not fall back`));
        assert.doesNotMatch(b.output(), /native|stack up/);
        const made = readDockerCalls(calls).filter((c) => c.prog === 'docker' && !/^context /.test(c.args));
        assert.ok(made.length > 0);
        assert.deepEqual(made.filter((c) => c.host !== refused && !(c.context === 'esl-refused' && c.host === null)), []);
      });
    }
  });
});

// The Ctrl-C: the same flow in a program of its own (two-host-child.js), interrupted once its stack is up.
if (!skipReason) test('Ctrl-C while the stack runs on the second engine leaves nothing behind', { timeout: 600_000 }, async () => {
  const names = remoteEngineNames();
  const sub = join(dir, 'ctrl-c');
  mkdirSync(sub, { recursive: true });
  const out = join(sub, 'out.log');
  writeFileSync(out, '');
  const cgroupParent = `esl-two-host-int-${process.pid}`;
  const child = spawn(process.execPath, [fileURLToPath(new URL('./two-host-child.js', import.meta.url)), out, cgroupParent], {
    detached: true, stdio: 'ignore',
  });
  const closed = new Promise<{ code: number | null }>((r) => child.on('close', (code) => r({ code })));
  await waitFor(() => readFileSync(out, 'utf8').includes('stack up at'), { timeoutMs: 400_000, intervalMs: 200, what: 'the stack up on the second engine' });
  assert.equal(remoteEngineLeftovers(names).length > 0, true, 'the engine runs');
  process.kill(-child.pid!, 'SIGINT'); // the terminal's Ctrl-C: the whole process group
  const r = await closed;
  const text = readFileSync(out, 'utf8');
  assert.equal(r.code, 130, text);
  assert.match(text, /SIGINT: taking the stack and the second engine down/);
  assert.deepEqual(twoHostLeftovers(names, cgroupParent), [], text);
  assert.deepEqual(newGeneratorCgroups(), [], `the load generator's cgroup\n${text}`);
  log(`Ctrl-C case done (${since()} since the file started)`);
});

process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
