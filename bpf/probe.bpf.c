// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * Saker's probe: system call and scheduler tracepoints → compact records in one BPF ring buffer.
 *
 * - tp_btf/sys_exit: one record per captured syscall, at exit, with its arguments and result.
 *   The syscall filter (settings.syscalls, written by user space) runs first, so a syscall
 *   nobody needs costs one array read. Handlers are tail-called per syscall number; the kernel
 *   predicates of open, openat and creat (arguments in registers) are decided before the tail
 *   call, so an open they drop costs no tail call; the memo of the last open's decision is asked
 *   first, before the predicate is set up (pred_memo_first).
 *   Benchmark variants (scripts/bench/capture.ts): SAKER_BENCH_EMPTY_EXIT returns at once (the
 *   tracepoint's own cost); SAKER_BENCH_STOP=1 returns after the syscall filter, 2 before an
 *   open's memo and predicate, 5 when the memo's program is found (the path not read), 3 after
 *   the raw path is read, 4 after the path cache key is hashed in the predicate (the memo not
 *   asked).
 * - raw_tracepoint/sys_enter: optional (attached only for latency measurements) — records the
 *   enter time of captured syscalls in task storage.
 * - tp_btf/sched_process_fork: the new child's first event (clone/fork/vfork/clone3 with res 0).
 * - tp_btf/sched_process_exec: a successful execve/execveat, read from the new image.
 * - tp_btf/sched_process_exit: procexit.
 *
 * Records are built in a per-CPU scratch buffer and copied to the ring without a wake-up:
 * user space polls. A full ring counts a drop per CPU; nothing is lost silently.
 *
 * This file holds the maps, the settings and the attached programs; the rest is in headers
 * included once, in this order: record_writer.h (building records), paths.h, task.h and net.h
 * (reading kernel state), handler.h (how handlers are declared) and handlers_*.h (the syscall
 * handlers by family). Syscall numbers and argument registers are x86_64's (handler.h and the
 * scheduler programs below).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "record.h"
#include "scap.h"
#include "predicate_types.h"

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
 * preemptible section on the same CPU, so they never share its buffer); slot 2: the facts the
 * kernel predicates test (predicates.h). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 3);
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

/* scap's code of each syscall number, for generic events; filled by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 512);
	__type(key, __u32);
	__type(value, __u16);
} scap_codes SEC(".maps");

/* Per CPU: when this CPU last woke the reader (boot-time ns). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} last_wakeup SEC(".maps");

/* Kernel predicates (predicates.h): by generation * 512 + syscall number, the program's slot
 * (0: none); the programs by generation * PRED_SLOTS + slot; string and number sets; address
 * sets. Filled by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u32);
} pred_index SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 256); /* 2 * PRED_SLOTS */
	__type(key, __u32);
	__type(value, struct pred_prog);
} pred_progs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct pred_key);
	__type(value, __u8);
} pred_strs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct pred_net_key);
	__type(value, __u8);
} pred_nets SEC(".maps");

/* The path cache (predicate_types.h): path literal values by raw path, directory and epochs. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PRED_CACHE_ENTRIES);
	__type(key, struct pred_path_key);
	__type(value, struct pred_path_val);
} path_cache SEC(".maps");

/* Admission to the path cache (predicate_types.h). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pred_seen);
} path_seen SEC(".maps");

/* The path epoch: counts the system calls that may change a directory's path (renames, mount
 * changes, new mount namespaces), whoever makes them; the probe alone writes it. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} path_epoch SEC(".maps");

/* Response `deny` (rules with a deny action in enforce mode), filled by user space: executables
 * whose exec, and files whose open, is stopped with SIGKILL before the process runs user code
 * again. Key: the process name (comm, all zero: any process) and the absolute path as the kernel
 * resolves it (all zero: any executable, for execs by name), NUL-padded; value: DENY_HOST and/or
 * DENY_CONTAINER. */
struct deny_key {
	char comm[16];
	char path[DENY_PATH];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct deny_key);
	__type(value, __u32);
} deny_exec SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct deny_key);
	__type(value, __u32);
} deny_open SEC(".maps");

/* The config's response allowlist as the probe applies it to `deny` (deny.h), filled by user
 * space: executables by path (an LPM trie over the path's bytes: a prefix entry covers every
 * path that starts with it; an exact path's entry ends with its NUL, so it covers that path
 * alone) and effective uids (user names resolved by user space). */
struct deny_allow_key {
	__u32 prefixlen; /* bits */
	char path[DENY_PATH];
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct deny_allow_key);
	__type(value, __u8);
} deny_allow_exe SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u8);
} deny_allow_uid SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct deny_allow_key);
} deny_allow_scratch SEC(".maps");

/* Where a deny key is assembled. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct deny_key);
} deny_scratch SEC(".maps");

struct saker_settings settings = {};

#include "record_writer.h"
#include "paths.h"
#include "task.h"
#include "net.h"
#include "predicates.h"
#include "handler.h"
#include "deny.h"
#include "handlers_fd.h"
#include "handlers_fs.h"
#include "handlers_net.h"
#include "handlers_cred.h"
#include "handlers_proc.h"
#include "handlers_kernel.h"

/* Syscalls without a dedicated event: the generic event (scap syscall code, native number). */
HANDLER(generic) {
	BEGIN(EV_GENERIC, 2);
	__u32 nr = regs->orig_ax & 511;
	__u16 *code = bpf_map_lookup_elem(&scap_codes, &nr);
	p_u16(r, code ? *code : 0);
	p_u16(r, nr);
	return rec_submit(r);
}

/* ------------------------------------------------------------------------------------------ */
/* Attached programs                                                                           */

/* System calls after which a directory may have another path (renames; mounts made, moved or
 * removed; new mount namespaces, which may reuse freed mounts' addresses): the path cache's
 * entries for relative paths are keyed by directory, so these start a new path epoch. */
static __always_inline int path_epoch_call(__u64 nr) {
	switch (nr) {
	case 82:  /* rename */
	case 155: /* pivot_root */
	case 165: /* mount */
	case 166: /* umount2 */
	case 264: /* renameat */
	case 272: /* unshare */
	case 316: /* renameat2 */
	case 428: /* open_tree */
	case 429: /* move_mount */
	case 432: /* fsmount */
	case 442: /* mount_setattr */
		return 1;
	}
	return 0;
}

static __always_inline void path_epoch_bump(void) {
	__u32 zero = 0;
	__u64 *e = bpf_map_lookup_elem(&path_epoch, &zero);
	if (e) __sync_fetch_and_add(e, 1);
}

/* Whether syscall `nr` is captured: its byte in settings.syscalls first, since most system calls
 * are not (one load decides them), then settings.enabled. */
static __always_inline int captured(__u64 nr) {
	return nr < 512 && settings.syscalls[nr & 511] && settings.enabled;
}

/* Whether the current process is the agent (its own calls are never recorded). */
static __always_inline int is_agent(void) {
	return (bpf_get_current_pid_tgid() >> 32) == settings.agent_tgid;
}

/* Whether syscall `nr` of the current process is captured. */
static __always_inline int wanted(__u64 nr) {
	return captured(nr) && !is_agent();
}

SEC("tp_btf/sys_exit")
int BPF_PROG(sys_exit, struct pt_regs *regs, long ret) {
#ifdef SAKER_BENCH_EMPTY_EXIT
	return 0; /* benchmark variant: the cost of the tracepoint alone */
#endif
	/* tp_btf: regs is a trusted pointer, read directly (no probe-read helper call). */
	__u64 nr = regs->orig_ax;
	if (ret >= 0 && path_epoch_call(nr)) path_epoch_bump();
	if (!captured(nr)) return 0;
	/* The agent's own calls are not recorded. An open whose predicate is decided here is tested
	 * only once it is kept: the test is a helper call (~14 ns per open on 6.18.44) that an open
	 * the predicates drop then does not pay. Such an open of the agent's counts as filtered, and
	 * its decision may take the memo: both only as the same open of another process would. */
	int pred_open = settings.pred_on && (nr == 2 || nr == 257 || nr == 85);
	if (!pred_open && is_agent()) return 0;
#if SAKER_BENCH_STOP == 1
	return 0;
#endif
	if (ret < 0 && settings.drop_failed_exit) return 0; /* engine.*.drop_failed_exit */
	/* An open that `deny` may stop reaches its handler whatever the predicates say. */
	int deny_open_nr = settings.deny_open_n && (nr == 2 || nr == 257 || nr == 437 || nr == 85);
	if (settings.pred_on) {
		if (settings.pred_audit) {
			struct pred_facts *f = pred_facts();
			if (f) f->audit_drop = 0;
		}
		/* Predicates on the result alone are decided here, and those of the opens whose
		 * arguments are in registers (no tail call for an open they drop); the others in the
		 * handler. */
		if (!deny_open_nr) {
			__u32 kind = PK_GENERIC | PK_AT_EXIT;
			__u64 a = 0, b = 0;
			if (nr == 2 || nr == 85) { /* open, creat (not an "open" for is_open_*) */
				kind = PK_OPEN | PK_AT_EXIT | (nr == 2 ? open_rw_to_scap(regs->si) << 8 : 0);
				a = regs->di;
				b = L_AT_FDCWD;
			} else if (nr == 257) { /* openat */
				kind = PK_OPEN | PK_AT_EXIT | (open_rw_to_scap(regs->dx) << 8);
				a = regs->si;
				b = (__s32)regs->di;
			}
#if SAKER_BENCH_STOP == 2
			if (kind & PK_OPEN) return 0;
#endif
			int first = PRED_FIRST_NONE;
#ifndef SAKER_BENCH_NO_PATH_CACHE
			if (kind & PK_OPEN) first = pred_memo_first(nr, ret, (kind >> 8) & 3, a);
#endif
			if (first == PRED_FIRST_DROP) return 0;
			if (first == PRED_FIRST_READ) kind |= PK_RAW_READ;
			if (first != PRED_FIRST_KEEP && !pred_keep(nr & 511, ret, kind, a, b)) return 0;
		}
	}
	if (pred_open && is_agent()) return 0;
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
	/* A new mount namespace (clone with CLONE_NEWNS) starts a new path epoch, as unshare does. */
	if (child->nsproxy && parent->nsproxy && child->nsproxy->mnt_ns != parent->nsproxy->mnt_ns)
		path_epoch_bump();
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
	/* Before the record takes the scratch slot. The new image has not run yet: a SIGKILL sent
	 * now is taken on the way back to user space; the record still goes out, marked. */
	int denied = settings.deny_exec_n && deny_check(&deny_exec, 1, BPF_CORE_READ(bprm, file), p, 1);
	struct rec rr;
	struct rec *r = &rr;
	if (rec_begin(r, 1, is_execve ? EV_EXECVE : EV_EXECVEAT,
	              (is_execve ? NP_EXECVE : NP_EXECVEAT) + EXECVE_EXTRA, p))
		return 0;
	mark_denied(r, denied);
	p_s64(r, 0);
	p_process_common(r, 1, p);
	__u32 extra = is_execve ? 0 : execveat_flags_to_scap(BPF_CORE_READ(regs, r8));
	p_exec_tail(r, p, 1, is_execve, BPF_CORE_READ(bprm, filename), extra);
	return rec_submit(r);
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
