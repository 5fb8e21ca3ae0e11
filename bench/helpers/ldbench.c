// SPDX-License-Identifier: Apache-2.0
/* ldbench: the small native helpers of the lameduck benchmarks (bench/run.sh).
 *
 * Drivers (run by bench.py; each starts the init under test as PID 1 of a new PID and
 * mount namespace, with /proc remounted, like a container runtime does):
 *
 *   ldbench pid1 PIDFILE -- INIT ARGS...
 *       start INIT as PID 1, write its host PID to PIDFILE, forward SIGTERM/SIGINT to it,
 *       exit with its status.
 *   ldbench signals N WARMUP TIMEOUT_MS -- INIT ARGS... -- ldbench sigack
 *       send SIGUSR1 to the init, wait for the child's one-byte ack, repeat N times
 *       (WARMUP unrecorded ones first); print one JSON object (latencies in us).
 *   ldbench reap N TIMEOUT_MS -- INIT ARGS... -- ldbench orphans N
 *       let the child leave N orphans, release them all at once, and time until the init
 *       has reaped every one (polling the init's children in /proc); print JSON.
 *
 * Children (run under the init):
 *
 *   ldbench sigack      write 'R', then one 'a' per SIGUSR1 to stdout; exit 0 on SIGTERM
 *   ldbench orphans N   create N grandchildren through an intermediate that exits (so they
 *                       are re-parented to the init), write "R<pid>\n", wait for a byte on
 *                       stdin, then let them all exit at once; then wait for EOF/SIGTERM
 *   ldbench termstamp   write 'R', then on SIGTERM write "T <CLOCK_MONOTONIC ns>\n", exit 0
 *
 * Linux only; built by bench/run.sh with gcc (static, so that 10,000 forks are cheap). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what) {
  fprintf(stderr, "ldbench: %s: %s\n", what, strerror(errno));
  exit(111);
}

static void fail(const char *msg) {
  fprintf(stderr, "ldbench: %s\n", msg);
  exit(111);
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void sleep_us(long us) {
  struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static void write_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("write");
    }
    p += n;
    len -= (size_t)n;
  }
}

/* Read one byte with a timeout; returns the byte, -1 on timeout, -2 on EOF. */
static int read_byte(int fd, int timeout_ms) {
  struct pollfd p = {fd, POLLIN, 0};
  for (;;) {
    int r = poll(&p, 1, timeout_ms);
    if (r < 0) {
      if (errno == EINTR) continue;
      die("poll");
    }
    if (r == 0) return -1;
    unsigned char c;
    ssize_t n = read(fd, &c, 1);
    if (n == 1) return c;
    if (n == 0) return -2;
    if (errno != EINTR && errno != EAGAIN) die("read");
  }
}

/* ---- starting an init as PID 1 of a new PID namespace -------------------------------- */

/* LDBENCH_CGROUP=DIR: the init starts in that cgroup, as a container runtime starts a
 * container's PID 1 in a cgroup of its own, outside the host's root cgroup (where the
 * kernel's autogroup gives every new session a scheduling group of its own). */
static void join_cgroup(void) {
  const char *dir = getenv("LDBENCH_CGROUP");
  if (!dir || !*dir) return;
  char path[4096];
  snprintf(path, sizeof path, "%s/cgroup.procs", dir);
  FILE *f = fopen(path, "w");
  if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f) != 0) die(path);
}

/* unshare(PID), fork; the child (PID 1 in the new namespace) enters a new mount namespace,
 * remounts /proc and execs argv with the given stdin/stdout (-1: inherit). Returns the
 * child's host PID. */
static pid_t spawn_pid1(char **argv, int in_fd, int out_fd, int *close_fds, int nclose) {
  if (unshare(CLONE_NEWPID) != 0) die("unshare(CLONE_NEWPID)");
  pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) {
    join_cgroup();
    /* Own mount namespace, so that our /proc (of the new PID namespace) does not hide the
     * host's /proc from the driver, which reads the init's status there. */
    if (unshare(CLONE_NEWNS) != 0) die("unshare(CLONE_NEWNS)");
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) die("mount --make-rprivate /");
    if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
      die("mount /proc");
    if (in_fd >= 0 && dup2(in_fd, 0) < 0) die("dup2");
    if (out_fd >= 0 && dup2(out_fd, 1) < 0) die("dup2");
    for (int i = 0; i < nclose; i++)
      if (close_fds[i] > 2) close(close_fds[i]);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execvp(argv[0], argv);
    fprintf(stderr, "ldbench: exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  return pid;
}

/* Wait for pid up to timeout_ms; then SIGKILL it (which ends its whole namespace).
 * Returns the wait status, with *killed set when it had to be killed. */
static int reap_with_timeout(pid_t pid, int timeout_ms, int *killed) {
  int status = 0;
  int64_t deadline = now_ns() + (int64_t)timeout_ms * 1000000LL;
  *killed = 0;
  for (;;) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0 && errno != EINTR) die("waitpid");
    if (now_ns() > deadline) break;
    sleep_us(2000);
  }
  *killed = 1;
  kill(pid, SIGKILL);
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

static void print_status(const char *key, int status, int killed) {
  if (killed)
    printf("\"%s\": \"killed after timeout\"", key);
  else if (WIFEXITED(status))
    printf("\"%s\": \"exit %d\"", key, WEXITSTATUS(status));
  else
    printf("\"%s\": \"signal %d\"", key, WTERMSIG(status));
}

/* argv after "--"; the index of the first argument after the first "--". */
static int after_dashdash(int argc, char **argv, int from) {
  for (int i = from; i < argc; i++)
    if (strcmp(argv[i], "--") == 0) return i + 1;
  fail("missing -- INIT ...");
  return -1;
}

/* CPU time (ns) the process has run, summed over its threads (first field of each
 * /proc/PID/task/TID/schedstat); -1 if unavailable. */
static int64_t cpu_ns(pid_t pid) {
  char path[128];
  snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
  DIR *d = opendir(path);
  if (!d) return -1;
  int64_t total = 0;
  int found = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    char spath[512];
    snprintf(spath, sizeof spath, "/proc/%d/task/%s/schedstat", (int)pid, e->d_name);
    FILE *f = fopen(spath, "r");
    if (!f) continue;
    long long v;
    if (fscanf(f, "%lld", &v) == 1) {
      total += v;
      found = 1;
    }
    fclose(f);
  }
  closedir(d);
  return found ? total : -1;
}

/* ---- pid1 ------------------------------------------------------------------------------ */

static volatile sig_atomic_t forward_to = 0;

static void forward(int sig) {
  if (forward_to > 0) kill(forward_to, sig);
}

static int cmd_pid1(int argc, char **argv) {
  if (argc < 5) fail("usage: ldbench pid1 PIDFILE -- INIT ARGS...");
  const char *pidfile = argv[2];
  int cmd = after_dashdash(argc, argv, 3);
  pid_t pid = spawn_pid1(argv + cmd, -1, -1, NULL, 0);
  forward_to = pid;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = forward;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", pidfile);
  FILE *f = fopen(tmp, "w");
  if (!f) die("open pidfile");
  fprintf(f, "%d\n", (int)pid);
  fclose(f);
  if (rename(tmp, pidfile) != 0) die("rename pidfile");
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) die("waitpid");
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}

/* ---- signals --------------------------------------------------------------------------- */

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

static double pct(const int64_t *sorted, int n, double p) {
  if (n == 0) return 0;
  int i = (int)(p * (n - 1) + 0.5);
  return (double)sorted[i] / 1000.0;
}

static int cmd_signals(int argc, char **argv) {
  if (argc < 7) fail("usage: ldbench signals N WARMUP TIMEOUT_MS -- INIT ARGS...");
  int n = atoi(argv[2]), warmup = atoi(argv[3]), timeout_ms = atoi(argv[4]);
  int cmd = after_dashdash(argc, argv, 5);
  int ack[2];
  if (pipe2(ack, O_CLOEXEC) != 0) die("pipe");
  int close_fds[] = {ack[0]};
  pid_t init = spawn_pid1(argv + cmd, -1, ack[1], close_fds, 1);
  close(ack[1]);
  int c = read_byte(ack[0], 10000);
  if (c != 'R') {
    int killed;
    int st = reap_with_timeout(init, 100, &killed);
    printf("{\"error\": \"child not ready (%s)\", ", c == -1 ? "timeout" : "EOF");
    print_status("init_status", st, killed);
    printf("}\n");
    return 1;
  }
  int64_t *lat = calloc((size_t)n, sizeof *lat);
  int lost = 0, extra = 0, recorded = 0;
  int64_t start = 0, cpu0 = -1;
  for (int i = 0; i < warmup + n; i++) {
    if (i == warmup) {
      cpu0 = cpu_ns(init);
      start = now_ns();
    }
    int64_t t0 = now_ns();
    if (kill(init, SIGUSR1) != 0) die("kill");
    int b = read_byte(ack[0], timeout_ms);
    int64_t t1 = now_ns();
    if (b == -2) break; /* the init or the child died */
    if (b == -1) {
      lost++;
      continue;
    }
    /* A late ack of an earlier "lost" signal would desynchronise us: drain extras. */
    while (read_byte(ack[0], 0) >= 0) extra++;
    if (i >= warmup) lat[recorded++] = t1 - t0;
  }
  int64_t total = now_ns() - start;
  int64_t cpu1 = cpu_ns(init);
  kill(init, SIGTERM);
  int killed;
  int st = reap_with_timeout(init, 5000, &killed);
  qsort(lat, (size_t)recorded, sizeof *lat, cmp_i64);
  printf("{\"n\": %d, \"acked\": %d, \"lost\": %d, \"late_acks\": %d, "
         "\"median_us\": %.2f, \"p90_us\": %.2f, \"p99_us\": %.2f, \"max_us\": %.2f, "
         "\"total_s\": %.6f, \"per_s\": %.1f, \"init_cpu_us_per_signal\": %.3f, ",
         n, recorded, lost, extra, pct(lat, recorded, 0.5), pct(lat, recorded, 0.9),
         pct(lat, recorded, 0.99), pct(lat, recorded, 1.0), (double)total / 1e9,
         total > 0 ? recorded / ((double)total / 1e9) : 0.0,
         (cpu0 >= 0 && cpu1 >= 0 && recorded > 0) ? (double)(cpu1 - cpu0) / 1e3 / recorded : -1.0);
  print_status("init_status", st, killed);
  printf("}\n");
  return 0;
}

static int cmd_sigack(void) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigprocmask(SIG_BLOCK, &set, NULL);
  write_all(1, "R", 1);
  for (;;) {
    int sig = sigwaitinfo(&set, NULL);
    if (sig < 0) {
      if (errno == EINTR) continue;
      die("sigwaitinfo");
    }
    if (sig == SIGUSR1)
      write_all(1, "a", 1);
    else
      return 0;
  }
}

static int cmd_termstamp(void) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigprocmask(SIG_BLOCK, &set, NULL);
  write_all(1, "R", 1);
  int sig;
  while ((sig = sigwaitinfo(&set, NULL)) < 0)
    if (errno != EINTR) die("sigwaitinfo");
  int64_t t = now_ns();
  char buf[64];
  int len = snprintf(buf, sizeof buf, "T %lld %d\n", (long long)t, sig);
  write_all(1, buf, (size_t)len);
  return 0;
}

/* ---- reaping --------------------------------------------------------------------------- */

/* Children of every thread of pid (zombies included: they stay on the list until reaped).
 * If zombies != NULL, also count those in state Z. Returns -1 if pid is gone. */
static char *children_buf;
static size_t children_cap;

static int count_children(pid_t pid, int *zombies) {
  char path[128];
  snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
  DIR *d = opendir(path);
  if (!d) return -1;
  int count = 0;
  if (zombies) *zombies = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    char cpath[512];
    snprintf(cpath, sizeof cpath, "/proc/%d/task/%s/children", (int)pid, e->d_name);
    int fd = open(cpath, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    size_t len = 0;
    for (;;) {
      if (len + 65536 > children_cap) {
        children_cap = children_cap ? children_cap * 2 : 1 << 20;
        children_buf = realloc(children_buf, children_cap);
        if (!children_buf) fail("out of memory");
      }
      ssize_t r = read(fd, children_buf + len, children_cap - len - 1);
      if (r < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (r == 0) break;
      len += (size_t)r;
    }
    close(fd);
    children_buf[len] = 0;
    char *p = children_buf;
    while (*p) {
      while (*p == ' ' || *p == '\n') p++;
      if (!*p) break;
      char *endp;
      long child = strtol(p, &endp, 10);
      if (endp == p) break;
      p = endp;
      count++;
      if (zombies) {
        char spath[64], sbuf[512];
        snprintf(spath, sizeof spath, "/proc/%ld/stat", child);
        int sfd = open(spath, O_RDONLY | O_CLOEXEC);
        if (sfd >= 0) {
          ssize_t r = read(sfd, sbuf, sizeof sbuf - 1);
          close(sfd);
          if (r > 0) {
            sbuf[r] = 0;
            char *rp = strrchr(sbuf, ')');
            if (rp && rp[1] == ' ' && rp[2] == 'Z') (*zombies)++;
          }
        }
      }
    }
  }
  closedir(d);
  return count;
}

/* Host PIDs of the init's children (all threads); returns the count (or -1). */
static int list_children(pid_t pid, pid_t *out, int cap) {
  char path[128];
  snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
  DIR *d = opendir(path);
  if (!d) return -1;
  int count = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    char cpath[512];
    snprintf(cpath, sizeof cpath, "/proc/%d/task/%s/children", (int)pid, e->d_name);
    FILE *f = fopen(cpath, "r");
    if (!f) continue;
    long v;
    while (fscanf(f, "%ld", &v) == 1)
      if (count < cap) out[count++] = (pid_t)v;
    fclose(f);
  }
  closedir(d);
  return count;
}

/* The PID of host process hp in its innermost PID namespace (last field of NSpid). */
static long ns_pid_of(pid_t hp) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)hp);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  long last = -1;
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "NSpid:", 6) != 0) continue;
    char *p = line + 6, *endp;
    for (;;) {
      long v = strtol(p, &endp, 10);
      if (endp == p) break;
      last = v;
      p = endp;
    }
  }
  fclose(f);
  return last;
}

static int cmd_reap(int argc, char **argv) {
  if (argc < 6) fail("usage: ldbench reap N TIMEOUT_MS -- INIT ARGS...");
  int n = atoi(argv[2]), timeout_ms = atoi(argv[3]);
  int cmd = after_dashdash(argc, argv, 4);
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  int ctl[2], rdy[2];
  if (pipe2(ctl, O_CLOEXEC) != 0 || pipe2(rdy, O_CLOEXEC) != 0) die("pipe");
  int close_fds[] = {ctl[1], rdy[0]};
  pid_t init = spawn_pid1(argv + cmd, ctl[0], rdy[1], close_fds, 2);
  close(ctl[0]);
  close(rdy[1]);
  /* "R<ns pid of the helper>\n" once every orphan exists */
  int c = read_byte(rdy[0], 120000);
  long helper_ns = 0;
  if (c == 'R') {
    int d;
    while ((d = read_byte(rdy[0], 10000)) >= '0' && d <= '9') helper_ns = helper_ns * 10 + (d - '0');
  }
  if (c != 'R' || helper_ns <= 0) {
    int killed;
    int st = reap_with_timeout(init, 100, &killed);
    printf("{\"error\": \"orphans helper not ready (%s)\", ", c == -1 ? "timeout" : "EOF");
    print_status("init_status", st, killed);
    printf("}\n");
    return 1;
  }
  /* Every orphan must be the init's child now (plus the helper itself). Watch each with a
   * pidfd: it reports POLLHUP once the process is reaped (gone), POLLIN while a zombie. */
  pid_t *kids = calloc((size_t)n + 64, sizeof *kids);
  int *fds = calloc((size_t)n + 64, sizeof *fds);
  int before = list_children(init, kids, n + 64), nfds = 0, open_errors = 0;
  for (int i = 0; i < before; i++) {
    if (nfds == 0 && i < 8 && ns_pid_of(kids[i]) == helper_ns) continue; /* usually first */
    int fd = (int)syscall(SYS_pidfd_open, kids[i], 0);
    if (fd < 0) {
      open_errors++;
      continue;
    }
    fds[nfds++] = fd;
  }
  int64_t cpu0 = cpu_ns(init);
  int64_t t0 = now_ns();
  write_all(ctl[1], "G", 1);
  int64_t deadline = t0 + (int64_t)timeout_ms * 1000000LL;
  int i = 0, polls = 0, done = 0;
  int64_t t1 = 0;
  while (i < nfds) {
    struct pollfd p = {fds[i], POLLIN, 0};
    polls++;
    if (poll(&p, 1, 0) == 1 && (p.revents & POLLHUP)) {
      i++;
      continue;
    }
    if (now_ns() > deadline) break;
    sleep_us(500);
  }
  t1 = now_ns();
  int64_t cpu1 = cpu_ns(init);
  done = i == nfds;
  for (int k = 0; k < nfds; k++) close(fds[k]);
  /* Zombies left behind: children in state Z, 100 ms later. */
  sleep_us(100000);
  int zombies = 0;
  int left_after = count_children(init, &zombies);
  close(ctl[1]); /* the helper exits on EOF; the init should then exit too */
  int killed;
  int st = reap_with_timeout(init, 10000, &killed);
  printf("{\"n\": %d, \"watched\": %d, \"pidfd_errors\": %d, \"all_reaped\": %s, "
         "\"time_ms\": %.3f, \"per_s\": %.1f, \"polls\": %d, \"reaped\": %d, "
         "\"children_left\": %d, \"zombies_left\": %d, \"init_cpu_ms\": %.3f, ",
         n, nfds, open_errors, done ? "true" : "false", (double)(t1 - t0) / 1e6,
         done ? nfds / ((double)(t1 - t0) / 1e9) : 0.0, polls, i,
         left_after < 0 ? 0 : left_after - 1, zombies,
         (cpu0 >= 0 && cpu1 >= 0) ? (double)(cpu1 - cpu0) / 1e6 : -1.0);
  print_status("init_status", st, killed);
  printf("}\n");
  return 0;
}

/* The grandchildren share the intermediate's memory (clone(CLONE_VM), like vfork without
 * the wait): on small VMs a real fork() costs milliseconds (page-table copies), which made
 * setting up 10,000 orphans take longer than the whole benchmark. They are still separate
 * processes (no CLONE_THREAD) with SIGCHLD as exit signal, so they are re-parented to the
 * init and reaped by it exactly like forked ones. They only use raw syscalls. */
static int g_rel_rd, g_rel_wr, g_st_wr;

static int grandchild(void *arg) {
  (void)arg;
  char b;
  syscall(SYS_close, g_rel_wr);
  syscall(SYS_close, g_st_wr);
  syscall(SYS_close, 0);
  syscall(SYS_close, 1);
  while (syscall(SYS_read, g_rel_rd, &b, 1) < 0) {
  }
  syscall(SYS_exit, 0);
  return 0;
}

static int cmd_orphans(int argc, char **argv) {
  if (argc < 3) fail("usage: ldbench orphans N");
  int n = atoi(argv[2]);
  int rel[2], st[2];
  if (pipe2(rel, O_CLOEXEC) != 0 || pipe2(st, O_CLOEXEC) != 0) die("pipe");
  pid_t mid = fork();
  if (mid < 0) die("fork");
  if (mid == 0) {
    close(st[0]);
    /* LDBENCH_ORPHANS_SETSID=1: orphans in a session of their own (see bench/README.md,
     * "Reading the reaping figure") -- for comparing, not used by default. */
    const char *ss = getenv("LDBENCH_ORPHANS_SETSID");
    if (ss && strcmp(ss, "1") == 0 && setsid() < 0) die("setsid");
    g_rel_rd = rel[0];
    g_rel_wr = rel[1];
    g_st_wr = st[1];
    const size_t stack_size = 16384;
    char *stacks = mmap(NULL, stack_size * (size_t)n, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (stacks == MAP_FAILED) die("mmap");
    int made = 0;
    for (; made < n; made++) {
      pid_t p = clone(grandchild, stacks + stack_size * (size_t)(made + 1), CLONE_VM | SIGCHLD,
                      NULL);
      if (p < 0) {
        perror("ldbench orphans: clone");
        break;
      }
    }
    close(rel[1]);
    write_all(st[1], &made, sizeof made);
    _exit(made == n ? 0 : 1);
  }
  close(st[1]);
  close(rel[0]);
  int made = -1;
  ssize_t r;
  while ((r = read(st[0], &made, sizeof made)) < 0 && errno == EINTR) {
  }
  int status;
  while (waitpid(mid, &status, 0) < 0)
    if (errno != EINTR) die("waitpid");
  if (made != n) {
    fprintf(stderr, "ldbench orphans: only %d of %d forks succeeded\n", made, n);
    return 1;
  }
  char ready[32];
  int len = snprintf(ready, sizeof ready, "R%d\n", (int)getpid());
  write_all(1, ready, (size_t)len);
  int c = read_byte(0, -1);
  (void)c;
  close(rel[1]); /* every grandchild reads EOF and exits, all at once */
  /* stay until the driver closes stdin (or SIGTERM ends us) */
  while (read_byte(0, -1) >= 0) {
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) fail("usage: ldbench pid1|signals|reap|sigack|orphans|termstamp ...");
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char *c = argv[1];
  if (!strcmp(c, "pid1")) return cmd_pid1(argc, argv);
  if (!strcmp(c, "signals")) return cmd_signals(argc, argv);
  if (!strcmp(c, "reap")) return cmd_reap(argc, argv);
  if (!strcmp(c, "sigack")) return cmd_sigack();
  if (!strcmp(c, "orphans")) return cmd_orphans(argc, argv);
  if (!strcmp(c, "termstamp")) return cmd_termstamp();
  fail("unknown subcommand");
  return 111;
}
