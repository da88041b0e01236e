// Composition root: the Queue, the TCP server, the metrics endpoint and, when configured, the SQL guard,
// the journal and the MySQL writer. Owns the start-up and shutdown order.
import type { AddressInfo } from 'node:net';
import type { Logger, MetricSource } from './contracts.js';
import type { Config } from './config.js';
import { publicConfig } from './config.js';
import { Queue } from './queue.js';
import { QueueServer } from './server.js';
import { MetricsServer } from './metrics.js';
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
  if (cfg.testBurnCpuUs > 0) {
    log.warn('TEST_HOOK_ENABLED', {
      msg: `!!! test-only hook on: every 8001 burns ${cfg.testBurnCpuUs} us of CPU. Never run this in production. !!!`,
      testBurnCpuUs: cfg.testBurnCpuUs,
    });
  }
  const guard = cfg.guard ? new SqlGuard({ allowTables: cfg.allowTables }) : undefined;
  const queue = new Queue({ capacity: cfg.capacity, guard, dequeueEnabled: cfg.mysqlUrl === null });

  let journal: Journal | null = null;
  let writer: MysqlWriter | null = null;
  const sources: MetricSource[] = [queue];
  try {
    let committedSeq = 0;
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
        onCommitted: (seq: number) => journal?.committed(seq),
      });
      committedSeq = await writer.readCommittedSeq();
      sources.push(writer);
    }
    let nextSeq = committedSeq + 1;
    if (cfg.journalDir !== null) {
      const { openJournal } = await import('./journal.js');
      journal = await openJournal({ dir: cfg.journalDir, policy: cfg.fsync, intervalMs: cfg.fsyncIntervalMs, committedSeq, log });
      const j = journal;
      queue.setJournal(j);
      // Without MySQL, an entry leaves for good when a client dequeues it.
      if (cfg.mysqlUrl === null) queue.onDequeued = (seq) => j.committed(seq);
      const { entries, lastSeq } = j.recovered;
      nextSeq = Math.max(lastSeq, committedSeq) + 1;
      queue.restore(entries, nextSeq);
      sources.push(j);
      log.info('journal_replayed', { entries: entries.length, lastSeq, committedSeq, nextSeq });
    } else if (committedSeq > 0) {
      queue.restore([], nextSeq);
    }
    writer?.start();

    const server = new QueueServer({
      queue,
      allow: cfg.allow,
      maxBody: cfg.maxBody,
      backlog: cfg.backlog,
      shutdownGraceMs: cfg.shutdownGraceMs,
      testBurnCpuUs: cfg.testBurnCpuUs,
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

    const metrics = new MetricsServer({ sources: () => sources, healthy: () => server.isListening, log });
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
