// The seed's documented run (results/seed.json): the 2013 figures that the report, the calibration and the
// gate set beside ours, read from that file and never written into code.
import fs from 'node:fs';
import path from 'node:path';

export interface Seed {
  pages_per_min: number;
  bytes_per_sec: number;
  succeeded: number;
  failed: number;
  concurrency: number;
  duration_s: number;
  tool: string;
  machine: { cpu: string; cores: number; memory_bytes: number };
  stack: {
    nginx: { workers: number; rss_mb_per_worker: number };
    php_fpm: { children: number; rss_mb_per_child: number };
  };
}

export function readSeed(file: string): Seed {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as Seed;
}

/** The seed's figure (webbench on the 2013 box, client.php, 10,000 clients, 30 s), from results/seed.json. */
export function seedPagesPerMin(repoRoot: string): number {
  const v = readSeed(path.join(repoRoot, 'results', 'seed.json')).pages_per_min;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`results/seed.json has no pages_per_min (got ${String(v)})`);
  return v;
}
