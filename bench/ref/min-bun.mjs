// min-bun: the same minimal queue server as min-node.mjs, on Bun's own socket API (`Bun.listen`) instead of
// `node:net`. For every 8001 frame: parse the JSON body, put the sequence number in place of `%d`, keep the
// statement, write the 22-byte reply; anything but 8001 closes the connection. Nothing else. It is the floor
// of a Bun-native adapter for the queue server. With a journal file, the floor of its journal under
// `--fsync always`, as in min-node.mjs (min-journal.mjs).
//
// Usage: bun min-bun.mjs <host> <port> [journal-file]   (port 0 = any free port; prints "port N")
import { groupJournal } from './min-journal.mjs';

const OK = Buffer.from('1f4100127b226d7367223a202273756363657373227d', 'hex');
const [host = '127.0.0.1', portArg = '0', journalFile] = process.argv.slice(2);
let seq = 0;
// The last statement, so that the substitution is real work and not optimised away.
export let last = '';

function reply(socket, n) {
  if (n === 1) socket.write(OK);
  else if (n > 1) socket.write(Buffer.concat(Array.from({ length: n }, () => OK)));
}

// A socket closed while its group was being written ignores the write.
const journal = journalFile ? groupJournal(journalFile, reply) : null;

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
        if (journal) journal.add(last);
        replies++;
        off += 4 + len;
      }
      socket.data = off === buf.length ? null : buf.subarray(off);
      if (!journal) reply(socket, replies);
      else if (replies > 0) journal.release(socket, replies);
    },
    error(socket) {
      socket.end();
    },
  },
});
process.stdout.write(`port ${server.port}\n`);
process.on('SIGTERM', () => process.exit(0));
