// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * Files and paths: the file behind an fd, its device and inode, and absolute paths resolved from
 * (dentry, vfsmount) pairs across mount points, walked backwards in the scratch map's temporary
 * area one component per bpf_loop step. Also inode times, with CO-RE flavours for kernels before
 * the ctime/mtime renames.
 */
#pragma once

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
 * bpf_loop step, so the verifier checks the step once. The walk's state is in the buffer
 * (walk_state): values loaded from map memory are unknown to the verifier, so steps that differ
 * only in the position converge without hiding it (opaque_u32).
 */
struct path_walk {
	struct dentry *d;
	struct vfsmount *vfsmnt;
	struct mount *mnt;
	__u32 pos;
	__u32 end;
	__u16 truncated;
	__u16 only_name;
};
_Static_assert(sizeof(struct path_walk) <= WALK_SIZE, "path_walk outgrows its area");

/* A walk's state, in the buffer it works on (WALK_OFF): the callback's context is only the
 * buffer's address, so the state costs the stack nothing. */
static __always_inline void *walk_state(__u8 *buf) {
	return &buf[WALK_OFF];
}

static long path_step(__u32 index, void *ctx) {
	__u8 *buf = *(__u8 **)ctx;
	struct path_walk *w = walk_state(buf);
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
	__u32 cur = w->pos;
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
			__builtin_memcpy(&buf[TMP_BASE + ((cur - TMP_BASE) & TMP_MASK)], " (deleted)", 10);
		}
		__u32 at = cur - len;
		BOUND(len, 0xff);
		bpf_probe_read_kernel(&buf[TMP_BASE + ((at - TMP_BASE) & TMP_MASK)], len, name);
		at -= 1;
		buf[TMP_BASE + ((at - TMP_BASE) & TMP_MASK)] = '/';
		w->pos = at;
		w->only_name = 1;
		return 1;
	}
	__u32 pos = cur - len;
	BOUND(len, 0xff);
	bpf_probe_read_kernel(&buf[TMP_BASE + ((pos - TMP_BASE) & TMP_MASK)], len, name);
	pos -= 1;
	buf[TMP_BASE + ((pos - TMP_BASE) & TMP_MASK)] = '/';
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
	struct path_walk *w = walk_state(buf);
	w->d = (struct dentry *)dentry;
	w->vfsmnt = (struct vfsmount *)vfsmnt;
	w->mnt = container_of((struct vfsmount *)vfsmnt, struct mount, mnt);
	w->pos = end;
	w->end = end;
	w->truncated = 0;
	w->only_name = 0;
	bpf_loop(MAX_PATH_DEPTH, path_step, &buf, 0);
	__u32 start = w->pos;
	if (start == end) {
		start -= 1;
		buf[TMP_BASE + ((start - TMP_BASE) & TMP_MASK)] = '/';
	}
	__u32 len = end + 1 - start;
	if (len > MAX_PATH) return 0;
	BOUND(len, 0x1fff);
	BOUND(pos, 0x3fff);
	bpf_probe_read_kernel(&buf[pos], len, &buf[TMP_BASE + ((start - TMP_BASE) & TMP_MASK)]);
	return len | (w->truncated ? 0x80000000 : 0);
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

struct inode___old {
	struct timespec64 i_mtime;
	struct timespec64 __i_ctime;
} __attribute__((preserve_access_index));

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

/* Inode number of an fd's file (0: not open): the identity user space checks its fd table
 * entry against. */
static __always_inline __u64 fd_ino(struct task_struct *task, __s64 fd) {
	struct file *f = fd_file(task, fd);
	return f ? BPF_CORE_READ(f, f_inode, i_ino) : 0;
}

#define L_AT_FDCWD -100

/*
 * The directory a path argument is resolved against, as the next parameter: the working
 * directory (dirfd AT_FDCWD) or the directory fd's path; empty when the path is absolute or
 * empty, or the directory is unknown. User space joins it with the path (src/state/resolve.ts),
 * so that it needs neither the process's working directory nor the directory fd's history.
 */
static __always_inline void p_path_dir(struct rec *r, struct task_struct *task, __s64 dirfd,
                                       const char *upath) {
	char first = 0;
	if (!upath || bpf_probe_read_user(&first, 1, upath) != 0 || first == '/' || first == 0 ||
	    rpos(r) >= DATA_LIMIT) {
		p_empty(r);
		return;
	}
	struct path p = {};
	if (dirfd == L_AT_FDCWD) {
		p = BPF_CORE_READ(task, fs, pwd);
	} else {
		struct file *f = fd_file(task, dirfd);
		if (f) p = BPF_CORE_READ(f, f_path);
	}
	if (!p.dentry) {
		p_empty(r);
		return;
	}
	p_path_result(r, path_at(0, rpos(r), (__u64)p.dentry, (__u64)p.mnt));
}
