// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * Layout of the kernel predicates' maps and facts (predicates.h evaluates them). The TypeScript
 * side writes the same layout (src/rules/kernel_program.ts encodes, src/kernel/probe.ts writes;
 * tests/unit/probe_c_tables.test.ts compares the two).
 */
#pragma once

#define PRED_SLOTS 128    /* programs per generation */
#define PRED_LITS 64      /* distinct literals per program */
#define PRED_REFS 256     /* literal references of all clauses of a program */
#define PRED_NEEDLES 8    /* `contains` needles per program */
#define PRED_LENS 8       /* prefix or suffix lengths per set literal */
#define PRED_SCAN 256     /* paths of this length or longer are not decided */

/* Facts (PF_*) and operators (PO_*); src/rules/kernel_program.ts uses the same numbers. */
#define PF_RES 1
#define PF_FDNUM 2
#define PF_OPEN_READ 3
#define PF_OPEN_WRITE 4
#define PF_NAME 5
#define PF_DIRECTORY 6
#define PF_FILENAME 7
#define PF_NAMERAW 8
#define PF_TYPECHAR 9
#define PF_L4 10
#define PF_SOCKFAMILY 11
#define PF_RADDR 12

#define PO_EQ 1
#define PO_NE 2
#define PO_LT 3
#define PO_LE 4
#define PO_GT 5
#define PO_GE 6
#define PO_IN 7       /* member of the literal's set */
#define PO_NOT_IN 8   /* not a member */
#define PO_PREFIX 9   /* starts with a member of the set (its lengths in lens) */
#define PO_SUFFIX 10  /* ends with a member */
#define PO_CONTAINS 11 /* contains needle `arg` */

#define PL_NEG 1      /* the literal is negated */
#define PR_END 0x80   /* in refs: the last literal of its clause */

#define PP_GENERIC 1  /* only result facts: decided in sys_exit, before the handler */
#define PP_DROP_ALL 2 /* no clause: no event of this syscall can match */

/* What a handler can tell the predicates (the kind of facts it has). */
#define PK_GENERIC 0
#define PK_OPEN 1
#define PK_SOCK 2
#define PK_AT_EXIT 0x40 /* with a PK_*: called from sys_exit, where programs on the result alone
                         * (PP_GENERIC) and PP_DROP_ALL are decided; the handler leaves them */
#define PK_RAW_READ 0x80 /* with PK_OPEN: the raw path is in slot 2 already (rawlen set), read by
                         * pred_memo_first; pred_keep goes on from it instead of reading again */

struct pred_lit {
	__u8 fact;
	__u8 op;
	__u8 flags;
	__u8 arg;            /* needle index (PO_CONTAINS) */
	__u32 set;           /* set id (string, number and address sets), generation in bit 31 */
	__s64 value;         /* number operand */
	__u8 lens[PRED_LENS]; /* lengths of the set's prefixes or suffixes (0: none) */
};

struct pred_needle {
	__u64 lo;            /* first 8 bytes, little-endian, zero padded */
	__u64 hi;            /* next 8 */
	__u32 len;           /* 1..16 */
	__u32 pad;
};

struct pred_prog {
	__u16 nlits;
	__u16 nrefs;
	__u16 flags;         /* PP_* */
	__u16 pad;
	struct pred_lit lits[PRED_LITS];
	__u8 refs[PRED_REFS]; /* literal index, | PR_END at the end of a clause */
	struct pred_needle needles[PRED_NEEDLES];
};

/* A member of a string or number set: hash of the bytes (or the number), set and length
 * (0xffffffff for numbers). */
struct pred_key {
	__u64 hash;
	__u32 set;
	__u32 len;
};

/* A network of an address set (LPM trie): prefixlen counts the 32 bits of `set` too. */
struct pred_net_key {
	__u32 prefixlen;
	__u32 set;           /* set id, generation in bit 31, bit 30 set for IPv6 */
	__u8 addr[16];
};

/*
 * The path cache: the values of an open's path literals (fd.name, fd.directory, fd.filename,
 * fd.nameraw tests), keyed by what decides them: the raw path's bytes (two seeded 64-bit hashes
 * and the length) and, for a relative path, the directory it is resolved against (dentry, mount,
 * inode number and generation) and the path epoch; the program they belong to and the program
 * epoch. A program epoch (settings.pred_epoch) starts at every predicate write, so a reload never
 * reads an older program's values; the path epoch (map path_epoch) starts whenever a directory
 * may have changed its path (a rename, a mount change), so a relative path's entry never outlives
 * its directory's name.
 */
#define PRED_CACHE_ENTRIES 8192

struct pred_path_key {
	__u64 h1, h2;        /* seeded hashes of the raw path */
	__u64 dir_dentry;    /* relative path: its directory (0 for an absolute path) */
	__u64 dir_mnt;
	__u64 dir_ino;
	__u32 dir_gen;
	__u32 len;           /* raw path length */
	__u32 pk;            /* program: generation * PRED_SLOTS + slot */
	__u32 epoch;         /* settings.pred_epoch */
	__u64 path_epoch;    /* relative path: the path epoch (0 for an absolute path) */
};

struct pred_path_val {
	__u64 done;          /* path literals known (bit = literal index) */
	__u64 val;           /* their values (only bits in done) */
};

/* The facts of the event being tested, in scratch slot 2 (one per CPU). */
#define FK_PATH 1        /* path, hpre, hbase, len, dir are set */
#define FK_PATH_DONE 2   /* the path was tried (FK_PATH or undecided) */
#define FK_RAW 4         /* raw name read (rawlen), and it has no "//" */
#define FK_SOCK 8        /* typechar, l4, sockfamily known (0 in one: that fact undecided) */
#define FK_SOCK_DONE 16
#define FK_RADDR 32      /* raddr known */
#define FK_KEY_DONE 64   /* the path cache was asked (FK_KEY: its key is valid) */
#define FK_KEY 128
#define FK_CACHED 256    /* the path cache held an entry for the key */
#define FK_MEMO 512      /* the last open's decision (struct pred_memo) applies to this one */
#define FK_READ_DONE 1024 /* the raw path was read (FK_RAW: it could be) and the memo asked */
#define FK_DIR 2048      /* ckey's directory part and path epoch are set (the memo's facts) */
#define FK_PATH_USED 4096 /* a path literal was asked for this event */
#define FK_UNSEEN 8192   /* the key is not the last on its admission slot: the cache not asked */

/* Admission to the path cache: an entry is inserted for a path seen twice in a row of this many
 * distinct paths (a per-CPU table of hash tags), and the cache is asked only for a path that is
 * the last to have landed on its slot, so a stream of paths that never come back (a file tree
 * walked once) pays a table read and write per open instead of an LRU lookup and insertion. */
#define PRED_SEEN_SLOTS 4096

struct pred_seen {
	__u32 tag[PRED_SEEN_SLOTS];
};

/*
 * The decision of the last open tested on this CPU whose path facts were read: an open with the
 * same raw path (its bytes, compared in full), directory (relative paths: dentry, mount, inode
 * number and generation, path epoch), program and program epoch, result and open flags has the
 * same facts, so the same decision, taken without hashing the path, the path cache lookup and the
 * clauses. Paths longer than PRED_MEMO_RAW bytes are not kept.
 *
 * `seq` is written first and `seq_end` last with the same, new value; a reader takes the memo
 * only when the `seq` it read before comparing equals the `seq_end` it reads after. Programs on
 * one CPU nest (one interrupting another runs to its end first), so a memo written half by one
 * event and half by another, or rewritten while read, ends with seq != seq_end and is not used.
 */
#define PRED_MEMO_RAW 128

struct pred_memo {
	__u64 seq;
	__u32 pk;            /* program: generation * PRED_SLOTS + slot */
	__u32 epoch;         /* settings.pred_epoch */
	__s64 res;
	__u32 oflags;
	__u32 keep;
	__u32 rawlen;
	__u32 dir_gen;
	__u64 dir_dentry, dir_mnt, dir_ino; /* relative path: its directory (0 when absolute) */
	__u64 path_epoch;    /* relative path: the path epoch (0 when absolute) */
	__u64 raw[PRED_MEMO_RAW / 8]; /* the raw path, zero after its end */
	__u64 seq_end;
};

struct pred_facts {
	__u64 hpre[PRED_SCAN + 1]; /* hash of the path's first i bytes */
	__u64 hbase;               /* hash of the part after the last slash */
	__s64 res;
	__u64 arg_a, arg_b;        /* the handler's arguments (open: path pointer, dirfd) */
	__u64 done, val;           /* literals evaluated, and their values */
	__u32 known;               /* FK_* */
	__u32 oflags;              /* scap open flags */
	__u32 len;                 /* path length */
	__u32 dir;                 /* index of its last slash */
	__u32 rawlen;
	__u32 audit_drop;          /* audit mode: the next record would have been dropped */
	__u32 memo_keep;           /* FK_MEMO: the memo's decision */
	__u32 kind;                /* PK_* of the caller */
	__u32 pathoff;             /* where the path is: PRED_RAW_OFF (absolute) or PRED_PATH_OFF */
	__u32 typechar, l4, sockfamily, v6;
	__u8 raddr[16];
	__u64 dir_dentry, dir_mnt;  /* a relative path's directory (pred_path_key) */
	__u64 cdone, cval;          /* path literals the cache knew for this event */
	__u64 pdone, pval;          /* path literals evaluated for this event */
	struct pred_path_key ckey;
	struct pred_memo memo;      /* kept across events (pred_keep resets the fields above) */
};

