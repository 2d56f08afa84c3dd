// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * Response `deny`: whether a file is in a deny set (deny_exec, deny_open in probe.bpf.c) for the
 * current task, by its path, by the task's name (comm) with its path, or for an exec by the name
 * alone, and if so SIGKILL to it. Called after a successful exec (sched_process_exec: the
 * new image has not run an instruction yet) and after a successful open (sys_exit: the caller
 * never sees the fd). The signal is pending when the task returns to user space, so it dies
 * there. The file's path is resolved as the kernel sees it (mounts crossed, symbolic links
 * already followed), the same path the record carries (proc.exepath, fd.name).
 *
 * Never denied: pid 1, the agent and its parent, kernel threads (PF_KTHREAD), and what the
 * config's allowlist names that the probe can see: the task's effective uid (deny_allow_uid) and
 * its executable (deny_allow_exe: for an exec the new image, for an open the running one).
 * Container images are not seen here: user space refuses rules that could deny in containers
 * while images are allowlisted. The protections are tested only once a file matched, so a call
 * no deny entry names costs no more than before.
 * "In a container" is decided as the task's PID namespace not being the initial one.
 */
#pragma once

#define PF_KTHREAD 0x00200000

/* Whether the path at the start of scratch slot `slot` (`len` bytes, NUL included) is an
 * allowlisted executable. A path longer than a key is looked up by its first DENY_PATH bytes
 * without the NUL: only a prefix entry can cover it. */
static __always_inline int deny_allowed_exe(__u32 slot, __u32 len) {
	__u32 zero = 0;
	struct deny_allow_key *a = bpf_map_lookup_elem(&deny_allow_scratch, &zero);
	__u8 *buf = bpf_map_lookup_elem(&scratch, &slot);
	if (!a || !buf || len == 0) return 0;
	bpf_probe_read_kernel(a->path, sizeof(a->path), buf);
	a->prefixlen = (len < DENY_PATH ? len : DENY_PATH) * 8;
	return bpf_map_lookup_elem(&deny_allow_exe, a) != 0;
}

/* Whether `t` is out of the probe's reach: a kernel thread, an allowlisted uid or executable.
 * `exec`: the path at the start of the slot (`len` bytes) is the task's new executable;
 * otherwise its executable is resolved into the slot here. */
static __always_inline int deny_exempt(struct task_struct *t, __u32 slot, int exec, __u32 len) {
	if (BPF_CORE_READ(t, flags) & PF_KTHREAD) return 1;
	if (settings.deny_allow_uid_n) {
		__u32 uid = BPF_CORE_READ(t, cred, euid.val);
		if (bpf_map_lookup_elem(&deny_allow_uid, &uid)) return 1;
	}
	if (!settings.deny_allow_exe_n) return 0;
	if (!exec) {
		struct file *exe = BPF_CORE_READ(t, mm, exe_file);
		if (!exe) return 0;
		struct path ep = BPF_CORE_READ(exe, f_path);
		int res = path_at(slot, 0, (__u64)ep.dentry, (__u64)ep.mnt);
		if (res & 0x80000000) return 0;
		len = res & 0x1fff;
	}
	return deny_allowed_exe(slot, len);
}

static __always_inline int deny_check(void *set, __u32 slot, struct file *f, struct task_struct *t,
                                      int exec) {
	if (!f) return 0;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (tgid == 1 || tgid == settings.agent_tgid || tgid == settings.agent_ptgid) return 0;
	__u32 zero = 0;
	struct deny_key *k = bpf_map_lookup_elem(&deny_scratch, &zero);
	__u8 *buf = bpf_map_lookup_elem(&scratch, &slot);
	if (!k || !buf) return 0;
	struct path fp = BPF_CORE_READ(f, f_path);
	int res = path_at(slot, 0, (__u64)fp.dentry, (__u64)fp.mnt);
	__u32 len = res & 0x1fff;
	/* A path no key can hold is matched by no path entry (an exec may still match by name). */
	int fits = len > 0 && len <= DENY_PATH && !(res & 0x80000000);
	if (!fits && !(exec && settings.deny_comm_n)) return 0;
	__builtin_memset(k, 0, sizeof(*k));
	__u32 where = 0, *w;
	if (fits) {
		bpf_probe_read_kernel_str(k->path, sizeof(k->path), buf);
		w = bpf_map_lookup_elem(set, k); /* the path, any process */
		if (w) where |= *w;
	}
	if (settings.deny_comm_n) {
		bpf_get_current_comm(k->comm, sizeof(k->comm));
		if (fits) {
			w = bpf_map_lookup_elem(set, k); /* the path, by this name */
			if (w) where |= *w;
		}
		if (exec) {
			__builtin_memset(k->path, 0, sizeof(k->path));
			w = bpf_map_lookup_elem(set, k); /* any executable, by this name */
			if (w) where |= *w;
		}
	}
	if (!where) return 0;
	int in_container = BPF_CORE_READ(t, thread_pid, level) > 0;
	if (!(where & (in_container ? DENY_CONTAINER : DENY_HOST))) return 0;
	if (deny_exempt(t, slot, exec, (res & 0x80000000) ? 0 : len)) return 0;
	bpf_send_signal(9);
	struct saker_counters *c = bpf_map_lookup_elem(&counters, &zero);
	if (c) c->denied++;
	return 1;
}

/* Marks a record whose call was denied (its alert then says the probe stopped the process). */
static __always_inline void mark_denied(struct rec *r, int denied) {
	if (denied) *(volatile __u16 *)&r->buf[30] |= RECORD_DENIED;
}
