// The CPU budget of each of the gate's stacks. Both stacks get the same one, so their ratio does not depend
// on the quota being exact: the calibrated 2013 box when this CPU model has a calibration, else a fixed
// quota well below the machine, so that both stacks are CPU-bound with room left for the load generator.
import { chooseBudget, readCalibration } from '../lab/budget.js';
import { machineInfo } from '../host/machine.js';
import { repoRoot } from '@eserver-lab/common/repo-root';
import type { GateSettings } from './settings.js';

export interface GateBudget {
  cpus: number;
  periodUs: number | undefined;
  /** Where it came from: the calibration file, --cpus, or the gate's default. */
  source: 'calibration' | 'explicit' | 'default';
  note: string;
}

export function gateBudget(o: Pick<GateSettings, 'cpus' | 'defaultCpus'>, host = machineInfo()): GateBudget {
  const m = host;
  const b = chooseBudget({ repoRoot, cpuModel: m.cpu_model, hostCpus: m.cores, found: readCalibration(repoRoot, m.cpu_model), explicitCpus: o.cpus });
  if (o.cpus !== undefined) return { cpus: b.cpus, periodUs: b.periodUs, source: 'explicit', note: `each stack ${b.cpus} CPU (--cpus)` };
  if (b.use.cpus !== null) return { cpus: b.cpus, periodUs: b.periodUs, source: 'calibration', note: `each stack on the emulated 2013 box: ${b.use.note}` };
  return {
    cpus: o.defaultCpus,
    periodUs: undefined,
    source: 'default',
    note: `each stack ${o.defaultCpus} CPU, the gate's default: no calibration for this CPU model ("${m.cpu_model}"); both stacks get the same budget, so the ratios do not need the 2013 box`,
  };
}
