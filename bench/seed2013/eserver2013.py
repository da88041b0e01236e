#!/usr/bin/env python3
"""A 2013-style queue server: the control that the lab measures beside ours, and that calibrates the
emulated 2013 box.

Written for this project from the observed behaviour of the 2013 "eserver" (CircularQueue app), as
described in the lab's reference notes; none of the original's code is used. It does, per request, the
work the original did (see README.md for the list and why), and leaves out the original's correctness
defects: replies go to the connection that asked, frames are reassembled across reads, a client error
closes that client only, nothing exits on an error, and the ring's storage never grows.

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

HEADER_LEN = 4
NO_REPLY = 0
# Level-triggered, as the original re-armed a connection after each reply: bytes of a next frame that
# are already buffered wake the loop again.
WAIT_FOR_REQUEST = select.EPOLLIN
WAIT_FOR_SEND = select.EPOLLOUT


class Ring:
    """A fixed list of slots with front and rear indexes: a circular queue that never grows."""

    def __init__(self, capacity):
        self.slots = [None] * capacity
        self.capacity = capacity
        self.front = 0
        self.rear = 0
        self.size = 0

    def push(self, item):
        if self.size == self.capacity:
            return False
        self.slots[self.rear] = item
        self.rear = (self.rear + 1) % self.capacity
        self.size += 1
        return True

    def pop(self):
        if self.size == 0:
            return None
        item = self.slots[self.front]
        self.slots[self.front] = None
        self.front = (self.front + 1) % self.capacity
        self.size -= 1
        return item


class CircularQueueApp:
    """The commands, one method per cmd named handler_<cmd>: the server finds them by name.

    Each returns [reply cmd, reply object]; cmd 0 means no reply (and a close).
    """

    def __init__(self, capacity):
        self.ring = Ring(capacity)
        self.counter = 1

    def handler_8001(self, request):
        # Raises unless the statement has exactly one %d: the server closes that connection.
        statement = request.get('sql') % self.counter
        # The original printed both lines of every enqueue to stdout (a file here): a cost to keep.
        print(statement)
        print('rear = %d' % self.ring.rear)
        if not self.ring.push(statement):
            return [NO_REPLY, None]
        self.counter += 1
        return [8001, {'msg': 'success'}]

    def handler_8002(self, request):
        statement = self.ring.pop()
        if statement is None:
            return [NO_REPLY, None]
        return [8002, statement]

    def handler_8003(self, request):
        return [8003, self.ring.size]


class Server:
    def __init__(self, host, port, allow, capacity, backlog):
        self.app = CircularQueueApp(capacity)
        self.allow = list(allow)
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((host, port))
        self.listener.listen(backlog)
        self.listener.setblocking(False)
        self.epoll = select.epoll()
        self.epoll.register(self.listener.fileno(), select.EPOLLIN | select.EPOLLET)
        # Per connection, by fd: the socket, the peer's address, and the bytes of a frame not yet whole.
        self.socks = {}
        self.addrs = {}
        self.partial = {}
        # The reply each connection waits for (the original had one slot for all connections).
        self.replies = {}

    def serve_forever(self):
        while True:
            for fd, events in self.epoll.poll(-1):
                if fd == self.listener.fileno():
                    self.accept_all()
                elif fd not in self.socks:
                    continue
                elif events & select.EPOLLIN:
                    self.on_request(fd)
                elif events & select.EPOLLOUT:
                    self.on_writable(fd)
                else:
                    self.close(fd)

    def accept_all(self):
        # Edge-triggered: take every pending connection, refused ones included, until EAGAIN.
        while True:
            try:
                sock, addr = self.listener.accept()
            except BlockingIOError:
                return
            except ConnectionAbortedError:
                continue
            except OSError:
                return
            sock.setblocking(False)
            try:
                self.allow.index(addr[0])
            except ValueError:
                sock.close()
                continue
            fd = sock.fileno()
            self.epoll.register(fd, select.EPOLLIN | select.EPOLLET)
            self.socks[fd] = sock
            self.addrs[fd] = addr[0]
            self.partial[fd] = b''

    def close(self, fd):
        sock = self.socks.get(fd)
        if sock is None:
            return
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.epoll.unregister(fd)
        except (OSError, ValueError):
            pass
        sock.close()
        del self.socks[fd]
        del self.addrs[fd]
        del self.partial[fd]
        self.replies.pop(fd, None)

    def receive_frame(self, fd):
        """The next whole frame's header and body, or None (not all here yet, or the connection closed).

        Like the original: recv(4) for the header, then recv of what the body still lacks; a frame cut
        across reads is kept until the rest arrives.
        """
        sock = self.socks[fd]
        got = self.partial[fd]
        try:
            while len(got) < HEADER_LEN:
                chunk = sock.recv(HEADER_LEN - len(got))
                if not chunk:
                    self.close(fd)
                    return None
                got += chunk
            cmd, length = struct.unpack('HH', got[:HEADER_LEN])
            cmd = socket.ntohs(cmd)
            length = socket.ntohs(length)
            while len(got) < HEADER_LEN + length:
                chunk = sock.recv(HEADER_LEN + length - len(got))
                if not chunk:
                    self.close(fd)
                    return None
                got += chunk
        except BlockingIOError:
            self.partial[fd] = got
            return None
        except OSError:
            self.close(fd)
            return None
        self.partial[fd] = b''
        return cmd, got[HEADER_LEN:]

    def on_request(self, fd):
        frame = self.receive_frame(fd)
        if frame is None:
            return
        cmd, body = frame
        try:
            request = json.loads(body.decode('utf-8'))
            # The original looked the handler up by name in a fresh dir() of the app and called it
            # through eval of a string, compiled on every request: a cost to keep.
            name = 'handler_' + str(cmd)
            if name not in dir(self.app):
                self.close(fd)
                return
            reply = eval('self.app.' + name)(request)
        except Exception:
            self.close(fd)
            return
        if reply[0] == NO_REPLY:
            self.close(fd)
            return
        # The reply goes out when the socket says it is writable: one more trip round the loop.
        self.replies[fd] = reply
        self.epoll.modify(fd, WAIT_FOR_SEND)

    def on_writable(self, fd):
        pending = self.replies[fd]
        try:
            if isinstance(pending, list):
                cmd = socket.htons(pending[0])
                payload = json.dumps(pending[1]).encode('utf-8')
                length = socket.htons(len(payload))
                pending = struct.pack('HH' + str(len(payload)) + 's', cmd, length, payload)
            sent = self.socks[fd].send(pending)
        except BlockingIOError:
            sent = 0
        except (OSError, OverflowError, struct.error):
            self.close(fd)
            return
        if sent < len(pending):
            # A full socket buffer (rare for these small replies): keep the rest, stay on EPOLLOUT.
            self.replies[fd] = pending[sent:]
            return
        del self.replies[fd]
        self.epoll.modify(fd, WAIT_FOR_REQUEST)


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
    server = Server(a.host, a.port, a.allow or ['127.0.0.1'], a.capacity, a.backlog)
    # The bound port (--port 0 lets the caller take a free one): whoever starts it reads it from here.
    print('eserver2013 listening on %s:%d' % server.listener.getsockname()[:2], file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == '__main__':
    main()
