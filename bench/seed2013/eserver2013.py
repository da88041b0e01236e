#!/usr/bin/env python3
"""A 2013-style queue server: the stand-in that calibrates the emulated 2013 box.

Written for this project from the observed behaviour of the 2013 "eserver" (CircularQueue app), as
described in the lab's reference notes; none of the original's code is used. It keeps what the
original spent CPU on per request (one epoll loop in one process, one accept / recv / send per
connection, json.loads of the request and json.dumps of the reply, Python's % formatting of the
statement, an exact-string allow-list at accept, a print of every request to stdout, which the lab
sends to a file) and leaves out its correctness defects: replies go to the connection that asked,
frames are reassembled across reads, and a client error closes that client only.

Like the original, nothing drains the queue into MySQL: entries stay in memory.

Wire format, both ways: uint16 BE cmd | uint16 BE len | len bytes of UTF-8 JSON.
  8001 {"sql": "... %d ..."} -> 8001 {"msg": "success"}   (queue full: no reply, connection closed)
  8002 any JSON              -> 8002 "<statement>"          (queue empty: no reply, connection closed)
  8003 any JSON              -> 8003 <length>
Anything else (unknown cmd, body that is not JSON, a statement without exactly one %d): the
connection is closed without a reply. A handler result of cmd 0 means "send nothing".
"""
import argparse
import json
import select
import signal
import socket
import struct
import sys

HEADER = struct.Struct('!HH')
ENQUEUE, DEQUEUE, LENGTH = 8001, 8002, 8003
NO_REPLY = 0


class Ring:
    """A fixed list of slots with a read index and a size: a circular queue that never grows."""

    def __init__(self, capacity):
        self.slots = [None] * capacity
        self.capacity = capacity
        self.head = 0
        self.size = 0

    def push(self, item):
        if self.size == self.capacity:
            return False
        self.slots[(self.head + self.size) % self.capacity] = item
        self.size += 1
        return True

    def pop(self):
        if self.size == 0:
            return None
        item = self.slots[self.head]
        self.slots[self.head] = None
        self.head = (self.head + 1) % self.capacity
        self.size -= 1
        return item


class CircularQueueApp:
    """The commands. Returns (reply cmd, reply object); cmd 0 means no reply (and a close)."""

    def __init__(self, capacity):
        self.ring = Ring(capacity)
        self.counter = 1

    def handle(self, cmd, request):
        if cmd == ENQUEUE:
            # Raises TypeError unless the statement has exactly one %d: the caller closes the connection.
            statement = request['sql'] % self.counter
            if not self.ring.push(statement):
                return NO_REPLY, None
            self.counter += 1
            return ENQUEUE, {'msg': 'success'}
        if cmd == DEQUEUE:
            statement = self.ring.pop()
            if statement is None:
                return NO_REPLY, None
            return DEQUEUE, statement
        if cmd == LENGTH:
            return LENGTH, self.ring.size
        raise ValueError('unknown cmd %d' % cmd)


class Connection:
    __slots__ = ('sock', 'addr', 'inbox', 'outbox', 'watching_out')

    def __init__(self, sock, addr):
        self.sock = sock
        self.addr = addr
        self.inbox = bytearray()
        self.outbox = bytearray()
        self.watching_out = False


class Server:
    def __init__(self, host, port, allow, capacity, backlog, out):
        self.app = CircularQueueApp(capacity)
        self.allow = allow
        self.out = out
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((host, port))
        self.listener.listen(backlog)
        self.listener.setblocking(False)
        self.epoll = select.epoll()
        self.epoll.register(self.listener.fileno(), select.EPOLLIN)
        self.conns = {}

    def serve_forever(self):
        listen_fd = self.listener.fileno()
        while True:
            for fd, events in self.epoll.poll():
                if fd == listen_fd:
                    self.accept_all()
                    continue
                conn = self.conns.get(fd)
                if conn is None:
                    continue
                if events & (select.EPOLLIN | select.EPOLLHUP | select.EPOLLERR):
                    self.on_readable(conn)
                elif events & select.EPOLLOUT:
                    self.flush(conn)

    def accept_all(self):
        # Every pending connection, refused ones included: a refusal never stalls the others.
        while True:
            try:
                sock, addr = self.listener.accept()
            except BlockingIOError:
                return
            except OSError:
                return
            if addr[0] not in self.allow:
                sock.close()
                continue
            sock.setblocking(False)
            self.conns[sock.fileno()] = Connection(sock, addr)
            self.epoll.register(sock.fileno(), select.EPOLLIN)

    def close(self, conn):
        fd = conn.sock.fileno()
        self.conns.pop(fd, None)
        try:
            self.epoll.unregister(fd)
        except (OSError, ValueError):
            pass
        conn.sock.close()

    def on_readable(self, conn):
        try:
            data = conn.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            self.close(conn)
            return
        if not data:
            self.close(conn)
            return
        conn.inbox += data
        while len(conn.inbox) >= HEADER.size:
            cmd, length = HEADER.unpack_from(conn.inbox)
            if len(conn.inbox) < HEADER.size + length:
                return
            body = bytes(conn.inbox[HEADER.size:HEADER.size + length])
            del conn.inbox[:HEADER.size + length]
            try:
                text = body.decode('utf-8')
                print('%s:%d cmd=%d %s' % (conn.addr[0], conn.addr[1], cmd, text), file=self.out)
                reply_cmd, reply = self.app.handle(cmd, json.loads(text))
            except Exception:
                self.close(conn)
                return
            if reply_cmd == NO_REPLY:
                self.close(conn)
                return
            payload = json.dumps(reply).encode('utf-8')
            conn.outbox += HEADER.pack(reply_cmd, len(payload)) + payload
            if not self.flush(conn):
                return

    def flush(self, conn):
        """Sends what is pending; returns False when the connection was closed."""
        try:
            sent = conn.sock.send(conn.outbox)
        except BlockingIOError:
            sent = 0
        except OSError:
            self.close(conn)
            return False
        del conn.outbox[:sent]
        # Watch for writability only while a reply is stuck (a full socket buffer), which is rare.
        stuck = bool(conn.outbox)
        if stuck != conn.watching_out:
            conn.watching_out = stuck
            self.epoll.modify(conn.sock.fileno(), select.EPOLLIN | (select.EPOLLOUT if stuck else 0))
        return True


def main(argv=None):
    p = argparse.ArgumentParser(description='2013-style eserver stand-in (CircularQueue, no MySQL drain)')
    p.add_argument('--host', default='0.0.0.0')
    p.add_argument('--port', type=int, default=8888)
    p.add_argument('--allow', action='append', help='allowed client address, exact match (repeatable; default 127.0.0.1)')
    p.add_argument('--capacity', type=int, default=1000000)
    p.add_argument('--backlog', type=int, default=1024)
    a = p.parse_args(argv)
    # The lab stops it with SIGTERM: leave through SystemExit so that stdout (a file) is flushed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = Server(a.host, a.port, a.allow or ['127.0.0.1'], a.capacity, a.backlog, sys.stdout)
    # The bound port (--port 0 lets the caller take a free one): whoever starts it reads it from here.
    print('eserver2013 listening on %s:%d' % server.listener.getsockname()[:2], file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == '__main__':
    main()
