// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * Syscall handlers for credentials and namespaces: the setuid family, capset, setns, unshare.
 * Each writes its event's parameters in the order of the event table (src/events/table_data.ts).
 */
#pragma once

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
