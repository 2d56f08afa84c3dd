// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * How a syscall handler is declared. HANDLER(name) defines the program sx_<name>, tail-called
 * from sys_exit through the handlers map (user space fills it by syscall number for every program
 * it finds); the body sees the record being built, the syscall's registers, its return value and
 * the current task.
 *
 * x86_64 only: arguments are read from pt_regs by the x86_64 syscall calling convention
 * (di, si, dx, r10, r8, r9), and syscall numbers (orig_ax) are x86_64's. Another architecture
 * needs its own arg_of and number tables.
 *
 * The registers are loaded directly: tp_btf gives the program the tracepoint's `struct pt_regs *`
 * as a BTF pointer, which the verifier lets the program dereference (one load, CO-RE relocated),
 * where BPF_CORE_READ would copy each register through a bpf_probe_read_kernel call.
 */
#pragma once

#define ARG(regs, n) arg_of(regs, n)
static __always_inline unsigned long arg_of(struct pt_regs *regs, int n) {
	switch (n) {
	case 0: return regs->di;
	case 1: return regs->si;
	case 2: return regs->dx;
	case 3: return regs->r10;
	case 4: return regs->r8;
	default: return regs->r9;
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
