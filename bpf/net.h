// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * Sockets: the socket behind a file, socket addresses from user memory and socket tuples of
 * connected sockets, in the scap encodings (family, addresses, ports; unix sockets by kernel
 * address and path).
 */
#pragma once

static __always_inline struct sock *file_sock(struct file *f) {
	if (!f) return NULL;
	struct socket *s = BPF_CORE_READ(f, private_data);
	if (!s) return NULL;
	return BPF_CORE_READ(s, sk);
}

/* scap sockaddr from a user sockaddr pointer. */
static __always_inline void p_user_sockaddr(struct rec *r, const void *uaddr, __u32 alen) {
	__u32 p = rpos(r);
	if (!uaddr || alen < 2 || p >= DATA_LIMIT) {
		p_empty(r);
		return;
	}
	__u16 family = 0;
	bpf_probe_read_user(&family, 2, uaddr);
	__u8 *b = &r->buf[p & DATA_MASK];
	b[0] = family_to_scap(family);
	if (family == 2 && alen >= 8) { /* AF_INET */
		struct sockaddr_in in = {};
		bpf_probe_read_user(&in, sizeof(in), uaddr);
		*(__u32 *)&b[1] = in.sin_addr.s_addr;
		*(__u16 *)&b[5] = bpf_ntohs(in.sin_port);
		set_len(r, 7);
	} else if (family == 10 && alen >= 24) { /* AF_INET6 */
		struct sockaddr_in6 in6 = {};
		bpf_probe_read_user(&in6, sizeof(in6), uaddr);
		__builtin_memcpy(&b[1], &in6.sin6_addr, 16);
		*(__u16 *)&b[17] = bpf_ntohs(in6.sin6_port);
		set_len(r, 19);
	} else if (family == 1) { /* AF_UNIX: path; abstract names start with a NUL we skip */
		char first = 0;
		const char *path = (const char *)uaddr + 2;
		bpf_probe_read_user(&first, 1, path);
		if (first == 0) path++;
		long n = bpf_probe_read_user_str(&b[1], 108, path);
		set_len(r, n > 0 ? 1 + n : 1);
	} else {
		set_len(r, 1);
	}
}

/*
 * scap socktuple of a connected or accepted socket: family, then source then destination.
 * Outbound (connect, send): local → remote. Inbound (accept): remote → local.
 * `uaddr` (optional) overrides the remote address (sendto on an unconnected socket).
 */
static __always_inline void p_socktuple(struct rec *r, struct sock *sk, int inbound,
                                        const void *uaddr, __u32 alen) {
	__u32 p = rpos(r);
	if (!sk || p >= DATA_LIMIT) {
		p_empty(r);
		return;
	}
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	__u8 *b = &r->buf[p & DATA_MASK];
	if (family == 2) {
		__u32 lip = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__u16 lport = BPF_CORE_READ(sk, __sk_common.skc_num);
		__u32 rip = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		__u16 rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
		if (uaddr && alen >= 8) {
			struct sockaddr_in in = {};
			bpf_probe_read_user(&in, sizeof(in), uaddr);
			if (in.sin_family == 2) {
				rip = in.sin_addr.s_addr;
				rport = bpf_ntohs(in.sin_port);
			}
		}
		b[0] = S_AF_INET;
		if (inbound) {
			*(__u32 *)&b[1] = rip;
			*(__u16 *)&b[5] = rport;
			*(__u32 *)&b[7] = lip;
			*(__u16 *)&b[11] = lport;
		} else {
			*(__u32 *)&b[1] = lip;
			*(__u16 *)&b[5] = lport;
			*(__u32 *)&b[7] = rip;
			*(__u16 *)&b[11] = rport;
		}
		set_len(r, 13);
	} else if (family == 10) {
		struct in6_addr lip = BPF_CORE_READ(sk, __sk_common.skc_v6_rcv_saddr);
		struct in6_addr rip = BPF_CORE_READ(sk, __sk_common.skc_v6_daddr);
		__u16 lport = BPF_CORE_READ(sk, __sk_common.skc_num);
		__u16 rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
		if (uaddr && alen >= 24) {
			struct sockaddr_in6 in6 = {};
			bpf_probe_read_user(&in6, sizeof(in6), uaddr);
			if (in6.sin6_family == 10) {
				rip = in6.sin6_addr;
				rport = bpf_ntohs(in6.sin6_port);
			}
		}
		b[0] = S_AF_INET6;
		if (inbound) {
			__builtin_memcpy(&b[1], &rip, 16);
			*(__u16 *)&b[17] = rport;
			__builtin_memcpy(&b[19], &lip, 16);
			*(__u16 *)&b[35] = lport;
		} else {
			__builtin_memcpy(&b[1], &lip, 16);
			*(__u16 *)&b[17] = lport;
			__builtin_memcpy(&b[19], &rip, 16);
			*(__u16 *)&b[35] = rport;
		}
		set_len(r, 37);
	} else if (family == 1) {
		struct unix_sock *us = (struct unix_sock *)sk;
		struct sock *peer = BPF_CORE_READ(us, peer);
		b[0] = S_AF_UNIX;
		*(__u64 *)&b[1] = (__u64)sk;
		*(__u64 *)&b[9] = (__u64)peer;
		/* The path: the peer's bound name (connect) or our own (accept). */
		struct unix_address *ua = inbound ? BPF_CORE_READ(us, addr)
		                                  : BPF_CORE_READ((struct unix_sock *)peer, addr);
		long n = 0;
		if (ua) {
			int len = BPF_CORE_READ(ua, len);
			char *path = (char *)ua + bpf_core_field_offset(struct unix_address, name) + 2;
			char first = 0;
			bpf_probe_read_kernel(&first, 1, path);
			if (first == 0 && len > 2) path++;
			n = bpf_probe_read_kernel_str(&b[17], 108, path);
		}
		if (n <= 0) {
			b[17] = 0;
			n = 1;
		}
		set_len(r, 17 + n);
	} else {
		b[0] = family_to_scap(family);
		set_len(r, 1);
	}
}
