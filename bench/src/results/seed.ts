// The seed's documented run (results/seed.json): the 2013 figures that the report, the calibration and the
// gate set beside ours, read from that file and never written into code.
import fs from 'node:fs';

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
