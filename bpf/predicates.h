// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * Kernel predicates: per syscall, a condition over facts the probe reads cheaply, derived from
 * the loaded rules (src/rules/kernel_filter.ts) and encoded by src/rules/kernel_program.ts into
 * the maps below. An event failing its syscall's condition cannot match any rule, so it costs
 * no record. The condition is clauses of literals (keep the event when every literal of one
 * clause holds); literals are kept once per program and referenced by the clauses, and each is
 * evaluated at most once per event, only when a clause still alive needs it.
 *
 * Facts: the result; for opens the fd number, read/write flags and the path (resolved against
 * the working directory or the directory fd as user space resolves it, from the kernel's own
 * directory path), its directory and file name, and the raw path; for connect and send calls the
 * socket's kind, transport and (connect) the remote address. Strings are matched through hashes
 * (FNV-1a 64 of the bytes): a member of a set always matches, a hash collision only keeps an
 * event, so string tests are positive only. A fact the probe cannot establish (a path longer than
 * PRED_SCAN, one that is not in normal form, a socket without an address) makes its literal hold.
 *
 * Two generations of every program, set and address entry: user space writes the next one while
 * the current one runs, then flips settings.pred_gen (rules reload without a gap).
 *
 * The path cache (map path_cache, its key in predicate_types.h): an open's path literals are
 * evaluated once per raw path, directory and epochs; a repeated open reads its raw path, hashes
 * it a word at a time and takes the values from the cache (pred_path_lookup), and only literals
 * the cache does not know resolve and hash the path (pred_path_lit). The cache holds what the
 * tests computed: it changes no decision.
 *
 * The memo (struct pred_memo, per CPU): the last open's decision with its raw path's bytes,
 * directory, program, result and read/write flags. When the program's last open on this CPU
 * needed its path, an open reads its raw path first and asks the memo (an absolute path in
 * sys_exit before the predicate is set up, pred_memo_first; a relative one once its directory is
 * known, pred_memo_check): one with the same bytes, directory, program, result and flags is
 * decided without hashing the path, the path cache lookup and the clauses (an open+close loop of
 * one file; a daemon polling the same file). Every fact an open's clauses read is in what the
 * memo compares.
 *
 * The maps' layout is in predicate_types.h; included by probe.bpf.c after the maps.
 */
#pragma once

#define PRED_PATH_OFF 4096   /* the resolved path, in scratch slot 2 */
#define PRED_RAW_OFF 12288   /* the raw path */

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

/* buf[at], with `at` masked where the verifier sees it (at < 16 KiB + what follows). */
static __always_inline __u8 byte_at(__u8 *buf, __u32 at) {
	BOUND(at, 0x3fff);
	return buf[at];
}

static __always_inline struct pred_facts *pred_facts(void) {
	__u32 two = 2;
	return bpf_map_lookup_elem(&scratch, &two);
}

/* Per-byte loops run through bpf_loop, eight bytes per step: the verifier checks a step once.
 * Their state is in slot 2 at WALK_OFF (walk_state), off the stack. */
struct hash_walk {
	__u64 h, hb;
	__u32 off, len, dir, bad;
	__u32 prev;
};
_Static_assert(sizeof(struct hash_walk) <= WALK_SIZE, "hash_walk outgrows its area");

static long hash_step(__u32 idx, void *ctx) {
	__u8 *buf = *(__u8 **)ctx;
	struct hash_walk *w = walk_state(buf);
	struct pred_facts *f = (void *)buf;
	__u32 len = w->len;
	for (int k = 0; k < 8; k++) {
		__u32 i = idx * 8 + k;
		if (i >= len) return 1;
		__u8 ch = byte_at(buf, w->off + i);
		if (ch == '/') {
			if (w->prev == '/') {
				w->bad = 1;
				return 1;
			}
			w->dir = i;
			w->hb = FNV_OFFSET;
		} else {
			if (w->prev == '/' && ch == '.') {
				__u8 n1 = i + 1 < len ? byte_at(buf, w->off + i + 1) : '/';
				__u8 n2 = i + 2 < len ? byte_at(buf, w->off + i + 2) : '/';
				if (n1 == '/' || (n1 == '.' && n2 == '/')) {
					w->bad = 1;
					return 1;
				}
			}
			w->hb = (w->hb ^ ch) * FNV_PRIME;
		}
		w->h = (w->h ^ ch) * FNV_PRIME;
		__u32 at = i + 1;
		BOUND(at, 0xff);
		f->hpre[at] = w->h;
		w->prev = ch;
	}
	return 0;
}

/*
 * Hashes the path at `off` in slot 2 (length `len`): prefix hashes, the file name's hash and the
 * last slash. Returns 1 when the path is absolute and in normal form (no empty, `.` or `..`
 * segment, no trailing slash), as user space's normalised fd.name is; 0 otherwise.
 */
__attribute__((noinline)) int pred_hash_path(__u32 off, __u32 len) {
	__u32 two = 2;
	__u8 *buf = bpf_map_lookup_elem(&scratch, &two);
	if (!buf || len == 0 || len >= PRED_SCAN || off > PRED_RAW_OFF) return 0;
	if (byte_at(buf, off) != '/') return 0;
	struct pred_facts *f = (void *)buf;
	f->hpre[0] = FNV_OFFSET;
	struct hash_walk *w = walk_state(buf);
	w->h = FNV_OFFSET;
	w->hb = FNV_OFFSET;
	w->off = off;
	w->len = len;
	w->dir = 0;
	w->bad = 0;
	w->prev = 0;
	bpf_loop((len + 7) / 8, hash_step, &buf, 0);
	if (w->bad || (w->prev == '/' && len > 1)) return 0;
	f->hbase = w->hb;
	f->len = len;
	f->dir = w->dir;
	return 1;
}

struct suffix_walk {
	__u64 h;
	__u32 start, n;
};
_Static_assert(sizeof(struct suffix_walk) <= WALK_SIZE, "suffix_walk outgrows its area");

static long suffix_step(__u32 idx, void *ctx) {
	__u8 *buf = *(__u8 **)ctx;
	struct suffix_walk *w = walk_state(buf);
	for (int k = 0; k < 8; k++) {
		__u32 i = idx * 8 + k;
		if (i >= w->n) return 1;
		w->h = (w->h ^ byte_at(buf, w->start + i)) * FNV_PRIME;
	}
	return 0;
}

/* Hash of the last `n` bytes of the path at `off` (length `len`). */
__attribute__((noinline)) __u64 pred_suffix_hash(__u32 off, __u32 len, __u32 n) {
	__u32 two = 2;
	__u8 *buf = bpf_map_lookup_elem(&scratch, &two);
	if (!buf || n > len || len >= PRED_SCAN || off > PRED_RAW_OFF) return 0;
	struct suffix_walk *w = walk_state(buf);
	w->h = FNV_OFFSET;
	w->start = off + len - n;
	w->n = n;
	bpf_loop((n + 7) / 8, suffix_step, &buf, 0);
	return w->h;
}

struct contains_walk {
	__u64 lo, hi, m0, m1;
	__u32 off, len, nlen, raw, found, bad;
};
_Static_assert(sizeof(struct contains_walk) <= WALK_SIZE, "contains_walk outgrows its area");

static long contains_step(__u32 idx, void *ctx) {
	__u8 *buf = *(__u8 **)ctx;
	struct contains_walk *w = walk_state(buf);
	__u32 len = w->len;
	for (int k = 0; k < 8; k++) {
		__u32 i = idx * 8 + k;
		if (i >= len) return 1;
		__u32 at = w->off + i;
		BOUND(at, 0x3fff);
		if (w->raw && buf[at] == '/' && i + 1 < len && byte_at(buf, at + 1) == '/') {
			w->bad = 1;
			return 1;
		}
		if (w->found || i + w->nlen > len) continue;
		if ((*(__u64 *)&buf[at] & w->m0) != w->lo) continue;
		__u32 at8 = at + 8;
		BOUND(at8, 0x3fff);
		if (w->m1 && (*(__u64 *)&buf[at8] & w->m1) != w->hi) continue;
		w->found = 1;
		if (!w->raw) return 1;
	}
	return 0;
}

/* 1 when the string at `off` (length `len`) contains needle `n` of program `pk`, 0 when not;
 * 2 when the raw path (raw = 1) has "//" (user space compares it with repeated slashes
 * squashed). */
__attribute__((noinline)) int pred_contains(__u32 off, __u32 len, __u32 pk, __u32 n, __u32 raw) {
	__u32 two = 2;
	__u8 *buf = bpf_map_lookup_elem(&scratch, &two);
	struct pred_prog *p = bpf_map_lookup_elem(&pred_progs, &pk);
	if (!buf || !p || len >= PRED_SCAN || off > PRED_RAW_OFF) return 2;
	struct pred_needle *nd = &p->needles[n & (PRED_NEEDLES - 1)];
	__u32 nlen = nd->len;
	if (nlen == 0 || nlen > 16) return 2;
	struct contains_walk *w = walk_state(buf);
	w->lo = nd->lo;
	w->hi = nd->hi;
	w->m0 = nlen >= 8 ? ~0ULL : ((1ULL << (nlen * 8)) - 1);
	w->m1 = nlen <= 8 ? 0 : nlen >= 16 ? ~0ULL : ((1ULL << ((nlen - 8) * 8)) - 1);
	w->off = off;
	w->len = len;
	w->nlen = nlen;
	w->raw = raw;
	w->found = 0;
	w->bad = 0;
	bpf_loop((len + 7) / 8, contains_step, &buf, 0);
	return w->bad ? 2 : w->found;
}

#define HASH_P1 0x9e3779b97f4a7c15ULL
#define HASH_P2 0xc2b2ae3d27d4eb4fULL

/* The raw path's 8 bytes at `at` (< len), those past its end as zero: the hash and the memo
 * read the path a word at a time. */
static __always_inline __u64 pred_raw_word(__u8 *buf, __u32 at, __u32 len) {
	__u64 w = *(__u64 *)&buf[PRED_RAW_OFF + at];
	__u32 left = len - at;
	if (left < 8) w &= (1ULL << (left * 8)) - 1;
	return w;
}

/*
 * Hashes the raw path (slot 2 at PRED_RAW_OFF, `len` bytes) a word at a time into the path
 * cache key: two lanes, both seeded by settings.pred_seed (random per load, so that a path
 * colliding with another cannot be prepared in advance). Returns 1 when done.
 */
__attribute__((noinline)) int pred_raw_hash(__u32 len) {
	__u32 two = 2;
	__u8 *buf = bpf_map_lookup_elem(&scratch, &two);
	if (!buf || len == 0 || len >= PRED_SCAN) return 0;
	struct pred_facts *f = (void *)buf;
	__u64 seed = settings.pred_seed;
	__u64 h1 = seed ^ len, h2 = (seed ^ HASH_P2) * HASH_P1;
	for (__u32 i = 0; i < PRED_SCAN / 8; i++) {
		__u32 at = i * 8;
		if (at >= len) break;
		__u64 w = pred_raw_word(buf, at, len);
		h1 = (h1 ^ w) * HASH_P1;
		h1 ^= h1 >> 32;
		h2 = (h2 + w) * HASH_P2;
		h2 = (h2 << 31) | (h2 >> 33);
	}
	f->ckey.h1 = h1;
	f->ckey.h2 = h2;
	return 1;
}

/* Keeps the compiler from moving memory accesses across it (the memo's sequence numbers). */
#define PRED_BARRIER() asm volatile("" ::: "memory")

/*
 * The memo's decision when it applies to the current open of program `pk`, whose raw path
 * (`len` bytes) is in slot 2 at PRED_RAW_OFF, with result `res` and scap read/write flags
 * `oflags`: 1 keep, 0 drop; -1 when it does not apply. The memo applies when it holds the same
 * program and epoch, result, flags, raw length and bytes, and (`dir` not NULL) directory, read
 * between equal sequence numbers (struct pred_memo). An absolute path is decided without its
 * directory, so its caller may pass NULL.
 *
 * The bytes are compared a whole word at a time, not masked past the path's end: the memo's are
 * 0 there (pred_memo_put), and the read's are 0 too (the kernel's word-at-a-time copy clears the
 * bytes after the NUL in its last word) or, after a copy that ended byte by byte, left over;
 * left-over bytes only make the memo miss, and the predicate decides as without it.
 */
static __always_inline int pred_memo_match(struct pred_memo *m, __u8 *buf, __u32 pk, __u64 len,
                                           __s64 res, __u32 oflags,
                                           struct pred_path_key *dir) {
	__u64 seq = *(volatile __u64 *)&m->seq;
	PRED_BARRIER();
	if (m->pk != pk || m->epoch != settings.pred_epoch || m->rawlen != len || m->res != res ||
	    m->oflags != oflags)
		return -1;
	if (dir && (m->dir_dentry != dir->dir_dentry || m->dir_mnt != dir->dir_mnt ||
	            m->dir_ino != dir->dir_ino || m->dir_gen != dir->dir_gen ||
	            m->path_epoch != dir->path_epoch))
		return -1;
	/* 64-bit `len` and `i`: the unrolled tests compare the length as it is, without widening it
	 * again at every word. */
#pragma unroll
	for (__u64 i = 0; i < PRED_MEMO_RAW / 8; i++) {
		if (i * 8 >= len) break;
		if (*(__u64 *)&buf[PRED_RAW_OFF + i * 8] != m->raw[i]) return -1;
	}
	__u32 keep = m->keep;
	PRED_BARRIER();
	if (*(volatile __u64 *)&m->seq_end != seq) return -1;
	return keep != 0;
}

/* pred_memo_match for an open whose raw path and directory are read (pred_path_read): sets
 * FK_MEMO and memo_keep when the memo applies. */
static __always_inline void pred_memo_check(struct pred_facts *f, __u8 *buf, __u32 pk) {
	int keep = pred_memo_match(&f->memo, buf, pk, f->rawlen, f->res, f->oflags, &f->ckey);
	if (keep < 0) return;
	f->memo_keep = keep;
	f->known |= FK_MEMO;
}

/* Keeps this open's decision as the memo (FK_DIR: its raw path and directory read). */
static __always_inline void pred_memo_put(struct pred_facts *f, __u8 *buf, __u32 pk, int keep) {
	struct pred_memo *m = &f->memo;
	__u32 len = f->rawlen;
	if (len > PRED_MEMO_RAW) return;
	__u64 seq = m->seq + 1;
	*(volatile __u64 *)&m->seq = seq;
	PRED_BARRIER();
	m->pk = pk;
	m->epoch = settings.pred_epoch;
	m->res = f->res;
	m->oflags = f->oflags;
	m->keep = keep;
	m->rawlen = len;
	m->dir_dentry = f->ckey.dir_dentry;
	m->dir_mnt = f->ckey.dir_mnt;
	m->dir_ino = f->ckey.dir_ino;
	m->dir_gen = f->ckey.dir_gen;
	m->path_epoch = f->ckey.path_epoch;
	for (__u32 i = 0; i < PRED_MEMO_RAW / 8; i++) {
		__u32 at = i * 8;
		if (at >= len) break;
		__u64 w = pred_raw_word(buf, at, len);
		m->raw[i] = w;
	}
	PRED_BARRIER();
	*(volatile __u64 *)&m->seq_end = seq;
}

/* Stops the memo from being asked first for program `pk`'s opens (pred_keep): its last open did
 * not need the path. */
static __always_inline void pred_memo_disarm(struct pred_facts *f) {
	struct pred_memo *m = &f->memo;
	__u64 seq = m->seq + 1;
	*(volatile __u64 *)&m->seq = seq;
	PRED_BARRIER();
	m->pk = ~0U;
	PRED_BARRIER();
	*(volatile __u64 *)&m->seq_end = seq;
}

/* An event its predicate drops: counted (settings.pred_audit: kept and marked instead). Returns
 * what pred_keep returns for it. */
static __always_inline int pred_drop(struct pred_facts *f) {
	if (settings.pred_audit) {
		f->audit_drop = 1;
		return 1;
	}
	__u32 zero = 0;
	struct saker_counters *c = bpf_map_lookup_elem(&counters, &zero);
	if (c) c->filtered++;
	return 0;
}

/* What pred_memo_first did. */
#define PRED_FIRST_NONE 0 /* nothing: pred_keep decides */
#define PRED_FIRST_READ 1 /* the raw path read into slot 2 (rawlen set), undecided: pred_keep
                           * decides from it (PK_RAW_READ) */
#define PRED_FIRST_KEEP 2 /* the memo keeps it (or marks it, in audit mode) */
#define PRED_FIRST_DROP 3 /* the memo drops it (counted) */

/*
 * The memo asked before the predicate is set up, for an open decided in sys_exit (syscall `nr`,
 * result `ret`, scap read/write flags `oflags`, raw path pointer `path`): when the memo holds
 * the last open of this syscall's program on this CPU, the raw path is read, and an absolute one
 * is compared with the memo here (pred_memo_match without the directory: an absolute path does
 * not depend on it, and a memo with the same first byte is an absolute path's). A repeated open
 * then costs the program index lookup, the read and the comparison, without the call into
 * pred_keep, its setup and the directory step. Anything else is left to pred_keep, with the raw
 * path read when it was.
 */
static __always_inline int pred_memo_first(__u32 nr, __s64 ret, __u32 oflags, __u64 path) {
	__u32 gen = settings.pred_gen & 1;
	__u32 ik = gen * 512 + (nr & 511);
	__u32 *slot = bpf_map_lookup_elem(&pred_index, &ik);
	if (!slot || *slot == 0) return PRED_FIRST_NONE;
	__u32 pk = gen * PRED_SLOTS + (*slot & (PRED_SLOTS - 1));
	struct pred_facts *f = pred_facts();
	if (!f) return PRED_FIRST_NONE;
	struct pred_memo *m = &f->memo;
#if SAKER_BENCH_STOP != 3 && SAKER_BENCH_STOP != 5
	if (m->pk != pk) return PRED_FIRST_NONE;
#endif
#if SAKER_BENCH_STOP == 5
	return PRED_FIRST_DROP; /* benchmark variant: the memo's program found, the path not read */
#endif
	__u8 *buf = (void *)f;
	long n = bpf_probe_read_user_str(&buf[PRED_RAW_OFF], PRED_SCAN, (const char *)path);
#if SAKER_BENCH_STOP == 3
	return PRED_FIRST_DROP; /* benchmark variant: the raw path read */
#endif
	if (n <= 1 || n >= PRED_SCAN) return PRED_FIRST_NONE; /* pred_keep finds the same */
	f->rawlen = n - 1;
	if (buf[PRED_RAW_OFF] != '/') return PRED_FIRST_READ;
	int keep = pred_memo_match(m, buf, pk, n - 1, ret, oflags, NULL);
	if (keep < 0) return PRED_FIRST_READ;
	if (keep) return PRED_FIRST_KEEP;
	return pred_drop(f) ? PRED_FIRST_KEEP : PRED_FIRST_DROP;
}

/*
 * The first step of an open's path facts, cheap: reads the raw path and finds the directory a
 * relative one is resolved against (the working directory or the directory fd), then asks the
 * memo (pred_memo_check). A path that cannot be read, or is PRED_SCAN bytes or longer, has no
 * facts (its path literals hold), no memo and no cache key.
 */
__attribute__((noinline)) int pred_path_read(__u32 pk) {
	__u32 two = 2;
	__u8 *buf = bpf_map_lookup_elem(&scratch, &two);
	if (!buf) return 0;
	struct pred_facts *f = (void *)buf;
	f->known |= FK_READ_DONE;
	if (!(f->known & FK_RAW)) { /* else read by pred_memo_first (PK_RAW_READ) */
		long n = bpf_probe_read_user_str(&buf[PRED_RAW_OFF], PRED_SCAN, (const char *)f->arg_a);
		if (n <= 1 || n >= PRED_SCAN) {
			f->known |= FK_PATH_DONE; /* empty, unreadable or too long */
			return 0;
		}
		f->rawlen = n - 1;
		f->known |= FK_RAW;
	}
	struct pred_path_key *k = &f->ckey;
	k->dir_dentry = 0;
	k->dir_mnt = 0;
	k->dir_ino = 0;
	k->dir_gen = 0;
	k->path_epoch = 0;
	f->dir_dentry = 0;
	f->dir_mnt = 0;
	if (buf[PRED_RAW_OFF] != '/') {
		struct task_struct *task = bpf_get_current_task_btf();
		struct path p = {};
		__s64 dirfd = (__s64)f->arg_b;
		if (dirfd == L_AT_FDCWD) {
			p = BPF_CORE_READ(task, fs, pwd);
		} else {
			struct file *fl = fd_file(task, dirfd);
			if (fl) p = BPF_CORE_READ(fl, f_path);
		}
		if (!p.dentry || !p.mnt) return 0;
		f->dir_dentry = (__u64)p.dentry;
		f->dir_mnt = (__u64)p.mnt;
		struct inode *dir = BPF_CORE_READ(p.dentry, d_inode);
		k->dir_dentry = (__u64)p.dentry;
		k->dir_mnt = (__u64)p.mnt;
		k->dir_ino = BPF_CORE_READ(dir, i_ino);
		k->dir_gen = BPF_CORE_READ(dir, i_generation);
		__u32 zero = 0;
		__u64 *e = bpf_map_lookup_elem(&path_epoch, &zero);
		if (!e) return 0;
		k->path_epoch = *e;
	}
	f->known |= FK_DIR;
#if SAKER_BENCH_STOP == 4
	pred_raw_hash(f->rawlen);
	return 0; /* benchmark variant: the key hashed, neither memo nor cache asked */
#endif
#ifndef SAKER_BENCH_NO_PATH_CACHE
	pred_memo_check(f, buf, pk);
#endif
	return 0;
}

/*
 * The second step, when the memo did not decide: hashes the raw path into the path cache key and
 * takes the values the cache holds for program `pk`'s path literals (they join the event's
 * evaluated literals).
 */
__attribute__((noinline)) int pred_path_lookup(__u32 pk) {
	__u32 two = 2;
	__u8 *buf = bpf_map_lookup_elem(&scratch, &two);
	if (!buf) return 0;
	struct pred_facts *f = (void *)buf;
	f->known |= FK_KEY_DONE;
	if (!(f->known & FK_READ_DONE)) pred_path_read(pk);
	if ((f->known & (FK_DIR | FK_MEMO)) != FK_DIR) return 0;
	struct pred_path_key *k = &f->ckey;
	if (!pred_raw_hash(f->rawlen)) return 0;
	k->len = f->rawlen;
	k->pk = pk;
	k->epoch = settings.pred_epoch;
#ifdef SAKER_BENCH_NO_PATH_CACHE
	return 0; /* benchmark variant: every open's path tests computed */
#endif
	f->known |= FK_KEY;
	/* A path that is not the last to have landed on its slot of the admission table cannot
	 * have been inserted since it last landed there (pred_admit): the cache is not asked. */
	__u32 zero = 0;
	struct pred_seen *seen = bpf_map_lookup_elem(&path_seen, &zero);
	if (!seen) return 0;
	__u32 slot = k->h1 & (PRED_SEEN_SLOTS - 1);
	if (seen->tag[slot] != ((__u32)k->h2 | 1)) {
		f->known |= FK_UNSEEN;
		return 0;
	}
	struct pred_path_val *v = bpf_map_lookup_elem(&path_cache, k);
	if (v) {
		__u64 done = v->done;
		f->known |= FK_CACHED;
		f->cdone = done;
		f->cval = v->val & done;
		f->done |= done;
		f->val |= v->val & done;
	}
	return 0;
}

/*
 * The rest of an open's path facts, the costly part: joins a relative raw path to its
 * directory's path (walked from the kernel's dentries) as user space does, and hashes the result
 * (prefix hashes, file name, last slash).
 */
static __always_inline void pred_open_path(struct pred_facts *f, __u8 *buf) {
	f->known |= FK_PATH_DONE;
	if (!(f->known & FK_RAW)) return;
	__u32 rawlen = f->rawlen;
	if (rawlen == 0 || rawlen >= PRED_SCAN) return;
	if (buf[PRED_RAW_OFF] == '/') {
		f->pathoff = PRED_RAW_OFF;
		if (pred_hash_path(PRED_RAW_OFF, rawlen)) f->known |= FK_PATH;
		return;
	}
	if (!f->dir_dentry) return;
	int res = path_at(2, PRED_PATH_OFF, f->dir_dentry, f->dir_mnt);
	if (res <= 1 || (res & 0x80000000)) return;
	__u32 pos = res - 1; /* the directory's length */
	if (pos > 1) {
		__u32 at = PRED_PATH_OFF + pos++;
		BOUND(at, 0x3fff);
		buf[at] = '/';
	}
	if (pos + rawlen >= PRED_SCAN) return;
	BOUND(pos, 0xff);
	BOUND(rawlen, 0xff);
	bpf_probe_read_kernel(&buf[PRED_PATH_OFF + pos], rawlen, &buf[PRED_RAW_OFF]);
	f->pathoff = PRED_PATH_OFF;
	if (pred_hash_path(PRED_PATH_OFF, pos + rawlen)) f->known |= FK_PATH;
}

/* Socket facts of the fd in arg_a: kind, transport, family and (connect) the remote address. A
 * global function: its locals stay out of pred_lit's frame, which is on the path literals' chain
 * (pred_keep, pred_lit, pred_path_lit, path_at: the deepest, against the 512-byte stack limit). */
__attribute__((noinline)) int pred_sock(__u32 nr) {
	struct pred_facts *f = pred_facts();
	if (!f) return 0;
	struct task_struct *task = bpf_get_current_task_btf();
	f->known |= FK_SOCK_DONE;
	f->typechar = f->l4 = f->sockfamily = 0;
	struct file *fl = fd_file(task, (__s32)f->arg_a);
	if (!fl) return 0;
	__u16 mode = BPF_CORE_READ(fl, f_inode, i_mode);
	if ((mode & 0170000) != 0140000) return 0; /* not a socket */
	struct sock *sk = file_sock(fl);
	if (!sk) return 0;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	__u16 type = BPF_CORE_READ(sk, sk_type);
	__u16 proto = BPF_CORE_READ(sk, sk_protocol);
	int connected = f->res == 0 || f->res == -115; /* connect: a tuple exists */
	if (family == 2 || family == 10) {
		f->sockfamily = 1; /* ip */
		if (proto == 1 || proto == 58) f->l4 = 4; /* icmp */
		else if (type == 1) f->l4 = 2;           /* tcp */
		else if (type == 2) f->l4 = 3;           /* udp */
		else if (type == 3) f->l4 = 5;           /* raw */
		if (family == 2) {
			f->typechar = '4';
			if (nr == 42 && connected) {
				__u32 a = BPF_CORE_READ(sk, __sk_common.skc_daddr);
				__builtin_memset(f->raddr, 0, 16);
				__builtin_memcpy(f->raddr, &a, 4);
				f->v6 = 0;
				f->known |= FK_RADDR;
			}
		} else {
			struct in6_addr a = BPF_CORE_READ(sk, __sk_common.skc_v6_daddr);
			__u32 *w = (__u32 *)&a;
			/* A v4-mapped peer may show as IPv4 in user space: kind and address undecided. */
			int mapped = w[0] == 0 && w[1] == 0 && w[2] == bpf_htonl(0xffff);
			if (!mapped) f->typechar = '6';
			if (nr == 42 && connected && !mapped) {
				__builtin_memcpy(f->raddr, &a, 16);
				f->v6 = 1;
				f->known |= FK_RADDR;
			}
		}
	} else if (family == 1) {
		f->sockfamily = 2; /* unix */
		f->typechar = 'u';
		f->l4 = 1;         /* <NA> */
	} else if (family == 16) {
		f->typechar = 'n';
		f->l4 = 1;
	}
	f->known |= FK_SOCK;
	return 0;
}

static __always_inline int pred_member(__u64 hash, __u32 set, __u32 len) {
	struct pred_key k = {.hash = hash, .set = set, .len = len};
	return bpf_map_lookup_elem(&pred_strs, &k) != NULL;
}

static __always_inline int pred_num(__s64 x, struct pred_lit *l) {
	switch (l->op) {
	case PO_EQ: return x == l->value;
	case PO_NE: return x != l->value;
	case PO_LT: return x < l->value;
	case PO_LE: return x <= l->value;
	case PO_GT: return x > l->value;
	case PO_GE: return x >= l->value;
	case PO_IN: return pred_member((__u64)x, l->set, 0xffffffff);
	case PO_NOT_IN: return !pred_member((__u64)x, l->set, 0xffffffff);
	}
	return 1;
}

/* Literal `i` of program `pk`, and the event's facts in `*f`; NULL when either is missing. */
static __always_inline struct pred_lit *pred_lit_at(__u32 pk, __u32 i, struct pred_facts **f) {
	struct pred_prog *p = bpf_map_lookup_elem(&pred_progs, &pk);
	*f = pred_facts();
	if (!p || !*f || i >= PRED_LITS) return NULL;
	__u32 li = i;
	BOUND(li, 0x3f);
	return &p->lits[li];
}

/*
 * Path literal `i` (fd.name, fd.directory, fd.filename, fd.nameraw) of program `pk`, computed:
 * 1 when it holds (or cannot be decided), 0 when not. The path cache (pred_path_lookup) is asked
 * first, by the caller.
 */
__attribute__((noinline)) int pred_path_lit(__u32 pk, __u32 i) {
	struct pred_facts *f;
	struct pred_lit *l = pred_lit_at(pk, i, &f);
	if (!l) return 1;
	__u8 *buf = (void *)f;
	__u8 op = l->op;
	int v = 1;
	if (l->fact == PF_NAMERAW) {
		if (!(f->known & FK_RAW) || op != PO_CONTAINS) return 1;
		v = pred_contains(PRED_RAW_OFF, f->rawlen, pk, l->arg, 1);
		if (v == 2) return 1;
		return (l->flags & PL_NEG) ? !v : v;
	}
	if (!(f->known & FK_PATH_DONE)) pred_open_path(f, buf);
	if (!(f->known & FK_PATH)) return 1;
	__u32 len = f->len;
	__u32 dir = f->dir;
	if (len >= PRED_SCAN || dir >= len) return 1;
	if (l->fact == PF_DIRECTORY) {
		if (op != PO_IN) return 1;
		__u32 d = dir == 0 ? 1 : dir;
		v = pred_member(f->hpre[d & 0xff], l->set, d);
	} else if (l->fact == PF_FILENAME) {
		if (op != PO_IN || len < 2) return 1;
		v = pred_member(f->hbase, l->set, len - dir - 1);
	} else if (op == PO_IN) {
		v = pred_member(f->hpre[len & 0xff], l->set, len);
	} else if (op == PO_PREFIX || op == PO_SUFFIX) {
		v = 0;
		for (int k = 0; k < PRED_LENS; k++) {
			__u32 n = l->lens[k];
			if (n == 0) break;
			if (n > len) continue;
			__u64 h = op == PO_PREFIX ? f->hpre[n & 0xff] : pred_suffix_hash(f->pathoff, len, n);
			if (pred_member(h, l->set, n)) {
				v = 1;
				break;
			}
		}
	} else if (op == PO_CONTAINS) {
		v = pred_contains(f->pathoff, len, pk, l->arg, 0);
		if (v == 2) return 1;
	} else {
		return 1;
	}
	return (l->flags & PL_NEG) ? !v : v;
}

/*
 * Literal `i` of program `pk` for the current event: 1 when it holds (or cannot be decided),
 * 0 when it does not. Computes the facts it needs on first use.
 */
__attribute__((noinline)) int pred_lit(__u32 pk, __u32 i, __u32 nr) {
	struct pred_facts *f;
	struct pred_lit *l = pred_lit_at(pk, i, &f);
	if (!l) return 1;
	__u32 li = i & 0x3f;
	int v = 1;
	__u8 op = l->op;
	switch (l->fact) {
	case PF_RES:
		v = pred_num(f->res, l);
		break;
	case PF_FDNUM:
		v = pred_num(f->res >= 0 ? f->res : -1, l);
		break;
	case PF_OPEN_READ:
		v = pred_num((f->oflags & 1) != 0, l);
		break;
	case PF_OPEN_WRITE:
		v = pred_num((f->oflags & 2) != 0, l);
		break;
	case PF_NAME:
	case PF_DIRECTORY:
	case PF_FILENAME:
	case PF_NAMERAW: {
		if (f->kind != PK_OPEN) return 1;
		f->known |= FK_PATH_USED;
		if (!(f->known & FK_KEY_DONE)) pred_path_lookup(pk);
		if (f->known & FK_MEMO) return 1; /* decided by the memo (pred_keep) */
		__u64 bit = 1ULL << li;
		if (f->cdone & bit) return (f->cval & bit) != 0;
		int r = pred_path_lit(pk, li);
		f->pdone |= bit;
		if (r) f->pval |= bit;
		return r;
	}
	case PF_TYPECHAR:
	case PF_L4:
	case PF_SOCKFAMILY: {
		if (f->kind != PK_SOCK) return 1;
		if (!(f->known & FK_SOCK_DONE)) pred_sock(nr);
		__u32 x = l->fact == PF_TYPECHAR ? f->typechar : l->fact == PF_L4 ? f->l4 : f->sockfamily;
		if (!(f->known & FK_SOCK) || x == 0) return 1;
		v = pred_num(x, l);
		break;
	}
	case PF_RADDR: {
		if (f->kind != PK_SOCK) return 1;
		if (!(f->known & FK_SOCK_DONE)) pred_sock(nr);
		if (!(f->known & FK_RADDR) || (op != PO_IN && op != PO_NOT_IN)) return 1;
		struct pred_net_key k = {.prefixlen = 32 + (f->v6 ? 128 : 32),
		                         .set = l->set | (f->v6 ? 0x40000000 : 0)};
		__builtin_memcpy(k.addr, f->raddr, 16);
		int member = bpf_map_lookup_elem(&pred_nets, &k) != NULL;
		v = op == PO_IN ? member : !member;
		break;
	}
	default:
		return 1;
	}
	return (l->flags & PL_NEG) ? !v : v;
}

/* Literal `i` of program `p` (key `pk`): the facts of the result and the open flags evaluated
 * here, without a call; the others by pred_lit. */
static __always_inline int pred_lit_fast(struct pred_prog *p, struct pred_facts *f, __u32 i,
                                         __u32 pk, __u32 nr) {
	struct pred_lit *l = &p->lits[i & (PRED_LITS - 1)];
	__s64 x;
	switch (l->fact) {
	case PF_RES: x = f->res; break;
	case PF_FDNUM: x = f->res >= 0 ? f->res : -1; break;
	case PF_OPEN_READ: x = (f->oflags & 1) != 0; break;
	case PF_OPEN_WRITE: x = (f->oflags & 2) != 0; break;
	default: return pred_lit(pk, i, nr);
	}
	int v = pred_num(x, l);
	return (l->flags & PL_NEG) ? !v : v;
}

/* Whether the event's path values go into the path cache: when the same raw path was the last
 * one to land on its slot of the admission table (PRED_SEEN_SLOTS; pred_path_lookup asked the
 * cache then); otherwise the path takes the slot. */
static __always_inline int pred_admit(struct pred_facts *f) {
	if (!(f->known & FK_UNSEEN)) return 1;
	__u32 zero = 0;
	struct pred_seen *seen = bpf_map_lookup_elem(&path_seen, &zero);
	if (!seen) return 0;
	__u32 slot = f->ckey.h1 & (PRED_SEEN_SLOTS - 1);
	seen->tag[slot] = (__u32)f->ckey.h2 | 1;
	return 0;
}

/*
 * Whether the current event (syscall `nr`, result `ret`) may match a rule: 1 keep, 0 drop.
 * `kind_flags` is the kind of facts the caller has (PK_*, low byte; a program needing others is
 * left to the handler that has them) and the scap open flags (above). Audit mode
 * (settings.pred_audit) keeps the event and marks its record.
 */
__attribute__((noinline)) int pred_keep(__u32 nr, __s64 ret, __u32 kind_flags, __u64 a, __u64 b) {
	__u32 kind = kind_flags & 0x3f;
	__u32 at_exit = kind_flags & PK_AT_EXIT;
	__u32 oflags = (kind_flags >> 8) & 3; /* read and write: what the facts use */
	__u32 gen = settings.pred_gen & 1;
	__u32 ik = gen * 512 + (nr & 511);
	__u32 *slot = bpf_map_lookup_elem(&pred_index, &ik);
	if (!slot || *slot == 0) return 1;
	__u32 pk = gen * PRED_SLOTS + (*slot & (PRED_SLOTS - 1));
	struct pred_prog *p = bpf_map_lookup_elem(&pred_progs, &pk);
	struct pred_facts *f = pred_facts();
	if (!p || !f) return 1;
	/* Programs on the result alone, and those that drop all, are decided in sys_exit; the
	 * others where the facts are (sys_exit for plain opens, else the handler). */
	int early = (p->flags & (PP_GENERIC | PP_DROP_ALL)) != 0;
	if (at_exit ? (!early && kind == PK_GENERIC) : early) return 1;
	int keep = 0;
	if (!(p->flags & PP_DROP_ALL)) {
		f->known = (kind_flags & PK_RAW_READ) ? FK_RAW : 0;
		f->kind = kind;
		f->res = ret;
		f->arg_a = a;
		f->arg_b = b;
		f->oflags = oflags;
		f->done = 0;
		f->val = 0;
		f->cdone = 0;
		f->cval = 0;
		f->pdone = 0;
		f->pval = 0;
#if SAKER_BENCH_STOP == 4
		if (kind == PK_OPEN) {
			pred_path_read(pk); /* stops early in this variant */
			return 0;
		}
#endif
		/* The memo first when this program's last open on this CPU needed its path: a repeated
		 * open is decided without the clauses. */
		struct pred_memo *m = &f->memo;
		if (kind == PK_OPEN && m->pk == pk) pred_path_read(pk);
		if (f->known & FK_MEMO) {
			keep = f->memo_keep;
			goto decided;
		}
		int dead = 0;
		__u32 nrefs = p->nrefs;
		for (__u32 r = 0; r < PRED_REFS; r++) {
			if (r >= nrefs) break;
			__u8 ref = p->refs[r];
			__u32 idx = ref & (PRED_LITS - 1);
			if (!dead) {
				__u64 bit = 1ULL << idx;
				if (!(f->done & bit)) {
					f->done |= bit;
					if (pred_lit_fast(p, f, idx, pk, nr)) f->val |= bit;
					if (f->known & FK_MEMO) {
						keep = f->memo_keep;
						break;
					}
				}
				if (!(f->val & bit)) dead = 1;
			}
			if (ref & PR_END) {
				if (!dead) {
					keep = 1;
					break;
				}
				dead = 0;
			}
		}
		if (f->known & FK_MEMO) goto decided;
		/* Path literals evaluated here that the cache did not know: kept for the next open of
		 * the same path (the facts in slot 2 are this event's: nothing ran in between). */
		if ((f->known & FK_KEY) && f->pdone && pred_admit(f)) {
			struct pred_path_val nv = {.done = f->cdone | f->pdone, .val = f->cval | f->pval};
			bpf_map_update_elem(&path_cache, &f->ckey, &nv, BPF_ANY);
		}
		if (f->known & FK_PATH_USED) {
			if ((f->known & (FK_RAW | FK_DIR)) == (FK_RAW | FK_DIR))
				pred_memo_put(f, (void *)f, pk, keep);
		} else if (f->known & FK_READ_DONE) {
			pred_memo_disarm(f); /* read for nothing: the memo is not asked first next time */
		}
	}
decided:
	if (keep) return 1;
	return pred_drop(f);
}

/* Drops the event unless its syscall's predicate keeps it (in a handler: `ret` in scope). */
#define PRED_GATE(kind, a, b, oflags)                                                      \
	if (settings.pred_on &&                                                                \
	    !pred_keep(regs->orig_ax & 511, ret, (kind) | ((oflags) << 8), a, b))  \
		return 0
