// How the report names one result when a profile ran more than once in the run (once per queue runtime and
// fsync policy): "seed (bun, fsync interval)", and a file-safe id for its charts, so no two results share a
// section, a table row or a chart file.
import type { ResultDoc } from '../results/types.js';

function setupOf(d: ResultDoc): string | null {
  const q = d.queue_server;
  return q && q.impl === 'ts' && q.runtime !== null && q.fsync !== null ? `${q.runtime}, fsync ${q.fsync}` : null;
}

function repeated(d: ResultDoc, docs: readonly ResultDoc[]): boolean {
  return docs.filter((x) => x.profile === d.profile).length > 1;
}

/** A control's name says which run of ours it stood beside, when there were several. */
function besideOf(d: ResultDoc, docs: readonly ResultDoc[]): string | null {
  const c = d.control_of;
  return c && repeated(d, docs) ? `beside ${c.profile}${c.queue ? `, ${c.queue}` : ''}` : null;
}

export function docName(d: ResultDoc, docs: readonly ResultDoc[]): string {
  const b = besideOf(d, docs);
  if (b) return `${d.profile} (${b})`;
  const s = setupOf(d);
  return s !== null && repeated(d, docs) ? `${d.profile} (${s})` : d.profile;
}

export function docSlug(d: ResultDoc, docs: readonly ResultDoc[]): string {
  const b = besideOf(d, docs);
  if (b) return `${d.profile}-${b.replace(/[^a-z0-9]+/gi, '-').replace(/-+$/, '').toLowerCase()}`;
  const q = d.queue_server;
  return setupOf(d) !== null && repeated(d, docs) ? `${d.profile}-${q!.runtime}-${q!.fsync}` : d.profile;
}
