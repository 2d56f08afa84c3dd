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

static void note(const char *msg) {
  (void)!write(report_fd, msg, strlen(msg));
  (void)!write(report_fd, "\n", 1);
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
    const char msg[] = "saker-simulate\n";
    report("write", args, rc(write(s, msg, sizeof msg - 1)));
  }
  close(s);
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

/* listen IP PORT SECONDS: accept TCP connections and close them, until SECONDS pass. */
static int do_listen(int argc, char **argv) {
  if (argc < 5) return 2;
  struct sockaddr_in a;
  if (parse_addr(argv[2], argv[3], &a) != 0) return 2;
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0 || listen(s, 16) != 0) return 3;
  note("listening");
  alarm((unsigned)atoi(argv[4]));
  for (;;) {
    int c = accept(s, NULL, NULL);
    if (c < 0) {
      if (errno == EINTR) continue;
      return 0;
    }
    char buf[256];
    (void)!read(c, buf, sizeof buf);
    close(c);
  }
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

int main(int argc, char **argv) {
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
  if (!strcmp(m, "listen")) return do_listen(argc, argv);
  if (!strcmp(m, "reverse-shell")) return do_reverse_shell(argc, argv);
  if (!strcmp(m, "proc-mem")) return do_proc_mem();
  if (!strcmp(m, "chmod")) return do_chmod(argc, argv);
  note("saker-sim: unknown mode");
  return 2;
}
