/* SPDX-License-Identifier: (MIT OR GPL-2.0) */
/*
 * Layout of the records the probe writes into the ring buffer. src/events/event.ts decodes the
 * same layout (LIVE_HEADER_SIZE and decodeLiveBatch): keep both in step.
 *
 *   u64 ts        boot-time clock (bpf_ktime_get_boot_ns); user space adds the boot epoch
 *   u32 tid       kernel pid of the thread
 *   u32 pid       thread group id
 *   u32 ppid      thread group id of the real parent
 *   u32 len       length of the whole record, header included
 *   u16 type      event id (scap numbering, see src/events/table_data.ts)
 *   u16 nparams   number of parameters
 *   u16 cpu
 *   u16 flags     RECORD_TRUNCATED when a string or buffer was cut at its bound
 *   char comm[16]
 *   u16 lens[nparams], then the parameter bytes in the event table's order (scap encoding)
 */
#pragma once

#define HEADER_SIZE 48
#define MAX_PARAMS 40

#define RECORD_TRUNCATED 1
#define RECORD_PRED_DROP 2  /* audit mode: the kernel predicates would have dropped this record */
#define RECORD_DENIED 4     /* response deny: the probe sent SIGKILL to the caller (deny.h) */

/* Per-CPU scratch where a record is built before it is copied into the ring. Parameter data
 * lives in [0, DATA_LIMIT + largest single write); paths are assembled backwards in the
 * temporary area at the top. */
#define SCRATCH_SIZE 32768
#define DATA_LIMIT 16384       /* no parameter starts at or beyond this offset */
#define DATA_MASK (DATA_LIMIT - 1)
/* The last 64 bytes of the record buffer, past the temporary area below: room a handler may use
 * between rec_begin and its first parameter for a user structure it reads (no record reaches them
 * by then). Kept off the stack, such a structure does not count against the 512-byte stack limit
 * the verifier applies to a handler's frame plus its deepest call chain (the predicate calls
 * through pred_keep, ~304 bytes on 6.18.44 below the handler's frame). */
#define REC_SPARE_OFF (SCRATCH_SIZE - 64)
#define TMP_BASE 24064         /* temporary area: [TMP_BASE, TMP_BASE + TMP_SIZE + 256) */
#define TMP_SIZE 8192
#define TMP_MASK (TMP_SIZE - 1)
/* Between the temporary area and REC_SPARE_OFF: the state of the bpf_loop walk running on this
 * buffer (path_at's over the temporary area; the predicates' hash and search walks in slot 2).
 * Kept off the stack for the same reason as REC_SPARE_OFF: the walks sit at the bottom of the
 * deepest call chain. One walk runs at a time per buffer (none calls another), and a walk's
 * state is live only during its own bpf_loop. */
#define WALK_OFF (TMP_BASE + TMP_SIZE + 256)
#define WALK_SIZE (REC_SPARE_OFF - WALK_OFF)

/* Bounds of variable-size parameters (documented in the README). */
#define MAX_PATH 4096          /* paths, after resolution too */
#define MAX_ARGS 4096          /* argv bytes of an execve, NUL-separated */
#define MAX_ENV 4096           /* environment bytes of an execve */
#define MAX_STR 1024           /* other strings (mount type, prctl name, module args) */
#define MAX_CGROUPS 1024       /* all cgroup entries of a process together */
#define MAX_PATH_DEPTH 48      /* path components walked when resolving a path */
#define MAX_ARGV_ENTRIES 64    /* argv pointers walked for a failed execve */

/* Settings user space writes through the mmap'd .bss. */
struct saker_settings {
	__u32 agent_tgid;      /* events of this process are dropped */
	__u32 snaplen;         /* bytes of I/O buffers captured (0: none) */
	__u32 enabled;         /* 0 stops all events (set while detaching) */
	__u32 simulate_drops;  /* every Nth record is dropped and counted (tests) */
	__u8 syscalls[512];    /* 1 = capture this syscall number */
	__u64 wakeup_ns;       /* wake the reader when this CPU has not for this long (0: never) */
	__u8 drop_kind[512];   /* per event type: 1..DROP_KINDS, the kind its drops count as */
	__u32 drop_failed_exit; /* 1: events of failed system calls are not recorded */
	__u32 pred_on;         /* 1: kernel predicates are loaded (predicates.h) */
	__u32 pred_gen;        /* the generation of predicate maps in use (0 or 1) */
	__u32 pred_audit;      /* 1: mark (RECORD_PRED_DROP) instead of dropping (tests) */
	__u32 deny_exec_n;     /* entries in deny_exec (0: no exec is checked) */
	__u32 deny_open_n;     /* entries in deny_open (0: no open is checked) */
	__u32 agent_ptgid;     /* the agent's parent: never denied (nor pid 1, nor the agent) */
	__u32 deny_allow_exe_n; /* entries in deny_allow_exe (0: no executable is exempt) */
	__u32 deny_allow_uid_n; /* entries in deny_allow_uid (0: no uid is exempt) */
	__u32 pred_epoch;      /* bumped at every predicate write: the path cache's program epoch */
	__u32 deny_comm_n;     /* deny entries that name a process (0: the comm is not read) */
	__u64 pred_seed;       /* random, per load: seeds the path cache's hashes */
};

/* Response `deny`: a path key (absolute, NUL-padded) and where it applies. */
#define DENY_PATH 256
#define DENY_HOST 1
#define DENY_CONTAINER 2

/* Kinds of dropped records, Falco's n_drops_buffer categories (src/events/drop_kinds.ts);
 * saker_counters.drops_by_kind has one counter per kind. */
#define DROP_KINDS 8

/* Per-CPU counters, read by user space. */
struct saker_counters {
	__u64 events;          /* records submitted */
	__u64 drops;           /* records lost: ring full */
	__u64 truncated;       /* records with a truncated parameter */
	__u64 simulated_drops; /* records dropped on purpose (simulate_drops) */
	__u64 filtered;        /* events the kernel predicates dropped */
	__u64 denied;          /* calls response deny stopped (SIGKILL sent), record kept or not */
	__u64 drops_by_kind[8];          /* ring-full drops by settings.drop_kind of their type */
};
