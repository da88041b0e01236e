// min-node: the smallest Node `net` queue server that does the work of an 8001, for `make bench-proto`'s
// runtime table. For every 8001 frame it parses the JSON body, puts the sequence number in place of `%d`,
// keeps the statement, and writes the same 22-byte reply as the C reference; anything but 8001 closes the
// connection. No guard, no ring, no journal, no metrics: what is left is the runtime's own cost of a
// connection and a frame. Plain JavaScript, run as it is (like eserver-ref.c, it is a yardstick, not product
// code, and it must not share code with the server it is compared with).
//
// With a journal file it is also the floor of the queue server's journal under `--fsync always`: the
// statements read in one event-loop turn go to the file in one O_DSYNC write, and their replies leave only
// once that write has returned (min-journal.mjs).
//
// Usage: node min-node.mjs <host> <port> [journal-file]   (port 0 = any free port; prints "port N")
import { createServer } from 'node:net';
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

// A client may have gone while its group was being written: nothing to answer then.
const journal = journalFile ? groupJournal(journalFile, (socket, n) => socket.destroyed || reply(socket, n)) : null;

function onData(chunk) {
  let buf = this.rest ? Buffer.concat([this.rest, chunk]) : chunk;
  let off = 0;
  let replies = 0;
  while (buf.length - off >= 4) {
    const len = buf.readUInt16BE(off + 2);
    if (buf.length - off < 4 + len) break;
    if (buf.readUInt16BE(off) !== 8001) {
      this.destroy();
      return;
    }
    const sql = JSON.parse(buf.toString('utf8', off + 4, off + 4 + len)).sql;
    last = sql.replace('%d', String(++seq));
    if (journal) journal.add(last);
    replies++;
    off += 4 + len;
  }
  this.rest = off === buf.length ? null : buf.subarray(off);
  if (!journal) reply(this, replies);
  else if (replies > 0) journal.release(this, replies);
}

function onError() {
  this.destroy();
}

const server = createServer({ noDelay: true }, (socket) => {
  socket.rest = null;
  socket.on('data', onData);
  socket.on('error', onError);
});
server.listen({ host, port: Number(portArg), backlog: 1024 }, () => {
  process.stdout.write(`port ${server.address().port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
