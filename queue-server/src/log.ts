// Structured logs: one JSON object per line on stderr. Events only; requests are never logged by default.
import type { Logger } from './contracts.js';

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface JsonLoggerOptions {
  level?: LogLevel;
  /** Where lines go; default process.stderr. */
  write?: (line: string) => void;
  /** Fields added to every line (e.g. the component). */
  base?: Record<string, unknown>;
}

export class JsonLogger implements Logger {
  private readonly min: number;
  private readonly write: (line: string) => void;
  private readonly base: Record<string, unknown>;

  constructor(opts: JsonLoggerOptions = {}) {
    this.min = ORDER[opts.level ?? 'info'];
    this.write = opts.write ?? ((line) => process.stderr.write(line));
    this.base = opts.base ?? {};
  }

  debug(event: string, fields?: Record<string, unknown>): void {
    this.emit('debug', event, fields);
  }
  info(event: string, fields?: Record<string, unknown>): void {
    this.emit('info', event, fields);
  }
  warn(event: string, fields?: Record<string, unknown>): void {
    this.emit('warn', event, fields);
  }
  error(event: string, fields?: Record<string, unknown>): void {
    this.emit('error', event, fields);
  }

  child(base: Record<string, unknown>): JsonLogger {
    return new JsonLogger({ level: levelName(this.min), write: this.write, base: { ...this.base, ...base } });
  }

  private emit(level: LogLevel, event: string, fields?: Record<string, unknown>): void {
    if (ORDER[level] < this.min) return;
    const rec = { ts: new Date().toISOString(), level, event, ...this.base, ...fields };
    let line: string;
    try {
      line = JSON.stringify(rec, errorReplacer);
    } catch {
      line = JSON.stringify({ ts: rec.ts, level, event, note: 'fields not serialisable' });
    }
    this.write(line + '\n');
  }
}

function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message, code: (value as NodeJS.ErrnoException).code };
  if (typeof value === 'bigint') return value.toString();
  return value;
}

function levelName(n: number): LogLevel {
  return (Object.keys(ORDER) as LogLevel[]).find((k) => ORDER[k] === n) ?? 'info';
}

/** A logger that drops everything (library use, tests). */
export const silentLogger: Logger = { info() {}, warn() {}, error() {} };
