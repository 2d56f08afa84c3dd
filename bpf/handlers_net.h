// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * Syscall handlers for networking: socket, socketpair, connect, accept, bind, listen and the send/recv calls.
 * Each writes its event's parameters in the order of the event table (src/events/table_data.ts).
 */
#pragma once

HANDLER(socket) {
	BEGIN(EV_SOCKET, 6);
	__u32 type = ARG(regs, 1);
	p_s64(r, ret);
	p_u32(r, family_to_scap(ARG(regs, 0)));
	p_u32(r, type & 0xf); /* SOCK_TYPE_MASK */
	p_u32(r, ARG(regs, 2));
	p_u32(r, socket_flags_to_scap(type));
	p_u64(r, fd_ino(task, ret));
	return rec_submit(r);
}

HANDLER(socketpair) {
	BEGIN(EV_SOCKETPAIR, 10);
	int fds[2] = {-1, -1};
	if (ret == 0) bpf_probe_read_user(fds, sizeof(fds), (void *)ARG(regs, 3));
	p_s64(r, ret);
	p_s64(r, fds[0]);
	p_s64(r, fds[1]);
	struct sock *sk = ret == 0 ? file_sock(fd_file(task, fds[0])) : NULL;
	p_u64(r, (__u64)sk);
	p_u64(r, sk ? (__u64)BPF_CORE_READ((struct unix_sock *)sk, peer) : 0);
	p_u32(r, family_to_scap(ARG(regs, 0)));
	p_u32(r, ARG(regs, 1) & 0xf);
	p_u32(r, ARG(regs, 2));
	p_u64(r, ret == 0 ? fd_ino(task, fds[0]) : 0);
	p_u64(r, ret == 0 ? fd_ino(task, fds[1]) : 0);
	return rec_submit(r);
}

HANDLER(connect) {
	__s32 fd = ARG(regs, 0);
	PRED_GATE(PK_SOCK, fd, 0, 0);
	BEGIN(EV_CONNECT, 5);
	p_s64(r, ret);
	/* A tuple exists once the connection is set up (or in progress: -EINPROGRESS). */
	if (ret == 0 || ret == -115)
		p_socktuple(r, file_sock(fd_file(task, fd)), 0, NULL, 0);
	else
		p_empty(r);
	p_s64(r, fd);
	p_user_sockaddr(r, (void *)ARG(regs, 1), ARG(regs, 2));
	p_u64(r, fd_ino(task, fd));
	return rec_submit(r);
}

static __always_inline void accept_common(struct rec *r, struct task_struct *task, long ret,
                                          __s32 lfd) {
	p_s64(r, ret);
	p_socktuple(r, ret >= 0 ? file_sock(fd_file(task, ret)) : NULL, 1, NULL, 0);
	/* Backlog occupancy of the listening socket. */
	struct sock *ls = file_sock(fd_file(task, lfd));
	__u32 qlen = ls ? BPF_CORE_READ(ls, sk_ack_backlog) : 0;
	__u32 qmax = ls ? BPF_CORE_READ(ls, sk_max_ack_backlog) : 0;
	p_u8(r, qmax ? (qlen * 100) / qmax : 0);
	p_u32(r, qlen);
	p_u32(r, qmax);
}

HANDLER(accept) {
	BEGIN(EV_ACCEPT, 6);
	accept_common(r, task, ret, ARG(regs, 0));
	p_u64(r, fd_ino(task, ret));
	return rec_submit(r);
}

HANDLER(accept4) {
	BEGIN(EV_ACCEPT4, 7);
	accept_common(r, task, ret, ARG(regs, 0));
	p_u32(r, socket_flags_to_scap(ARG(regs, 3)));
	p_u64(r, fd_ino(task, ret));
	return rec_submit(r);
}

HANDLER(bind) {
	BEGIN(EV_BIND, 3);
	p_s64(r, ret);
	p_user_sockaddr(r, (void *)ARG(regs, 1), ARG(regs, 2));
	p_s64(r, (__s32)ARG(regs, 0));
	return rec_submit(r);
}

HANDLER(listen) {
	BEGIN(EV_LISTEN, 3);
	p_s64(r, ret);
	p_s64(r, (__s32)ARG(regs, 0));
	p_u32(r, ARG(regs, 1));
	return rec_submit(r);
}

static __always_inline void p_snap(struct rec *r, const void *ubuf, long ret) {
	__u32 snap = settings.snaplen;
	if (snap == 0 || ret <= 0 || !ubuf) {
		p_empty(r);
		return;
	}
	__u32 n = ret < snap ? ret : snap;
	p_ubytes(r, ubuf, n, 1024);
}

HANDLER(sendto) {
	__s32 fd = ARG(regs, 0);
	PRED_GATE(PK_SOCK, fd, 0, 0);
	BEGIN(EV_SENDTO, 6);
	p_s64(r, ret);
	p_snap(r, (void *)ARG(regs, 1), ret);
	p_s64(r, fd);
	p_u32(r, ARG(regs, 2));
	p_socktuple(r, file_sock(fd_file(task, fd)), 0, (void *)ARG(regs, 4), ARG(regs, 5));
	p_u64(r, fd_ino(task, fd));
	return rec_submit(r);
}

HANDLER(sendmsg) {
	__s32 fd = ARG(regs, 0);
	PRED_GATE(PK_SOCK, fd, 0, 0);
	BEGIN(EV_SENDMSG, 6);
	/* The message header and its first iovec are read into the record buffer's spare end
	 * (REC_SPARE_OFF), not onto the stack: see there. A failed read leaves zeros. */
	struct user_msghdr *mh = (void *)&r->buf[REC_SPARE_OFF];
	bpf_probe_read_user(mh, sizeof(*mh), (void *)ARG(regs, 1));
	void *name = mh->msg_name;
	__u32 namelen = mh->msg_namelen;
	void *base = NULL;
	if (mh->msg_iovlen > 0) {
		struct iovec *iov = (void *)mh;
		bpf_probe_read_user(iov, sizeof(*iov), mh->msg_iov);
		base = iov->iov_base;
	}
	p_s64(r, ret);
	p_snap(r, base, ret);
	p_s64(r, fd);
	p_u32(r, ret > 0 ? ret : 0);
	p_socktuple(r, file_sock(fd_file(task, fd)), 0, name, namelen);
	p_u64(r, fd_ino(task, fd));
	return rec_submit(r);
}

HANDLER(recvfrom) {
	BEGIN(EV_RECVFROM, 5);
	__s32 fd = ARG(regs, 0);
	p_s64(r, ret);
	p_snap(r, (void *)ARG(regs, 1), ret);
	/* The sender: the address the kernel wrote for us, else the connected peer. Inbound. */
	void *src = (void *)ARG(regs, 4);
	int alen = 0;
	if (src && ret >= 0) bpf_probe_read_user(&alen, sizeof(alen), (void *)ARG(regs, 5));
	p_socktuple(r, file_sock(fd_file(task, fd)), 1, ret >= 0 ? src : NULL, alen);
	p_s64(r, fd);
	p_u32(r, ARG(regs, 2));
	return rec_submit(r);
}
