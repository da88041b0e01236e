// The two sides of a gate run: the candidate (this working tree's queue server, optionally slowed by the
// test-only CPU burn) and the reference (a build of the pinned commit).
import { join } from 'node:path';
import { repoRoot } from '@eserver-lab/common/repo-root';
import { QUEUE_CLI } from '../protocol-bench/servers.js';
import type { BuiltReference } from './reference.js';
import type { ServerBuild } from './settings.js';

export type BurnAt = 'enqueue' | 'connection';

export interface Burn {
  us: number;
  at: BurnAt;
}

/** The queue server's test-only entry: cli.js with a known CPU burn, which production code never imports. */
export const BURN_CLI = join(repoRoot, 'queue-server', 'dist', 'src', 'test-hooks', 'burn-cli.js');

/** This working tree's queue server; with a burn, the test-only slowdown of `us` µs per connection or per 8001. */
export function candidateBuild(burn?: Burn): ServerBuild {
  if (!burn || burn.us <= 0) return { role: 'candidate', entry: QUEUE_CLI, args: [], commit: null, label: 'candidate (this working tree)' };
  // The hook refuses to start without this variable, so it can never be on by accident in production.
  process.env.ESERVER_ENABLE_TEST_HOOKS = '1';
  return {
    role: 'candidate',
    entry: BURN_CLI,
    args: ['--test-burn-cpu-us', String(burn.us), '--test-burn-at', burn.at],
    commit: null,
    label: `candidate (this working tree, burning ${burn.us} µs per ${burn.at === 'enqueue' ? '8001' : 'connection'})`,
  };
}

export function referenceBuild(ref: BuiltReference, role: ServerBuild['role'] = 'reference'): ServerBuild {
  return { role, entry: ref.entry, args: [], commit: ref.commit, label: `${role} (${ref.commit.slice(0, 12)}: ${ref.subject})` };
}
