// Peak RSS and time of a journal replay whose entries are all consumed (what a restart reads).
// Usage: node queue-server/scripts/replay-rss.mjs make <dir>          one ~62 MB segment of 1M entries
//        node queue-server/scripts/replay-rss.mjs open <tree> <copy>  replay a copy with <tree>'s build
const [cmd, a, b] = process.argv.slice(2);
const log = { info() {}, warn() {}, error() {} };
if (cmd === 'make') {
  const { openJournal } = await import(new URL('../dist/src/journal.js', import.meta.url).href);
  const j = await openJournal({ dir: a, policy: 'off', intervalMs: 10, committedSeq: 0, log, segmentBytes: 1 << 30 });
  for (let s = 1; s <= 1_000_000; s++) {
    j.append({ seq: s, sql: `insert into bench_events (num) values (${s})` });
    if (s % 10000 === 0) await j.flush();
  }
  await j.flush();
  await j.close();
} else if (cmd === 'open') {
  const { openJournal } = await import(`${a}/queue-server/dist/src/journal.js`);
  const t0 = process.hrtime.bigint();
  const j = await openJournal({ dir: b, policy: 'off', intervalMs: 10, committedSeq: 1_000_000, log });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  console.log(JSON.stringify({ tree: a, maxRssMB: +(process.resourceUsage().maxRSS / 1024).toFixed(1), replayed: j.recovered.entries.length, ms: Math.round(ms) }));
  await j.close();
} else {
  console.error('usage: replay-rss.mjs make <dir> | open <tree> <dir>');
  process.exit(2);
}
