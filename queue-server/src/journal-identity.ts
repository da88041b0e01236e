// Which stream, in which database, a journal's sequence numbers belong to. A journal holds entries numbered
// against one stream's offset in one database: replayed against another stream or database, entries already
// committed there would be applied again, or entries would be skipped as "already committed". The identity
// is a small file in the journal directory, written at first use and checked at every start.
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const IDENTITY_FILE = 'stream.json';

export interface JournalIdentity {
  /** Written into queue_offsets.journal_id: the stream is bound to this journal while it may hold entries. */
  journalId: string;
  stream: string;
  /** queue_offsets.stream_uid of the stream's row: tells this database from another. Null until bound. */
  streamUid: string | null;
  /** The database it was bound in (URL without credentials), for messages only. */
  database: string;
  /** The journal directory (not stored). */
  dir: string;
}

/** A journal, stream and database that do not belong together. Carries what to do in its message. */
export class StreamBindingError extends Error {}

export async function loadJournalIdentity(dir: string, stream: string, database: string): Promise<JournalIdentity> {
  const file = path.join(dir, IDENTITY_FILE);
  let text: string;
  try {
    text = await fs.promises.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    return { journalId: randomUUID(), stream, streamUid: null, database, dir };
  }
  let v: Partial<JournalIdentity>;
  try {
    v = JSON.parse(text) as Partial<JournalIdentity>;
  } catch {
    v = {};
  }
  if (typeof v.journalId !== 'string' || typeof v.stream !== 'string') {
    throw new StreamBindingError(`${file} is not a journal identity (expected {"journalId","stream",...}); restore it from a backup, or move the journal directory aside`);
  }
  if (v.stream !== stream) {
    throw new StreamBindingError(
      `the journal in ${dir} belongs to stream "${v.stream}" (database ${v.database ?? '?'}), but this server was started with ` +
        `--stream ${stream}: its entries were numbered for "${v.stream}". Start with --stream ${v.stream} to drain that journal, ` +
        `or give stream "${stream}" its own --journal-dir.`,
    );
  }
  return { journalId: v.journalId, stream, streamUid: typeof v.streamUid === 'string' ? v.streamUid : null, database: String(v.database ?? database), dir };
}

/** Writes the identity durably (temp file, fsync, rename, fsync of the directory). */
export async function saveJournalIdentity(id: JournalIdentity): Promise<void> {
  await fs.promises.mkdir(id.dir, { recursive: true });
  const file = path.join(id.dir, IDENTITY_FILE);
  const tmp = `${file}.tmp`;
  const body = JSON.stringify({ journalId: id.journalId, stream: id.stream, streamUid: id.streamUid, database: id.database }) + '\n';
  const fh = await fs.promises.open(tmp, 'w');
  try {
    await fh.writeFile(body);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.promises.rename(tmp, file);
  const d = await fs.promises.open(id.dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}
