// The order of the stack part's cells: which stack loads which page, repetition after repetition.
export type Impl = 'ts' | 'seed2013';
export type Page = 'client' | 'baseline';

export interface StackCell {
  /** 1-based. */
  rep: number;
  impl: Impl;
  page: Page;
}

const ORDER: ReadonlyArray<[Impl, Page]> = [['ts', 'client'], ['seed2013', 'client'], ['ts', 'baseline']];

export function stackCells(repetitions: number): StackCell[] {
  const out: StackCell[] = [];
  for (let r = 1; r <= repetitions; r++) {
    // The same order in every repetition: our queue server costs ~1.5x per enqueue for several seconds
    // after it has idled ~40 s, so each client.php cell must follow the same cells as the previous one
    // (alternating the order gave the cells of one run idle gaps of 0 and ~50 s, and their figures
    // followed). A slow drift of the machine now favours one side, but the baseline's runs and the
    // judged ones alike.
    for (const [impl, page] of ORDER) out.push({ rep: r, impl, page });
  }
  return out;
}
