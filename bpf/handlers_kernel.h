// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * Syscall handlers for memory and the kernel: mprotect, bpf, init_module, finit_module.
 * Each writes its event's parameters in the order of the event table (src/events/table_data.ts).
 */
#pragma once

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
