// Exact CPU of a spawned tool and everything it forks (webbench forks one process per client, and
// their time is lost to /proc sampling once they exit): run it in a fresh cpuacct cgroup.
import fs from 'node:fs';
import path from 'node:path';

export interface CpuGroup {
  /** Prefix for the command: moves the shell into the group, then execs the tool. */
  wrap(cmd: string, args: string[]): { cmd: string; args: string[] };
  isEmpty(): boolean;
  /** CPU used so far by everything in the group, ns. */
  usageNs(): number | null;
  /** Removes the group, waiting (bounded) for exiting processes to leave it. */
  remove(): Promise<void>;
}

function selfCgroup(controller: string): string | null {
  try {
    for (const line of fs.readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
      const [, ctrls, p] = line.split(':');
      if (p !== undefined && ctrls.split(',').includes(controller)) return p;
    }
  } catch {
    /* not Linux */
  }
  return null;
}

/** null when no writable cpuacct (v1) or cpu.stat (v2) hierarchy is available. */
export function createCpuGroup(name: string, root = '/sys/fs/cgroup'): CpuGroup | null {
  const candidates: Array<{ dir: string; read: (d: string) => number | null }> = [];
  const v1 = selfCgroup('cpuacct');
  if (v1 !== null) {
    candidates.push({ dir: path.join(root, 'cpuacct', v1, name), read: (d) => Number(fs.readFileSync(path.join(d, 'cpuacct.usage'), 'utf8')) });
  }
  const v2 = selfCgroup('');
  if (v2 !== null && fs.existsSync(path.join(root, 'cgroup.controllers'))) {
    candidates.push({
      dir: path.join(root, v2, name),
      read: (d) => {
        const m = /usage_usec (\d+)/.exec(fs.readFileSync(path.join(d, 'cpu.stat'), 'utf8'));
        return m ? Number(m[1]) * 1000 : null;
      },
    });
  }
  for (const c of candidates) {
    try {
      fs.mkdirSync(c.dir);
    } catch {
      continue;
    }
    const dir = c.dir;
    return {
      wrap: (cmd, args) => ({ cmd: 'sh', args: ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', dir, cmd, ...args] }),
      isEmpty: () => {
        try {
          return fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').trim() === '';
        } catch {
          return true;
        }
      },
      usageNs: () => {
        try {
          return c.read(dir);
        } catch {
          return null;
        }
      },
      remove: async () => {
        // Forked clients that are still exiting keep the group busy (EBUSY) for a moment.
        for (let i = 0; i < 50; i++) {
          try {
            fs.rmdirSync(dir);
            return;
          } catch {
            await new Promise((r) => setTimeout(r, 100));
          }
        }
      },
    };
  }
  return null;
}
