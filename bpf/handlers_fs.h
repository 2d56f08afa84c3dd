// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * Syscall handlers for the file system: unlink, rename, mkdir, rmdir, links, chmod, chown, mount, umount, chroot,
 * chdir and getcwd.
 * Each writes its event's parameters in the order of the event table (src/events/table_data.ts).
 */
#pragma once

/* Path syscalls */
HANDLER(unlink) {
	BEGIN(EV_UNLINK, 2);
	p_s64(r, ret);
	p_str(r, (void *)ARG(regs, 0), MAX_PATH, 1);
	return rec_submit(r);
}

HANDLER(unlinkat) {
	BEGIN(EV_UNLINKAT, 5);
	p_s64(r, ret);
	p_s64(r, (__s32)ARG(regs, 0));
	p_str(r, (void *)ARG(regs, 1), MAX_PATH, 1);
	p_u32(r, unlinkat_flags_to_scap(ARG(regs, 2)));
	p_path_dir(r, task, (__s32)ARG(regs, 0), (void *)ARG(regs, 1));
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

/* Directories of renameat's and linkat's two paths (their extra parameters). */
static __always_inline void renameat_dirs(struct rec *r, struct pt_regs *regs,
                                          struct task_struct *task) {
	p_path_dir(r, task, (__s32)ARG(regs, 0), (void *)ARG(regs, 1));
	p_path_dir(r, task, (__s32)ARG(regs, 2), (void *)ARG(regs, 3));
}

HANDLER(renameat) {
	BEGIN(EV_RENAMEAT, 7);
	renameat_common(r, regs, ret);
	renameat_dirs(r, regs, task);
	return rec_submit(r);
}

HANDLER(renameat2) {
	BEGIN(EV_RENAMEAT2, 8);
	renameat_common(r, regs, ret);
	p_u32(r, ARG(regs, 4) & 0x7); /* RENAME_* keep their values */
	renameat_dirs(r, regs, task);
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
	BEGIN(EV_MKDIRAT, 5);
	p_s64(r, ret);
	p_s64(r, (__s32)ARG(regs, 0));
	p_str(r, (void *)ARG(regs, 1), MAX_PATH, 1);
	p_u32(r, ARG(regs, 2));
	p_path_dir(r, task, (__s32)ARG(regs, 0), (void *)ARG(regs, 1));
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
	BEGIN(EV_SYMLINKAT, 5);
	p_s64(r, ret);
	p_str(r, (void *)ARG(regs, 0), MAX_PATH, 1);
	p_s64(r, (__s32)ARG(regs, 1));
	p_str(r, (void *)ARG(regs, 2), MAX_PATH, 1);
	p_path_dir(r, task, (__s32)ARG(regs, 1), (void *)ARG(regs, 2));
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
	BEGIN(EV_LINKAT, 8);
	renameat_common(r, regs, ret);
	p_u32(r, linkat_flags_to_scap(ARG(regs, 4)));
	renameat_dirs(r, regs, task);
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
	BEGIN(EV_FCHMODAT, 5);
	p_s64(r, ret);
	p_s64(r, (__s32)ARG(regs, 0));
	p_str(r, (void *)ARG(regs, 1), MAX_PATH, 1);
	p_u32(r, mode_to_scap(ARG(regs, 2)));
	p_path_dir(r, task, (__s32)ARG(regs, 0), (void *)ARG(regs, 1));
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
	BEGIN(EV_FCHOWNAT, 7);
	p_s64(r, ret);
	p_s64(r, (__s32)ARG(regs, 0));
	p_str(r, (void *)ARG(regs, 1), MAX_PATH, 1);
	p_u32(r, ARG(regs, 2));
	p_u32(r, ARG(regs, 3));
	p_u32(r, fchownat_flags_to_scap(ARG(regs, 4)));
	p_path_dir(r, task, (__s32)ARG(regs, 0), (void *)ARG(regs, 1));
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
	BEGIN(EV_CHDIR, 3);
	p_s64(r, ret);
	p_str(r, (void *)ARG(regs, 0), MAX_PATH, 1);
	if (ret == 0) p_cwd(r, 0, task); else p_empty(r);
	return rec_submit(r);
}

HANDLER(fchdir) {
	BEGIN(EV_FCHDIR, 3);
	p_s64(r, ret);
	p_s64(r, (__s32)ARG(regs, 0));
	if (ret == 0) p_cwd(r, 0, task); else p_empty(r);
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
