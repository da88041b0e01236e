// The order of the stack part's cells: which stack loads which page, repetition after repetition, and
// which cells run at the same time.
export type Impl = 'ts' | 'seed2013';
export type Page = 'client' | 'baseline';

export interface StackCell {
  /** 1-based. */
  rep: number;
  impl: Impl;
  page: Page;
}

/**
 * Each inner list runs at once. Both queue servers take client.php together: whatever the machine's
 * neighbours do to a CPU-second during that step, they do to both stacks, so the ratios of the two
 * (pages/min, CPU per enqueue) cancel it. Run one after the other, the same ratios moved by up to 15%
 * between sittings.
 */
const STEPS: ReadonlyArray<ReadonlyArray<readonly [Impl, Page]>> = [
  [['ts', 'client'], ['seed2013', 'client']],
  [['ts', 'baseline']],
];

export function stackSteps(repetitions: number): StackCell[][] {
  const out: StackCell[][] = [];
  for (let r = 1; r <= repetitions; r++) {
    // The same order in every repetition: our queue server costs ~1.5x per enqueue for several seconds
    // after it has idled ~40 s, so each client.php cell must follow the same cells as the previous one
    // (alternating the order gave the cells of one run idle gaps of 0 and ~50 s, and their figures
    // followed).
    for (const step of STEPS) out.push(step.map(([impl, page]) => ({ rep: r, impl, page })));
  }
  return out;
}
