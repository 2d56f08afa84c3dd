// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * Syscall handlers for processes: ptrace, signals, prctl, sessions and process groups, the clone family (parent side)
 * and failed execs (successful ones come from sched_process_exec).
 * Each writes its event's parameters in the order of the event table (src/events/table_data.ts).
 */
#pragma once

/* Processes */
HANDLER(ptrace) {
	BEGIN(EV_PTRACE, 5);
	__u16 req = ptrace_request_to_scap(ARG(regs, 0));
	p_s64(r, ret);
	/* addr and data are dynamic: index 0 = u64. */
	__u32 p = rpos(r);
	if (p < DATA_LIMIT) {
		r->buf[p & DATA_MASK] = 0;
		*(__u64 *)&r->buf[(p + 1) & DATA_MASK] = ARG(regs, 2);
		set_len(r, 9);
	} else {
		p_empty(r);
	}
	p = rpos(r);
	if (p < DATA_LIMIT) {
		r->buf[p & DATA_MASK] = 0;
		*(__u64 *)&r->buf[(p + 1) & DATA_MASK] = ARG(regs, 3);
		set_len(r, 9);
	} else {
		p_empty(r);
	}
	p_u16(r, req);
	p_s64(r, (__s32)ARG(regs, 1));
	return rec_submit(r);
}

HANDLER(kill) {
	BEGIN(EV_KILL, 3);
	p_s64(r, ret);
	p_s64(r, (__s32)ARG(regs, 0));
	p_u8(r, ARG(regs, 1));
	return rec_submit(r);
}

HANDLER(tgkill) {
	BEGIN(EV_TGKILL, 4);
	p_s64(r, ret);
	p_s64(r, (__s32)ARG(regs, 0));
	p_s64(r, (__s32)ARG(regs, 1));
	p_u8(r, ARG(regs, 2));
	return rec_submit(r);
}

HANDLER(prctl) {
	BEGIN(EV_PRCTL, 4);
	int option = ARG(regs, 0);
	unsigned long arg2 = ARG(regs, 1);
	p_s64(r, ret);
	p_u32(r, option);
	if (option == 15 /* PR_SET_NAME */ || option == 16 /* PR_GET_NAME */) {
		p_str(r, (void *)arg2, 16, 1);
		p_s64(r, 0);
	} else {
		p_empty(r);
		/* PR_GET_* options return their value through *arg2 for a few; keep the argument. */
		p_s64(r, arg2);
	}
	return rec_submit(r);
}

HANDLER(setsid) {
	BEGIN(EV_SETSID, 1);
	p_s64(r, ret);
	return rec_submit(r);
}

HANDLER(setpgid) {
	BEGIN(EV_SETPGID, 3);
	p_s64(r, ret);
	p_s64(r, (__s32)ARG(regs, 0));
	p_s64(r, (__s32)ARG(regs, 1));
	return rec_submit(r);
}

/* clone family in the parent (res = child's tid); the child's record comes from
 * sched_process_fork. */
static __always_inline void clone_tail(struct rec *r, struct task_struct *t, __u32 flags) {
	const struct cred *c = BPF_CORE_READ(t, cred);
	p_u32(r, flags);
	p_u32(r, BPF_CORE_READ(c, euid.val));
	p_u32(r, BPF_CORE_READ(c, egid.val));
	p_s64(r, task_vtid(t));
	p_s64(r, task_vpid(t));
	struct pid *pid = BPF_CORE_READ(t, thread_pid);
	unsigned int level = BPF_CORE_READ(pid, level);
	struct pid_namespace *ns = BPF_CORE_READ(pid, numbers[level & 31].ns);
	p_u64(r, BPF_CORE_READ(ns, child_reaper, start_boottime));
}

static __always_inline int clone_parent(struct rec *r, long ret, struct task_struct *task,
                                        __u16 type, __u64 lflags) {
	if (ret == 0) return 0; /* the child: recorded by sched_process_fork */
	if (rec_begin(r, 0, type, NP_CLONE, task)) return 0;
	p_s64(r, ret);
	p_process_common(r, 0, task);
	clone_tail(r, task, clone_flags_to_scap(lflags));
	return rec_submit(r);
}

HANDLER(clone) {
	return clone_parent(r, ret, task, EV_CLONE, ARG(regs, 0));
}

HANDLER(clone3) {
	__u64 flags = 0;
	bpf_probe_read_user(&flags, sizeof(flags), (void *)ARG(regs, 0));
	return clone_parent(r, ret, task, EV_CLONE3, flags);
}

HANDLER(fork) {
	return clone_parent(r, ret, task, EV_FORK, 17 /* SIGCHLD */);
}

HANDLER(vfork) {
	return clone_parent(r, ret, task, EV_VFORK, L_CLONE_VFORK | L_CLONE_VM);
}

/* execve family. A success is recorded by sched_process_exec from the new image; a failure
 * here, with the arguments still readable in the old image. */

/* Flags describing where the executable lives (memfd, overlay layer, writable by the caller). */
static __always_inline __u32 exe_flags(struct file *exe, const struct cred *c) {
	struct inode *ino = BPF_CORE_READ(exe, f_inode);
	if (!exe || !ino) return 0;
	__u32 flags = 0;
	struct dentry *d = BPF_CORE_READ(exe, f_path.dentry);
	if (BPF_CORE_READ(d, d_sb, s_magic) == OVERLAYFS_SUPER_MAGIC) {
		/* overlayfs keeps the upper dentry right after the VFS inode it embeds. */
		struct dentry *upper = NULL;
		bpf_probe_read_kernel(&upper, sizeof(upper), (char *)ino + bpf_core_type_size(struct inode));
		flags |= (upper && BPF_CORE_READ(upper, d_inode)) ? S_EXE_UPPER_LAYER : S_EXE_LOWER_LAYER;
	}
	if (BPF_CORE_READ(d, d_parent) == d) {
		char pre[7] = {};
		bpf_probe_read_kernel_str(pre, sizeof(pre), BPF_CORE_READ(d, d_name.name));
		if (pre[0] == 'm' && pre[1] == 'e' && pre[2] == 'm' && pre[3] == 'f' && pre[4] == 'd' &&
		    pre[5] == ':')
			flags |= S_EXE_FROM_MEMFD;
	}
	/* Writable by the caller: root, the owner, or a group/other write bit. */
	__u32 fsuid = BPF_CORE_READ(c, fsuid.val);
	__u16 imode = BPF_CORE_READ(ino, i_mode);
	if (fsuid == 0 || fsuid == BPF_CORE_READ(ino, i_uid.val) || (imode & 0022))
		flags |= S_EXE_WRITABLE;
	return flags;
}

/* env ... gid [filename] and Saker's extras (sid, ruid, rgid, vpid, vtid) of an exec record.
 * `filename` is a user pointer for a failure, a kernel pointer (bprm) for a success. */
static __always_inline void p_exec_tail(struct rec *r, struct task_struct *t, int success,
                                        int is_execve, const char *filename, __u32 flags) {
	const struct cred *c = BPF_CORE_READ(t, cred);
	struct mm_struct *mm = BPF_CORE_READ(t, mm);
	struct file *exe = success ? BPF_CORE_READ(mm, exe_file) : NULL;
	struct inode *ino = BPF_CORE_READ(exe, f_inode);
	unsigned long es = BPF_CORE_READ(mm, env_start), ee = BPF_CORE_READ(mm, env_end);
	if (success && mm && ee > es)
		p_ubytes(r, (void *)es, ee - es, MAX_ENV);
	else
		p_empty(r);
	p_u32(r, task_tty(t));
	p_s64(r, vnr(task_pgrp(t)));
	p_u32(r, BPF_CORE_READ(t, loginuid.val));
	p_u32(r, flags | exe_flags(exe, c));
	p_u64(r, cap_value(BPF_CORE_READ(c, cap_inheritable)));
	p_u64(r, cap_value(BPF_CORE_READ(c, cap_permitted)));
	p_u64(r, cap_value(BPF_CORE_READ(c, cap_effective)));
	__u64 ct = 0, mt = 0;
	if (ino) inode_times(ino, &ct, &mt);
	p_u64(r, ino ? BPF_CORE_READ(ino, i_ino) : 0);
	p_u64(r, ct);
	p_u64(r, mt);
	p_u32(r, BPF_CORE_READ(c, euid.val));
	p_file_path(r, success ? 1 : 0, exe);
	p_s64(r, BPF_CORE_READ(task_pgrp(t), numbers[0].nr));
	p_u32(r, BPF_CORE_READ(c, egid.val));
	if (is_execve) p_str(r, filename, MAX_PATH, !success);
	p_s64(r, task_sid(t));
	p_u32(r, BPF_CORE_READ(c, uid.val));
	p_u32(r, BPF_CORE_READ(c, gid.val));
	p_s64(r, task_vpid(t));
	p_s64(r, task_vtid(t));
	p_u64(r, fd_ino(t, 0));
	p_u64(r, fd_ino(t, 1));
	p_u64(r, fd_ino(t, 2));
}

/* Failed exec: exe/args from the caller's argv array, one argument per bpf_loop step. */
struct argv_walk {
	struct rec *r;
	const char *const *argv;
	__u32 used;
};

static long argv_step(__u32 index, void *ctx) {
	struct argv_walk *w = ctx;
	const char *a = NULL;
	if (bpf_probe_read_user(&a, sizeof(a), &w->argv[index + 1]) || !a) return 1;
	__u32 used = opaque_u32(&w->used);
	__u32 p = rpos(w->r) + used;
	if (p >= DATA_LIMIT || used >= MAX_ARGS) {
		rtrunc(w->r);
		return 1;
	}
	long n = bpf_probe_read_user_str(&w->r->buf[p & DATA_MASK], 1024, a);
	if (n <= 0) return 1;
	w->used = used + n;
	return 0;
}

static __always_inline void p_user_argv(struct rec *r, const char *const *argv) {
	const char *a0 = NULL;
	bpf_probe_read_user(&a0, sizeof(a0), &argv[0]);
	p_str(r, a0, MAX_STR, 1);
	struct argv_walk w = {.r = r, .argv = argv, .used = 0};
	if (a0) bpf_loop(MAX_ARGV_ENTRIES, argv_step, &w, 0);
	set_len(r, w.used & (MAX_PATH * 2 - 1));
}

static __always_inline int exec_failed(struct rec *r, struct pt_regs *regs, long ret,
                                       struct task_struct *t, int is_execve) {
	if (ret == 0) return 0; /* success: recorded by sched_process_exec */
	if (rec_begin(r, 0, is_execve ? EV_EXECVE : EV_EXECVEAT,
	              (is_execve ? NP_EXECVE : NP_EXECVEAT) + EXECVE_EXTRA, t))
		return 0;
	const char *filename = (const char *)ARG(regs, is_execve ? 0 : 1);
	const char *const *argv = (const char *const *)ARG(regs, is_execve ? 1 : 2);
	p_s64(r, ret);
	p_user_argv(r, argv);
	p_s64(r, BPF_CORE_READ(t, pid));
	p_s64(r, BPF_CORE_READ(t, tgid));
	p_s64(r, BPF_CORE_READ(t, real_parent, tgid));
	p_cwd(r, 0, t);
	struct mm_struct *mm = BPF_CORE_READ(t, mm);
	p_u64(r, task_fdlimit(t));
	p_u64(r, BPF_CORE_READ(t, maj_flt));
	p_u64(r, BPF_CORE_READ(t, min_flt));
	p_u32(r, mm ? mm_kb(BPF_CORE_READ(mm, total_vm)) : 0);
	p_u32(r, mm_kb(mm_counter(mm, 0) + mm_counter(mm, 1) + mm_counter(mm, 3)));
	p_u32(r, mm_kb(mm_counter(mm, 2)));
	p_str(r, BPF_CORE_READ(t, comm), 16, 0);
	p_cgroups(r, 0, t);
	__u32 extra = is_execve ? 0 : execveat_flags_to_scap(ARG(regs, 4));
	p_exec_tail(r, t, 0, is_execve, filename, extra);
	return rec_submit(r);
}

HANDLER(execve) {
	return exec_failed(r, regs, ret, task, 1);
}

HANDLER(execveat) {
	return exec_failed(r, regs, ret, task, 0);
}
