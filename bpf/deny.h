// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * Response `deny`: whether a file is in a deny set (deny_exec, deny_open in probe.bpf.c) for the
 * current task, and if so SIGKILL to it. Called after a successful exec (sched_process_exec: the
 * new image has not run an instruction yet) and after a successful open (sys_exit: the caller
 * never sees the fd). The signal is pending when the task returns to user space, so it dies
 * there. The file's path is resolved as the kernel sees it (mounts crossed, symbolic links
 * already followed), the same path the record carries (proc.exepath, fd.name).
 *
 * Never denied: pid 1, the agent and its parent (kernel threads make no such calls).
 * "In a container" is decided as the task's PID namespace not being the initial one.
 */
#pragma once

static __always_inline int deny_check(void *set, __u32 slot, struct file *f, struct task_struct *t) {
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
	if (len == 0 || len > DENY_PATH || (res & 0x80000000)) return 0;
	__builtin_memset(k, 0, sizeof(*k));
	bpf_probe_read_kernel_str(k->path, sizeof(k->path), buf);
	__u32 *where = bpf_map_lookup_elem(set, k);
	if (!where) return 0;
	int in_container = BPF_CORE_READ(t, thread_pid, level) > 0;
	if (!(*where & (in_container ? DENY_CONTAINER : DENY_HOST))) return 0;
	bpf_send_signal(9);
	return 1;
}

/* Marks a record whose call was denied (its alert then says the probe stopped the process). */
static __always_inline void mark_denied(struct rec *r, int denied) {
	if (denied) *(volatile __u16 *)&r->buf[30] |= RECORD_DENIED;
}
