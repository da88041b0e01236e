// Which JavaScript runtime runs this process, as the server reports it (its `listening` log line and the
// eserver_runtime_info gauge), so that a scrape or a log says whether Bun or node served the load.
import type { MetricSample, MetricSource } from './contracts.js';

export interface RuntimeInfo {
  name: 'bun' | 'node';
  version: string;
}

/** Bun also sets process.versions.node (the node version it mimics), so Bun is checked first. */
export function currentRuntime(versions: NodeJS.ProcessVersions = process.versions): RuntimeInfo {
  const bun = (versions as NodeJS.ProcessVersions & { bun?: string }).bun;
  return bun ? { name: 'bun', version: bun } : { name: 'node', version: versions.node };
}

export function runtimeInfoSource(info: RuntimeInfo = currentRuntime()): MetricSource {
  const sample: MetricSample = {
    name: 'eserver_runtime_info',
    help: 'the JavaScript runtime running the queue server (always 1; the labels say which)',
    type: 'gauge',
    value: 1,
    labels: { runtime: info.name, version: info.version },
  };
  return { metrics: () => [sample] };
}
