// Composition root: the Queue, the TCP server, the metrics endpoint and, when configured, the SQL guard,
// the journal and the MySQL writer. Owns the start-up and shutdown order.
import type { AddressInfo } from 'node:net';
import type { Logger, MetricSource } from './contracts.js';
import type { Config } from './config.js';
import { publicConfig } from './config.js';
import { Queue } from './queue.js';
import type { QueueServer } from './server.js';
import { createQueueServer } from './bun-server.js';
import { MetricsServer } from './metrics.js';
import { currentRuntime, runtimeInfoSource } from './runtime-info.js';
import { SqlGuard } from './sql-guard.js';
import type { openJournal } from './journal.js';
import type { MysqlWriter } from './writer.js';

// The journal and the writer (mysql2 alone is ~16 MB of RSS) are loaded only when configured.
type Journal = Awaited<ReturnType<typeof openJournal>>;

export interface RunningApp {
  config: Config;
  queue: Queue;
  server: QueueServer;
  metrics: MetricsServer | null;
  address: AddressInfo;
  metricsAddress: AddressInfo | null;
  /** Graceful stop; resolves when everything is closed. Safe to call more than once. */
  stop(reason?: string): Promise<void>;
}

export async function startApp(cfg: Config, log: Logger): Promise<RunningApp> {
  const guard = cfg.guard ? new SqlGuard({ allowTables: cfg.allowTables }) : undefined;
  const queue = new Queue({ capacity: cfg.capacity, maxBytes: cfg.maxQueueBytes, guard, dequeueEnabled: cfg.mysqlUrl === null });

  let journal: Journal | null = null;
  let writer: MysqlWriter | null = null;
  const runtime = currentRuntime();
  const sources: MetricSource[] = [queue, runtimeInfoSource(runtime)];
  try {
    if (cfg.mysqlUrl !== null) {
      const { MysqlWriter } = await import('./writer.js');
      writer = new MysqlWriter(queue, {
        url: cfg.mysqlUrl,
        stream: cfg.stream,
        batchSize: cfg.batchSize,
        batchMs: cfg.batchMs,
        maxBackoffMs: cfg.maxBackoffMs,
        journalDir: cfg.journalDir,
        tables: cfg.guard ? cfg.allowTables : [],
        log,
        onCommitted: (seq: number) => recordCommitted(journal, seq, log),
      });
      sources.push(writer);
    }
    if (cfg.journalDir !== null) {
      const { openJournal } = await import('./journal.js');
      const j = (journal = await openJournal({
        dir: cfg.journalDir,
        policy: cfg.fsync,
        intervalMs: cfg.fsyncIntervalMs,
        committedSeq: 0,
        log,
        segmentBytes: cfg.journalSegmentBytes,
        commitDelayMs: cfg.commitDelayMs,
        // With a drain, MySQL's offset is the truth and the journal's copy only spares replay work.
        committedSyncMs: writer !== null ? COMMITTED_SYNC_WITH_DRAIN_MS : cfg.fsyncIntervalMs,
        limits: { maxEntries: cfg.capacity, maxBytes: cfg.maxQueueBytes },
      }));
      let nextSeq = j.recovered.lastSeq + 1;
      if (writer !== null && j.fresh) {
        // A new journal knows no sequence yet; numbering below MySQL's offset would be skipped as committed.
        const seq = await readOffsetSayingWhy(writer, log, `the journal ${cfg.journalDir} is new, so numbering must continue from MySQL's offset`);
        j.committed(seq);
        nextSeq = seq + 1;
      } else if (writer !== null) {
        // Sequence numbers continue from the journal, so MySQL is not needed to start: the drain catches up
        // when it answers, skipping what it already committed. When MySQL answers at once, the claim (stream
        // lock, journal bound to this stream and database) is settled before listening, so a mismatch stops
        // the start with its fix; when it does not, the writer claims later and a refusal blocks the drain
        // (entries kept, /healthz 503) instead.
        const claim = writer.readCommittedSeq().then((seq) => recordCommitted(j, seq, log));
        const early = await Promise.race([claim.then(() => null, (err: unknown) => ({ err })), sleep(CLAIM_AT_START_MS).then(() => null)]);
        if (early !== null) throw early.err;
        claim.catch((err: unknown) => log.warn('claim_deferred', { msg: `MySQL did not answer at start; the drain claims the stream when it does`, err }));
      }
      queue.setJournal(j);
      // Without MySQL, an entry leaves for good when a client dequeues it.
      if (cfg.mysqlUrl === null) queue.onDequeued = (seq) => j.committed(seq);
      const { entries, lastSeq, committedSeq } = j.recovered;
      queue.restore(entries, nextSeq);
      sources.push(j);
      log.info('journal_replayed', { entries: entries.length, lastSeq, committedSeq, nextSeq: queue.nextSeq });
    } else if (writer !== null) {
      const seq = await readOffsetSayingWhy(writer, log, 'without a journal, numbering must continue from MySQL\'s offset');
      if (seq > 0) queue.restore([], seq + 1);
    }
    writer?.start();

    const server = createQueueServer({
      queue,
      allow: cfg.allow,
      maxBody: cfg.maxBody,
      backlog: cfg.backlog,
      shutdownGraceMs: cfg.shutdownGraceMs,
      limits: {
        maxConnections: cfg.maxConnections,
        idleTimeoutMs: cfg.idleTimeoutMs,
        slowSenderMs: cfg.slowSenderMs,
        maxBufferedBytes: cfg.maxBufferedBytes,
      },
      log,
    });
    sources.push(server);
    const address = await server.listen(cfg.port, cfg.host);

    const metrics = new MetricsServer({ sources: () => sources, healthy: () => health(server, journal, writer), log });
    let metricsAddress: AddressInfo;
    try {
      metricsAddress = await metrics.listen(cfg.metricsPort, cfg.metricsHost);
    } catch (err) {
      await server.close();
      throw err;
    }
    log.info('listening', {
      port: address.port,
      host: address.address,
      metricsPort: metricsAddress.port,
      runtime,
      mode: cfg.mysqlUrl === null ? 'queue' : 'drain',
      journal: cfg.journalDir !== null ? cfg.fsync : 'none',
      config: publicConfig(cfg),
    });

    let stopping: Promise<void> | null = null;
    const stop = (reason = 'stop'): Promise<void> =>
      (stopping ??= (async () => {
        log.info('stopping', { reason, connections: server.connectionCount, depth: queue.length });
        await server.close();
        if (writer !== null) {
          try {
            await writer.stop({ drain: true, timeoutMs: cfg.drainTimeoutMs });
          } catch (err) {
            log.error('writer_stop_failed', { err });
          }
        }
        if (journal !== null) await journal.close();
        await metrics.close();
        log.info('stopped', { enqueued_total: queue.enqueued, depth: queue.length, next_seq: queue.nextSeq });
      })());

    return { config: cfg, queue, server, metrics, address, metricsAddress, stop };
  } catch (err) {
    // Start-up failed half way: release what was opened so the process can exit cleanly.
    if (writer !== null) await writer.stop({ drain: false, timeoutMs: 0 }).catch(() => undefined);
    if (journal !== null) await journal.close().catch(() => undefined);
    throw err;
  }
}

/**
 * /healthz: up while listening, unless the journal refuses writes (then every 8001 is refused too) or the
 * drain is stopped until someone acts (a configuration error, another server on the stream): entries are
 * kept either way, but a green health check would hide that nothing reaches MySQL.
 */
function health(server: QueueServer, journal: Journal | null, writer: MysqlWriter | null): boolean | string {
  if (!server.isListening) return false;
  const f = journal?.failure ?? null;
  if (f !== null) return `journal failed (${(f as NodeJS.ErrnoException).code ?? f.message}): every 8001 is refused with JOURNAL_FAILED; ${f.message}. Fix the disk, then restart.`;
  const d = writer?.fault ?? null;
  if (d !== null) return `drain stopped (${d.kind}${d.errno !== null ? `, errno ${d.errno}` : ''}): ${d.message.slice(0, 500)}. Fix: ${d.fix}. Entries are kept.`;
  return true;
}

/** How long a start with a used journal waits for MySQL to settle the claim before listening without it. */
const CLAIM_AT_START_MS = 2000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms).unref());

/** MySQL's committed offset, after telling the user, if it takes a while, why the server is not listening yet. */
async function readOffsetSayingWhy(writer: MysqlWriter, log: Logger, why: string): Promise<number> {
  const fix = 'start MySQL or check --mysql-url; with a --journal-dir that has been used once, the server accepts while MySQL is down';
  const t = setTimeout(() => log.warn('waiting_for_mysql', { msg: `not listening yet: ${why}. Waiting for MySQL to answer; ${fix}` }), 500);
  try {
    return await writer.readCommittedSeq();
  } catch (err) {
    throw new Error(`could not read MySQL's offset (${(err as Error)?.message ?? String(err)}): ${why}. Fix: ${fix}`);
  } finally {
    clearTimeout(t);
  }
}

/** How often the journal's copy of MySQL's offset is fdatasynced: once a second instead of after every batch. */
const COMMITTED_SYNC_WITH_DRAIN_MS = 1000;

/** The journal's own record of the committed offset only spares replay work: a failure to write it is logged, not fatal. */
function recordCommitted(journal: Journal | null, seq: number, log: Logger): void {
  try {
    journal?.committed(seq);
  } catch (err) {
    log.error('journal_committed_write_failed', { err, seq });
  }
}
