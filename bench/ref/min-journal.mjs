// The group journal of min-node.mjs and min-bun.mjs (a yardstick like them, shared by both, never by the
// queue server): statements added during one event-loop turn go to the file in one O_DSYNC write, at most one
// write in flight (the next group forms meanwhile), and each group's replies are released only once its write
// has returned. It is the least a durable group journal can do, so what it costs over the bare minimal server
// is the floor of the queue server's journal under `--fsync always` on that runtime and disk.
import { constants, openSync, write } from 'node:fs';

/** `reply(socket, n)` sends n replies; `add` a statement, then `release` its socket once the group is durable. */
export function groupJournal(file, reply) {
  const fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | constants.O_DSYNC);
  let group = [];
  let waiting = [];
  let writing = false;
  let scheduled = false;

  function schedule() {
    if (scheduled || writing || group.length === 0) return;
    scheduled = true;
    setImmediate(writeGroup);
  }

  function writeGroup() {
    scheduled = false;
    const buf = Buffer.from(group.join(''));
    const sockets = waiting;
    group = [];
    waiting = [];
    writing = true;
    write(fd, buf, (err, n) => {
      if (err || n !== buf.length) throw err ?? new Error(`short journal write: ${n} of ${buf.length} bytes`);
      writing = false;
      for (let i = 0; i < sockets.length; i += 2) reply(sockets[i], sockets[i + 1]);
      schedule();
    });
  }

  return {
    add(statement) {
      group.push(`${statement}\n`);
    },
    release(socket, n) {
      waiting.push(socket, n);
      schedule();
    },
  };
}
