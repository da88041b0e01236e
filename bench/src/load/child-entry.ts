// The child side of in-child.ts: runs one load with the options its parent sends, reports readiness and
// progress, starts when told, and sends the result back.
import { runHttpLoad } from './generator.js';
import type { ChildMsg, ParentMsg } from './in-child.js';

/** Resolves once the message has been handed to the IPC channel (a large result can still be queued). */
const send = (m: ChildMsg): Promise<void> =>
  new Promise((resolve) => {
    if (!process.send) return resolve();
    process.send(m, undefined, {}, () => resolve());
  });

let start: (t: number) => void = () => {};
const started = new Promise<number>((r) => (start = r));

process.on('message', (m: ParentMsg) => {
  if (m.type === 'start') {
    start(m.startAt);
    return;
  }
  runHttpLoad({
    ...m.options,
    onProgress: (progress) => void send({ type: 'progress', progress }),
    startAt: () => {
      void send({ type: 'ready' });
      return started;
    },
  })
    .then((result) => send({ type: 'result', result, pid: process.pid }))
    .catch((e: unknown) => send({ type: 'error', message: e instanceof Error ? e.message : String(e) }))
    // Disconnecting before the result has left would drop it: the parent then sees an exit with no result.
    .finally(() => process.disconnect());
});
