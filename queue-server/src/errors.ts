// Stable, machine-readable error codes. Every failure reaches the client as a cmd 9000 frame with
// `{"code": "...", "msg": "..."}`; the seed's client.php treats any cmd other than 8001 as a failure.
import { CMD, encodeFrame, pyJsonObject } from './codec.js';

export const ERROR_CODES = [
  'QUEUE_FULL',
  'QUEUE_EMPTY',
  'BAD_JSON',
  'MISSING_SQL',
  'BAD_PLACEHOLDER',
  'UNKNOWN_CMD',
  'BODY_TOO_LARGE',
  'SQL_REFUSED',
  'DEQUEUE_DISABLED',
  'SHUTTING_DOWN',
  'JOURNAL_FAILED',
  'ENTRY_TOO_LARGE',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** Connection-level refusals that never get a reply frame (the socket is just closed), counted by reason. */
export const REFUSAL_REASONS = ['allowlist', 'max_connections', 'idle_timeout', 'slow_sender', 'buffer_cap', 'internal_error'] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

export class QueueError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, msg: string) {
    super(msg);
    this.name = 'QueueError';
    this.code = code;
  }
}

/**
 * Longest message an error frame carries, in UTF-16 units. Even at 6 bytes each once escaped as \uXXXX,
 * a message this long keeps the frame far below the uint16 length limit, whatever request text it echoes.
 */
export const MAX_ERROR_MSG_CHARS = 2000;

/** The start of s, at most max UTF-16 units (never half a surrogate pair), saying how much was cut. */
export function excerpt(s: string, max: number): string {
  if (s.length <= max) return s;
  let cut = max;
  const last = s.charCodeAt(cut - 1);
  if (last >= 0xd800 && last <= 0xdbff) cut--;
  return `${s.slice(0, cut)}... (${s.length - cut} more characters)`;
}

export function errorBody(code: ErrorCode, msg: string): string {
  return pyJsonObject({ code, msg: excerpt(msg, MAX_ERROR_MSG_CHARS) });
}

export function errorFrame(code: ErrorCode, msg: string): Buffer {
  return encodeFrame(CMD.ERROR, errorBody(code, msg));
}

// Errors with fixed messages are encoded once; the hot paths (queue full under overload) reuse the bytes.
// Messages that vary (sizes, commands, names) must not crowd those out for good: the oldest goes first.
const cache = new Map<string, Buffer>();
const CACHED_MSG_CHARS = 256;
export function cachedErrorFrame(code: ErrorCode, msg: string): Buffer {
  if (msg.length > CACHED_MSG_CHARS) return errorFrame(code, msg);
  const key = code + '\0' + msg;
  let f = cache.get(key);
  if (f === undefined) {
    f = errorFrame(code, msg);
    if (cache.size >= 256) cache.delete(cache.keys().next().value as string);
    cache.set(key, f);
  }
  return f;
}
