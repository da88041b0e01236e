// Finds the stack's programs, and names the Debian package when one is missing. The search and the
// MariaDB programs are common's, shared with the throwaway MariaDB of the tests and benchmarks.
import { queueRuntime, type QueueRuntimeName } from '@eserver-lab/queue-server/runtime';
import { requireBinary } from '@eserver-lab/common/find-binary';
import { mariadbBinaries } from '@eserver-lab/common/mariadb-binaries';

export { MissingBinaryError, requireBinary } from '@eserver-lab/common/find-binary';

export interface Binaries {
  nginx: string;
  phpFpm: string;
  mariadbd: string;
  installDb: string;
  /** Runs the queue server's dist/src/cli.js: node, or bun (the stack's queueRuntime, else QUEUE_RUNTIME). */
  queueRuntime: string;
}

export function findBinaries(runtime?: QueueRuntimeName): Binaries {
  return {
    ...mariadbBinaries(),
    phpFpm: requireBinary('php-fpm', [/^php-fpm\d+(\.\d+)?$/, 'php-fpm'], 'php-fpm'),
    nginx: requireBinary('nginx', ['nginx'], 'nginx'),
    queueRuntime: queueRuntime(runtime).bin,
  };
}
