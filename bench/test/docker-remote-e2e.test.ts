// Two hosts on one machine (issue 25): a second Docker engine in a network namespace of its own
// (make docker-engine-remote), reached over TCP on a veth pair in 198.18.0.0/15, then torn down with nothing
// left behind: no namespace, no veth, no engine process. Skipped, with the reason, only where the machine
// cannot do it (not root, no `ip netns`, no dockerd).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  cannotStartRemoteEngine,
  remoteEngineHost,
  remoteEngineLeftovers,
  remoteEngineNames,
  startRemoteEngine,
  stopRemoteEngine,
} from '../src/lab/docker/remote-engine.js';
import { BASE_IMAGE_TAG } from '../src/lab/docker/compose-env.js';

const log = (l: string) => console.log(`# ${l.trim().replace(/\n/g, '\n# ')}`);
const skipReason = cannotStartRemoteEngine();
if (skipReason) console.log(`# remote docker e2e SKIPPED: ${skipReason}`);

/** The docker CLI on the second engine only (its DOCKER_HOST; no context, no local socket). */
function remoteDocker(args: string[]): string {
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: remoteEngineHost() };
  delete env.DOCKER_CONTEXT;
  return execFileSync('docker', args, { env, encoding: 'utf8', timeout: 120_000 });
}

/** 198.18.0.0/15: 198.18.x.x or 198.19.x.x. */
const inBenchmarkRange = (addr: string) => /^198\.(18|19)\.\d{1,3}\.\d{1,3}$/.test(addr);

if (skipReason) test('a second Docker host in a network namespace', { skip: `cannot start one here: ${skipReason}` }, () => {});
else describe('a second Docker host in a network namespace', { timeout: 1_200_000 }, () => {
  const names = remoteEngineNames();

  before(async () => {
    log(await startRemoteEngine());
  });

  after(async () => {
    log(await stopRemoteEngine());
    assert.deepEqual(remoteEngineLeftovers(names), [], 'nothing of the second engine is left');
  });

  test('its addresses are RFC 2544 benchmarking addresses, and the engine answers on its own only', () => {
    assert.ok(inBenchmarkRange(names.hostAddr) && inBenchmarkRange(names.engineAddr), JSON.stringify(names));
    assert.equal(remoteEngineHost(), `tcp://${names.engineAddr}:2375`);
    // Inside the namespace: the veth end and lo, and dockerd listening on the veth address alone.
    const links = execFileSync('ip', ['-n', names.ns, '-o', 'link'], { encoding: 'utf8' });
    assert.deepEqual(links.split('\n').filter(Boolean).map((l) => l.split(': ')[1]!.split('@')[0]).sort(), ['lo', names.vethNs].sort());
    const listening = execFileSync('nsenter', [`--net=/run/netns/${names.ns}`, 'ss', '-Hltn'], { encoding: 'utf8' });
    assert.deepEqual(listening.trim().split('\n').map((l) => l.trim().split(/\s+/)[3]), [`${names.engineAddr}:2375`]);
  });

  test("its containers run on the namespace's host network", () => {
    const dev = remoteDocker(['run', '--rm', '--network', 'host', '--entrypoint', 'cat', BASE_IMAGE_TAG, '/proc/net/dev']);
    const ifs = dev.split('\n').slice(2).map((l) => l.split(':')[0]!.trim()).filter(Boolean).sort();
    assert.deepEqual(ifs, ['lo', names.vethNs].sort());
  });
});
