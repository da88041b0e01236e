// Messages between the generator's main thread and its worker threads.
import type { Counters } from './counters.js';

export interface WorkerConfig {
  host: string;
  port: number;
  request: Uint8Array;
  clients: number;
  /** Source addresses to spread connections over (127.0.0.x), or null to let the kernel choose. */
  localAddresses: string[] | null;
  /** Index of this worker's first client, so source addresses spread evenly across workers. */
  firstClient: number;
  /** 0 = no timeout, as webbench. */
  timeoutMs: number;
  /** Strict success: HTTP 200 and a body starting with this text (after leading whitespace). null = status only. */
  successSignal: string | null;
  /** Tests only: how long this worker waits before loading its clients, as a slow-loading worker would. */
  loadDelayMs: number;
}

/** Sent once the worker has loaded (modules, clients and their sockets), before it sends anything. */
export interface ReadyMsg {
  type: 'ready';
}

/**
 * From the generator once every worker is ready: wall-clock (Date.now()) instants shared by all
 * workers, fixed only then, since loading a worker takes an unknown time on a busy machine.
 */
export interface StartMsg {
  type: 'start';
  startAt: number;
  measureAt: number;
  endAt: number;
}

/** One second of the measured window (sec >= 0) or of warm-up (sec < 0) from one worker. */
export interface SecondMsg {
  type: 'second';
  sec: number;
  counters: Counters;
  /** Encoded latency histogram (µs) of the requests that completed in this second. */
  hist: string | null;
}

export interface DoneMsg {
  type: 'done';
  /** Requests cut by the end of the run after reading some bytes (webbench counts them as successes). */
  cut: Counters;
}

export type WorkerMsg = ReadyMsg | SecondMsg | DoneMsg;
