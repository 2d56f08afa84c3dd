// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * Syscall handlers for file descriptors: open family, close, dup, pipes, fcntl dups, close_range and the calls
 * that create special fds (eventfd, signalfd, timerfd, inotify, epoll, pidfd, memfd, userfaultfd).
 * Each writes its event's parameters in the order of the event table (src/events/table_data.ts).
 */
#pragma once

/* open family: fd, [dirfd,] name, flags, mode, [resolve,] dev, ino */
static __always_inline void open_tail(struct rec *r, struct task_struct *task, long fd) {
	__u32 dev;
	__u64 ino;
	file_dev_ino(fd >= 0 ? fd_file(task, fd) : NULL, &dev, &ino);
	p_u32(r, dev);
	p_u64(r, ino);
}

/* Applies `deny` to the opened file (the caller never sees the fd): 1 when the opener was sent
 * SIGKILL. Decided before the kernel predicates and the record use the scratch slot; a denied
 * open is always recorded, marked RECORD_DENIED (its alert, or the agent's audit of a denial no
 * rule matched in user space, carries the outcome), whatever the predicates keep. */
static __always_inline int open_denied(struct task_struct *task, long fd) {
	if (fd < 0 || !settings.deny_open_n) return 0;
	return deny_check(&deny_open, 0, fd_file(task, fd), task, 0);
}

/* PRED_GATE unless the open was denied. */
#define OPEN_GATE(denied, a, b, oflags)                                                    \
	if (!(denied)) {                                                                       \
		PRED_GATE(PK_OPEN, a, b, oflags);                                                  \
	}

/* The same for open, openat and creat, whose predicates sys_exit decides unless `deny` may stop
 * an open (then the handler decides, after the deny check). */
#define OPEN_GATE_EXIT(denied, a, b, oflags)                                               \
	if (!(denied) && settings.deny_open_n) {                                               \
		PRED_GATE(PK_OPEN, a, b, oflags);                                                  \
	}

HANDLER(open) {
	__u32 flags = ARG(regs, 1);
	int denied = open_denied(task, ret);
	OPEN_GATE_EXIT(denied, ARG(regs, 0), L_AT_FDCWD, open_flags_to_scap(flags));
	BEGIN(EV_OPEN, 7);
	mark_denied(r, denied);
	p_s64(r, ret);
	p_str(r, (void *)ARG(regs, 0), MAX_PATH, 1);
	p_u32(r, open_flags_to_scap(flags));
	p_u32(r, open_mode_to_scap(flags, ARG(regs, 2)));
	open_tail(r, task, ret);
	p_path_dir(r, task, L_AT_FDCWD, (void *)ARG(regs, 0));
	return rec_submit(r);
}

HANDLER(openat) {
	__u32 flags = ARG(regs, 2);
	int denied = open_denied(task, ret);
	OPEN_GATE_EXIT(denied, ARG(regs, 1), (__s32)ARG(regs, 0), open_flags_to_scap(flags));
	BEGIN(EV_OPENAT, 8);
	mark_denied(r, denied);
	p_s64(r, ret);
	p_s64(r, (__s32)ARG(regs, 0));
	p_str(r, (void *)ARG(regs, 1), MAX_PATH, 1);
	p_u32(r, open_flags_to_scap(flags));
	p_u32(r, open_mode_to_scap(flags, ARG(regs, 3)));
	open_tail(r, task, ret);
	p_path_dir(r, task, (__s32)ARG(regs, 0), (void *)ARG(regs, 1));
	return rec_submit(r);
}

HANDLER(openat2) {
	struct open_how how = {};
	bpf_probe_read_user(&how, sizeof(how), (void *)ARG(regs, 2));
	int denied = open_denied(task, ret);
	OPEN_GATE(denied, ARG(regs, 1), (__s32)ARG(regs, 0), open_flags_to_scap(how.flags));
	BEGIN(EV_OPENAT2, 9);
	mark_denied(r, denied);
	p_s64(r, ret);
	p_s64(r, (__s32)ARG(regs, 0));
	p_str(r, (void *)ARG(regs, 1), MAX_PATH, 1);
	p_u32(r, open_flags_to_scap(how.flags));
	p_u32(r, open_mode_to_scap(how.flags, how.mode));
	/* RESOLVE_* keep their values in scap except the order: translate the documented ones. */
	__u32 res = 0;
	if (how.resolve & 0x01) res |= 1 << 2; /* NO_XDEV */
	if (how.resolve & 0x02) res |= 1 << 1; /* NO_MAGICLINKS */
	if (how.resolve & 0x04) res |= 1 << 3; /* NO_SYMLINKS */
	if (how.resolve & 0x08) res |= 1 << 0; /* BENEATH */
	if (how.resolve & 0x10) res |= 1 << 4; /* IN_ROOT */
	if (how.resolve & 0x20) res |= 1 << 5; /* CACHED */
	p_u32(r, res);
	open_tail(r, task, ret);
	p_path_dir(r, task, (__s32)ARG(regs, 0), (void *)ARG(regs, 1));
	return rec_submit(r);
}

HANDLER(creat) {
	int denied = open_denied(task, ret);
	OPEN_GATE_EXIT(denied, ARG(regs, 0), L_AT_FDCWD, 0); /* not an "open" for is_open_* */
	BEGIN(EV_CREAT, 7);
	mark_denied(r, denied);
	p_s64(r, ret);
	p_str(r, (void *)ARG(regs, 0), MAX_PATH, 1);
	p_u32(r, mode_to_scap(ARG(regs, 1)));
	open_tail(r, task, ret);
	p_u16(r, 0);
	p_path_dir(r, task, L_AT_FDCWD, (void *)ARG(regs, 0));
	return rec_submit(r);
}

HANDLER(close) {
	BEGIN(EV_CLOSE, 2);
#ifdef SAKER_TEST_VERIFIER_REJECT
	/* Built only by the load-error test: an unbounded write the verifier must refuse. */
	r->buf[ret] = 0;
#endif
	p_s64(r, ret);
	p_s64(r, (__s32)ARG(regs, 0));
	return rec_submit(r);
}

HANDLER(dup) {
	BEGIN(EV_DUP, 3);
	p_s64(r, ret);
	p_s64(r, (__s32)ARG(regs, 0));
	p_u64(r, fd_ino(task, (__s32)ARG(regs, 0)));
	return rec_submit(r);
}

HANDLER(dup2) {
	BEGIN(EV_DUP2, 4);
	p_s64(r, ret);
	p_s64(r, (__s32)ARG(regs, 0));
	p_s64(r, (__s32)ARG(regs, 1));
	p_u64(r, fd_ino(task, (__s32)ARG(regs, 0)));
	return rec_submit(r);
}

HANDLER(dup3) {
	BEGIN(EV_DUP3, 5);
	p_s64(r, ret);
	p_s64(r, (__s32)ARG(regs, 0));
	p_s64(r, (__s32)ARG(regs, 1));
	p_u32(r, (ARG(regs, 2) & L_O_CLOEXEC) ? (1 << 12) : 0);
	p_u64(r, fd_ino(task, (__s32)ARG(regs, 0)));
	return rec_submit(r);
}

static __always_inline void pipe_common(struct rec *r, struct task_struct *task, long ret,
                                        void *ufds) {
	int fds[2] = {-1, -1};
	if (ret == 0) bpf_probe_read_user(fds, sizeof(fds), ufds);
	p_s64(r, ret);
	p_s64(r, fds[0]);
	p_s64(r, fds[1]);
	__u32 dev;
	__u64 ino;
	file_dev_ino(ret == 0 ? fd_file(task, fds[0]) : NULL, &dev, &ino);
	p_u64(r, ino);
}

HANDLER(pipe) {
	BEGIN(EV_PIPE, 4);
	pipe_common(r, task, ret, (void *)ARG(regs, 0));
	return rec_submit(r);
}

HANDLER(pipe2) {
	BEGIN(EV_PIPE2, 5);
	pipe_common(r, task, ret, (void *)ARG(regs, 0));
	p_u32(r, pipe2_flags_to_scap(ARG(regs, 1)));
	return rec_submit(r);
}

/* More fd creators and process-group calls state tracking needs. */
HANDLER(fcntl) {
	BEGIN(EV_FCNTL, 4);
	p_s64(r, ret);
	p_s64(r, (__s32)ARG(regs, 0));
	p_u8(r, fcntl_cmd_to_scap(ARG(regs, 1)));
	p_u64(r, ARG(regs, 2));
	return rec_submit(r);
}

HANDLER(close_range) {
	BEGIN(EV_CLOSE_RANGE, 4);
	__u32 f = ARG(regs, 2);
	p_s64(r, ret);
	p_u32(r, ARG(regs, 0));
	p_u32(r, ARG(regs, 1));
	p_u32(r, f & 0x6); /* CLOSE_RANGE_UNSHARE (2) and CLOEXEC (4) keep their bits */
	return rec_submit(r);
}

HANDLER(eventfd) {
	BEGIN(EV_EVENTFD, 3);
	p_s64(r, ret);
	p_u64(r, ARG(regs, 0));
	p_u32(r, 0);
	return rec_submit(r);
}

HANDLER(eventfd2) {
	BEGIN(EV_EVENTFD2, 3);
	p_s64(r, ret);
	p_u16(r, fd_flags_to_scap(ARG(regs, 1)));
	p_u64(r, ARG(regs, 0));
	return rec_submit(r);
}

HANDLER(signalfd) {
	BEGIN(EV_SIGNALFD, 4);
	p_s64(r, ret);
	p_s64(r, (__s32)ARG(regs, 0));
	p_u32(r, 0);
	p_u8(r, 0);
	return rec_submit(r);
}

HANDLER(signalfd4) {
	BEGIN(EV_SIGNALFD4, 4);
	p_s64(r, ret);
	p_u16(r, fd_flags_to_scap(ARG(regs, 3)));
	p_s64(r, (__s32)ARG(regs, 0));
	p_u32(r, 0);
	return rec_submit(r);
}

HANDLER(timerfd_create) {
	BEGIN(EV_TIMERFD_CREATE, 3);
	p_s64(r, ret);
	p_u8(r, ARG(regs, 0));
	p_u8(r, fd_flags_to_scap(ARG(regs, 1)));
	return rec_submit(r);
}

HANDLER(inotify_init) {
	BEGIN(EV_INOTIFY_INIT, 2);
	p_s64(r, ret);
	p_u8(r, 0);
	return rec_submit(r);
}

HANDLER(inotify_init1) {
	BEGIN(EV_INOTIFY_INIT1, 2);
	p_s64(r, ret);
	p_u16(r, fd_flags_to_scap(ARG(regs, 0)));
	return rec_submit(r);
}

HANDLER(epoll_create) {
	BEGIN(EV_EPOLL_CREATE, 2);
	p_s64(r, ret);
	p_u32(r, ARG(regs, 0));
	return rec_submit(r);
}

HANDLER(epoll_create1) {
	BEGIN(EV_EPOLL_CREATE1, 2);
	p_s64(r, ret);
	p_u32(r, (ARG(regs, 0) & L_O_CLOEXEC) ? 1 : 0); /* EPOLL_CLOEXEC */
	return rec_submit(r);
}

HANDLER(pidfd_open) {
	BEGIN(EV_PIDFD_OPEN, 3);
	p_s64(r, ret);
	p_s64(r, (__s32)ARG(regs, 0));
	p_u32(r, (ARG(regs, 1) & L_O_NONBLOCK) ? 1 : 0); /* PIDFD_NONBLOCK */
	return rec_submit(r);
}

HANDLER(pidfd_getfd) {
	BEGIN(EV_PIDFD_GETFD, 4);
	p_s64(r, ret);
	p_s64(r, (__s32)ARG(regs, 0));
	p_s64(r, (__s32)ARG(regs, 1));
	p_u32(r, ARG(regs, 2));
	return rec_submit(r);
}

HANDLER(memfd_create) {
	BEGIN(EV_MEMFD_CREATE, 3);
	p_s64(r, ret);
	p_str(r, (void *)ARG(regs, 0), MAX_STR, 1);
	p_u32(r, memfd_flags_to_scap(ARG(regs, 1)));
	return rec_submit(r);
}

HANDLER(userfaultfd) {
	BEGIN(EV_USERFAULTFD, 2);
	p_s64(r, ret);
	p_u32(r, pipe2_flags_to_scap(ARG(regs, 0)));
	return rec_submit(r);
}
