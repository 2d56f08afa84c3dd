/*
 * saker-sim: the small program `saker simulate` compiles at run time (gcc) to make the exact
 * system calls an attack makes: opens with chosen flags, ptrace, memfd execution, packet
 * sockets, descriptor redirection, module loading, namespace changes, connections.
 *
 * Each call it makes is reported on a line `call NAME ARGS = RESULT` (RESULT is a number or
 * `-ERRNO_NAME`), so an action can check what really happened. Exit status: 0 when the calls
 * were made (a refused call still counts: the attempt is what the rules see), 2 for bad usage,
 * 3 when setup failed before the call of interest.
 *
 * Saker carries this file with it (src/assets.ts), so the bundle and the single binary can
 * build the helper without a source tree.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <linux/if_ether.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <grp.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

static int report_fd = 1;

/* One line per system call: what was called and what it returned. */
static void report(const char *name, const char *args, long res) {
  char line[1024];
  int n;
  if (res < 0) {
    const char *e = strerrorname_np((int)-res);
    n = snprintf(line, sizeof line, "call %s %s = -%s\n", name, args, e ? e : "E?");
  } else {
    n = snprintf(line, sizeof line, "call %s %s = %ld\n", name, args, res);
  }
  if (n > 0) (void)!write(report_fd, line, (size_t)n);
}

/* One line of text, written whole: a reader waiting for the line never sees half of it. */
static void note(const char *msg) {
  char line[1024];
  int n = snprintf(line, sizeof line, "%s\n", msg);
  if (n > 0) (void)!write(report_fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

static long rc(long r) { return r < 0 ? -errno : r; }

static int open_flags(const char *spec) {
  int f = 0;
  int rd = strchr(spec, 'r') != NULL, wr = strchr(spec, 'w') != NULL;
  f |= rd && wr ? O_RDWR : wr ? O_WRONLY : O_RDONLY;
  if (strchr(spec, 'c')) f |= O_CREAT;
  if (strchr(spec, 't')) f |= O_TRUNC;
  if (strchr(spec, 'x')) f |= O_EXCL;
  if (strchr(spec, 'a')) f |= O_APPEND;
  return f | O_CLOEXEC;
}

/* open PATH SPEC [MODE]: openat(AT_FDCWD, PATH, flags from SPEC), then close. */
static int do_open(int argc, char **argv) {
  if (argc < 4) return 2;
  mode_t mode = argc > 4 ? (mode_t)strtol(argv[4], NULL, 8) : 0644;
  long fd = rc(openat(AT_FDCWD, argv[2], open_flags(argv[3]), mode));
  char args[600];
  snprintf(args, sizeof args, "%s %s %o", argv[2], argv[3], mode);
  report("openat", args, fd);
  if (fd >= 0) close((int)fd);
  return 0;
}

/* sleep-open SECONDS PATH: stay alive a while (past "new process" windows), then read-open. */
static int do_sleep_open(int argc, char **argv) {
  if (argc < 4) return 2;
  struct timespec ts = {atoi(argv[2]), 0};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
  long fd = rc(openat(AT_FDCWD, argv[3], O_RDONLY | O_CLOEXEC));
  report("openat", argv[3], fd);
  if (fd >= 0) close((int)fd);
  return 0;
}

/* spawn PROG ARGS...: fork, exec PROG in the child, wait; this process is the parent. */
static int do_spawn(int argc, char **argv) {
  if (argc < 3) return 2;
  pid_t pid = fork();
  if (pid < 0) return 3;
  if (pid == 0) {
    execv(argv[2], &argv[2]);
    _exit(127);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  char args[600];
  snprintf(args, sizeof args, "%s pid=%d", argv[2], (int)pid);
  report("execve", args, WIFEXITED(st) && WEXITSTATUS(st) == 127 ? -ENOENT : 0);
  return 0;
}

static pid_t start_sleeper(void) {
  pid_t pid = fork();
  if (pid == 0) {
    for (;;) pause();
  }
  return pid;
}

/* ptrace-attach: attach to a child of ours, detach, end it. */
static int do_ptrace_attach(void) {
  pid_t child = start_sleeper();
  if (child < 0) return 3;
  char args[64];
  snprintf(args, sizeof args, "PTRACE_ATTACH pid=%d", (int)child);
  long r = rc(ptrace(PTRACE_ATTACH, child, NULL, NULL));
  report("ptrace", args, r);
  if (r == 0) {
    int st;
    waitpid(child, &st, __WALL);
    report("ptrace", "PTRACE_DETACH", rc(ptrace(PTRACE_DETACH, child, NULL, NULL)));
  }
  kill(child, SIGKILL);
  waitpid(child, NULL, __WALL);
  return 0;
}

/* ptrace-traceme: the anti-debugging check: ask to be traced by our parent, then leave. */
static int do_ptrace_traceme(void) {
  report("ptrace", "PTRACE_TRACEME", rc(ptrace(PTRACE_TRACEME, 0, NULL, NULL)));
  return 0;
}

/* memfd-exec: copy our own program into an anonymous memory file and execute it from there. */
static int do_memfd_exec(void) {
  int mfd = (int)syscall(SYS_memfd_create, "saker-fileless", 0);
  report("memfd_create", "saker-fileless", mfd < 0 ? -errno : mfd);
  if (mfd < 0) return 3;
  int src = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (src < 0) return 3;
  char buf[65536];
  ssize_t n;
  while ((n = read(src, buf, sizeof buf)) > 0) {
    if (write(mfd, buf, (size_t)n) != n) return 3;
  }
  close(src);
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", mfd);
  char *args[] = {"saker-fileless", "noop", NULL};
  note("exec from memfd");
  execv(path, args);
  report("execve", path, -errno);
  return 3;
}

/* packet-socket: open (and close) a raw AF_PACKET socket. */
static int do_packet_socket(void) {
  long fd = rc(socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL)));
  report("socket", "AF_PACKET SOCK_RAW ETH_P_ALL", fd);
  if (fd >= 0) close((int)fd);
  return 0;
}

/* dup-socket: connect a TCP socket over loopback and make it our stdin, stdout and stderr. */
static int do_dup_socket(void) {
  int srv = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t alen = sizeof a;
  if (srv < 0 || bind(srv, (struct sockaddr *)&a, sizeof a) != 0 || listen(srv, 1) != 0 ||
      getsockname(srv, (struct sockaddr *)&a, &alen) != 0)
    return 3;
  int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  char args[64];
  snprintf(args, sizeof args, "127.0.0.1:%d", ntohs(a.sin_port));
  long r = rc(connect(c, (struct sockaddr *)&a, sizeof a));
  report("connect", args, r);
  if (r != 0) return 3;
  int peer = accept(srv, NULL, NULL);
  report("dup2", "socket->0", rc(dup2(c, 0)));
  report("dup2", "socket->1", rc(dup2(c, 1)));
  report("dup3", "socket->2", rc(dup3(c, 2, 0)));
  close(peer);
  close(c);
  close(srv);
  return 0;
}

/* finit-module PATH: ask the kernel to load PATH as a module (it is not one: refused). */
static int do_finit_module(int argc, char **argv) {
  if (argc < 3) return 2;
  int fd = open(argv[2], O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 3;
  report("finit_module", argv[2], rc(syscall(SYS_finit_module, fd, "", 0)));
  close(fd);
  return 0;
}

/* setns-self: join the network namespace we are already in (a real, harmless setns). */
static int do_setns_self(void) {
  int fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 3;
  report("setns", "/proc/self/ns/net CLONE_NEWNET", rc(setns(fd, CLONE_NEWNET)));
  close(fd);
  return 0;
}

/* unshare-uts: move this process alone into a new UTS namespace, then exit. */
static int do_unshare_uts(void) {
  report("unshare", "CLONE_NEWUTS", rc(unshare(CLONE_NEWUTS)));
  return 0;
}

static int parse_addr(const char *ip, const char *port, struct sockaddr_in *a) {
  memset(a, 0, sizeof *a);
  a->sin_family = AF_INET;
  a->sin_port = htons((unsigned short)atoi(port));
  return inet_pton(AF_INET, ip, &a->sin_addr) == 1 ? 0 : -1;
}

/* connect IP PORT tcp|udp: one outbound connection (UDP: connect then send a datagram). */
static int do_connect(int argc, char **argv) {
  if (argc < 5) return 2;
  struct sockaddr_in a;
  if (parse_addr(argv[2], argv[3], &a) != 0) return 2;
  int udp = strcmp(argv[4], "udp") == 0;
  int s = socket(AF_INET, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
  if (s < 0) return 3;
  char args[128];
  snprintf(args, sizeof args, "%s:%s %s", argv[2], argv[3], argv[4]);
  long r = rc(connect(s, (struct sockaddr *)&a, sizeof a));
  report("connect", args, r);
  if (r == 0) {
    /* The local end, so the caller knows the connection's full name (client->server). */
    struct sockaddr_in l;
    socklen_t llen = sizeof l;
    char local[64] = "?";
    long g = rc(getsockname(s, (struct sockaddr *)&l, &llen));
    if (g == 0) {
      char ip[INET_ADDRSTRLEN];
      inet_ntop(AF_INET, &l.sin_addr, ip, sizeof ip);
      snprintf(local, sizeof local, "%s:%d", ip, ntohs(l.sin_port));
    }
    report("getsockname", local, g);
    const char msg[] = "saker-simulate\n";
    report("write", args, rc(write(s, msg, sizeof msg - 1)));
  }
  close(s);
  return 0;
}

/* scan IP FIRST LAST [PAUSE_AT PAUSE_MS]: a connect scan, one blocking TCP connect to each port
   from FIRST to LAST (what a script or an unprivileged scanner does), each reported; with
   PAUSE_AT, a pause of PAUSE_MS before the connect to that port. */
static int do_scan(int argc, char **argv) {
  if (argc < 5) return 2;
  int first = atoi(argv[3]), last = atoi(argv[4]);
  int pause_at = argc > 6 ? atoi(argv[5]) : 0;
  long pause_ms = argc > 6 ? atol(argv[6]) : 0;
  if (first < 1 || last > 65535 || first > last || pause_ms < 0) return 2;
  for (int port = first; port <= last; port++) {
    if (port == pause_at) {
      struct timespec ts = {pause_ms / 1000, (pause_ms % 1000) * 1000000L};
      nanosleep(&ts, NULL);
    }
    char p[8];
    snprintf(p, sizeof p, "%d", port);
    struct sockaddr_in a;
    if (parse_addr(argv[2], p, &a) != 0) return 2;
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) return 3;
    char args[128];
    snprintf(args, sizeof args, "%s:%d tcp", argv[2], port);
    report("connect", args, rc(connect(s, (struct sockaddr *)&a, sizeof a)));
    close(s);
  }
  return 0;
}

/* reverse-shell IP PORT: connect out, make the socket stdin/stdout/stderr, run a shell that
   exits at once (a reverse shell whose operator sends nothing). */
static int do_reverse_shell(int argc, char **argv) {
  if (argc < 4) return 2;
  struct sockaddr_in a;
  if (parse_addr(argv[2], argv[3], &a) != 0) return 2;
  int s = socket(AF_INET, SOCK_STREAM, 0);
  if (s < 0) return 3;
  char args[128];
  snprintf(args, sizeof args, "%s:%s tcp", argv[2], argv[3]);
  long r = rc(connect(s, (struct sockaddr *)&a, sizeof a));
  report("connect", args, r);
  if (r != 0) return 3;
  report("dup2", "socket->0,1,2", rc(dup2(s, 0) < 0 || dup2(s, 1) < 0 || dup2(s, 2) < 0 ? -1 : 0));
  close(s);
  note("exec /bin/sh");
  execl("/bin/sh", "sh", "-c", "exit 0", (char *)NULL);
  report("execve", "/bin/sh", -errno);
  return 3;
}

/* Decodes a hex string into buf; returns the number of bytes (at most cap). */
static size_t unhex(const char *hex, unsigned char *buf, size_t cap) {
  size_t n = 0;
  for (; hex[0] && hex[1] && n < cap; hex += 2) {
    unsigned int b;
    if (sscanf(hex, "%2x", &b) != 1) break;
    buf[n++] = (unsigned char)b;
  }
  return n;
}

/* listen IP PORT SECONDS [HEX]: accept TCP connections, send each the bytes of HEX (when
   given), read what the peer sends and close, until SECONDS pass. */
static int do_listen(int argc, char **argv) {
  if (argc < 5) return 2;
  struct sockaddr_in a;
  if (parse_addr(argv[2], argv[3], &a) != 0) return 2;
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0 || listen(s, 16) != 0) return 3;
  /* No write may end the listener with SIGPIPE: not the "listening" line (whoever waits for it
   * may close the pipe as soon as it has read it), not a write to a client that reset its
   * connection. A pending network error passed on by accept does not end it either, and a
   * client that neither sends nor closes holds it for 2 s at most. */
  signal(SIGPIPE, SIG_IGN);
  note("listening");
  alarm((unsigned)atoi(argv[4]));
  for (;;) {
    int c = accept(s, NULL, NULL);
    if (c < 0) {
      if (errno == EBADF || errno == EINVAL || errno == ENOTSOCK) return 0;
      continue;
    }
    struct timeval tv = {.tv_sec = 2};
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (argc > 5) {
      unsigned char out[256];
      size_t n = unhex(argv[5], out, sizeof out);
      (void)!write(c, out, n);
    }
    char buf[256];
    (void)!read(c, buf, sizeof buf);
    close(c);
  }
}

/* recv IP PORT: connect over TCP and receive what the server sends, with recvfrom. */
static int do_recv(int argc, char **argv) {
  if (argc < 4) return 2;
  struct sockaddr_in a;
  if (parse_addr(argv[2], argv[3], &a) != 0) return 2;
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return 3;
  char args[128];
  snprintf(args, sizeof args, "%s:%s tcp", argv[2], argv[3]);
  long r = rc(connect(s, (struct sockaddr *)&a, sizeof a));
  report("connect", args, r);
  if (r == 0) {
    unsigned char buf[256];
    report("recvfrom", args, rc(recvfrom(s, buf, sizeof buf, 0, NULL, NULL)));
  }
  close(s);
  return 0;
}

/* proc-mem: open another process's memory for writing, as code injectors do (writes nothing). */
static int do_proc_mem(void) {
  pid_t child = start_sleeper();
  if (child < 0) return 3;
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/mem", (int)child);
  long fd = rc(openat(AT_FDCWD, path, O_RDWR | O_CLOEXEC));
  report("openat", path, fd);
  if (fd >= 0) close((int)fd);
  kill(child, SIGKILL);
  waitpid(child, NULL, 0);
  return 0;
}

/* chmod PATH MODE: change a file's mode (octal). */
static int do_chmod(int argc, char **argv) {
  if (argc < 4) return 2;
  mode_t m = (mode_t)strtol(argv[3], NULL, 8);
  char args[600];
  snprintf(args, sizeof args, "%s %o", argv[2], m);
  report("fchmodat", args, rc(fchmodat(AT_FDCWD, argv[2], m, 0)));
  return 0;
}

/*
 * plan: runs the test plan in $SAKER_SIM_PLAN, as `saker test` builds it for Falco's declarative
 * event-generator tests. Records are separated by \x1e, their fields by \x1f:
 *   F PATH / D PATH     a file / directory (parents too) made unless present; removed after
 *   C PATH              a copy of this program (mode 0755, parents made); removed after
 *   L TARGET PATH       a symbolic link PATH -> TARGET; removed after
 *   P EXE ARGV0 UID GID NARGS ARG... ENV...   a process of the chain, each the child of the one
 *                       before (UID -1: the parent's user); executed through EXE
 *   B SCRIPT / A SCRIPT `sh -c SCRIPT` in the last process, before the resources / after the steps
 *   R cs NAME PROTO IP PORT   a connected client and server (PROTO tcp4 tcp6 udp4 udp6)
 *   R memfd NAME        a fileless process: a memfd copy of this program executed as NAME
 *   S NAME NR ARG...    the system call NR; ARG is iNUMBER, sTEXT, xHEX (bytes) or
 *                       rNAME.client / rNAME.server (a resource's descriptor)
 * The first process (the root) makes the files, starts the chain, waits and removes the files;
 * the last process of the chain (the root itself when there is none) runs B, R, S and A.
 * $SAKER_SIM_PLAN_AT counts the processes of the chain already started.
 */
#define PLAN_MAX 512
static char *plan_rec[PLAN_MAX];
static int plan_n;

static int split(char *s, char sep, char **out, int max) {
  int n = 0;
  for (char *p = s; n < max;) {
    out[n++] = p;
    char *e = strchr(p, sep);
    if (!e) break;
    *e = 0;
    p = e + 1;
  }
  return n;
}

/* Paths the root made, removed in reverse order at the end. */
static char *made[PLAN_MAX];
static char made_dir[PLAN_MAX];
static int made_n;

static void remember(const char *path, int dir) {
  if (made_n < PLAN_MAX) {
    made_dir[made_n] = (char)dir;
    made[made_n++] = strdup(path);
  }
}

static int mkdirs(const char *path) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf + 1;; p++) {
    if (*p == '/' || *p == 0) {
      char c = *p;
      *p = 0;
      struct stat st;
      if (stat(buf, &st) != 0) {
        if (mkdir(buf, 0755) != 0) return -1;
        remember(buf, 1);
      }
      *p = c;
      if (c == 0) return 0;
    }
  }
}

static int parent_dirs(const char *path) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", path);
  char *slash = strrchr(buf, '/');
  if (!slash || slash == buf) return 0;
  *slash = 0;
  return mkdirs(buf);
}

static int copy_self(const char *dst) {
  if (parent_dirs(dst) != 0) return -1;
  int in = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
  if (in < 0 || out < 0) return -1;
  remember(dst, 0);
  char buf[65536];
  ssize_t n;
  while ((n = read(in, buf, sizeof buf)) > 0) {
    if (write(out, buf, (size_t)n) != n) return -1;
  }
  close(in);
  close(out);
  return chmod(dst, 0755);
}

static int run_script(const char *script) {
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    unsetenv("SAKER_SIM_PLAN");
    execl("/bin/sh", "sh", "-c", script, (char *)NULL);
    _exit(127);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  report("sh", script, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
  return 0;
}

static struct {
  char name[64];
  int client, server;
} res[16];
static int res_n;

static int resource_fd(const char *ref) {
  const char *dot = strrchr(ref, '.');
  if (!dot) return -1;
  for (int i = 0; i < res_n; i++) {
    if ((size_t)(dot - ref) == strlen(res[i].name) && !strncmp(ref, res[i].name, (size_t)(dot - ref)))
      return !strcmp(dot + 1, "client") ? res[i].client : res[i].server;
  }
  return -1;
}

static int client_server(char **f, int n) {
  if (n < 6 || res_n >= 16) return 3;
  int v6 = f[3][3] == '6', udp = f[3][0] == 'u';
  struct sockaddr_storage sa;
  socklen_t len;
  memset(&sa, 0, sizeof sa);
  if (v6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&sa;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((unsigned short)atoi(f[5]));
    if (inet_pton(AF_INET6, f[4], &a->sin6_addr) != 1) return 2;
    len = sizeof *a;
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)&sa;
    a->sin_family = AF_INET;
    a->sin_port = htons((unsigned short)atoi(f[5]));
    if (inet_pton(AF_INET, f[4], &a->sin_addr) != 1) return 2;
    len = sizeof *a;
  }
  int type = udp ? SOCK_DGRAM : SOCK_STREAM, dom = v6 ? AF_INET6 : AF_INET, one = 1;
  int srv = socket(dom, type, 0);
  if (srv < 0) return 3;
  setsockopt(srv, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(srv, (struct sockaddr *)&sa, len) != 0) return 3;
  if (!udp && listen(srv, 4) != 0) return 3;
  int cli = socket(dom, type, 0);
  char args[160];
  snprintf(args, sizeof args, "%s %s:%s", f[3], f[4], f[5]);
  long r = rc(connect(cli, (struct sockaddr *)&sa, len));
  report("connect", args, r);
  if (r != 0) return 3;
  if (!udp) {
    int conn = accept(srv, NULL, NULL);
    (void)conn;
  }
  snprintf(res[res_n].name, sizeof res[res_n].name, "%s", f[2]);
  res[res_n].client = cli;
  res[res_n].server = srv;
  res_n++;
  return 0;
}

static int fileless(const char *name) {
  pid_t pid = fork();
  if (pid < 0) return 3;
  if (pid == 0) {
    unsetenv("SAKER_SIM_PLAN");
    int mfd = (int)syscall(SYS_memfd_create, name, 0);
    int src = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (mfd < 0 || src < 0) _exit(3);
    char buf[65536];
    ssize_t n;
    while ((n = read(src, buf, sizeof buf)) > 0) {
      if (write(mfd, buf, (size_t)n) != n) _exit(3);
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", mfd);
    char *args[] = {(char *)name, "noop", NULL};
    execv(path, args);
    _exit(127);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  report("execve", "memfd", WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -ENOEXEC);
  return 0;
}

static int step(char **f, int n) {
  if (n < 3) return 2;
  long a[6] = {0};
  char args[1024] = "";
  size_t used = 0;
  for (int i = 3; i < n && i < 9; i++) {
    const char *v = f[i];
    if (v[0] == 'i') a[i - 3] = strtol(v + 1, NULL, 0);
    else if (v[0] == 's') a[i - 3] = (long)(v + 1);
    else if (v[0] == 'r') a[i - 3] = resource_fd(v + 1);
    else if (v[0] == 'x') {
      size_t len = strlen(v + 1) / 2;
      unsigned char *b = calloc(len + 1, 1);
      for (size_t j = 0; j < len; j++) sscanf(v + 1 + 2 * j, "%2hhx", &b[j]);
      a[i - 3] = (long)b;
    }
    used += (size_t)snprintf(args + used, used < sizeof args ? sizeof args - used : 0, "%s%s",
                             i > 3 ? " " : "", v);
    if (used >= sizeof args) used = sizeof args - 1;
  }
  long r = syscall(atol(f[2]), a[0], a[1], a[2], a[3], a[4], a[5]);
  report(f[1], args, rc(r));
  return 0;
}

/* The last process of the chain: scripts, resources, steps. */
static int plan_leaf(void) {
  char *f[64];
  for (int i = 0; i < plan_n; i++) {
    char rec[8192];
    snprintf(rec, sizeof rec, "%s", plan_rec[i]);
    int n = split(rec, '\x1f', f, 64);
    if (!strcmp(f[0], "B") && n > 1) run_script(f[1]);
  }
  for (int i = 0; i < plan_n; i++) {
    char rec[8192];
    snprintf(rec, sizeof rec, "%s", plan_rec[i]);
    int n = split(rec, '\x1f', f, 64);
    int r = 0;
    if (!strcmp(f[0], "R") && n > 2 && !strcmp(f[1], "cs")) r = client_server(f, n);
    else if (!strcmp(f[0], "R") && n > 2 && !strcmp(f[1], "memfd")) r = fileless(f[2]);
    else if (!strcmp(f[0], "S")) r = step(f, n);
    if (r != 0) {
      note("plan: a resource or step could not be set up");
      return r;
    }
  }
  for (int i = 0; i < plan_n; i++) {
    char rec[8192];
    snprintf(rec, sizeof rec, "%s", plan_rec[i]);
    int n = split(rec, '\x1f', f, 64);
    if (!strcmp(f[0], "A") && n > 1) run_script(f[1]);
  }
  return 0;
}

/* Starts process number `k` of the chain (a child of this one) and waits for it. */
static int plan_spawn(int k) {
  int seen = 0;
  for (int i = 0; i < plan_n; i++) {
    if (plan_rec[i][0] != 'P') continue;
    if (seen++ != k) continue;
    char rec[8192];
    snprintf(rec, sizeof rec, "%s", plan_rec[i]);
    char *f[64];
    int n = split(rec, '\x1f', f, 64);
    if (n < 6) return 2;
    int nargs = atoi(f[5]);
    char *argv[64];
    int c = 0;
    argv[c++] = f[2];
    for (int j = 0; j < nargs && 6 + j < n && c < 62; j++) argv[c++] = f[6 + j];
    argv[c] = NULL;
    pid_t pid = fork();
    if (pid < 0) return 3;
    if (pid == 0) {
      char at[16];
      snprintf(at, sizeof at, "%d", k + 1);
      setenv("SAKER_SIM_PLAN_AT", at, 1);
      for (int j = 6 + nargs; j < n; j++) putenv(f[j]);
      int uid = atoi(f[3]), gid = atoi(f[4]);
      if (uid >= 0) {
        /* Another user, keeping every capability across the exec (the event-generator's
           default, all=iep): kept through setuid, then made inheritable and ambient. */
        prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0);
        if (setgroups(0, NULL) != 0 || setgid((gid_t)gid) != 0 || setuid((uid_t)uid) != 0) _exit(3);
        struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
        struct __user_cap_data_struct d[2];
        if (syscall(SYS_capget, &h, d) == 0) {
          for (int j = 0; j < 2; j++) d[j].effective = d[j].inheritable = d[j].permitted;
          syscall(SYS_capset, &h, d);
          for (int cap = 0; cap < 64; cap++) prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0);
        }
      }
      execv(f[1], argv);
      report("execve", f[1], -errno);
      _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 3;
  }
  return plan_leaf();
}

static int do_plan(void) {
  char *text = strdup(getenv("SAKER_SIM_PLAN"));
  plan_n = split(text, '\x1e', plan_rec, PLAN_MAX);
  const char *at = getenv("SAKER_SIM_PLAN_AT");
  if (at) return plan_spawn(atoi(at));
  /* The root: files first, then the chain, then the files go. */
  int status = 0;
  for (int i = 0; i < plan_n && status == 0; i++) {
    char rec[8192];
    snprintf(rec, sizeof rec, "%s", plan_rec[i]);
    char *f[8];
    int n = split(rec, '\x1f', f, 8);
    struct stat st;
    if (!strcmp(f[0], "F") && n > 1 && stat(f[1], &st) != 0) {
      int fd = parent_dirs(f[1]) == 0 ? open(f[1], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644) : -1;
      if (fd < 0) status = 3;
      else {
        remember(f[1], 0);
        close(fd);
      }
    } else if (!strcmp(f[0], "D") && n > 1) {
      if (mkdirs(f[1]) != 0) status = 3;
    } else if (!strcmp(f[0], "C") && n > 1) {
      if (copy_self(f[1]) != 0) status = 3;
    } else if (!strcmp(f[0], "L") && n > 2) {
      if (parent_dirs(f[2]) != 0 || symlink(f[1], f[2]) != 0) status = 3;
      else remember(f[2], 0);
    }
  }
  if (status == 0) status = plan_spawn(0);
  else note("plan: the files could not be made");
  for (int i = made_n - 1; i >= 0; i--) {
    if (made_dir[i]) rmdir(made[i]);
    else unlink(made[i]);
  }
  return status;
}

/* setuid UID: ask to become UID (a non-root caller is refused unless it is UID already). */
static int do_setuid(int argc, char **argv) {
  if (argc < 3) return 2;
  report("setuid", argv[2], rc(setuid((uid_t)atoi(argv[2]))));
  return 0;
}

/* userfaultfd: create a userfaultfd limited to user-mode faults (allowed without privileges
   since Linux 5.11), then close it. */
static int do_userfaultfd(void) {
  long fd = rc(syscall(SYS_userfaultfd, O_CLOEXEC | 1 /* UFFD_USER_MODE_ONLY */));
  report("userfaultfd", "O_CLOEXEC|UFFD_USER_MODE_ONLY", fd);
  if (fd >= 0) close((int)fd);
  return 0;
}

/* bpf-prog-load: BPF_PROG_LOAD of a program with no instructions (the kernel refuses it). */
static int do_bpf_prog_load(void) {
  union {
    struct {
      unsigned int prog_type, insn_cnt;
      unsigned long long insns, license;
    } a;
    char pad[128];
  } attr;
  memset(&attr, 0, sizeof attr);
  attr.a.prog_type = 1; /* BPF_PROG_TYPE_SOCKET_FILTER */
  attr.a.license = (unsigned long long)(unsigned long)"GPL";
  report("bpf", "BPF_PROG_LOAD insn_cnt=0", rc(syscall(SYS_bpf, 5 /* BPF_PROG_LOAD */, &attr, sizeof attr)));
  return 0;
}

int main(int argc, char **argv) {
  if (getenv("SAKER_SIM_PLAN")) {
    int fd = fcntl(1, F_DUPFD_CLOEXEC, 10);
    if (fd >= 0) report_fd = fd;
    return do_plan();
  }
  if (argc < 2) {
    note("usage: saker-sim MODE [ARGS...]");
    return 2;
  }
  int fd = fcntl(1, F_DUPFD_CLOEXEC, 10);
  if (fd >= 0) report_fd = fd;
  const char *m = argv[1];
  if (!strcmp(m, "noop")) return 0;
  if (!strcmp(m, "open")) return do_open(argc, argv);
  if (!strcmp(m, "sleep-open")) return do_sleep_open(argc, argv);
  if (!strcmp(m, "spawn")) return do_spawn(argc, argv);
  if (!strcmp(m, "ptrace-attach")) return do_ptrace_attach();
  if (!strcmp(m, "ptrace-traceme")) return do_ptrace_traceme();
  if (!strcmp(m, "memfd-exec")) return do_memfd_exec();
  if (!strcmp(m, "packet-socket")) return do_packet_socket();
  if (!strcmp(m, "dup-socket")) return do_dup_socket();
  if (!strcmp(m, "finit-module")) return do_finit_module(argc, argv);
  if (!strcmp(m, "setns-self")) return do_setns_self();
  if (!strcmp(m, "unshare-uts")) return do_unshare_uts();
  if (!strcmp(m, "connect")) return do_connect(argc, argv);
  if (!strcmp(m, "scan")) return do_scan(argc, argv);
  if (!strcmp(m, "listen")) return do_listen(argc, argv);
  if (!strcmp(m, "recv")) return do_recv(argc, argv);
  if (!strcmp(m, "reverse-shell")) return do_reverse_shell(argc, argv);
  if (!strcmp(m, "proc-mem")) return do_proc_mem();
  if (!strcmp(m, "chmod")) return do_chmod(argc, argv);
  if (!strcmp(m, "setuid")) return do_setuid(argc, argv);
  if (!strcmp(m, "userfaultfd")) return do_userfaultfd();
  if (!strcmp(m, "bpf-prog-load")) return do_bpf_prog_load();
  note("saker-sim: unknown mode");
  return 2;
}
