// min-bun: the same minimal queue server as min-node.mjs, on Bun's own socket API (`Bun.listen`) instead of
// `node:net`. For every 8001 frame: parse the JSON body, put the sequence number in place of `%d`, keep the
// statement, write the 22-byte reply; anything but 8001 closes the connection. Nothing else. It is the floor
// of a Bun-native adapter for the queue server. With a journal file, the floor of its journal under
// `--fsync always`, as in min-node.mjs: one O_DSYNC write per event-loop turn's statements, at most one in
// flight, the replies after it.
//
// Usage: bun min-bun.mjs <host> <port> [journal-file]   (port 0 = any free port; prints "port N")
import { constants, openSync, write } from 'node:fs';

const OK = Buffer.from('1f4100127b226d7367223a202273756363657373227d', 'hex');
const [host = '127.0.0.1', portArg = '0', journalFile] = process.argv.slice(2);
let seq = 0;
// The last statement, so that the substitution is real work and not optimised away.
export let last = '';

const journal = journalFile ? openSync(journalFile, constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | constants.O_DSYNC) : -1;
let group = [];
let waiting = [];
let writing = false;
let scheduled = false;

function reply(socket, n) {
  if (n === 1) socket.write(OK);
  else if (n > 1) socket.write(Buffer.concat(Array.from({ length: n }, () => OK)));
}

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
  write(journal, buf, (err, n) => {
    if (err || n !== buf.length) throw err ?? new Error(`short journal write: ${n} of ${buf.length} bytes`);
    writing = false;
    // A socket closed meanwhile ignores the write.
    for (let i = 0; i < sockets.length; i += 2) reply(sockets[i], sockets[i + 1]);
    schedule();
  });
}

const server = Bun.listen({
  hostname: host,
  port: Number(portArg),
  socket: {
    open(socket) {
      socket.data = null;
    },
    data(socket, chunk) {
      const buf = socket.data ? Buffer.concat([socket.data, chunk]) : chunk;
      let off = 0;
      let replies = 0;
      while (buf.length - off >= 4) {
        const len = buf.readUInt16BE(off + 2);
        if (buf.length - off < 4 + len) break;
        if (buf.readUInt16BE(off) !== 8001) {
          socket.end();
          return;
        }
        const sql = JSON.parse(buf.toString('utf8', off + 4, off + 4 + len)).sql;
        last = sql.replace('%d', String(++seq));
        if (journal >= 0) group.push(`${last}\n`);
        replies++;
        off += 4 + len;
      }
      socket.data = off === buf.length ? null : buf.subarray(off);
      if (journal < 0) reply(socket, replies);
      else if (replies > 0) {
        waiting.push(socket, replies);
        schedule();
      }
    },
    error(socket) {
      socket.end();
    },
  },
});
process.stdout.write(`port ${server.port}\n`);
process.on('SIGTERM', () => process.exit(0));
