// Renders the lab's config files (nginx.conf, php-fpm.conf, my.cnf) into a run directory.
// The files in the repo carry @@NAME@@ tokens for the per-run values; the Docker entrypoints replace the
// same tokens with sed, so the syntax stays deliberately plain: @@ + [A-Z0-9_] + @@, nothing else.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

export type TokenValues = Record<string, string | number>;

const TOKEN = /@@([A-Z0-9_]+)@@/g;

export class RenderError extends Error {}

/** Tokens a template uses, in order of first appearance. */
export function tokensIn(text: string): string[] {
  return [...new Set([...text.matchAll(TOKEN)].map((m) => m[1]!))];
}

/** Replaces every token; a token without a value is an error, so a typo never reaches a server. */
export function renderTemplate(text: string, values: TokenValues, source = 'template'): string {
  const missing = tokensIn(text).filter((t) => !(t in values));
  if (missing.length > 0) {
    throw new RenderError(`${source}: no value for token(s) ${missing.map((t) => `@@${t}@@`).join(', ')}`);
  }
  return text.replace(TOKEN, (_m, name: string) => String(values[name]));
}

export async function renderFile(src: string, dst: string, values: TokenValues): Promise<void> {
  const text = await readFile(src, 'utf8');
  await mkdir(dirname(dst), { recursive: true });
  await writeFile(dst, renderTemplate(text, values, src));
}
