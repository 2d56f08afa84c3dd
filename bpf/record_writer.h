// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * Record writing: a record is built in the per-CPU scratch map (header, then one 16-bit length
 * per parameter, then the parameter bytes in the scap encoding, as bpf/record.h lays them out) and
 * copied into the ring buffer without a wake-up. The p_* functions append one parameter each;
 * a parameter that does not fit is written empty or cut, and the record is marked TRUNCATED.
 *
 * Included by probe.bpf.c after the maps (ring, counters, scratch, last_wakeup) and settings it
 * uses.
 */
#pragma once

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
	__u32 slot;  /* scratch slot: 0 for a system call's record, 1 for a scheduler program's */
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
#ifdef SAKER_BENCH_NO_RECORD
	if (slot == 0) return -1; /* benchmark variant: the filter and the tail call alone */
#endif
	__u8 *buf = bpf_map_lookup_elem(&scratch, &slot);
	if (!buf) return -1;
	r->buf = buf;
	r->idx = 0;
	r->slot = slot;
	*(__u16 *)&buf[30] = 0;
	*(__u32 *)&buf[20] = HEADER_SIZE + 2 * nparams;
	*(__u64 *)&buf[0] = bpf_ktime_get_boot_ns();
	/* task is a BTF pointer (the current task, or a scheduler tracepoint's argument): its
	 * fields are loaded directly rather than copied through bpf_probe_read_kernel; comm as two
	 * words (the kernel keeps it NUL-padded). */
	*(__u32 *)&buf[8] = task->pid;
	*(__u32 *)&buf[12] = task->tgid;
	*(__u32 *)&buf[16] = task->real_parent->tgid;
	*(__u16 *)&buf[24] = type;
	*(__u16 *)&buf[26] = nparams;
	*(__u16 *)&buf[28] = bpf_get_smp_processor_id();
	const __u64 *comm = (const __u64 *)task->comm;
	*(__u64 *)&buf[32] = comm[0];
	*(__u64 *)&buf[40] = comm[1];
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
	/* Only a system call's record: a scheduler program's runs no predicate, and a mark left by
	 * a system call that wrote no record (the agent's own open) is not its. */
	if (settings.pred_audit && r->slot == 0) {
		__u32 two = 2;
		struct pred_facts *f = bpf_map_lookup_elem(&scratch, &two);
		/* set by pred_keep (predicates.h) for the event being recorded */
		if (f && f->audit_drop) {
			*(volatile __u16 *)&r->buf[30] |= RECORD_PRED_DROP;
			f->audit_drop = 0;
		}
	}
	if (c) {
		if (*(__u16 *)&r->buf[30] & RECORD_TRUNCATED) c->truncated++;
		if (settings.simulate_drops && (c->events % settings.simulate_drops) == 0) {
			c->events++;
			c->simulated_drops++;
			return 0;
		}
	}
	/* Batching without unbounded delay: records go in without a wake-up, except the first one
	 * after this CPU has not woken the reader for settings.wakeup_ns. The reader polls while
	 * records flow and blocks on the ring only once it has been empty for longer than that, so
	 * a record waits at most about wakeup_ns (or the reader's pause) whatever the load. */
	__u64 wake = BPF_RB_NO_WAKEUP;
	if (settings.wakeup_ns) {
		__u64 *last = bpf_map_lookup_elem(&last_wakeup, &zero);
		__u64 now = *(__u64 *)&r->buf[0];
		if (last && now - *last >= settings.wakeup_ns) {
			*last = now;
			wake = BPF_RB_FORCE_WAKEUP;
		}
	}
#ifdef SAKER_BENCH_NO_SUBMIT
	return 0; /* benchmark variant: the record built, not copied into the ring */
#endif
	if (bpf_ringbuf_output(&ring, r->buf, len & (SCRATCH_SIZE - 1), wake) != 0) {
		if (c) {
			c->drops++;
			__u8 kind = settings.drop_kind[*(__u16 *)&r->buf[24] & 511];
			if (kind >= 1 && kind <= DROP_KINDS) c->drops_by_kind[(kind - 1) & (DROP_KINDS - 1)]++;
		}
		return 0;
	}
	if (c) c->events++;
	return 0;
}
