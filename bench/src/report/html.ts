// The report as one self-contained HTML file: same tables, charts inlined as SVG.
import type { ResultDoc } from '../results/types.js';
import { docName } from './doc-name.js';
import { queueRuntimesOf } from './queue-runtime.js';
import type { Chart } from './charts.js';
import { comparison, persistentGain, queueCostRatio } from './compare.js';
import type { Seed } from '../results/seed.js';
import { HEADLINE_HEADERS, headline, headlineCells, LISTEN_HEADERS, listenRows, profileLines, REPETITION_HEADERS, REPETITION_NOTE, repetitionRows } from './headline.js';
import { busyNote, stackHostLine, targets } from './markdown.js';
import { headlineSummary, PAIR_HEADERS, PAIR_NOTE, pairRows } from './projection.js';
import { CPU_SPLIT_HEADERS, CPU_SPLIT_TITLE, cpuSplitNote, cpuSplitRows } from './cpu-split.js';

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export function renderHtml(seed: Seed, docs: ResultDoc[], charts: Chart[]): string {
  const cmp = comparison(seed, docs);
  const q = queueCostRatio(docs);
  const pg = persistentGain(docs);
  const first = docs[0];
  const ours = queueRuntimesOf(docs);
  const row = (cells: string[], tag = 'td') => `<tr>${cells.map((c) => `<${tag}>${esc(c)}</${tag}>`).join('')}</tr>`;
  const body: string[] = [];
  // The report opens with the headline, exactly as the terminal and latest-headline.json give it.
  const h = headlineSummary(seed, docs);
  body.push(`<p class="headline"><b>${esc(h.line)}</b></p>`);
  if (h.below.length > 0) body.push(`<ul>${h.below.map((l) => `<li>${esc(l)}</li>`).join('')}</ul>`);
  body.push(`<h1>eserver-lab benchmark report</h1>`);
  body.push(`<p>Run ${esc(first.batch_id)} on ${esc(first.machine.cpu_model)} (${first.machine.cores} cores)${first.stack_host ? `, the stack on another host: ${esc(stackHostLine(first.stack_host))}` : ''}, runtime <b>${esc(first.runtime)}</b>${ours.length > 0 ? `, our queue server on ${ours.map((r) => `<b>${esc(r)}</b>`).join(' and ')}` : ''}, commit <code>${esc(first.commit ?? 'unknown')}</code>${esc(busyNote(docs))}.</p>`);
  for (const g of headline(seed, docs)) {
    body.push(`<h2>${esc(g.box.label)}</h2>`);
    body.push(`<table>${row(HEADLINE_HEADERS(seed), 'th')}${g.rows.map((r) => row(headlineCells(r))).join('')}</table>`);
  }
  for (const d of docs.filter((x) => x.control)) {
    body.push(`<h2>${esc(docName(d, docs))} beside the 2013-style stack, per repetition</h2><p>${esc(PAIR_NOTE)}</p>`);
    body.push(`<table>${row(PAIR_HEADERS, 'th')}${pairRows(d).map((r) => row(r)).join('')}</table>`);
    const split = cpuSplitRows(d.control!);
    if (split.length > 0) {
      body.push(`<h2>${esc(docName(d, docs))} beside the 2013-style stack: ${esc(CPU_SPLIT_TITLE)}</h2><p>${esc(cpuSplitNote(d.control!))}</p>`);
      body.push(`<table>${row(CPU_SPLIT_HEADERS, 'th')}${split.map((r) => row(r)).join('')}</table>`);
    }
  }
  body.push(`<h2>Against the seed (${seed.pages_per_min} pages/min)</h2>`);
  body.push(`<table>${row(['', ...cmp.headers], 'th')}${cmp.rows.map((r) => row([r.label, r.seed, ...r.values])).join('')}</table>`);
  if (q) body.push(`<p><b>client.php / baseline: ${q.ratio.toFixed(3)}</b> (${q.client.summary.pages_per_min} / ${q.baseline.summary.pages_per_min} pages/min): what the queue call costs.</p>`);
  if (pg) body.push(`<p><b>persistent / client.php: ${pg.ratio.toFixed(3)}</b>: what reusing the queue connection buys.</p>`);
  const t = targets(seed, docs);
  if (t.length > 0) body.push(`<h2>Targets</h2><ul>${t.map((l) => `<li>${esc(l)}</li>`).join('')}</ul>`);
  const reps = repetitionRows(docs);
  if (reps.length > 0) body.push(`<h2>Repetitions</h2><p>${esc(REPETITION_NOTE)}</p><table>${row(REPETITION_HEADERS, 'th')}${reps.map((r) => row(r)).join('')}</table>`);
  const lq = listenRows(docs);
  if (lq.length > 0) {
    body.push(`<h2>Listen queues</h2><p>Kernel limits in force and each service's backlog; counters are deltas of /proc/net/netstat over warm-up + measured window (whole machine: other load counts too).</p>`);
    body.push(`<table>${row(LISTEN_HEADERS, 'th')}${lq.map((r) => row(r)).join('')}</table>`);
  }
  for (const c of charts) body.push(`<h2>${esc(c.title)}</h2><div class="chart" id="chart-${esc(c.id)}">${c.svg}</div>`);
  for (const d of docs) {
    const lines = profileLines(d, docs);
    body.push(`<h2>${esc(docName(d, docs))}</h2><pre>${esc(lines.join('\n'))}</pre>`);
    if (d.verdict.reasons.length > 0) body.push(`<ul>${d.verdict.reasons.map((r) => `<li>${esc(r)}</li>`).join('')}</ul>`);
  }
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>eserver-lab benchmark report</title>
<style>body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}
td:first-child,th:first-child{text-align:left}pre{background:#f6f6f6;padding:.8em;overflow:auto}</style>
</head><body>
${body.join('\n')}
</body></html>
`;
}
