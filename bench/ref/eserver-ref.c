/*
 * eserver-ref: the minimal C epoll queue server used as the yardstick in `make bench-proto` and the CI gate.
 * Written for this project (not the 2013 original, not fetched code). It does only what the benchmark needs:
 * the same framing (uint16 BE cmd | uint16 BE len | body), and for every 8001 frame the same 22-byte reply
 * (header 1f41 0012 + {"msg": "success"}). It parses no JSON and stores nothing, so it is the cost floor of
 * "accept, read a frame, write a reply, close" on this kernel. Anything but 8001 closes the connection.
 *
 * Usage: eserver-ref <host> <port>   (port 0 = any free port; the bound port is printed as "port N")
 * Build: cc -O2 -o eserver-ref eserver-ref.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_EVENTS 512
#define IN_CAP 65540 /* one whole frame of the largest body fits */
#define OUT_CAP 4096

static const unsigned char OK_REPLY[22] = {0x1f, 0x41, 0x00, 0x12, '{', '"', 'm', 's', 'g', '"', ':',
                                           ' ', '"', 's', 'u', 'c', 'c', 'e', 's', 's', '"', '}'};

struct conn {
  int fd;
  size_t in_len;
  size_t out_len;
  int want_out; /* EPOLLOUT registered: changed only when needed, to keep syscalls minimal */
  unsigned char out[OUT_CAP];
  unsigned char in[IN_CAP];
};

static volatile sig_atomic_t stop_flag = 0;
static void on_signal(int sig) { (void)sig; stop_flag = 1; }

static void conn_close(int ep, struct conn *c) {
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  free(c);
}

/* Flush pending replies; returns -1 when the peer is gone. */
static int conn_flush(struct conn *c) {
  while (c->out_len > 0) {
    ssize_t w = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);
    if (w < 0) return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
    memmove(c->out, c->out + w, c->out_len - (size_t)w);
    c->out_len -= (size_t)w;
  }
  return 0;
}

/* Read everything available, answer every whole frame; returns -1 to close. */
static int conn_read(struct conn *c) {
  for (;;) {
    ssize_t r = recv(c->fd, c->in + c->in_len, IN_CAP - c->in_len, 0);
    if (r == 0) return -1;
    if (r < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
      if (errno == EINTR) continue;
      return -1;
    }
    c->in_len += (size_t)r;
    size_t off = 0;
    while (c->in_len - off >= 4) {
      unsigned cmd = ((unsigned)c->in[off] << 8) | c->in[off + 1];
      size_t len = ((size_t)c->in[off + 2] << 8) | c->in[off + 3];
      if (c->in_len - off < 4 + len) break;
      if (cmd != 8001) return -1;
      if (c->out_len + sizeof OK_REPLY > OUT_CAP && conn_flush(c) < 0) return -1;
      if (c->out_len + sizeof OK_REPLY > OUT_CAP) return -1; /* peer does not read its replies */
      memcpy(c->out + c->out_len, OK_REPLY, sizeof OK_REPLY);
      c->out_len += sizeof OK_REPLY;
      off += 4 + len;
    }
    if (off > 0) {
      memmove(c->in, c->in + off, c->in_len - off);
      c->in_len -= off;
    }
    if (conn_flush(c) < 0) return -1;
  }
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s <host> <port>\n", argv[0]);
    return 2;
  }
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  signal(SIGPIPE, SIG_IGN);

  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)atoi(argv[2]));
  if (inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1) {
    fprintf(stderr, "bad host %s\n", argv[1]);
    return 2;
  }
  if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(lfd, 4096) < 0) {
    perror("bind/listen");
    return 1;
  }
  socklen_t alen = sizeof addr;
  getsockname(lfd, (struct sockaddr *)&addr, &alen);
  printf("port %d\n", ntohs(addr.sin_port));
  fflush(stdout);

  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  struct epoll_event events[MAX_EVENTS];

  while (!stop_flag) {
    int n = epoll_wait(ep, events, MAX_EVENTS, 500);
    for (int i = 0; i < n; i++) {
      if (events[i].data.ptr == NULL) {
        for (;;) { /* drain the accept queue: one refusal or error never stalls the others */
          int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
          if (fd < 0) break;
          setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          struct conn *c = malloc(sizeof *c);
          if (!c) { close(fd); continue; }
          c->fd = fd;
          c->in_len = 0;
          c->out_len = 0;
          c->want_out = 0;
          struct epoll_event cev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
          epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
        }
        continue;
      }
      struct conn *c = events[i].data.ptr;
      if (events[i].events & (EPOLLERR | EPOLLHUP)) { conn_close(ep, c); continue; }
      int rc = 0;
      if (events[i].events & EPOLLOUT) rc = conn_flush(c);
      if (rc == 0 && (events[i].events & (EPOLLIN | EPOLLRDHUP))) rc = conn_read(c);
      if (rc < 0) { conn_close(ep, c); continue; }
      int want = c->out_len > 0;
      if (want != c->want_out) {
        struct epoll_event mev = {.events = EPOLLIN | EPOLLRDHUP | (want ? EPOLLOUT : 0), .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &mev);
        c->want_out = want;
      }
    }
  }
  close(lfd);
  return 0;
}
