// SPDX-License-Identifier: Apache-2.0
// The end-to-end tests' app: a tiny static HTTP/1.1 server for a FROM-scratch image.
//
//   app [PORT]          (default: $PORT, else 8080)
//
// Every request gets "200 <POD_NAME>\n" ($POD_NAME from the downward API; "-" without it);
// keep-alive unless the client sends "Connection: close". SIGTERM or SIGINT ends it at
// once (exit 0), also as PID 1, after one line on stdout: the tests read it to see when
// the app got the signal. No shell, no libc beyond the static glibc.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { MAX_CONNS = 1024, BUF = 8192 };

struct conn {
  int fd;
  size_t len;
  char buf[BUF];
};

static struct conn conns[MAX_CONNS];
static struct pollfd fds[MAX_CONNS + 1];

static void stamp(char *out, size_t n) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
           tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
}

static void on_term(int sig) {
  char line[192], ts[96];
  stamp(ts, sizeof ts);
  int n = snprintf(line, sizeof line, "%s app: got %s, exiting\n", ts,
                   sig == SIGTERM ? "SIGTERM" : "SIGINT");
  if (write(STDOUT_FILENO, line, (size_t)n) < 0) {
  }
  _exit(0);
}

static void close_conn(int i) {
  close(conns[i].fd);
  conns[i].fd = -1;
  fds[i + 1].fd = -1;
}

// Answers every complete request in the buffer; returns 0 to keep the connection.
static int serve(int i, const char *pod) {
  struct conn *c = &conns[i];
  for (;;) {
    c->buf[c->len] = '\0';
    char *end = strstr(c->buf, "\r\n\r\n");
    if (!end) return c->len >= BUF - 1 ? -1 : 0;
    size_t req_len = (size_t)(end - c->buf) + 4;
    int close_after = 0;
    for (char *p = c->buf; p < end; p++) {
      if ((p == c->buf || p[-1] == '\n') && strncasecmp(p, "connection:", 11) == 0) {
        char *v = p + 11;
        while (*v == ' ') v++;
        if (strncasecmp(v, "close", 5) == 0) close_after = 1;
      }
    }
    if (strncmp(c->buf, "HTTP/1.0", 8) == 0 || strstr(c->buf, " HTTP/1.0\r\n")) close_after = 1;
    char resp[512];
    int n = snprintf(resp, sizeof resp,
                     "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n%s\r\n%s\n",
                     strlen(pod) + 1, close_after ? "Connection: close\r\n" : "", pod);
    size_t off = 0;
    while (off < (size_t)n) {  // small answer: a blocking-style loop on EAGAIN is fine
      ssize_t w = write(c->fd, resp + off, (size_t)n - off);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0 && errno == EAGAIN) {
        struct pollfd p = {c->fd, POLLOUT, 0};
        poll(&p, 1, 1000);
        continue;
      }
      if (w <= 0) return -1;
      off += (size_t)w;
    }
    if (close_after) return -1;
    memmove(c->buf, c->buf + req_len, c->len - req_len);
    c->len -= req_len;
  }
}

int main(int argc, char **argv) {
  const char *port_s = argc > 1 ? argv[1] : getenv("PORT");
  int port = port_s ? atoi(port_s) : 8080;
  if (port <= 0 || port > 65535) {
    fprintf(stderr, "app: bad port %s\n", port_s);
    return 2;
  }
  const char *pod = getenv("POD_NAME");
  if (!pod || !*pod) pod = "-";
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_term;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  int ls = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int fam6 = ls >= 0;
  if (!fam6) ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (ls < 0) {
    perror("app: socket");
    return 1;
  }
  int one = 1, zero = 0;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  int rc;
  if (fam6) {
    setsockopt(ls, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    struct sockaddr_in6 a6;
    memset(&a6, 0, sizeof a6);
    a6.sin6_family = AF_INET6;
    a6.sin6_port = htons((unsigned short)port);
    a6.sin6_addr = in6addr_any;
    rc = bind(ls, (struct sockaddr *)&a6, sizeof a6);
  } else {
    struct sockaddr_in a4;
    memset(&a4, 0, sizeof a4);
    a4.sin_family = AF_INET;
    a4.sin_port = htons((unsigned short)port);
    a4.sin_addr.s_addr = htonl(INADDR_ANY);
    rc = bind(ls, (struct sockaddr *)&a4, sizeof a4);
  }
  if (rc < 0 || listen(ls, 1024) < 0) {
    perror("app: bind/listen");
    return 1;
  }
  char ts[96];
  stamp(ts, sizeof ts);
  printf("%s app: listening on :%d as %s (pid %d)\n", ts, port, pod, (int)getpid());
  fflush(stdout);

  for (int i = 0; i < MAX_CONNS; i++) conns[i].fd = fds[i + 1].fd = -1;
  fds[0].fd = ls;
  fds[0].events = POLLIN;
  for (;;) {
    if (poll(fds, MAX_CONNS + 1, -1) < 0) {
      if (errno == EINTR) continue;
      perror("app: poll");
      return 1;
    }
    if (fds[0].revents & POLLIN) {
      for (;;) {
        int fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) break;
        int slot = -1;
        for (int i = 0; i < MAX_CONNS; i++)
          if (conns[i].fd < 0) {
            slot = i;
            break;
          }
        if (slot < 0) {
          close(fd);
          continue;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        conns[slot].fd = fd;
        conns[slot].len = 0;
        fds[slot + 1].fd = fd;
        fds[slot + 1].events = POLLIN;
      }
    }
    for (int i = 0; i < MAX_CONNS; i++) {
      if (conns[i].fd < 0 || !fds[i + 1].revents) continue;
      struct conn *c = &conns[i];
      ssize_t r = read(c->fd, c->buf + c->len, BUF - 1 - c->len);
      if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (r <= 0) {
        close_conn(i);
        continue;
      }
      c->len += (size_t)r;
      if (serve(i, pod) < 0) close_conn(i);
    }
  }
}
