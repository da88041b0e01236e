// Charts as vega-lite specs rendered to SVG headless (vega's 'none' renderer needs no canvas).
import * as vega from 'vega';
import * as vl from 'vega-lite';
import type { ResultDoc } from '../results/types.js';
import { docName, docSlug } from './doc-name.js';

export interface Chart {
  id: string;
  title: string;
  svg: string;
}

type Row = Record<string, string | number | null>;

function lineSpec(title: string, values: Row[], y: string, yTitle: string, color: string): vl.TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    width: 560,
    height: 200,
    data: { values },
    mark: { type: 'line', point: values.length < 40 },
    encoding: {
      x: { field: 't', type: 'quantitative', title: 'seconds' },
      y: { field: y, type: 'quantitative', title: yTitle },
      color: { field: color, type: 'nominal', title: null },
    },
  } as vl.TopLevelSpec;
}

async function render(spec: vl.TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export async function buildCharts(docs: ResultDoc[]): Promise<Chart[]> {
  const charts: Chart[] = [];
  const thr: Row[] = [];
  const lat: Row[] = [];
  for (const d of docs) {
    for (const p of d.series.load) {
      thr.push({ t: p.t, v: p.requests, series: `${docName(d, docs)} req/s` });
      if (p.strict_ok !== null && p.strict_ok !== undefined) thr.push({ t: p.t, v: p.strict_ok, series: `${docName(d, docs)} strict ok/s` });
      if (p.p50_ms !== null) lat.push({ t: p.t, v: p.p50_ms, series: `${docName(d, docs)} p50` });
      if (p.p99_ms !== null) lat.push({ t: p.t, v: p.p99_ms, series: `${docName(d, docs)} p99` });
    }
  }
  if (thr.length > 0) charts.push({ id: 'throughput', title: 'Throughput over time', svg: await render(lineSpec('Completed requests per second', thr, 'v', 'requests/s', 'series')) });
  if (lat.length > 0) charts.push({ id: 'latency', title: 'Latency over time', svg: await render(lineSpec('Latency per second (ms)', lat, 'v', 'ms', 'series')) });
  for (const d of docs) {
    const cpu: Row[] = [];
    const rss: Row[] = [];
    for (const s of d.series.samples) {
      for (const [name, v] of Object.entries(s.services)) {
        cpu.push({ t: s.t, v: v.cpu_pct, service: name });
        rss.push({ t: s.t, v: Math.round((v.rss_bytes / 1048576) * 10) / 10, service: name });
      }
      if (s.cgroup?.cpu_pct !== null && s.cgroup?.cpu_pct !== undefined) cpu.push({ t: s.t, v: s.cgroup.cpu_pct, service: 'cgroup total' });
    }
    if (cpu.length > 0) charts.push({ id: `cpu-${docSlug(d, docs)}`, title: `CPU per service (${docName(d, docs)})`, svg: await render(lineSpec(`CPU % per service, ${docName(d, docs)} (100 = one core)`, cpu, 'v', 'CPU %', 'service')) });
    if (rss.length > 0) charts.push({ id: `rss-${docSlug(d, docs)}`, title: `RSS per service (${docName(d, docs)})`, svg: await render(lineSpec(`RSS per service, ${docName(d, docs)} (MB)`, rss, 'v', 'MB', 'service')) });
  }
  return charts;
}
