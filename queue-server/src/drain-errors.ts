// How the drain sorts a failure: retry it (Transient), wait for an operator (Blocked), or stop for good
// (Fenced, SeqConflict). A failing entry statement is not one of these: it is bisected and dead-lettered.
import { classify, fixFor } from './mysql-errors.js';

/** MySQL is unreachable or the attempt hit a passing error: retried with backoff. */
export class Transient extends Error {
  constructor(override readonly cause: unknown) {
    super((cause as Error)?.message ?? String(cause));
  }
}

/** A configuration error: no batch can succeed until an operator acts. */
export class Blocked extends Error {
  constructor(
    override readonly cause: unknown,
    readonly fix: string,
    readonly seq: number | null,
  ) {
    super((cause as Error)?.message ?? String(cause));
  }
}

/** Another writer owns the stream now. */
export class Fenced extends Error {}

/** The queued entries' seqs do not continue the stream's offset. */
export class SeqConflict extends Error {}

/** What to throw for a failure of a statement the writer itself sends (never dead-lettered). */
export function ownFailure(err: unknown, what: string): Error {
  if (err instanceof Transient || err instanceof Blocked || err instanceof Fenced || err instanceof SeqConflict) return err;
  switch (classify(err)) {
    case 'transient':
      return new Transient(err);
    case 'configuration':
      return new Blocked(err, fixFor(err), null);
    default:
      // Our own SQL refused: the schema is not the one the writer expects, or a bug. Loud, and retried.
      return new Blocked(err, `the drain's own statement (${what}) failed: load mysql/schema.sql into the database, or report a bug`, null);
  }
}
