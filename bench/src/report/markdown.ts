// The report as Markdown: the tables, the summary lines and links to the chart SVG files.
import type { ResultDoc } from '../results/types.js';
import { docName } from './doc-name.js';
import { queueRuntimesOf } from './queue-runtime.js';
import type { Chart } from './charts.js';
import { comparison, persistentGain, queueCostRatio } from './compare.js';
import type { Seed } from '../results/seed.js';
import { headlineSummary, PAIR_HEADERS, PAIR_NOTE, pairRows, targetsLine } from './projection.js';
import { CPU_SPLIT_HEADERS, CPU_SPLIT_TITLE, cpuSplitNote, cpuSplitRows } from './cpu-split.js';
import { HEADLINE_HEADERS, headline, headlineCells, LISTEN_HEADERS, listenRows, profileLines, REPETITION_HEADERS, REPETITION_NOTE, repetitionRows } from './headline.js';

export function table(headers: string[], rows: string[][]): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  return [
    `| ${headers.map(esc).join(' | ')} |`,
    `|${headers.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

/** The lab's targets (projected ≥ the seed, 0 failed, 0 lost) and the queue's cost: figures to report, not assertions. */
export function targets(_seed: Seed, docs: ResultDoc[]): string[] {
  const out: string[] = [];
  // One pair of lines per seed run: several when it ran once per queue runtime and fsync policy.
  for (const seedRun of docs.filter((d) => d.profile === 'seed')) {
    const name = docName(seedRun, docs);
    const l = seedRun.loss_check;
    const loss = l === null ? 'loss not checked'
      : l.rows <= l.acked ? `${l.acked - l.rows} lost${l.distinct !== l.rows ? `, ${l.rows - l.distinct} duplicated` : ''}`
      : `0 lost but ${l.rows - l.acked} rows without an ack`;
    out.push(`${name} profile: ${seedRun.summary.failed} failed, ${loss} (median repetition)`);
    out.push(targetsLine(seedRun, docs));
  }
  const q = queueCostRatio(docs);
  if (q) out.push(`client.php / baseline = ${q.ratio.toFixed(3)} (target ≥ 0.92: ${q.ratio >= 0.92 ? 'met' : 'not met'})`);
  const wb = docs.find((d) => d.tool.name === 'webbench');
  const ours = docs.find((d) => d.tool.name === 'eserver-bench');
  if (wb && ours && wb.loadgen.cpu_us_per_request !== null && ours.loadgen.cpu_us_per_request !== null) {
    out.push(`load generator CPU per request: ours ${ours.loadgen.cpu_us_per_request} µs, webbench ${wb.loadgen.cpu_us_per_request} µs`);
  }
  return out;
}

/** The stack's host when it was not the generator's (a remote Docker engine's). */
export function stackHostLine(h: NonNullable<ResultDoc['stack_host']>): string {
  return `${h.name}, ${h.cpu_model} (${h.cores} cores, ${(h.memory_bytes / 2 ** 30).toFixed(1)} GiB), through ${h.engine}, its CPU and memory read through that engine`;
}

/**
 * Other work on the machines before the load started. On the stack's host it competes with the stack for
 * the CPUs; on the generator's own (a stack on another host), with the load.
 */
export function busyNote(docs: ResultDoc[]): string {
  const worst = (xs: Array<number | null | undefined>) => {
    const b = xs.filter((x): x is number => typeof x === 'number');
    return b.length === 0 ? null : Math.max(...b);
  };
  const remote = docs.some((d) => d.stack_host);
  const here = worst(docs.map((d) => d.machine.busy_before_pct));
  const there = worst(docs.map((d) => d.stack_host?.busy_before_pct));
  const low = (w: number, what: string) => (w > 10 ? ` (it competed with ${what}: the figures are low)` : '');
  if (!remote) return here === null ? '' : `, CPUs ${here}% busy with other work just before the load${low(here, 'the stack')}`;
  if (there === null) {
    return here === null ? '' : `, this machine's CPUs ${here}% busy with other work just before the load${low(here, 'the load')} (the stack host's not read)`;
  }
  return `, the stack host's CPUs ${there}% busy with other work just before the load${low(there, 'the stack')}` + (here === null ? '' : `, this machine's ${here}%${low(here, 'the load')}`);
}

export function renderMarkdown(seed: Seed, docs: ResultDoc[], charts: Chart[], chartFile: (c: Chart) => string): string {
  const cmp = comparison(seed, docs);
  const q = queueCostRatio(docs);
  const pg = persistentGain(docs);
  const first = docs[0];
  const ours = queueRuntimesOf(docs);
  const parts: string[] = [];
  // The report opens with the headline, exactly as the terminal and latest-headline.json give it.
  const h = headlineSummary(seed, docs);
  parts.push(h.line);
  if (h.below.length > 0) parts.push(h.below.map((l) => `- ${l}`).join('\n'));
  parts.push(`# eserver-lab benchmark report`);
  parts.push(
    `Run ${first.batch_id} on ${first.machine.cpu_model} (${first.machine.cores} cores, ${(first.machine.memory_bytes / 2 ** 30).toFixed(1)} GiB), ` +
      (first.stack_host ? `the stack on another host: ${stackHostLine(first.stack_host)}; ` : '') +
      `runtime **${first.runtime}**${ours.length > 0 ? `, our queue server on ${ours.map((r) => `**${r}**`).join(' and ')}` : ''}, commit \`${first.commit ?? 'unknown'}\`` +
      `${busyNote(docs)}. ` +
      `Limits: ${first.limits?.cgroup ? `${first.limits.cpus ?? 'unlimited'} CPUs, ${first.limits.memoryBytes ? `${(first.limits.memoryBytes / 2 ** 20).toFixed(0)} MB` : 'unlimited memory'} (${first.limits.cgroup})` : first.limits?.note ?? 'none'}.`,
  );
  for (const g of headline(seed, docs)) {
    parts.push(`## ${g.box.label}`);
    parts.push(table(HEADLINE_HEADERS(seed), g.rows.map(headlineCells)));
  }
  for (const d of docs.filter((x) => x.control)) {
    parts.push(`## ${docName(d, docs)} beside the 2013-style stack, per repetition\n${PAIR_NOTE}\n\n${table(PAIR_HEADERS, pairRows(d))}`);
    const split = cpuSplitRows(d.control!);
    if (split.length > 0) parts.push(`## ${docName(d, docs)} beside the 2013-style stack: ${CPU_SPLIT_TITLE}\n${cpuSplitNote(d.control!)}\n\n${table(CPU_SPLIT_HEADERS, split)}`);
  }
  parts.push(`## Against the seed (${seed.pages_per_min} pages/min, ${seed.machine.cpu})`);
  parts.push(table(['', ...cmp.headers], cmp.rows.map((r) => [r.label, r.seed, ...r.values])));
  if (q) parts.push(`**client.php / baseline: ${q.ratio.toFixed(3)}** (${q.client.summary.pages_per_min} / ${q.baseline.summary.pages_per_min} pages/min): what the queue call costs.`);
  if (pg) parts.push(`**persistent / client.php: ${pg.ratio.toFixed(3)}**: what reusing the queue connection buys.`);
  const t = targets(seed, docs);
  if (t.length > 0) parts.push(`## Targets\n${t.map((l) => `- ${l}`).join('\n')}`);
  const reps = repetitionRows(docs);
  if (reps.length > 0) parts.push(`## Repetitions\n${REPETITION_NOTE}\n\n${table(REPETITION_HEADERS, reps)}`);
  const lq = listenRows(docs);
  if (lq.length > 0) {
    parts.push(`## Listen queues\nKernel limits in force and each service's backlog; counters are deltas of /proc/net/netstat over warm-up + measured window (whole machine: other load counts too). Overflows and SYN retransmits mean clients waited 1 s, 3 s, 7 s... before their connection was accepted.\n\n${table(LISTEN_HEADERS, lq)}`);
  }
  for (const d of docs) {
    parts.push(`## ${docName(d, docs)}\n${d.config.concurrency} clients, ${d.config.warmup_s} s warm-up + ${d.config.duration_s} s on \`${d.url}\` (${d.tool.name}).`);
    const lines = profileLines(d, docs);
    parts.push('```\n' + lines.join('\n') + '\n```');
    if (d.summary.note) parts.push(`_${d.summary.note}_`);
    if (d.verdict.reasons.length > 0) parts.push(d.verdict.reasons.map((r) => `- ${r}`).join('\n'));
  }
  if (charts.length > 0) {
    parts.push(`## Charts`);
    for (const c of charts) parts.push(`### ${c.title}\n![${c.title}](${chartFile(c)})`);
  }
  return parts.join('\n\n') + '\n';
}
