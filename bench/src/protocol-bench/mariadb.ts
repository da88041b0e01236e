// The drain benchmark's MariaDB: common's throwaway server under the run directory, with my.cnf's full
// InnoDB sizes (the drain is measured on the tuned server the stack uses), killed with the benchmark's
// other children on Ctrl-C.
import { startMariaDb, type MariaDb } from '@eserver-lab/common/mariadb';
import { track } from '../host/on-signal.js';

export type BenchDb = MariaDb;

export function startBenchDb(runDir: string): Promise<BenchDb> {
  return startMariaDb({ parent: runDir, fullSize: true, onSpawn: track });
}
