// webbench ÷ ours: a directory of single runs (each `--repeat 1`, one tool, one page) as a table of every
// run and, per page, the two tools' medians and their ratio (bench/scripts/webbench-vs-ours.sh makes the
// directory). Beside pages/min, the figures that explain a gap between the tools: how much of its quota the
// stack got, what a page cost the stack and the generator, bytes per page, and the SYN and close figures.
import { median } from '@eserver-lab/common/stats';
import { stackUsPerPage } from '../results/cpu-per-page.js';
import type { ResultDoc } from '../results/types.js';

export interface ToolRun {
  page: string;
  profile: string;
  tool: 'webbench' | 'ours';
  startedAt: string;
  pagesPerMin: number;
  /** Stack CPU ÷ (window × quota). */
  usedOfQuota: number | null;
  stackUsPerPage: number | null;
  /** The generator's cgroup over the window, per request (the runner included), µs. */
  generatorUsPerRequest: number | null;
  /** Busy CPU outside both groups over the window, CPU-s. */
  othersCpuS: number | null;
  bytesPerPage: number | null;
  /** The stack's namespace: accept-queue overflows and SYNs dropped at listeners. */
  listenOverflows: number | null;
  listenDrops: number | null;
  /** SYNs the clients sent again: counted where the generator ran (its namespace, else this one). */
  synRetrans: number | null;
  /** TIME_WAIT after the load on each side: the side that closed first holds them. */
  timeWait: { stack: number; generator: number | null } | null;
  /** webbench: its measured run from start to exit, s, against its -t (`durationS`). */
  wallS: number | null;
  durationS: number;
  loadHost: string;
}

const round = (x: number | null, digits = 0) => (x === null ? null : Math.round(x * 10 ** digits) / 10 ** digits);

export function toolRun(d: ResultDoc): ToolRun {
  const s = d.summary;
  const h = d.load_host ?? null;
  return {
    page: d.config.page,
    profile: d.profile,
    tool: d.tool.name === 'webbench' ? 'webbench' : 'ours',
    startedAt: d.started_at,
    pagesPerMin: s.pages_per_min,
    usedOfQuota: d.cpu_budget?.stack.used_of_quota ?? null,
    stackUsPerPage: round(stackUsPerPage(d.cpu_budget, s.pages_per_min)),
    generatorUsPerRequest: d.cpu_budget?.generator.cpu_us_per_request ?? null,
    othersCpuS: d.cpu_budget?.others_cpu_s ?? null,
    bytesPerPage: s.pages_per_min > 0 ? round(s.bytes_per_sec / (s.pages_per_min / 60), 1) : null,
    listenOverflows: d.listen_queues?.counters.ListenOverflows ?? null,
    listenDrops: d.listen_queues?.counters.ListenDrops ?? null,
    synRetrans: h ? h.counters?.TCPSynRetrans ?? null : d.listen_queues?.counters.TCPSynRetrans ?? null,
    timeWait: h?.time_wait ? { stack: h.time_wait.stack_side, generator: h.time_wait.generator_side } : null,
    wallS: d.loadgen.wall_s ?? null,
    durationS: d.config.duration_s,
    loadHost: h ? `netns ${h.netns} (${h.addresses.generator} -> ${h.addresses.stack})` : 'here',
  };
}

export interface PageRatio {
  page: string;
  webbench: number[];
  ours: number[];
  /** median(webbench) ÷ median(ours); null without both. */
  ratio: number | null;
}

/** Per page, in the order first met: the two tools' pages/min and the ratio of their medians. */
export function pageRatios(runs: readonly ToolRun[]): PageRatio[] {
  const pages = [...new Set(runs.map((r) => r.page))];
  return pages.map((page) => {
    const of = (t: ToolRun['tool']) => runs.filter((r) => r.page === page && r.tool === t).map((r) => r.pagesPerMin);
    const [w, o] = [of('webbench'), of('ours')];
    return { page, webbench: w, ours: o, ratio: w.length > 0 && o.length > 0 ? median(w) / median(o) : null };
  });
}

const num = (x: number | null | undefined, digits = 0) => (x === null || x === undefined ? '?' : x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }));
const pct = (x: number | null) => (x === null ? '?' : `${Math.round(x * 100)}%`);

/** The table (Markdown) of every run in start order, then the medians and ratios. */
export function toolRatioTable(docs: readonly ResultDoc[]): string {
  const runs = docs.map(toolRun).sort((a, b) => a.startedAt.localeCompare(b.startedAt));
  const lines = [
    '| # | page | tool | pages/min | stack use of quota | stack µs/page | generator µs/request | others CPU-s | bytes/page | ListenOverflows / ListenDrops | clients\' SYN retrans | TIME_WAIT stack / generator side | the tool\'s run, s (-t) |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...runs.map((r, i) =>
      `| ${i + 1} | ${r.page} (${r.profile}) | ${r.tool} | ${num(r.pagesPerMin)} | ${pct(r.usedOfQuota)} | ${num(r.stackUsPerPage)} | ${num(r.generatorUsPerRequest, 1)} | ` +
      `${num(r.othersCpuS, 1)} | ${num(r.bytesPerPage, 1)} | ${num(r.listenOverflows)} / ${num(r.listenDrops)} | ${num(r.synRetrans)} | ` +
      `${r.timeWait ? `${num(r.timeWait.stack)} / ${num(r.timeWait.generator)}` : '?'} | ${r.wallS === null ? '-' : `${num(r.wallS, 1)} (${r.durationS})`} |`),
    '',
    '| page | webbench (pages/min) | ours (pages/min) | webbench ÷ ours (medians) |',
    '|---|---|---|---|',
    ...pageRatios(runs).map((p) => `| ${p.page} | ${p.webbench.map((v) => num(v)).join(', ') || '-'} | ${p.ours.map((v) => num(v)).join(', ') || '-'} | ${p.ratio === null ? '?' : `**${p.ratio.toFixed(3)}**`} |`),
    '',
    `Where the load ran: ${[...new Set(runs.map((r) => r.loadHost.split(' ')[0]))].join(', ')}.`,
  ];
  return lines.join('\n');
}
