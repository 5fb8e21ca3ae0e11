// SPDX-License-Identifier: Apache-2.0
/* sigecho: the child the integration tests run under lameduck. It records what really
 * happens to it, with CLOCK_MONOTONIC timestamps the tests compare against their own:
 *
 *   <seconds> ready pid=<pid> pgid=<pgid> ppid=<ppid> blocked=<hex> ignored=<hex>
 *   <seconds> signal <name> <number> from=<pid> who=<main|daemon|member>
 *   <seconds> exit <code> who=<...>
 *
 * Options (in any order):
 *   --log FILE          append the lines to FILE (default: stderr)
 *   --exit CODE         exit with CODE right after "ready" (after --after MS)
 *   --after MS          delay before --exit
 *   --exit-on SIG:CODE  exit with CODE when SIG arrives (repeatable)
 *   --die-on SIG        die of SIG when it arrives (default disposition, re-raised)
 *   --orphans N         leave N orphaned grandchildren that exit at once (zombies to reap)
 *   --daemon MS         start a daemon (own session) that logs its signals and exits
 *                       MS milliseconds after SIGTERM (-1: never, ignores SIGTERM)
 *   --member            start a second process in the same process group that logs
 *
 * Without --exit-on/--die-on it logs every signal and keeps running. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static FILE *out;
static const char *who = "main";

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void say(const char *fmt, ...) {
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  int n = snprintf(line, sizeof line, "%.6f ", now());
  vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
  va_end(ap);
  fprintf(out, "%s\n", line);
  fflush(out);
}

static int parse_sig(const char *s) {
  if (s[0] >= '0' && s[0] <= '9') return atoi(s);
  if (strncmp(s, "SIG", 3) == 0) s += 3;
  for (int i = 1; i < NSIG; i++) {
    const char *name = sigabbrev_np(i);
    if (name && strcmp(name, s) == 0) return i;
  }
  fprintf(stderr, "sigecho: unknown signal %s\n", s);
  exit(2);
}

static unsigned long long mask_bits(const sigset_t *set) {
  unsigned long long bits = 0;
  for (int i = 1; i < 64 && i < NSIG; i++)
    if (sigismember(set, i)) bits |= 1ULL << (i - 1);
  return bits;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* Logs every signal until told to stop; returns the exit code. */
static int echo_loop(int exit_codes[NSIG], int die_on[NSIG], long term_linger) {
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, NULL);
  for (;;) {
    siginfo_t info;
    int sig = sigwaitinfo(&all, &info);
    if (sig < 0) continue;
    if (sig == SIGCHLD) {
      while (waitpid(-1, NULL, WNOHANG) > 0) {
      }
      continue;
    }
    const char *name = sigabbrev_np(sig);
    say("signal SIG%s %d from=%d who=%s", name ? name : "?", sig, (int)info.si_pid, who);
    if (die_on[sig]) {
      say("exit die %d who=%s", sig, who);
      signal(sig, SIG_DFL);
      sigset_t one;
      sigemptyset(&one);
      sigaddset(&one, sig);
      sigprocmask(SIG_UNBLOCK, &one, NULL);
      raise(sig);
      return 128 + sig;
    }
    if (exit_codes[sig] >= 0) {
      say("exit %d who=%s", exit_codes[sig], who);
      return exit_codes[sig];
    }
    if (sig == SIGTERM && term_linger >= 0) {
      sleep_ms(term_linger);
      say("exit 0 who=%s", who);
      return 0;
    }
  }
}

int main(int argc, char **argv) {
  out = stderr;
  int exit_code = -1, orphans = 0, member = 0;
  long after = 0, daemon_linger = -2;
  int exit_codes[NSIG], die_on[NSIG];
  for (int i = 0; i < NSIG; i++) exit_codes[i] = -1, die_on[i] = 0;

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--log") && v) {
      out = fopen(v, "a");
      if (!out) { perror(v); return 2; }
      i++;
    } else if (!strcmp(a, "--exit") && v) exit_code = atoi(v), i++;
    else if (!strcmp(a, "--after") && v) after = atol(v), i++;
    else if (!strcmp(a, "--orphans") && v) orphans = atoi(v), i++;
    else if (!strcmp(a, "--daemon") && v) daemon_linger = atol(v), i++;
    else if (!strcmp(a, "--member")) member = 1;
    else if (!strcmp(a, "--die-on") && v) die_on[parse_sig(v)] = 1, i++;
    else if (!strcmp(a, "--exit-on") && v) {
      char *colon = strchr(v, ':');
      if (!colon) { fprintf(stderr, "sigecho: --exit-on SIG:CODE\n"); return 2; }
      *colon = '\0';
      exit_codes[parse_sig(v)] = atoi(colon + 1);
      i++;
    } else {
      fprintf(stderr, "sigecho: bad argument %s\n", a);
      return 2;
    }
  }

  sigset_t blocked;
  sigprocmask(SIG_BLOCK, NULL, &blocked);
  sigset_t ignored;
  sigemptyset(&ignored);
  for (int i = 1; i < NSIG && i < 64; i++) {
    struct sigaction sa;
    if (sigaction(i, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN) sigaddset(&ignored, i);
  }

  for (int i = 0; i < orphans; i++) {
    /* A child that forks a grandchild and exits at once: the grandchild is re-parented
     * to the nearest subreaper or PID 1, and must be reaped there when it exits. */
    pid_t pid = fork();
    if (pid == 0) {
      if (fork() == 0) { sleep_ms(50); _exit(0); }
      _exit(0);
    }
    if (pid > 0) waitpid(pid, NULL, 0);
  }

  if (daemon_linger > -2) {
    pid_t pid = fork();
    if (pid == 0) {
      if (fork() != 0) _exit(0); /* double fork: the daemon is an orphan */
      setsid();
      who = "daemon";
      int codes[NSIG], dies[NSIG];
      for (int i = 0; i < NSIG; i++) codes[i] = -1, dies[i] = 0;
      say("ready pid=%d who=daemon", (int)getpid());
      int code = echo_loop(codes, dies, daemon_linger);
      _exit(code);
    }
    if (pid > 0) waitpid(pid, NULL, 0);
  }

  if (member) {
    if (fork() == 0) {
      who = "member";
      int codes[NSIG], dies[NSIG];
      for (int i = 0; i < NSIG; i++) codes[i] = -1, dies[i] = 0;
      codes[SIGTERM] = 0;
      say("ready pid=%d who=member", (int)getpid());
      _exit(echo_loop(codes, dies, -1));
    }
  }

  say("ready pid=%d pgid=%d ppid=%d blocked=%llx ignored=%llx who=main", (int)getpid(),
      (int)getpgrp(), (int)getppid(), mask_bits(&blocked), mask_bits(&ignored));

  if (exit_code >= 0) {
    sleep_ms(after);
    say("exit %d who=main", exit_code);
    return exit_code;
  }
  return echo_loop(exit_codes, die_on, -1);
}
