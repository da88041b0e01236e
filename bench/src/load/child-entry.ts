// The child side of in-child.ts: runs one load with the options its parent sends, reports readiness and
// progress, starts when told, and sends the result back.
import { runHttpLoad } from './generator.js';
import type { ChildMsg, ParentMsg } from './in-child.js';

const send = (m: ChildMsg): void => {
  process.send?.(m);
};

let start: (t: number) => void = () => {};
const started = new Promise<number>((r) => (start = r));

process.on('message', (m: ParentMsg) => {
  if (m.type === 'start') {
    start(m.startAt);
    return;
  }
  runHttpLoad({
    ...m.options,
    onProgress: (progress) => send({ type: 'progress', progress }),
    startAt: () => {
      send({ type: 'ready' });
      return started;
    },
  })
    .then((result) => send({ type: 'result', result, pid: process.pid }))
    .catch((e: unknown) => send({ type: 'error', message: e instanceof Error ? e.message : String(e) }))
    .finally(() => process.disconnect());
});
