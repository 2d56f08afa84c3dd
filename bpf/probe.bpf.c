// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * Saker's probe: system call and scheduler tracepoints → compact records in one BPF ring buffer.
 *
 * - raw_tracepoint/sys_exit: one record per captured syscall, at exit, with its arguments and
 *   result. The syscall filter (settings.syscalls, written by user space) runs first, so a
 *   syscall nobody needs costs one array read. Handlers are tail-called per syscall number.
 * - raw_tracepoint/sys_enter: optional (attached only for latency measurements) — records the
 *   enter time of captured syscalls in task storage.
 * - tp_btf/sched_process_fork: the new child's first event (clone/fork/vfork/clone3 with res 0).
 * - tp_btf/sched_process_exec: a successful execve/execveat, read from the new image.
 * - tp_btf/sched_process_exit: procexit.
 *
 * Records are built in a per-CPU scratch buffer and copied to the ring without a wake-up:
 * user space polls. A full ring counts a drop per CPU; nothing is lost silently.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "record.h"
#include "scap.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* ------------------------------------------------------------------------------------------ */
/* Maps and settings                                                                           */

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20); /* user space sets the size from the config */
} ring SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct saker_counters);
} counters SEC(".maps");

struct scratch_buf {
	__u8 data[SCRATCH_SIZE];
};

/* Slot 0: syscall handlers; slot 1: scheduler tracepoints (they can interrupt a handler's
 * preemptible section on the same CPU, so they never share its buffer). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct scratch_buf);
} scratch SEC(".maps");

/* Handlers by syscall number, filled by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 512);
	__type(key, __u32);
	__type(value, __u32);
} handlers SEC(".maps");

/* Enter timestamps for evt.latency (only used when sys_enter is attached). */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} enter_ts SEC(".maps");

struct saker_settings settings = {};

/* ------------------------------------------------------------------------------------------ */
/* Record building                                                                             */

/* Masks a variable in a register right before use, so that the verifier sees the bound even
 * when the compiler would otherwise reuse an unmasked copy. */
#define BOUND(v, mask) asm volatile("%0 &= " #mask : "+r"(v))

/* Reads a u32 in a way the verifier cannot follow, so loop states that differ only in this
 * value converge (bpf_loop callbacks are checked until their states repeat). */
static __always_inline __u32 opaque_u32(const __u32 *p) {
	__u32 v = 0;
	bpf_probe_read_kernel(&v, sizeof(v), p);
	return v;
}

/*
 * A record being built. The write position and the flags live in the record's own header slots
 * in the scratch map (len at 20, flags at 30) rather than in registers: values loaded from map
 * memory are unknown to the verifier, so paths that differ only in how long a string was still
 * look alike and the verifier can prune them (otherwise every variable-length parameter doubles
 * the states it explores).
 */
struct rec {
	__u8 *buf;
	__u32 idx;   /* next parameter */
};

static __always_inline __u32 rpos(struct rec *r) {
	return *(volatile __u32 *)&r->buf[20];
}

static __always_inline void wpos(struct rec *r, __u32 pos) {
	*(volatile __u32 *)&r->buf[20] = pos;
}

static __always_inline void rtrunc(struct rec *r) {
	*(volatile __u16 *)&r->buf[30] |= RECORD_TRUNCATED;
}

static __always_inline void count_truncated(void) {
	__u32 zero = 0;
	struct saker_counters *c = bpf_map_lookup_elem(&counters, &zero);
	if (c) c->truncated++;
}

static __always_inline int rec_begin(struct rec *r, __u32 slot, __u16 type, __u16 nparams,
                                     struct task_struct *task) {
	__u8 *buf = bpf_map_lookup_elem(&scratch, &slot);
	if (!buf) return -1;
	r->buf = buf;
	r->idx = 0;
	*(__u16 *)&buf[30] = 0;
	*(__u32 *)&buf[20] = HEADER_SIZE + 2 * nparams;
	*(__u64 *)&buf[0] = bpf_ktime_get_boot_ns();
	*(__u32 *)&buf[8] = BPF_CORE_READ(task, pid);
	*(__u32 *)&buf[12] = BPF_CORE_READ(task, tgid);
	*(__u32 *)&buf[16] = BPF_CORE_READ(task, real_parent, tgid);
	*(__u16 *)&buf[24] = type;
	*(__u16 *)&buf[26] = nparams;
	*(__u16 *)&buf[28] = bpf_get_smp_processor_id();
	BPF_CORE_READ_STR_INTO((char(*)[16]) & buf[32], task, comm);
	return 0;
}

static __always_inline void set_len(struct rec *r, __u32 len) {
	__u32 i = r->idx;
	if (i >= MAX_PARAMS) return;
	BOUND(i, 0x3f);
	*(__u16 *)&r->buf[HEADER_SIZE + 2 * i] = len;
	r->idx = i + 1;
	wpos(r, rpos(r) + len);
}

static __always_inline void p_empty(struct rec *r) {
	set_len(r, 0);
}

#define DEFINE_PUSH(name, type)                                                               \
	static __always_inline void name(struct rec *r, type v) {                                \
		__u32 p = rpos(r);                                                                    \
		if (p >= DATA_LIMIT) {                                                               \
			rtrunc(r);                                                    \
			p_empty(r);                                                                      \
			return;                                                                          \
		}                                                                                    \
		*(type *)&r->buf[p & DATA_MASK] = v;                                                 \
		set_len(r, sizeof(type));                                                            \
	}
DEFINE_PUSH(p_u8, __u8)
DEFINE_PUSH(p_u16, __u16)
DEFINE_PUSH(p_u32, __u32)
DEFINE_PUSH(p_u64, __u64)
DEFINE_PUSH(p_s64, __s64)

/* A NUL-terminated string from user (user=1) or kernel memory, at most `max` bytes. */
static __always_inline void p_str(struct rec *r, const void *src, __u32 max, int user) {
	__u32 p = rpos(r);
	if (!src || p >= DATA_LIMIT) {
		if (p >= DATA_LIMIT) rtrunc(r);
		p_empty(r);
		return;
	}
	long n = user ? bpf_probe_read_user_str(&r->buf[p & DATA_MASK], max & (MAX_PATH * 2 - 1), src)
	              : bpf_probe_read_kernel_str(&r->buf[p & DATA_MASK], max & (MAX_PATH * 2 - 1), src);
	if (n <= 0) {
		p_empty(r);
		return;
	}
	if (n == max) rtrunc(r);
	set_len(r, n);
}

/* `len` raw bytes from user memory (bounded by `max`, a power of two). */
static __always_inline void p_ubytes(struct rec *r, const void *src, __u32 len, __u32 max) {
	__u32 p = rpos(r);
	if (p >= DATA_LIMIT || !src) {
		if (p >= DATA_LIMIT) rtrunc(r);
		p_empty(r);
		return;
	}
	if (len > max) {
		len = max;
		rtrunc(r);
	}
	if (len == 0) {
		p_empty(r);
		return;
	}
	BOUND(len, 0x1fff);
	if (bpf_probe_read_user(&r->buf[p & DATA_MASK], len, src) != 0) {
		p_empty(r);
		return;
	}
	set_len(r, len);
}

static __always_inline int rec_submit(struct rec *r) {
	__u32 zero = 0;
	struct saker_counters *c = bpf_map_lookup_elem(&counters, &zero);
	__u32 len = rpos(r);
	if (c) {
		if (*(__u16 *)&r->buf[30] & RECORD_TRUNCATED) c->truncated++;
		if (settings.simulate_drops && (c->events % settings.simulate_drops) == 0) {
			c->events++;
			c->simulated_drops++;
			return 0;
		}
	}
	if (bpf_ringbuf_output(&ring, r->buf, len & (SCRATCH_SIZE - 1), BPF_RB_NO_WAKEUP) != 0) {
		if (c) c->drops++;
		return 0;
	}
	if (c) c->events++;
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Kernel state readers                                                                        */

static __always_inline struct file *fd_file(struct task_struct *task, __s64 fd) {
	if (fd < 0) return NULL;
	struct file **fds = BPF_CORE_READ(task, files, fdt, fd);
	unsigned int max = BPF_CORE_READ(task, files, fdt, max_fds);
	if (!fds || fd >= max) return NULL;
	struct file *f = NULL;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

/* dev and inode of an fd's file (scap encodes dev as major<<20 | minor, like the kernel's
 * internal dev_t). */
static __always_inline void file_dev_ino(struct file *f, __u32 *dev, __u64 *ino) {
	*dev = 0;
	*ino = 0;
	if (!f) return;
	struct inode *i = BPF_CORE_READ(f, f_inode);
	*dev = BPF_CORE_READ(i, i_sb, s_dev);
	*ino = BPF_CORE_READ(i, i_ino);
}

/*
 * Writes the absolute path of (dentry, vfsmount) backwards into the temporary area and returns
 * its start offset; the path ends with a NUL at TMP_BASE + TMP_SIZE - 1. Returns 0 when nothing
 * could be read. Crosses mount points up to the root of the mount tree. One path component per
 * bpf_loop step, so the verifier checks the step once.
 */
struct path_walk {
	__u8 *buf;
	struct dentry *d;
	struct vfsmount *vfsmnt;
	struct mount *mnt;
	__u32 pos;
	__u32 end;
	__u16 truncated;
	__u16 only_name;
};

static long path_step(__u32 index, void *ctx) {
	struct path_walk *w = ctx;
	struct dentry *d = w->d;
	struct vfsmount *vfsmnt = w->vfsmnt;
	struct mount *mnt = w->mnt;
	struct dentry *root = BPF_CORE_READ(vfsmnt, mnt_root);
	struct dentry *parent = BPF_CORE_READ(d, d_parent);
	if (d == root) {
		struct mount *up = BPF_CORE_READ(mnt, mnt_parent);
		if (up == mnt) return 1; /* top of the mount tree */
		w->d = BPF_CORE_READ(mnt, mnt_mountpoint);
		w->mnt = up;
		w->vfsmnt = &up->mnt;
		return 0;
	}
	__u32 cur = opaque_u32(&w->pos);
	if (d == parent && cur != w->end) return 1; /* disconnected above us: stop */
	__u32 len = BPF_CORE_READ(d, d_name.len);
	const unsigned char *name = BPF_CORE_READ(d, d_name.name);
	if (len > 255 || cur < TMP_BASE + len + 1 || w->end - cur + len + 1 > MAX_PATH) {
		w->truncated = 1;
		return 1;
	}
	if (d == parent) {
		/* A dentry outside any mount tree (memfd, pipe, anon inode): "/NAME", plus
		 * " (deleted)" when it has no link left, as /proc/PID/exe shows a memfd. */
		__u32 nlink = BPF_CORE_READ(d, d_inode, __i_nlink);
		if (nlink == 0) {
			cur -= 10;
			__builtin_memcpy(&w->buf[TMP_BASE + ((cur - TMP_BASE) & TMP_MASK)], " (deleted)", 10);
		}
		__u32 at = cur - len;
		BOUND(len, 0xff);
		bpf_probe_read_kernel(&w->buf[TMP_BASE + ((at - TMP_BASE) & TMP_MASK)], len, name);
		at -= 1;
		w->buf[TMP_BASE + ((at - TMP_BASE) & TMP_MASK)] = '/';
		w->pos = at;
		w->only_name = 1;
		return 1;
	}
	__u32 pos = cur - len;
	BOUND(len, 0xff);
	bpf_probe_read_kernel(&w->buf[TMP_BASE + ((pos - TMP_BASE) & TMP_MASK)], len, name);
	pos -= 1;
	w->buf[TMP_BASE + ((pos - TMP_BASE) & TMP_MASK)] = '/';
	w->pos = pos;
	w->d = parent;
	return 0;
}

/*
 * Writes the path of (dentry, vfsmount) at data offset `pos` of scratch slot `slot`. Returns the
 * length written (NUL included), with bit 31 set when the path was cut. A global function: the
 * verifier checks it once, not at every call site.
 */
__attribute__((noinline)) int path_at(__u32 slot, __u32 pos, __u64 dentry, __u64 vfsmnt) {
	__u8 *buf = bpf_map_lookup_elem(&scratch, &slot);
	if (!buf || pos >= DATA_LIMIT || !dentry || !vfsmnt) return 0;
	__u32 end = TMP_BASE + TMP_SIZE - 1;
	buf[end & (SCRATCH_SIZE - 1)] = 0;
	struct path_walk w = {
		.buf = buf,
		.d = (struct dentry *)dentry,
		.vfsmnt = (struct vfsmount *)vfsmnt,
		.mnt = container_of((struct vfsmount *)vfsmnt, struct mount, mnt),
		.pos = end,
		.end = end,
	};
	bpf_loop(MAX_PATH_DEPTH, path_step, &w, 0);
	__u32 start = w.pos;
	if (start == end) {
		start -= 1;
		buf[TMP_BASE + ((start - TMP_BASE) & TMP_MASK)] = '/';
	}
	__u32 len = end + 1 - start;
	if (len > MAX_PATH) return 0;
	BOUND(len, 0x1fff);
	BOUND(pos, 0x3fff);
	bpf_probe_read_kernel(&buf[pos], len, &buf[TMP_BASE + ((start - TMP_BASE) & TMP_MASK)]);
	return len | (w.truncated ? 0x80000000 : 0);
}

/* Records the result of path_at or cgroups_at as the next parameter. */
static __always_inline void p_path_result(struct rec *r, int res) {
	if (res & 0x80000000) rtrunc(r);
	set_len(r, res & 0x1fff);
}

static __always_inline void p_file_path(struct rec *r, __u32 slot, struct file *f) {
	if (!f || rpos(r) >= DATA_LIMIT) {
		p_empty(r);
		return;
	}
	struct path fp = BPF_CORE_READ(f, f_path);
	p_path_result(r, path_at(slot, rpos(r), (__u64)fp.dentry, (__u64)fp.mnt));
}

static __always_inline void p_cwd(struct rec *r, __u32 slot, struct task_struct *task) {
	if (rpos(r) >= DATA_LIMIT) {
		p_empty(r);
		return;
	}
	struct path pwd = BPF_CORE_READ(task, fs, pwd);
	p_path_result(r, path_at(slot, rpos(r), (__u64)pwd.dentry, (__u64)pwd.mnt));
}

/* Old layouts, for CO-RE on kernels before the renames (relocated by name, "___" suffix). */
struct kernfs_node___old {
	struct kernfs_node *parent;
} __attribute__((preserve_access_index));

struct inode___old {
	struct timespec64 i_mtime;
	struct timespec64 __i_ctime;
} __attribute__((preserve_access_index));

static __always_inline struct kernfs_node *kn_parent(struct kernfs_node *kn) {
	if (bpf_core_field_exists(kn->__parent)) return BPF_CORE_READ(kn, __parent);
	struct kernfs_node___old *old = (void *)kn;
	return BPF_CORE_READ(old, parent);
}

static __always_inline void inode_times(struct inode *i, __u64 *ctime, __u64 *mtime) {
	if (bpf_core_field_exists(i->i_ctime_sec)) {
		*ctime = BPF_CORE_READ(i, i_ctime_sec) * 1000000000ULL + BPF_CORE_READ(i, i_ctime_nsec);
		*mtime = BPF_CORE_READ(i, i_mtime_sec) * 1000000000ULL + BPF_CORE_READ(i, i_mtime_nsec);
	} else {
		struct inode___old *o = (void *)i;
		*ctime = BPF_CORE_READ(o, __i_ctime.tv_sec) * 1000000000ULL + BPF_CORE_READ(o, __i_ctime.tv_nsec);
		*mtime = BPF_CORE_READ(o, i_mtime.tv_sec) * 1000000000ULL + BPF_CORE_READ(o, i_mtime.tv_nsec);
	}
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

/* The cgroups parameter (entries of cgroup_entry) at data offset `pos`; a global function.
 * Returns its length, bit 31 set when cut. */
__attribute__((noinline)) int cgroups_at(__u32 slot, __u32 pos, __u64 task_addr) {
	__u8 *buf = bpf_map_lookup_elem(&scratch, &slot);
	if (!buf) return 0;
	struct task_struct *t = (struct task_struct *)task_addr;
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
		used += cgroup_entry(buf, pos + (used & 0x7ff), t, ids[i], &cut);
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

/* ------------------------------------------------------------------------------------------ */
/* Sockets                                                                                     */

static __always_inline struct sock *file_sock(struct file *f) {
	if (!f) return NULL;
	struct socket *s = BPF_CORE_READ(f, private_data);
	if (!s) return NULL;
	return BPF_CORE_READ(s, sk);
}

/* scap sockaddr from a user sockaddr pointer. */
static __always_inline void p_user_sockaddr(struct rec *r, const void *uaddr, __u32 alen) {
	__u32 p = rpos(r);
	if (!uaddr || alen < 2 || p >= DATA_LIMIT) {
		p_empty(r);
		return;
	}
	__u16 family = 0;
	bpf_probe_read_user(&family, 2, uaddr);
	__u8 *b = &r->buf[p & DATA_MASK];
	b[0] = family_to_scap(family);
	if (family == 2 && alen >= 8) { /* AF_INET */
		struct sockaddr_in in = {};
		bpf_probe_read_user(&in, sizeof(in), uaddr);
		*(__u32 *)&b[1] = in.sin_addr.s_addr;
		*(__u16 *)&b[5] = bpf_ntohs(in.sin_port);
		set_len(r, 7);
	} else if (family == 10 && alen >= 24) { /* AF_INET6 */
		struct sockaddr_in6 in6 = {};
		bpf_probe_read_user(&in6, sizeof(in6), uaddr);
		__builtin_memcpy(&b[1], &in6.sin6_addr, 16);
		*(__u16 *)&b[17] = bpf_ntohs(in6.sin6_port);
		set_len(r, 19);
	} else if (family == 1) { /* AF_UNIX: path; abstract names start with a NUL we skip */
		char first = 0;
		const char *path = (const char *)uaddr + 2;
		bpf_probe_read_user(&first, 1, path);
		if (first == 0) path++;
		long n = bpf_probe_read_user_str(&b[1], 108, path);
		set_len(r, n > 0 ? 1 + n : 1);
	} else {
		set_len(r, 1);
	}
}

/*
 * scap socktuple of a connected or accepted socket: family, then source then destination.
 * Outbound (connect, send): local → remote. Inbound (accept): remote → local.
 * `uaddr` (optional) overrides the remote address (sendto on an unconnected socket).
 */
static __always_inline void p_socktuple(struct rec *r, struct sock *sk, int inbound,
                                        const void *uaddr, __u32 alen) {
	__u32 p = rpos(r);
	if (!sk || p >= DATA_LIMIT) {
		p_empty(r);
		return;
	}
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	__u8 *b = &r->buf[p & DATA_MASK];
	if (family == 2) {
		__u32 lip = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__u16 lport = BPF_CORE_READ(sk, __sk_common.skc_num);
		__u32 rip = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		__u16 rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
		if (uaddr && alen >= 8) {
			struct sockaddr_in in = {};
			bpf_probe_read_user(&in, sizeof(in), uaddr);
			if (in.sin_family == 2) {
				rip = in.sin_addr.s_addr;
				rport = bpf_ntohs(in.sin_port);
			}
		}
		b[0] = S_AF_INET;
		if (inbound) {
			*(__u32 *)&b[1] = rip;
			*(__u16 *)&b[5] = rport;
			*(__u32 *)&b[7] = lip;
			*(__u16 *)&b[11] = lport;
		} else {
			*(__u32 *)&b[1] = lip;
			*(__u16 *)&b[5] = lport;
			*(__u32 *)&b[7] = rip;
			*(__u16 *)&b[11] = rport;
		}
		set_len(r, 13);
	} else if (family == 10) {
		struct in6_addr lip = BPF_CORE_READ(sk, __sk_common.skc_v6_rcv_saddr);
		struct in6_addr rip = BPF_CORE_READ(sk, __sk_common.skc_v6_daddr);
		__u16 lport = BPF_CORE_READ(sk, __sk_common.skc_num);
		__u16 rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
		if (uaddr && alen >= 24) {
			struct sockaddr_in6 in6 = {};
			bpf_probe_read_user(&in6, sizeof(in6), uaddr);
			if (in6.sin6_family == 10) {
				rip = in6.sin6_addr;
				rport = bpf_ntohs(in6.sin6_port);
			}
		}
		b[0] = S_AF_INET6;
		if (inbound) {
			__builtin_memcpy(&b[1], &rip, 16);
			*(__u16 *)&b[17] = rport;
			__builtin_memcpy(&b[19], &lip, 16);
			*(__u16 *)&b[35] = lport;
		} else {
			__builtin_memcpy(&b[1], &lip, 16);
			*(__u16 *)&b[17] = lport;
			__builtin_memcpy(&b[19], &rip, 16);
			*(__u16 *)&b[35] = rport;
		}
		set_len(r, 37);
	} else if (family == 1) {
		struct unix_sock *us = (struct unix_sock *)sk;
		struct sock *peer = BPF_CORE_READ(us, peer);
		b[0] = S_AF_UNIX;
		*(__u64 *)&b[1] = (__u64)sk;
		*(__u64 *)&b[9] = (__u64)peer;
		/* The path: the peer's bound name (connect) or our own (accept). */
		struct unix_address *ua = inbound ? BPF_CORE_READ(us, addr)
		                                  : BPF_CORE_READ((struct unix_sock *)peer, addr);
		long n = 0;
		if (ua) {
			int len = BPF_CORE_READ(ua, len);
			char *path = (char *)ua + bpf_core_field_offset(struct unix_address, name) + 2;
			char first = 0;
			bpf_probe_read_kernel(&first, 1, path);
			if (first == 0 && len > 2) path++;
			n = bpf_probe_read_kernel_str(&b[17], 108, path);
		}
		if (n <= 0) {
			b[17] = 0;
			n = 1;
		}
		set_len(r, 17 + n);
	} else {
		b[0] = family_to_scap(family);
		set_len(r, 1);
	}
}

/* ------------------------------------------------------------------------------------------ */
/* Syscall handlers (tail-called from sys_exit with the same context)                          */

#define ARG(regs, n) arg_of(regs, n)
static __always_inline unsigned long arg_of(struct pt_regs *regs, int n) {
	switch (n) {
	case 0: return BPF_CORE_READ(regs, di);
	case 1: return BPF_CORE_READ(regs, si);
	case 2: return BPF_CORE_READ(regs, dx);
	case 3: return BPF_CORE_READ(regs, r10);
	case 4: return BPF_CORE_READ(regs, r8);
	default: return BPF_CORE_READ(regs, r9);
	}
}

#define HANDLER(name)                                                                      \
	static __always_inline int do_##name(struct rec *r, struct pt_regs *regs, long ret,      \
	                                     struct task_struct *task);                          \
	SEC("tp_btf/sys_exit")                                                                 \
	int sx_##name(__u64 *ctx) {                                                            \
		struct rec r;                                                                      \
		struct pt_regs *regs = (struct pt_regs *)ctx[0];                                   \
		long ret = (long)ctx[1];                                                           \
		struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();       \
		return do_##name(&r, regs, ret, task);                                             \
	}                                                                                      \
	static __always_inline int do_##name(struct rec *r, struct pt_regs *regs, long ret,      \
	                                     struct task_struct *task)

#define BEGIN(type, n)                                                                     \
	if (rec_begin(r, 0, type, n, task)) return 0

/* open family: fd, [dirfd,] name, flags, mode, [resolve,] dev, ino */
static __always_inline void open_tail(struct rec *r, struct task_struct *task, long fd) {
	__u32 dev;
	__u64 ino;
	file_dev_ino(fd >= 0 ? fd_file(task, fd) : NULL, &dev, &ino);
	p_u32(r, dev);
	p_u64(r, ino);
}

HANDLER(open) {
	BEGIN(EV_OPEN, 6);
	__u32 flags = ARG(regs, 1);
	p_s64(r, ret);
	p_str(r, (void *)ARG(regs, 0), MAX_PATH, 1);
	p_u32(r, open_flags_to_scap(flags));
	p_u32(r, open_mode_to_scap(flags, ARG(regs, 2)));
	open_tail(r, task, ret);
	return rec_submit(r);
}

HANDLER(openat) {
	BEGIN(EV_OPENAT, 7);
	__u32 flags = ARG(regs, 2);
	p_s64(r, ret);
	p_s64(r, (__s32)ARG(regs, 0));
	p_str(r, (void *)ARG(regs, 1), MAX_PATH, 1);
	p_u32(r, open_flags_to_scap(flags));
	p_u32(r, open_mode_to_scap(flags, ARG(regs, 3)));
	open_tail(r, task, ret);
	return rec_submit(r);
}

HANDLER(openat2) {
	BEGIN(EV_OPENAT2, 8);
	struct open_how how = {};
	bpf_probe_read_user(&how, sizeof(how), (void *)ARG(regs, 2));
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
	return rec_submit(r);
}

HANDLER(creat) {
	BEGIN(EV_CREAT, 6);
	p_s64(r, ret);
	p_str(r, (void *)ARG(regs, 0), MAX_PATH, 1);
	p_u32(r, mode_to_scap(ARG(regs, 1)));
	open_tail(r, task, ret);
	p_u16(r, 0);
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
	BEGIN(EV_DUP, 2);
	p_s64(r, ret);
	p_s64(r, (__s32)ARG(regs, 0));
	return rec_submit(r);
}

HANDLER(dup2) {
	BEGIN(EV_DUP2, 3);
	p_s64(r, ret);
	p_s64(r, (__s32)ARG(regs, 0));
	p_s64(r, (__s32)ARG(regs, 1));
	return rec_submit(r);
}

HANDLER(dup3) {
	BEGIN(EV_DUP3, 4);
	p_s64(r, ret);
	p_s64(r, (__s32)ARG(regs, 0));
	p_s64(r, (__s32)ARG(regs, 1));
	p_u32(r, (ARG(regs, 2) & L_O_CLOEXEC) ? (1 << 12) : 0);
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

HANDLER(socket) {
	BEGIN(EV_SOCKET, 5);
	__u32 type = ARG(regs, 1);
	p_s64(r, ret);
	p_u32(r, family_to_scap(ARG(regs, 0)));
	p_u32(r, type & 0xf); /* SOCK_TYPE_MASK */
	p_u32(r, ARG(regs, 2));
	p_u32(r, socket_flags_to_scap(type));
	return rec_submit(r);
}

HANDLER(socketpair) {
	BEGIN(EV_SOCKETPAIR, 8);
	int fds[2] = {-1, -1};
	if (ret == 0) bpf_probe_read_user(fds, sizeof(fds), (void *)ARG(regs, 3));
	p_s64(r, ret);
	p_s64(r, fds[0]);
	p_s64(r, fds[1]);
	struct sock *sk = ret == 0 ? file_sock(fd_file(task, fds[0])) : NULL;
	p_u64(r, (__u64)sk);
	p_u64(r, sk ? (__u64)BPF_CORE_READ((struct unix_sock *)sk, peer) : 0);
	p_u32(r, family_to_scap(ARG(regs, 0)));
	p_u32(r, ARG(regs, 1) & 0xf);
	p_u32(r, ARG(regs, 2));
	return rec_submit(r);
}

HANDLER(connect) {
	BEGIN(EV_CONNECT, 4);
	__s32 fd = ARG(regs, 0);
	p_s64(r, ret);
	/* A tuple exists once the connection is set up (or in progress: -EINPROGRESS). */
	if (ret == 0 || ret == -115)
		p_socktuple(r, file_sock(fd_file(task, fd)), 0, NULL, 0);
	else
		p_empty(r);
	p_s64(r, fd);
	p_user_sockaddr(r, (void *)ARG(regs, 1), ARG(regs, 2));
	return rec_submit(r);
}

static __always_inline void accept_common(struct rec *r, struct task_struct *task, long ret,
                                          __s32 lfd) {
	p_s64(r, ret);
	p_socktuple(r, ret >= 0 ? file_sock(fd_file(task, ret)) : NULL, 1, NULL, 0);
	/* Backlog occupancy of the listening socket. */
	struct sock *ls = file_sock(fd_file(task, lfd));
	__u32 qlen = ls ? BPF_CORE_READ(ls, sk_ack_backlog) : 0;
	__u32 qmax = ls ? BPF_CORE_READ(ls, sk_max_ack_backlog) : 0;
	p_u8(r, qmax ? (qlen * 100) / qmax : 0);
	p_u32(r, qlen);
	p_u32(r, qmax);
}

HANDLER(accept) {
	BEGIN(EV_ACCEPT, 5);
	accept_common(r, task, ret, ARG(regs, 0));
	return rec_submit(r);
}

HANDLER(accept4) {
	BEGIN(EV_ACCEPT4, 6);
	accept_common(r, task, ret, ARG(regs, 0));
	p_u32(r, socket_flags_to_scap(ARG(regs, 3)));
	return rec_submit(r);
}

HANDLER(bind) {
	BEGIN(EV_BIND, 3);
	p_s64(r, ret);
	p_user_sockaddr(r, (void *)ARG(regs, 1), ARG(regs, 2));
	p_s64(r, (__s32)ARG(regs, 0));
	return rec_submit(r);
}

HANDLER(listen) {
	BEGIN(EV_LISTEN, 3);
	p_s64(r, ret);
	p_s64(r, (__s32)ARG(regs, 0));
	p_u32(r, ARG(regs, 1));
	return rec_submit(r);
}

static __always_inline void p_snap(struct rec *r, const void *ubuf, long ret) {
	__u32 snap = settings.snaplen;
	if (snap == 0 || ret <= 0 || !ubuf) {
		p_empty(r);
		return;
	}
	__u32 n = ret < snap ? ret : snap;
	p_ubytes(r, ubuf, n, 1024);
}

HANDLER(sendto) {
	BEGIN(EV_SENDTO, 5);
	__s32 fd = ARG(regs, 0);
	p_s64(r, ret);
	p_snap(r, (void *)ARG(regs, 1), ret);
	p_s64(r, fd);
	p_u32(r, ARG(regs, 2));
	p_socktuple(r, file_sock(fd_file(task, fd)), 0, (void *)ARG(regs, 4), ARG(regs, 5));
	return rec_submit(r);
}

HANDLER(sendmsg) {
	BEGIN(EV_SENDMSG, 5);
	__s32 fd = ARG(regs, 0);
	struct user_msghdr mh = {};
	bpf_probe_read_user(&mh, sizeof(mh), (void *)ARG(regs, 1));
	struct iovec iov = {};
	if (mh.msg_iovlen > 0) bpf_probe_read_user(&iov, sizeof(iov), mh.msg_iov);
	p_s64(r, ret);
	p_snap(r, iov.iov_base, ret);
	p_s64(r, fd);
	p_u32(r, ret > 0 ? ret : 0);
	p_socktuple(r, file_sock(fd_file(task, fd)), 0, mh.msg_name, mh.msg_namelen);
	return rec_submit(r);
}

HANDLER(recvfrom) {
	BEGIN(EV_RECVFROM, 5);
	__s32 fd = ARG(regs, 0);
	p_s64(r, ret);
	p_snap(r, (void *)ARG(regs, 1), ret);
	/* The sender: the address the kernel wrote for us, else the connected peer. Inbound. */
	void *src = (void *)ARG(regs, 4);
	int alen = 0;
	if (src && ret >= 0) bpf_probe_read_user(&alen, sizeof(alen), (void *)ARG(regs, 5));
	p_socktuple(r, file_sock(fd_file(task, fd)), 1, ret >= 0 ? src : NULL, alen);
	p_s64(r, fd);
	p_u32(r, ARG(regs, 2));
	return rec_submit(r);
}

/* Path syscalls */
HANDLER(unlink) {
	BEGIN(EV_UNLINK, 2);
	p_s64(r, ret);
	p_str(r, (void *)ARG(regs, 0), MAX_PATH, 1);
	return rec_submit(r);
}

HANDLER(unlinkat) {
	BEGIN(EV_UNLINKAT, 4);
	p_s64(r, ret);
	p_s64(r, (__s32)ARG(regs, 0));
	p_str(r, (void *)ARG(regs, 1), MAX_PATH, 1);
	p_u32(r, unlinkat_flags_to_scap(ARG(regs, 2)));
	return rec_submit(r);
}

HANDLER(rename) {
	BEGIN(EV_RENAME, 3);
	p_s64(r, ret);
	p_str(r, (void *)ARG(regs, 0), MAX_PATH, 1);
	p_str(r, (void *)ARG(regs, 1), MAX_PATH, 1);
	return rec_submit(r);
}

static __always_inline void renameat_common(struct rec *r, struct pt_regs *regs, long ret) {
	p_s64(r, ret);
	p_s64(r, (__s32)ARG(regs, 0));
	p_str(r, (void *)ARG(regs, 1), MAX_PATH, 1);
	p_s64(r, (__s32)ARG(regs, 2));
	p_str(r, (void *)ARG(regs, 3), MAX_PATH, 1);
}

HANDLER(renameat) {
	BEGIN(EV_RENAMEAT, 5);
	renameat_common(r, regs, ret);
	return rec_submit(r);
}

HANDLER(renameat2) {
	BEGIN(EV_RENAMEAT2, 6);
	renameat_common(r, regs, ret);
	p_u32(r, ARG(regs, 4) & 0x7); /* RENAME_* keep their values */
	return rec_submit(r);
}

HANDLER(mkdir) {
	BEGIN(EV_MKDIR, 3);
	p_s64(r, ret);
	p_str(r, (void *)ARG(regs, 0), MAX_PATH, 1);
	p_u32(r, ARG(regs, 1));
	return rec_submit(r);
}

HANDLER(mkdirat) {
	BEGIN(EV_MKDIRAT, 4);
	p_s64(r, ret);
	p_s64(r, (__s32)ARG(regs, 0));
	p_str(r, (void *)ARG(regs, 1), MAX_PATH, 1);
	p_u32(r, ARG(regs, 2));
	return rec_submit(r);
}

HANDLER(rmdir) {
	BEGIN(EV_RMDIR, 2);
	p_s64(r, ret);
	p_str(r, (void *)ARG(regs, 0), MAX_PATH, 1);
	return rec_submit(r);
}

HANDLER(symlink) {
	BEGIN(EV_SYMLINK, 3);
	p_s64(r, ret);
	p_str(r, (void *)ARG(regs, 0), MAX_PATH, 1);
	p_str(r, (void *)ARG(regs, 1), MAX_PATH, 1);
	return rec_submit(r);
}

HANDLER(symlinkat) {
	BEGIN(EV_SYMLINKAT, 4);
	p_s64(r, ret);
	p_str(r, (void *)ARG(regs, 0), MAX_PATH, 1);
	p_s64(r, (__s32)ARG(regs, 1));
	p_str(r, (void *)ARG(regs, 2), MAX_PATH, 1);
	return rec_submit(r);
}

HANDLER(link) {
	BEGIN(EV_LINK, 3);
	p_s64(r, ret);
	p_str(r, (void *)ARG(regs, 0), MAX_PATH, 1);
	p_str(r, (void *)ARG(regs, 1), MAX_PATH, 1);
	return rec_submit(r);
}

HANDLER(linkat) {
	BEGIN(EV_LINKAT, 6);
	renameat_common(r, regs, ret);
	p_u32(r, linkat_flags_to_scap(ARG(regs, 4)));
	return rec_submit(r);
}

HANDLER(chmod) {
	BEGIN(EV_CHMOD, 3);
	p_s64(r, ret);
	p_str(r, (void *)ARG(regs, 0), MAX_PATH, 1);
	p_u32(r, mode_to_scap(ARG(regs, 1)));
	return rec_submit(r);
}

HANDLER(fchmod) {
	BEGIN(EV_FCHMOD, 3);
	p_s64(r, ret);
	p_s64(r, (__s32)ARG(regs, 0));
	p_u32(r, mode_to_scap(ARG(regs, 1)));
	return rec_submit(r);
}

HANDLER(fchmodat) {
	BEGIN(EV_FCHMODAT, 4);
	p_s64(r, ret);
	p_s64(r, (__s32)ARG(regs, 0));
	p_str(r, (void *)ARG(regs, 1), MAX_PATH, 1);
	p_u32(r, mode_to_scap(ARG(regs, 2)));
	return rec_submit(r);
}

static __always_inline void chown_common(struct rec *r, struct pt_regs *regs, long ret) {
	p_s64(r, ret);
	p_str(r, (void *)ARG(regs, 0), MAX_PATH, 1);
	p_u32(r, ARG(regs, 1));
	p_u32(r, ARG(regs, 2));
}

HANDLER(chown) {
	BEGIN(EV_CHOWN, 4);
	chown_common(r, regs, ret);
	return rec_submit(r);
}

HANDLER(lchown) {
	BEGIN(EV_LCHOWN, 4);
	chown_common(r, regs, ret);
	return rec_submit(r);
}

HANDLER(fchown) {
	BEGIN(EV_FCHOWN, 4);
	p_s64(r, ret);
	p_s64(r, (__s32)ARG(regs, 0));
	p_u32(r, ARG(regs, 1));
	p_u32(r, ARG(regs, 2));
	return rec_submit(r);
}

HANDLER(fchownat) {
	BEGIN(EV_FCHOWNAT, 6);
	p_s64(r, ret);
	p_s64(r, (__s32)ARG(regs, 0));
	p_str(r, (void *)ARG(regs, 1), MAX_PATH, 1);
	p_u32(r, ARG(regs, 2));
	p_u32(r, ARG(regs, 3));
	p_u32(r, fchownat_flags_to_scap(ARG(regs, 4)));
	return rec_submit(r);
}

/* Credentials */
HANDLER(setuid) {
	BEGIN(EV_SETUID, 2);
	p_s64(r, ret);
	p_u32(r, ARG(regs, 0));
	return rec_submit(r);
}

HANDLER(setgid) {
	BEGIN(EV_SETGID, 2);
	p_s64(r, ret);
	p_u32(r, ARG(regs, 0));
	return rec_submit(r);
}

HANDLER(setresuid) {
	BEGIN(EV_SETRESUID, 4);
	p_s64(r, ret);
	p_u32(r, ARG(regs, 0));
	p_u32(r, ARG(regs, 1));
	p_u32(r, ARG(regs, 2));
	return rec_submit(r);
}

HANDLER(setresgid) {
	BEGIN(EV_SETRESGID, 4);
	p_s64(r, ret);
	p_u32(r, ARG(regs, 0));
	p_u32(r, ARG(regs, 1));
	p_u32(r, ARG(regs, 2));
	return rec_submit(r);
}

HANDLER(setreuid) {
	BEGIN(EV_SETREUID, 3);
	p_s64(r, ret);
	p_u32(r, ARG(regs, 0));
	p_u32(r, ARG(regs, 1));
	return rec_submit(r);
}

HANDLER(setregid) {
	BEGIN(EV_SETREGID, 3);
	p_s64(r, ret);
	p_u32(r, ARG(regs, 0));
	p_u32(r, ARG(regs, 1));
	return rec_submit(r);
}

HANDLER(capset) {
	BEGIN(EV_CAPSET, 4);
	const struct cred *c = BPF_CORE_READ(task, cred);
	p_s64(r, ret);
	p_u64(r, cap_value(BPF_CORE_READ(c, cap_inheritable)));
	p_u64(r, cap_value(BPF_CORE_READ(c, cap_permitted)));
	p_u64(r, cap_value(BPF_CORE_READ(c, cap_effective)));
	return rec_submit(r);
}

/* Namespaces and mounts */
HANDLER(setns) {
	BEGIN(EV_SETNS, 3);
	p_s64(r, ret);
	p_s64(r, (__s32)ARG(regs, 0));
	p_u32(r, clone_flags_to_scap(ARG(regs, 1)));
	return rec_submit(r);
}

HANDLER(unshare) {
	BEGIN(EV_UNSHARE, 2);
	p_s64(r, ret);
	p_u32(r, clone_flags_to_scap(ARG(regs, 0)));
	return rec_submit(r);
}

HANDLER(mount) {
	BEGIN(EV_MOUNT, 5);
	p_s64(r, ret);
	p_str(r, (void *)ARG(regs, 0), MAX_PATH, 1);
	p_str(r, (void *)ARG(regs, 1), MAX_PATH, 1);
	p_str(r, (void *)ARG(regs, 2), MAX_STR, 1);
	p_u32(r, mount_flags_to_scap(ARG(regs, 3)));
	return rec_submit(r);
}

HANDLER(umount2) {
	BEGIN(EV_UMOUNT2, 3);
	p_s64(r, ret);
	p_str(r, (void *)ARG(regs, 0), MAX_PATH, 1);
	p_u32(r, umount2_flags_to_scap(ARG(regs, 1)));
	return rec_submit(r);
}

HANDLER(chroot) {
	BEGIN(EV_CHROOT, 2);
	p_s64(r, ret);
	p_str(r, (void *)ARG(regs, 0), MAX_PATH, 1);
	return rec_submit(r);
}

HANDLER(chdir) {
	BEGIN(EV_CHDIR, 2);
	p_s64(r, ret);
	p_str(r, (void *)ARG(regs, 0), MAX_PATH, 1);
	return rec_submit(r);
}

HANDLER(fchdir) {
	BEGIN(EV_FCHDIR, 2);
	p_s64(r, ret);
	p_s64(r, (__s32)ARG(regs, 0));
	return rec_submit(r);
}

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

HANDLER(mprotect) {
	BEGIN(EV_MPROTECT, 4);
	p_s64(r, ret);
	p_u64(r, ARG(regs, 0));
	p_u64(r, ARG(regs, 1));
	p_u32(r, prot_to_scap(ARG(regs, 2)));
	return rec_submit(r);
}

HANDLER(bpf) {
	BEGIN(EV_BPF, 2);
	/* res_or_fd is dynamic: index 0 = fd (program/map loads), 1 = errno/result. */
	int cmd = ARG(regs, 0);
	__u32 p = rpos(r);
	int is_fd = ret >= 0 && (cmd == 0 /* MAP_CREATE */ || cmd == 5 /* PROG_LOAD */);
	if (p < DATA_LIMIT) {
		r->buf[p & DATA_MASK] = is_fd ? 0 : 1;
		*(__s64 *)&r->buf[(p + 1) & DATA_MASK] = ret;
		set_len(r, 9);
	} else {
		p_empty(r);
	}
	p_u32(r, cmd);
	return rec_submit(r);
}

HANDLER(init_module) {
	BEGIN(EV_INIT_MODULE, 4);
	p_s64(r, ret);
	p_ubytes(r, (void *)ARG(regs, 0), ARG(regs, 1), 128); /* the image head only */
	p_u64(r, ARG(regs, 1));
	p_str(r, (void *)ARG(regs, 2), MAX_STR, 1);
	return rec_submit(r);
}

HANDLER(finit_module) {
	BEGIN(EV_FINIT_MODULE, 4);
	p_s64(r, ret);
	p_s64(r, (__s32)ARG(regs, 0));
	p_str(r, (void *)ARG(regs, 1), MAX_STR, 1);
	p_u32(r, finit_module_flags_to_scap(ARG(regs, 2)));
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

HANDLER(getcwd) {
	BEGIN(EV_GETCWD, 2);
	p_s64(r, ret);
	if (ret > 0)
		p_str(r, (void *)ARG(regs, 0), MAX_PATH, 1);
	else
		p_empty(r);
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

/* Syscalls without a dedicated event: the generic event (scap syscall code, native number). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 512);
	__type(key, __u32);
	__type(value, __u16);
} scap_codes SEC(".maps");

HANDLER(generic) {
	BEGIN(EV_GENERIC, 2);
	__u32 nr = BPF_CORE_READ(regs, orig_ax) & 511;
	__u16 *code = bpf_map_lookup_elem(&scap_codes, &nr);
	p_u16(r, code ? *code : 0);
	p_u16(r, nr);
	return rec_submit(r);
}

/* ------------------------------------------------------------------------------------------ */
/* Attached programs                                                                           */

static __always_inline int wanted(__u64 nr) {
	if (nr >= 512 || !settings.enabled) return 0;
	if (!settings.syscalls[nr & 511]) return 0;
	return (bpf_get_current_pid_tgid() >> 32) != settings.agent_tgid;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(sys_exit, struct pt_regs *regs, long ret) {
#ifdef SAKER_BENCH_EMPTY_EXIT
	return 0; /* benchmark variant: the cost of the tracepoint alone */
#endif
	/* tp_btf: regs is a trusted pointer, read directly (no probe-read helper call). */
	__u64 nr = regs->orig_ax;
	if (!wanted(nr)) return 0;
	bpf_tail_call(ctx, &handlers, nr & 511);
	return 0; /* no handler for this syscall */
}

SEC("raw_tracepoint/sys_enter")
int sys_enter(struct bpf_raw_tracepoint_args *ctx) {
	if (!wanted(ctx->args[1])) return 0;
	__u64 *ts = bpf_task_storage_get(&enter_ts, bpf_get_current_task_btf(), 0,
	                                 BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (ts) *ts = bpf_ktime_get_boot_ns();
	return 0;
}

/* The child's first event, from the parent's context right after it was created. */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(sched_fork, struct task_struct *parent, struct task_struct *child) {
	if (!settings.enabled) return 0;
	if ((bpf_get_current_pid_tgid() >> 32) == settings.agent_tgid) return 0;
	/* Which syscall created it, and its flags, from the parent's registers. */
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	__u64 nr = BPF_CORE_READ(regs, orig_ax);
	__u16 type;
	__u64 lflags;
	switch (nr) {
	case 56: type = EV_CLONE; lflags = BPF_CORE_READ(regs, di); break;
	case 435: {
		type = EV_CLONE3;
		lflags = 0;
		bpf_probe_read_user(&lflags, sizeof(lflags), (void *)BPF_CORE_READ(regs, di));
		break;
	}
	case 57: type = EV_FORK; lflags = 17; break;
	case 58: type = EV_VFORK; lflags = L_CLONE_VFORK | L_CLONE_VM; break;
	default: return 0; /* kernel threads and other creators */
	}
	if (!settings.syscalls[nr & 511]) return 0;
	struct rec rr;
	struct rec *r = &rr;
	if (rec_begin(r, 1, type, NP_CLONE, child)) return 0;
	p_s64(r, 0);
	p_process_common(r, 1, child);
	clone_tail(r, child, clone_flags_to_scap(lflags));
	return rec_submit(r);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(sched_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm) {
	if (!settings.enabled) return 0;
	if ((bpf_get_current_pid_tgid() >> 32) == settings.agent_tgid) return 0;
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(p);
	__u64 nr = BPF_CORE_READ(regs, orig_ax);
	int is_execve = nr != 322; /* execveat */
	if (!settings.syscalls[(is_execve ? 59 : 322) & 511]) return 0;
	struct rec rr;
	struct rec *r = &rr;
	if (rec_begin(r, 1, is_execve ? EV_EXECVE : EV_EXECVEAT,
	              (is_execve ? NP_EXECVE : NP_EXECVEAT) + EXECVE_EXTRA, p))
		return 0;
	p_s64(r, 0);
	p_process_common(r, 1, p);
	__u32 extra = is_execve ? 0 : execveat_flags_to_scap(BPF_CORE_READ(regs, r8));
	p_exec_tail(r, p, 1, is_execve, BPF_CORE_READ(bprm, filename), extra);
	return rec_submit(r);
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

SEC("tp_btf/sched_process_exit")
int BPF_PROG(sched_exit, struct task_struct *p) {
	if (!settings.enabled) return 0;
	if ((bpf_get_current_pid_tgid() >> 32) == settings.agent_tgid) return 0;
	struct rec rr;
	struct rec *r = &rr;
	if (rec_begin(r, 1, EV_PROCEXIT, 5, p)) return 0;
	int code = BPF_CORE_READ(p, exit_code);
	p_s64(r, code);
	p_s64(r, (code >> 8) & 0xff);
	p_u8(r, code & 0x7f);
	p_u8(r, (code & 0x80) != 0);
	p_s64(r, find_reaper(p));
	return rec_submit(r);
}
