// Runs the parts of one gate run with the candidate and the reference side by side, and gathers every
// metric's repetitions and the correctness checks.
import { drainPart } from './drain-part.js';
import type { MetricRepetitions } from './metrics.js';
import type { CorrectnessCheck, PartResult } from './part.js';
import { protoPart } from './proto-part.js';
import type { GatePart, GateSettings, ServerBuild } from './settings.js';
import { stackPart } from './stack-part.js';
import { cv, median } from '@eserver-lab/common/stats';

export interface GateMeasurements {
  samples: MetricRepetitions[];
  checks: CorrectnessCheck[];
  raw: Partial<Record<GatePart, unknown>>;
  info: string[];
}

const PARTS: Record<GatePart, (o: GateSettings, builds: readonly ServerBuild[], log: (l: string) => void) => Promise<PartResult>> = {
  stack: stackPart,
  proto: protoPart,
  drain: drainPart,
};

export async function collect(o: GateSettings, builds: readonly ServerBuild[], log: (l: string) => void): Promise<GateMeasurements> {
  const m: GateMeasurements = { samples: [], checks: [], raw: {}, info: [] };
  for (const part of o.parts) {
    const r = await PARTS[part](o, builds, log);
    for (const [id, values] of Object.entries(r.values)) if (values.length > 0) m.samples.push({ id, values, median: median(values), cv: cv(values) });
    m.checks.push(...r.checks);
    m.raw[part] = r.raw;
    m.info.push(...r.info);
  }
  return m;
}
