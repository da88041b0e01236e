// A Logger that keeps its events, for asserting on what the server said.
import type { Logger } from '../../src/contracts.js';

export interface LogEvent {
  level: string;
  event: string;
  fields?: Record<string, unknown>;
}

export class MemLog implements Logger {
  events: LogEvent[] = [];
  info(event: string, fields?: Record<string, unknown>): void {
    this.events.push({ level: 'info', event, fields });
  }
  warn(event: string, fields?: Record<string, unknown>): void {
    this.events.push({ level: 'warn', event, fields });
  }
  error(event: string, fields?: Record<string, unknown>): void {
    this.events.push({ level: 'error', event, fields });
  }
  count(event: string): number {
    return this.events.filter((e) => e.event === event).length;
  }
  find(event: string): LogEvent | undefined {
    return this.events.find((e) => e.event === event);
  }
}
