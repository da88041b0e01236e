// The MariaDB programs every throwaway or lab server uses, found one way.
import { requireBinary } from './find-binary.js';

export interface MariaDbBinaries {
  mariadbd: string;
  installDb: string;
}

export function mariadbBinaries(): MariaDbBinaries {
  return {
    mariadbd: requireBinary('the MariaDB server', ['mariadbd', 'mysqld'], 'mariadb-server'),
    installDb: requireBinary('mariadb-install-db', ['mariadb-install-db', 'mysql_install_db'], 'mariadb-server'),
  };
}

/** Why MariaDB can't be used here, or null when it can. Tests skip with this reason. */
export function mariadbUnavailable(): string | null {
  try {
    mariadbBinaries();
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}
