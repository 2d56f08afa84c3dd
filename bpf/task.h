// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * Task and credential readers: ids as seen from a task's own pid namespace, session, tty, file
 * limit, memory counters, cgroups (kernfs paths per controller), the common part of clone and
 * execve records, capabilities, and the reaper that inherits an exiting task's children.
 */
#pragma once

/* Old layouts, for CO-RE on kernels before the renames (relocated by name, "___" suffix). */
struct kernfs_node___old {
	struct kernfs_node *parent;
} __attribute__((preserve_access_index));

static __always_inline struct kernfs_node *kn_parent(struct kernfs_node *kn) {
	if (bpf_core_field_exists(kn->__parent)) return BPF_CORE_READ(kn, __parent);
	struct kernfs_node___old *old = (void *)kn;
	return BPF_CORE_READ(old, parent);
}

/* kernfs (cgroup) path, backwards in the temporary area, one node per bpf_loop step. */
struct kn_walk {
	__u8 *buf;
	struct kernfs_node *kn;
	__u32 pos;
};

static long kn_step(__u32 index, void *ctx) {
	struct kn_walk *w = ctx;
	struct kernfs_node *kn = w->kn;
	struct kernfs_node *parent = kn_parent(kn);
	if (!parent) return 1; /* the root node: its name is empty */
	const char *name = BPF_CORE_READ(kn, name);
	/* Length first (a bounded read into the area just below), then the real copy. */
	__u32 cur = opaque_u32(&w->pos);
	if (cur < TMP_BASE + 258) return 1;
	long len = bpf_probe_read_kernel_str(&w->buf[TMP_BASE + ((cur - 256 - TMP_BASE) & TMP_MASK)],
	                                     256, name);
	if (len <= 1) return 1;
	__u32 l = (len - 1);
	BOUND(l, 0xff);
	__u32 dst = cur - l;
	bpf_probe_read_kernel(&w->buf[TMP_BASE + ((dst - TMP_BASE) & TMP_MASK)], l, name);
	w->pos = dst - 1;
	w->buf[TMP_BASE + ((w->pos - TMP_BASE) & TMP_MASK)] = '/';
	w->kn = parent;
	return 0;
}

/* A pointer as a plain number (global functions accept only scalars). */
static __always_inline __u64 as_scalar(const void *p) {
	__u64 v = 0;
	bpf_probe_read_kernel(&v, sizeof(v), &p);
	return v;
}

/* Writes "subsystem=/path\0" for one cgroup controller at buf[pos]; returns the bytes written. */
static __always_inline __u32 cgroup_entry(__u8 *buf, __u32 pos, struct task_struct *task, int id,
                                          __u16 *truncated) {
	struct cgroup_subsys_state *css = BPF_CORE_READ(task, cgroups, subsys[id & 15]);
	if (!css) return 0;
	const char *ssname = BPF_CORE_READ(css, ss, name);
	struct kernfs_node *kn = BPF_CORE_READ(css, cgroup, kn);
	if (!ssname || !kn) return 0;
	__u32 end = TMP_BASE + TMP_SIZE - 1;
	buf[end & (SCRATCH_SIZE - 1)] = 0;
	struct kn_walk w = {.buf = buf, .kn = kn, .pos = end};
	bpf_loop(16, kn_step, &w, 0);
	__u32 start = w.pos;
	if (start == end) {
		start -= 1;
		buf[TMP_BASE + ((start - TMP_BASE) & TMP_MASK)] = '/';
	}
	if (pos >= DATA_LIMIT) {
		*truncated = 1;
		return 0;
	}
	BOUND(pos, 0x3fff);
	long n = bpf_probe_read_kernel_str(&buf[pos], 32, ssname);
	if (n <= 0) return 0;
	__u32 p = pos + n;
	buf[(p - 1) & DATA_MASK] = '=';
	__u32 plen = end + 1 - start;
	if (plen > 1024 || p >= DATA_LIMIT) {
		*truncated = 1;
		return 0;
	}
	BOUND(plen, 0x7ff);
	BOUND(p, 0x3fff);
	bpf_probe_read_kernel(&buf[p], plen, &buf[TMP_BASE + ((start - TMP_BASE) & TMP_MASK)]);
	return n + plen;
}

/* One cgroup_entry as a global function: the verifier checks it (its kernfs walk) once, not once
 * per controller and path through cgroups_at's loop, which exceeded its instruction limit.
 * Returns the bytes written, bit 31 set when cut. */
__attribute__((noinline)) int cgroup_entry_at(__u32 slot, __u32 pos, __u64 task_addr, int id) {
	__u8 *buf = bpf_map_lookup_elem(&scratch, &slot);
	if (!buf) return 0;
	__u16 cut = 0;
	__u32 n = cgroup_entry(buf, pos, (struct task_struct *)task_addr, id, &cut);
	return (n & 0x7fffffff) | (cut ? 0x80000000 : 0);
}

/* The cgroups parameter (entries of cgroup_entry) at data offset `pos`; a global function.
 * Returns its length, bit 31 set when cut. */
__attribute__((noinline)) int cgroups_at(__u32 slot, __u32 pos, __u64 task_addr) {
	__u16 cut = 0;
	__u32 used = 0;
	int ids[6] = {-1, -1, -1, -1, -1, -1};
	if (bpf_core_enum_value_exists(enum cgroup_subsys_id, cpuset_cgrp_id))
		ids[0] = bpf_core_enum_value(enum cgroup_subsys_id, cpuset_cgrp_id);
	if (bpf_core_enum_value_exists(enum cgroup_subsys_id, cpu_cgrp_id))
		ids[1] = bpf_core_enum_value(enum cgroup_subsys_id, cpu_cgrp_id);
	if (bpf_core_enum_value_exists(enum cgroup_subsys_id, cpuacct_cgrp_id))
		ids[2] = bpf_core_enum_value(enum cgroup_subsys_id, cpuacct_cgrp_id);
	if (bpf_core_enum_value_exists(enum cgroup_subsys_id, io_cgrp_id))
		ids[3] = bpf_core_enum_value(enum cgroup_subsys_id, io_cgrp_id);
	if (bpf_core_enum_value_exists(enum cgroup_subsys_id, memory_cgrp_id))
		ids[4] = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);
	if (bpf_core_enum_value_exists(enum cgroup_subsys_id, pids_cgrp_id))
		ids[5] = bpf_core_enum_value(enum cgroup_subsys_id, pids_cgrp_id);
	for (int i = 0; i < 6; i++) {
		if (ids[i] < 0) continue;
		if (used > MAX_CGROUPS) {
			cut = 1;
			break;
		}
		int n = cgroup_entry_at(slot, pos + (used & 0x7ff), task_addr, ids[i]);
		if (n < 0) cut = 1;
		used += n & 0x7fffffff;
	}
	return (used & 0x1fff) | (cut ? 0x80000000 : 0);
}

static __always_inline void p_cgroups(struct rec *r, __u32 slot, struct task_struct *task) {
	if (rpos(r) >= DATA_LIMIT) {
		p_empty(r);
		return;
	}
	p_path_result(r, cgroups_at(slot, rpos(r), as_scalar(task)));
}

/* pid of `task` as seen from its own (innermost) pid namespace. */
static __always_inline __u32 vnr(struct pid *pid) {
	if (!pid) return 0;
	unsigned int level = BPF_CORE_READ(pid, level);
	return BPF_CORE_READ(pid, numbers[level & 31].nr);
}

static __always_inline __u32 task_vtid(struct task_struct *t) {
	return vnr(BPF_CORE_READ(t, thread_pid));
}

static __always_inline __u32 task_vpid(struct task_struct *t) {
	return vnr(BPF_CORE_READ(t, group_leader, thread_pid));
}

static __always_inline struct pid *task_pgrp(struct task_struct *t) {
	return BPF_CORE_READ(t, signal, pids[PIDTYPE_PGID]);
}

static __always_inline __u32 task_sid(struct task_struct *t) {
	struct pid *p = BPF_CORE_READ(t, signal, pids[PIDTYPE_SID]);
	return BPF_CORE_READ(p, numbers[0].nr);
}

static __always_inline __u32 task_tty(struct task_struct *t) {
	struct tty_struct *tty = BPF_CORE_READ(t, signal, tty);
	if (!tty) return 0;
	int index = BPF_CORE_READ(tty, index);
	int major = BPF_CORE_READ(tty, driver, major);
	int minor = BPF_CORE_READ(tty, driver, minor_start) + index;
	/* Userspace dev_t encoding (new_encode_dev), as /proc/PID/stat's tty_nr. */
	return (minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12);
}

static __always_inline __u64 task_fdlimit(struct task_struct *t) {
	return BPF_CORE_READ(t, signal, rlim[7].rlim_cur); /* RLIMIT_NOFILE */
}

/* Memory sizes in KiB, as /proc/PID/status shows them. */
static __always_inline __u32 mm_kb(__u64 pages) {
	return (__u32)(pages << 2);
}

static __always_inline __u64 mm_counter(struct mm_struct *mm, int member) {
	if (!mm) return 0;
	/* rss_stat is an array of percpu_counter; the count is a good-enough approximation. */
	__s64 v = BPF_CORE_READ(mm, rss_stat[member & 3].count);
	return v < 0 ? 0 : v;
}

/* exe, args, tid, pid, ptid, cwd, fdlimit, pgft_maj, pgft_min, vm_size, vm_rss, vm_swap, comm,
 * cgroups: the common part of clone and execve records. args come from the process's argument
 * area (the new image after exec). */
static __always_inline void p_process_common(struct rec *r, __u32 slot, struct task_struct *t) {
	struct mm_struct *mm = BPF_CORE_READ(t, mm);
	unsigned long as = BPF_CORE_READ(mm, arg_start), ae = BPF_CORE_READ(mm, arg_end);
	if (mm && ae > as) {
		/* argv[0] is exe; the rest (NUL-separated) is args. */
		__u32 before = rpos(r);
		p_str(r, (const void *)as, MAX_STR, 1);
		__u32 exe_len = rpos(r) - before;
		if (exe_len > 0 && as + exe_len < ae)
			p_ubytes(r, (const void *)(as + exe_len), ae - as - exe_len, MAX_ARGS);
		else
			p_empty(r);
	} else {
		/* Kernel threads have no argument area: exe is the comm. */
		p_str(r, BPF_CORE_READ(t, comm), 16, 0);
		p_empty(r);
	}
	p_s64(r, BPF_CORE_READ(t, pid));
	p_s64(r, BPF_CORE_READ(t, tgid));
	p_s64(r, BPF_CORE_READ(t, real_parent, tgid));
	p_cwd(r, slot, t);
	p_u64(r, task_fdlimit(t));
	p_u64(r, BPF_CORE_READ(t, maj_flt));
	p_u64(r, BPF_CORE_READ(t, min_flt));
	p_u32(r, mm ? mm_kb(BPF_CORE_READ(mm, total_vm)) : 0);
	p_u32(r, mm_kb(mm_counter(mm, 0) + mm_counter(mm, 1) + mm_counter(mm, 3)));
	p_u32(r, mm_kb(mm_counter(mm, 2)));
	p_str(r, BPF_CORE_READ(t, comm), 16, 0);
	p_cgroups(r, slot, t);
}

static __always_inline __u64 cap_value(kernel_cap_t c) {
	return c.val;
}

/* Who inherits the children of an exiting thread, as the kernel's find_new_reaper decides:
 * another live thread of its group; else, when an ancestor declared itself a child subreaper
 * (PR_SET_CHILD_SUBREAPER: conmon, systemd --user ...), the nearest such ancestor in the same pid
 * namespace; else the namespace's init. 0 when it has no children. */
struct reaper_walk {
	struct task_struct *t;
	unsigned int level;
	__s64 found;
};

static long reaper_step(__u32 index, void *ctx) {
	struct reaper_walk *w = ctx;
	struct task_struct *t = w->t;
	struct task_struct *up = BPF_CORE_READ(t, real_parent);
	if (!up || up == t) return 1;
	struct pid *pid = BPF_CORE_READ(up, thread_pid);
	if (BPF_CORE_READ(pid, level) != w->level) return 1; /* left the namespace */
	__s64 tgid = BPF_CORE_READ(up, tgid);
	if (tgid == 0) return 1; /* init_task */
	struct signal_struct *sig = BPF_CORE_READ(up, signal);
	if (BPF_CORE_READ_BITFIELD_PROBED(sig, is_child_subreaper)) {
		w->found = tgid;
		return 1;
	}
	w->t = up;
	return 0;
}

static __always_inline __s64 find_reaper(struct task_struct *t) {
	struct list_head *head = &t->children;
	struct list_head *first = BPF_CORE_READ(t, children.next);
	if (first == head) return 0;
	int live = BPF_CORE_READ(t, signal, live.counter);
	if (live > 0) {
		struct task_struct *leader = BPF_CORE_READ(t, group_leader);
		if (leader != t) return BPF_CORE_READ(leader, pid);
	}
	struct pid *pid = BPF_CORE_READ(t, thread_pid);
	unsigned int level = BPF_CORE_READ(pid, level);
	struct signal_struct *sig = BPF_CORE_READ(t, signal);
	if (BPF_CORE_READ_BITFIELD_PROBED(sig, has_child_subreaper)) {
		struct reaper_walk w = {.t = t, .level = level, .found = 0};
		bpf_loop(32, reaper_step, &w, 0);
		if (w.found) return w.found;
	}
	struct pid_namespace *ns = BPF_CORE_READ(pid, numbers[level & 31].ns);
	return BPF_CORE_READ(ns, child_reaper, pid);
}
