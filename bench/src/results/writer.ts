// Writes a validated result: results/<timestamp>-<runtime>-<profile>.json, copied to latest.json.
import fs from 'node:fs';
import path from 'node:path';
import type { ResultDoc } from './types.js';
import { validateResult } from './validate.js';

export function resultFileName(doc: ResultDoc): string {
  const ts = doc.started_at.replace(/[:.]/g, '-').replace(/-\d{3}Z$/, 'Z');
  return `${ts}-${doc.runtime}-${doc.profile}.json`;
}

export function writeResult(dir: string, doc: ResultDoc): string {
  const v = validateResult(doc);
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, resultFileName(doc));
  const text = JSON.stringify(doc, null, 2) + '\n';
  if (!v.ok) {
    // Minutes of load went into it: keep it for a look (readBatch skips it, as it does any invalid file).
    const kept = file.replace(/\.json$/, '.invalid.json');
    fs.writeFileSync(kept, text);
    throw new Error(`result does not match its schema (kept as ${kept}):\n  ${v.errors.join('\n  ')}`);
  }
  fs.writeFileSync(file, text);
  fs.writeFileSync(path.join(dir, 'latest.json'), text);
  return file;
}

export function readResult(file: string): ResultDoc {
  const doc = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
  const v = validateResult(doc);
  if (!v.ok) throw new Error(`${file} does not match the result schema:\n  ${v.errors.join('\n  ')}`);
  return doc as ResultDoc;
}

/** Every valid result file of a directory, in name (start) order; latest.json and seed.json are not results. */
export function readDir(dir: string): ResultDoc[] {
  const out: ResultDoc[] = [];
  for (const f of fs.readdirSync(dir).sort()) {
    if (!f.endsWith('.json') || f === 'latest.json' || f === 'seed.json') continue;
    try {
      const d = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as ResultDoc;
      if (validateResult(d).ok) out.push(d);
    } catch {
      /* not a result file */
    }
  }
  return out;
}

/** The other profiles of the same `make bench` run, found by batch_id next to the given file. */
export function readBatch(file: string): ResultDoc[] {
  const main = readResult(file);
  const out = readDir(path.dirname(file)).filter((d) => d.batch_id === main.batch_id);
  return out.length > 0 ? out : [main];
}
