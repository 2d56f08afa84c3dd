/* SPDX-License-Identifier: (MIT OR GPL-2.0) */
/*
 * Event ids and value encodings of the scap format that the probe writes, so that user space
 * decodes live events, Falco/sysdig captures and Saker's own captures the same way. The numbers
 * are format facts; src/events/table_data.ts and flag_data.ts hold the same ones.
 */
#pragma once

/* Event ids (exit events, newest versions). */
#define EV_GENERIC 1
#define EV_OPEN 3
#define EV_CLOSE 5
#define EV_SOCKET 19
#define EV_BIND 21
#define EV_CONNECT 23
#define EV_LISTEN 25
#define EV_SENDTO 31
#define EV_RECVFROM 35
#define EV_SOCKETPAIR 43
#define EV_SENDMSG 49
#define EV_CREAT 59
#define EV_PIPE 61
#define EV_CHDIR 95
#define EV_FCHDIR 97
#define EV_KILL 129
#define EV_TGKILL 133
#define EV_PTRACE 169
#define EV_RENAME 175
#define EV_RENAMEAT 177
#define EV_SYMLINK 179
#define EV_SYMLINKAT 181
#define EV_PROCEXIT 186
#define EV_SETRESUID 193
#define EV_SETRESGID 195
#define EV_SETUID 199
#define EV_SETGID 201
#define EV_CLONE 223
#define EV_FORK 225
#define EV_VFORK 227
#define EV_SETNS 241
#define EV_ACCEPT 247
#define EV_MOUNT 257
#define EV_CHROOT 267
#define EV_MKDIR 277
#define EV_RMDIR 279
#define EV_UNSHARE 285
#define EV_EXECVE 293
#define EV_UNLINK 301
#define EV_UNLINKAT 303
#define EV_MKDIRAT 305
#define EV_OPENAT 307
#define EV_LINK 309
#define EV_LINKAT 311
#define EV_FCHMODAT 313
#define EV_CHMOD 315
#define EV_FCHMOD 317
#define EV_RENAMEAT2 319
#define EV_USERFAULTFD 321
#define EV_OPENAT2 327
#define EV_MPROTECT 329
#define EV_EXECVEAT 331
#define EV_CLONE3 335
#define EV_CAPSET 353
#define EV_DUP2 363
#define EV_DUP3 365
#define EV_DUP 367
#define EV_BPF 369
#define EV_CHOWN 379
#define EV_LCHOWN 381
#define EV_FCHOWN 383
#define EV_FCHOWNAT 385
#define EV_ACCEPT4 389
#define EV_UMOUNT2 391
#define EV_PIPE2 393
#define EV_PRCTL 401
#define EV_MEMFD_CREATE 405
#define EV_INIT_MODULE 411
#define EV_FINIT_MODULE 413
#define EV_SETREUID 427
#define EV_SETREGID 429
#define EV_GETCWD 93
#define EV_SIGNALFD 127
#define EV_TIMERFD_CREATE 137
#define EV_INOTIFY_INIT 139
#define EV_FCNTL 151
#define EV_EVENTFD 63
#define EV_SETSID 275
#define EV_SETPGID 295
#define EV_EPOLL_CREATE 375
#define EV_EPOLL_CREATE1 377
#define EV_INOTIFY_INIT1 395
#define EV_EVENTFD2 397
#define EV_SIGNALFD4 399
#define EV_PIDFD_GETFD 407
#define EV_PIDFD_OPEN 409
#define EV_CLOSE_RANGE 451

/* Parameters each event carries (must match the event table). */
#define NP_CLONE 21
#define NP_EXECVE 31 /* + Saker's extra parameters, see EXECVE_EXTRA */
#define NP_EXECVEAT 30
#define EXECVE_EXTRA 8 /* sid, ruid, rgid, vpid, vtid, stdin_ino, stdout_ino, stderr_ino */

/* scap address families */
#define S_AF_UNIX 1
#define S_AF_INET 2
#define S_AF_INET6 10
#define S_AF_NETLINK 16
#define S_AF_PACKET 17

/* exe flags of execve */
#define S_EXE_WRITABLE (1 << 0)
#define S_EXE_UPPER_LAYER (1 << 1)
#define S_EXE_FROM_MEMFD (1 << 2)
#define S_EXE_LOWER_LAYER (1 << 3)

#define OVERLAYFS_SUPER_MAGIC 0x794c7630

/* Linux values the conversions below read. */
#define L_O_ACCMODE 00000003
#define L_O_WRONLY 00000001
#define L_O_RDWR 00000002
#define L_O_CREAT 00000100
#define L_O_EXCL 00000200
#define L_O_TRUNC 00001000
#define L_O_APPEND 00002000
#define L_O_NONBLOCK 00004000
#define L_O_DSYNC 00010000
#define L_O_DIRECT 00040000
#define L_O_LARGEFILE 00100000
#define L_O_DIRECTORY 00200000
#define L_O_CLOEXEC 02000000
#define L_O_SYNC (04000000 | L_O_DSYNC)
#define L_O_TMPFILE (020000000 | L_O_DIRECTORY)

static __always_inline __u32 open_flags_to_scap(__u32 f) {
	__u32 r;
	switch (f & L_O_ACCMODE) {
	case L_O_WRONLY: r = 1 << 1; break;
	case L_O_RDWR: r = (1 << 0) | (1 << 1); break;
	default: r = 1 << 0;
	}
	if (f & L_O_CREAT) r |= 1 << 2;
	if (f & L_O_APPEND) r |= 1 << 3;
	if (f & L_O_DSYNC) r |= 1 << 4;
	if (f & L_O_EXCL) r |= 1 << 5;
	if (f & L_O_NONBLOCK) r |= 1 << 6;
	if ((f & L_O_SYNC) == L_O_SYNC) r |= 1 << 7;
	if (f & L_O_TRUNC) r |= 1 << 8;
	if (f & L_O_DIRECT) r |= 1 << 9;
	if (f & L_O_DIRECTORY) r |= 1 << 10;
	if (f & L_O_LARGEFILE) r |= 1 << 11;
	if (f & L_O_CLOEXEC) r |= 1 << 12;
	if ((f & L_O_TMPFILE) == L_O_TMPFILE) r |= 1 << 13;
	return r;
}

/* The read and write bits of open_flags_to_scap (all the kernel predicates test). */
static __always_inline __u32 open_rw_to_scap(__u32 f) {
	__u32 a = f & L_O_ACCMODE;
	return a == L_O_WRONLY ? 2 : a == L_O_RDWR ? 3 : 1;
}

/* Mode bits: scap numbers permission bits from "other execute" upwards. */
static __always_inline __u32 mode_to_scap(__u32 m) {
	__u32 r = 0;
	if (m & 0001) r |= 1 << 0;
	if (m & 0002) r |= 1 << 1;
	if (m & 0004) r |= 1 << 2;
	if (m & 0010) r |= 1 << 3;
	if (m & 0020) r |= 1 << 4;
	if (m & 0040) r |= 1 << 5;
	if (m & 0100) r |= 1 << 6;
	if (m & 0200) r |= 1 << 7;
	if (m & 0400) r |= 1 << 8;
	if (m & 01000) r |= 1 << 9;
	if (m & 02000) r |= 1 << 10;
	if (m & 04000) r |= 1 << 11;
	return r;
}

/* open() records a mode only when it can create the file. */
static __always_inline __u32 open_mode_to_scap(__u32 flags, __u32 mode) {
	if ((flags & (L_O_CREAT | L_O_TMPFILE)) == 0) return 0;
	return mode_to_scap(mode);
}

#define L_CLONE_VM 0x00000100
#define L_CLONE_FS 0x00000200
#define L_CLONE_FILES 0x00000400
#define L_CLONE_SIGHAND 0x00000800
#define L_CLONE_PTRACE 0x00002000
#define L_CLONE_VFORK 0x00004000
#define L_CLONE_PARENT 0x00008000
#define L_CLONE_THREAD 0x00010000
#define L_CLONE_NEWNS 0x00020000
#define L_CLONE_SYSVSEM 0x00040000
#define L_CLONE_SETTLS 0x00080000
#define L_CLONE_PARENT_SETTID 0x00100000
#define L_CLONE_CHILD_CLEARTID 0x00200000
#define L_CLONE_UNTRACED 0x00800000
#define L_CLONE_CHILD_SETTID 0x01000000
#define L_CLONE_NEWCGROUP 0x02000000
#define L_CLONE_NEWUTS 0x04000000
#define L_CLONE_NEWIPC 0x08000000
#define L_CLONE_NEWUSER 0x10000000
#define L_CLONE_NEWPID 0x20000000
#define L_CLONE_NEWNET 0x40000000
#define L_CLONE_IO 0x80000000

static __always_inline __u32 clone_flags_to_scap(__u64 f) {
	__u32 r = 0;
	if (f & L_CLONE_FILES) r |= 1 << 0;
	if (f & L_CLONE_FS) r |= 1 << 1;
	if (f & L_CLONE_IO) r |= 1 << 2;
	if (f & L_CLONE_NEWIPC) r |= 1 << 3;
	if (f & L_CLONE_NEWNET) r |= 1 << 4;
	if (f & L_CLONE_NEWNS) r |= 1 << 5;
	if (f & L_CLONE_NEWPID) r |= 1 << 6;
	if (f & L_CLONE_NEWUTS) r |= 1 << 7;
	if (f & L_CLONE_PARENT) r |= 1 << 8;
	if (f & L_CLONE_PARENT_SETTID) r |= 1 << 9;
	if (f & L_CLONE_PTRACE) r |= 1 << 10;
	if (f & L_CLONE_SIGHAND) r |= 1 << 11;
	if (f & L_CLONE_SYSVSEM) r |= 1 << 12;
	if (f & L_CLONE_THREAD) r |= 1 << 13;
	if (f & L_CLONE_UNTRACED) r |= 1 << 14;
	if (f & L_CLONE_VM) r |= 1 << 15;
	if (f & L_CLONE_NEWUSER) r |= 1 << 20;
	if (f & L_CLONE_CHILD_CLEARTID) r |= 1 << 23;
	if (f & L_CLONE_CHILD_SETTID) r |= 1 << 24;
	if (f & L_CLONE_SETTLS) r |= 1 << 25;
	if (f & L_CLONE_VFORK) r |= 1 << 27;
	if (f & L_CLONE_NEWCGROUP) r |= 1 << 28;
	return r;
}

/* Families: scap keeps Linux numbers for the ones below; others pass through unchanged. */
static __always_inline __u8 family_to_scap(__u16 family) {
	return (__u8)family;
}

/* Socket type flags of socket()/socketpair()/accept4(): SOCK_NONBLOCK, SOCK_CLOEXEC. */
static __always_inline __u32 socket_flags_to_scap(__u32 f) {
	__u32 r = 0;
	if (f & L_O_NONBLOCK) r |= 1 << 6;
	if (f & L_O_CLOEXEC) r |= 1 << 12;
	return r;
}

static __always_inline __u32 pipe2_flags_to_scap(__s32 f) {
	__u32 r = 0;
	if (f < 0) return 0;
	if (f & L_O_CLOEXEC) r |= 1 << 12;
	if (f & L_O_DIRECT) r |= 1 << 9;
	if (f & L_O_NONBLOCK) r |= 1 << 6;
	return r;
}

static __always_inline __u32 prot_to_scap(__u32 p) {
	__u32 r = 0;
	if (p & 0x1) r |= 1 << 0;       /* PROT_READ */
	if (p & 0x2) r |= 1 << 1;       /* PROT_WRITE */
	if (p & 0x4) r |= 1 << 2;       /* PROT_EXEC */
	if (p & 0x8) r |= 1 << 3;       /* PROT_SEM */
	if (p & 0x01000000) r |= 1 << 4; /* PROT_GROWSDOWN */
	if (p & 0x02000000) r |= 1 << 5; /* PROT_GROWSUP */
	return r;
}

/* ptrace requests: scap numbers them in its own order. */
static __always_inline __u16 ptrace_request_to_scap(__u64 req) {
	switch (req) {
	case 0: return 1;       /* TRACEME */
	case 1: return 2;       /* PEEKTEXT */
	case 2: return 3;       /* PEEKDATA */
	case 3: return 4;       /* PEEKUSR */
	case 4: return 5;       /* POKETEXT */
	case 5: return 6;       /* POKEDATA */
	case 6: return 7;       /* POKEUSR */
	case 7: return 8;       /* CONT */
	case 8: return 9;       /* KILL */
	case 9: return 10;      /* SINGLESTEP */
	case 12: return 26;     /* GETREGS */
	case 13: return 27;     /* SETREGS */
	case 14: return 28;     /* GETFPREGS */
	case 15: return 29;     /* SETFPREGS */
	case 16: return 11;     /* ATTACH */
	case 17: return 12;     /* DETACH */
	case 18: return 30;     /* GETFPXREGS */
	case 19: return 31;     /* SETFPXREGS */
	case 21: return 32;     /* OLDSETOPTIONS */
	case 24: return 13;     /* SYSCALL */
	case 25: return 33;     /* GET_THREAD_AREA */
	case 26: return 34;     /* SET_THREAD_AREA */
	case 30: return 35;     /* ARCH_PRCTL */
	case 31: return 36;     /* SYSEMU */
	case 32: return 37;     /* SYSEMU_SINGLESTEP */
	case 33: return 38;     /* SINGLEBLOCK */
	case 0x4200: return 14; /* SETOPTIONS */
	case 0x4201: return 15; /* GETEVENTMSG */
	case 0x4202: return 16; /* GETSIGINFO */
	case 0x4203: return 17; /* SETSIGINFO */
	case 0x4204: return 18; /* GETREGSET */
	case 0x4205: return 19; /* SETREGSET */
	case 0x4206: return 20; /* SEIZE */
	case 0x4207: return 21; /* INTERRUPT */
	case 0x4208: return 22; /* LISTEN */
	case 0x4209: return 23; /* PEEKSIGINFO */
	case 0x420a: return 24; /* GETSIGMASK */
	case 0x420b: return 25; /* SETSIGMASK */
	default: return 0;
	}
}

static __always_inline __u32 unlinkat_flags_to_scap(__s32 f) {
	return (f & 0x200) ? 0x200 : 0; /* AT_REMOVEDIR keeps its value */
}

static __always_inline __u32 linkat_flags_to_scap(__s32 f) {
	__u32 r = 0;
	if (f & 0x400) r |= 0x400;   /* AT_SYMLINK_FOLLOW */
	if (f & 0x1000) r |= 0x1000; /* AT_EMPTY_PATH */
	return r;
}

static __always_inline __u32 fchownat_flags_to_scap(__s32 f) {
	return linkat_flags_to_scap(f);
}

static __always_inline __u32 execveat_flags_to_scap(__s32 f) {
	__u32 r = 0;
	if (f & 0x1000) r |= 1 << 0; /* AT_EMPTY_PATH */
	if (f & 0x100) r |= 1 << 1;  /* AT_SYMLINK_NOFOLLOW */
	return r;
}

static __always_inline __u32 memfd_flags_to_scap(__u32 f) {
	__u32 r = 0;
	if (f & 0x1) r |= 1 << 0; /* MFD_CLOEXEC */
	if (f & 0x2) r |= 1 << 1; /* MFD_ALLOW_SEALING */
	if (f & 0x4) r |= 1 << 2; /* MFD_HUGETLB */
	return r;
}

static __always_inline __u32 umount2_flags_to_scap(__s32 f) {
	__u32 r = 0;
	if (f & 0x1) r |= 1 << 0; /* MNT_FORCE */
	if (f & 0x2) r |= 1 << 1; /* MNT_DETACH */
	if (f & 0x4) r |= 1 << 2; /* MNT_EXPIRE */
	if (f & 0x8) r |= 1 << 3; /* UMOUNT_NOFOLLOW */
	return r;
}

static __always_inline __u32 finit_module_flags_to_scap(__s32 f) {
	return (__u32)f & 0x7; /* IGNORE_MODVERSIONS 1, IGNORE_VERMAGIC 2, COMPRESSED_FILE 4 */
}

/* mount(): the magic number MS_MGC_VAL may sit in the top 16 bits; drop it. */
static __always_inline __u32 mount_flags_to_scap(__u64 f) {
	if ((f & 0xffff0000) == 0xc0ed0000) f &= ~0xffff0000ULL;
	return (__u32)f;
}

/* fcntl commands: scap numbers them in its own order. */
static __always_inline __u8 fcntl_cmd_to_scap(__u64 cmd) {
	switch (cmd) {
	case 0: return 1;     /* F_DUPFD */
	case 1: return 2;     /* F_GETFD */
	case 2: return 3;     /* F_SETFD */
	case 3: return 4;     /* F_GETFL */
	case 4: return 5;     /* F_SETFL */
	case 5: return 6;     /* F_GETLK */
	case 6: return 8;     /* F_SETLK */
	case 7: return 9;     /* F_SETLKW */
	case 8: return 10;    /* F_SETOWN */
	case 9: return 12;    /* F_GETOWN */
	case 10: return 13;   /* F_SETSIG */
	case 11: return 15;   /* F_GETSIG */
	case 15: return 21;   /* F_SETOWN_EX */
	case 16: return 22;   /* F_GETOWN_EX */
	case 36: return 30;   /* F_OFD_GETLK */
	case 37: return 31;   /* F_OFD_SETLK */
	case 38: return 32;   /* F_OFD_SETLKW */
	case 1024: return 23; /* F_SETLEASE */
	case 1025: return 24; /* F_GETLEASE */
	case 1026: return 27; /* F_NOTIFY */
	case 1029: return 25; /* F_CANCELLK */
	case 1030: return 26; /* F_DUPFD_CLOEXEC */
	case 1031: return 28; /* F_SETPIPE_SZ */
	case 1032: return 29; /* F_GETPIPE_SZ */
	default: return 0;
	}
}

/* NONBLOCK/CLOEXEC flags of eventfd2, signalfd4, inotify_init1 (as open flags in scap). */
static __always_inline __u32 fd_flags_to_scap(__s32 f) {
	if (f < 0) return 0;
	return socket_flags_to_scap(f);
}
