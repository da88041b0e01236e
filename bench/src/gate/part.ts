// What each of the gate's parts returns: per metric, one value per repetition (a candidate ÷ reference
// ratio, or a figure kept for the record), the absolute correctness checks, and its raw figures.

/** An absolute check: it passes or fails, with no tolerance and no baseline. */
export interface CorrectnessCheck {
  id: string;
  name: string;
  ok: boolean;
  detail: string;
}

export interface PartResult {
  /** Metric id -> one value per repetition. */
  values: Record<string, number[]>;
  checks: CorrectnessCheck[];
  raw: unknown;
  /** Lines printed under the verdict. */
  info: string[];
}
