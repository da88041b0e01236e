// Renders results/latest.md (+ chart SVG files beside it), results/latest.html (self-contained) and
// results/latest-headline.json (the opening line, the projection with every repetition, and the opening
// table, machine-readable) from one or more result documents of the same `make bench` run.
import fs from 'node:fs';
import path from 'node:path';
import type { ResultDoc } from '../results/types.js';
import { buildCharts, type Chart } from './charts.js';
import { readSeed } from '../results/seed.js';
import { headline } from './headline.js';
import { headlineDoc, headlineSummary } from './projection.js';
import { renderHtml } from './html.js';
import { renderMarkdown } from './markdown.js';

export interface ReportFiles {
  md: string;
  html: string;
  /** The headline table's groups and rows (per box; one row per queue runtime and fsync policy). */
  json: string;
  svgs: string[];
}

export async function renderReport(docs: ResultDoc[], outDir: string, seedFile = path.join(outDir, 'seed.json')): Promise<ReportFiles> {
  if (docs.length === 0) throw new Error('no results to report');
  const seed = readSeed(seedFile);
  const charts = await buildCharts(docs);
  const chartFile = (c: Chart) => `latest-${c.id}.svg`;
  fs.mkdirSync(outDir, { recursive: true });
  const svgs: string[] = [];
  for (const c of charts) {
    const f = path.join(outDir, chartFile(c));
    fs.writeFileSync(f, c.svg);
    svgs.push(f);
  }
  const md = path.join(outDir, 'latest.md');
  const html = path.join(outDir, 'latest.html');
  fs.writeFileSync(md, renderMarkdown(seed, docs, charts, chartFile));
  fs.writeFileSync(html, renderHtml(seed, docs, charts));
  const json = path.join(outDir, 'latest-headline.json');
  const h = headlineSummary(seed, docs);
  const p = headlineDoc(docs);
  // The line first: a reader (or `head -3`) sees the headline before any detail.
  const doc = {
    line: h.line,
    below: h.below,
    projection: p ? { of: h.of, ...p.control } : null,
    batch_id: docs[0]!.batch_id,
    seed_pages_per_min: seed.pages_per_min,
    groups: headline(seed, docs),
  };
  fs.writeFileSync(json, JSON.stringify(doc, null, 2) + '\n');
  return { md, html, json, svgs };
}
