/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * ICMP errors xlvs originates, from the packet as it came in (before any
 * translation, so a real's address never shows): "fragmentation needed" /
 * "packet too big" for a packet the next hop cannot take (path MTU
 * discovery through the router), "time exceeded" for one whose TTL / hop
 * limit runs out here (traceroute through a VIP). One builder per family
 * grows the frame at the head so the original IP header lands where the
 * quote goes, writes the new headers, checksums the quote and cuts the
 * tail; it is reached through one global function, verified once.
 *
 * Every packet ends in exactly one count: XLVS_EV_ICMP_TOO_BIG /
 * _TIME_EXCEEDED, or a drop reason (too_big, fib, need_frag).
 */
#ifndef XLVS_ICMP_ERROR_H
#define XLVS_ICMP_ERROR_H

#include "icmp.h"

/* What an error built here says (icmp_error_any's kind). */
enum icmp_err_kind {
	ICMP_ERR_TOO_BIG = 1,       /* frag needed / packet too big; info: the MTU */
	ICMP_ERR_TIME_EXCEEDED = 2, /* TTL / hop limit exceeded in transit */
};
/* Or'ed into kind: the error comes from *src, not from the packet's own
 * destination (the VIP, toward a client). */
#define ICMP_ERR_F_SRC 0x100

/* RFC 1812 4.3.2.7 / RFC 4443 2.4(e): no error about an error, about a
 * fragment other than the first, or to a source that is not one host. */
static __always_inline int icmp_may_answer(const struct pkt *p)
{
	const struct icmp_hdr *ih = p->l4hdr;

	if (icmp_bad_source(p))
		return 0;
	if (p->family == XLVS_AF_INET) {
		if (ipv4_is_later_fragment(p->ip4))
			return 0;
		if (p->proto == IPPROTO_ICMP)
			return ih && (ih->type == ICMP4_ECHO || ih->type == ICMP4_ECHO_REPLY);
	} else {
		if (p->frag_later)
			return 0;
		if (p->proto == IPPROTO_ICMPV6)
			return ih && ih->type >= ICMP6_INFO_MIN;
	}
	return 1;
}

/* The reason counted when the error cannot be sent. */
static __always_inline __u32 icmp_err_drop(__u32 kind)
{
	return (kind & 0xff) == ICMP_ERR_TOO_BIG ? XLVS_DROP_TOO_BIG : XLVS_DROP_FIB;
}

static __always_inline void icmp_err_header(struct icmp_hdr *ih, __u32 kind, __u32 info, const __u8 fam)
{
	ih->check = 0;
	ih->un.unused = 0;
	if ((kind & 0xff) == ICMP_ERR_TOO_BIG) {
		ih->type = fam == XLVS_AF_INET ? ICMP4_DEST_UNREACH : ICMP6_PKT_TOOBIG;
		ih->code = fam == XLVS_AF_INET ? ICMP4_FRAG_NEEDED : 0;
		if (fam == XLVS_AF_INET)
			ih->un.frag.mtu = bpf_htons(info);
		else
			ih->un.mtu6 = bpf_htonl(info);
	} else {
		/* Code 0 in both: TTL / hop limit exceeded in transit. */
		ih->type = fam == XLVS_AF_INET ? ICMP4_TIME_EXCEEDED : ICMP6_TIME_EXCEED;
		ih->code = 0;
	}
}

/* IPv4: [eth][ip 20][icmp 8][quoted header + 8 bytes of data, RFC 792].
 * The frame grows by 28 bytes at the head, which leaves the original IP
 * header exactly where the quote goes; the tail is then cut after the
 * quote. The source is what the sender wrote as destination (the VIP), so
 * the sender accepts it as coming from the host it talks to, as with IPVS
 * (the kernel's icmp_send answers from the local address a packet was
 * sent to); or *src with ICMP_ERR_F_SRC. */
static __always_inline int icmp_error4(struct xdp_md *ctx, __u32 kind, __u32 info, const __be32 *src)
{
	__u32 why = icmp_err_drop(kind), qlen, tot;
	struct iphdr *ip, *quote;
	struct ethhdr eth, *e;
	struct icmp_hdr *ih;
	__be32 to, from;
	void *data, *end;
	struct pkt p;
	__u64 sum;

	if (parse_packet(ctx, &p, XLVS_AF_INET) || !icmp_may_answer(&p))
		return drop(why);
	if ((kind & 0xff) == ICMP_ERR_TOO_BIG) {
		/* Without DF the sender asked to be fragmented, which XDP cannot
		 * do; a frag-needed would be a lie (RFC 1191 sends it for DF only). */
		if (!ipv4_df(p.ip4))
			return drop(XLVS_DROP_NEED_FRAG);
		if (info < 68 || info > 0xffff)
			return drop(why);
	}
	__builtin_memcpy(&eth, p.eth, sizeof(eth));
	to = p.ip4->saddr;
	from = (kind & ICMP_ERR_F_SRC) ? src[0] : p.ip4->daddr;
	tot = bpf_ntohs(p.ip4->tot_len);
	qlen = p.ip4->ihl * 4 + 8;
	if (qlen > tot)
		qlen = tot;

	if (bpf_xdp_adjust_head(ctx, -(int)(sizeof(struct iphdr) + sizeof(struct icmp_hdr))))
		return drop(why);
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	e = data;
	ip = (void *)(e + 1);
	ih = (void *)(ip + 1);
	quote = (void *)(ih + 1);
	if ((void *)(quote + 1) > end)
		return drop(why);

	__builtin_memcpy(e->h_dest, eth.h_source, ETH_ALEN);
	__builtin_memcpy(e->h_source, eth.h_dest, ETH_ALEN);
	e->h_proto = eth.h_proto;

	icmp_err_header(ih, kind, info, XLVS_AF_INET);
	sum = (__u32)bpf_csum_diff(0, 0, (__be32 *)ih, sizeof(*ih), 0);
	/* qlen <= 60 + 8: one chunk and a few words at most. */
	if (csum_pkt_bytes(quote, qlen & 0x7f, end, 1, &sum))
		return drop(why);
	ih->check = ~csum_fold64(sum);

	*(__u16 *)ip = bpf_htons(0x4500 | 0xc0); /* version 4, ihl 5, tos internetwork control */
	ip->tot_len = bpf_htons(sizeof(*ip) + sizeof(*ih) + qlen);
	ip->id = 0;
	ip->frag_off = 0;
	ip->ttl = ICMP_TTL;
	ip->protocol = IPPROTO_ICMP;
	ip->check = 0;
	ip->saddr = from;
	ip->daddr = to;
	ip->check = csum_ip4_hdr(ip);

	/* The frame's length from before the head grew (p.len, a number): the
	 * verifier refuses arithmetic on data_end. */
	if (bpf_xdp_adjust_tail(ctx, (int)(sizeof(*e) + qlen) - (int)p.len))
		return drop(why);
	stats_event((kind & 0xff) == ICMP_ERR_TOO_BIG ? XLVS_EV_ICMP_TOO_BIG : XLVS_EV_ICMP_TIME_EXCEEDED);
	return XDP_TX;
}

/* IPv6: [eth][ip6 40][icmp6 8][as much of the packet as fits in 1280
 * bytes, RFC 4443 2.4(c)]. Source as icmp_error4. */
static __always_inline int icmp_error6(struct xdp_md *ctx, __u32 kind, __u32 info, const __be32 *src)
{
	__u32 why = icmp_err_drop(kind), qlen, plen;
	struct in6_addr to, from;
	struct ethhdr eth, *e;
	struct ipv6hdr *ip6;
	struct icmp_hdr *ih;
	void *data, *end;
	struct pkt p;
	__u64 sum;

	if (parse_packet(ctx, &p, XLVS_AF_INET6) || !icmp_may_answer(&p))
		return drop(why);
	__builtin_memcpy(&eth, p.eth, sizeof(eth));
	__builtin_memcpy(&to, &p.ip6->saddr, sizeof(to));
	if (kind & ICMP_ERR_F_SRC)
		__builtin_memcpy(&from, src, sizeof(from));
	else
		__builtin_memcpy(&from, &p.ip6->daddr, sizeof(from));
	qlen = sizeof(struct ipv6hdr) + bpf_ntohs(p.ip6->payload_len);
	if (qlen > ICMP6_QUOTE)
		qlen = ICMP6_QUOTE;
	plen = sizeof(struct icmp_hdr) + qlen;

	if (bpf_xdp_adjust_head(ctx, -(int)(sizeof(struct ipv6hdr) + sizeof(struct icmp_hdr))))
		return drop(why);
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	e = data;
	ip6 = (void *)(e + 1);
	ih = (void *)(ip6 + 1);
	if ((void *)(ih + 1) > end)
		return drop(why);

	__builtin_memcpy(e->h_dest, eth.h_source, ETH_ALEN);
	__builtin_memcpy(e->h_source, eth.h_dest, ETH_ALEN);
	e->h_proto = eth.h_proto;

	*(__be32 *)ip6 = bpf_htonl(6 << 28); /* version, no traffic class, no flow label */
	ip6->payload_len = bpf_htons(plen);
	ip6->nexthdr = IPPROTO_ICMPV6;
	ip6->hop_limit = ICMP_TTL;
	ip6->saddr = from;
	ip6->daddr = to;

	icmp_err_header(ih, kind, info, XLVS_AF_INET6);
	/* Pseudo-header (addresses, upper-layer length, next header), the
	 * ICMPv6 header, then the quote (at most 1232 bytes: 19 chunks and a
	 * few words). */
	sum = (__u32)bpf_csum_diff(0, 0, (__be32 *)&ip6->saddr, 32, 0);
	sum += bpf_htonl(plen);
	sum += bpf_htonl(IPPROTO_ICMPV6);
	sum += (__u32)bpf_csum_diff(0, 0, (__be32 *)ih, sizeof(*ih), 0);
	if (csum_pkt_bytes(ih + 1, qlen & 0x7ff, end, ICMP6_QUOTE / 64, &sum))
		return drop(why);
	ih->check = ~csum_fold64(sum);

	if (bpf_xdp_adjust_tail(ctx, (int)(sizeof(*e) + qlen) - (int)p.len))
		return drop(why);
	stats_event((kind & 0xff) == ICMP_ERR_TOO_BIG ? XLVS_EV_ICMP_TOO_BIG : XLVS_EV_ICMP_TIME_EXCEEDED);
	return XDP_TX;
}

/* Global: verified once, whatever inlines the callers below. src: an
 * address of the family, read only with ICMP_ERR_F_SRC in kind. */
__noinline int icmp_error_any(struct xdp_md *ctx, __u32 kind, __u32 info, const struct tun_addr *src, __u32 fam)
{
	if (!ctx || !src)
		return drop(icmp_err_drop(kind));
	if (fam == XLVS_AF_INET)
		return icmp_error4(ctx, kind, info, src->a);
	return icmp_error6(ctx, kind, info, src->a);
}

/* ---- what xmit() calls ---- */

/* Where an error we send about the packet of flow entry f comes from:
 * returns ICMP_ERR_F_SRC with the address in *src, or 0 for the packet's
 * own destination. Toward a client (a forward entry) that is the VIP, what
 * the kernel answers from for a local destination. Toward a real (its
 * reply's error) the router speaks: its local address on the private side
 * (cfg; the kernel would pick an address of that interface), else the VIP
 * the reply entry puts back; a dr/tun reply without a local address keeps
 * the packet's destination (the client), as before. */
static __always_inline __u32 icmp_source(const struct pkt *p, const struct xlvs_flow *f, struct tun_addr *src)
{
	const __be32 *local;

	if (f->dir != XLVS_DIR_REPLY)
		return 0;
	local = tun_local(p->family);
	if (local) {
		addr_copy(src->a, local);
		return ICMP_ERR_F_SRC;
	}
	if (f->flags & XLVS_FLOW_F_SNAT) {
		addr_copy(src->a, f->nat_src);
		return ICMP_ERR_F_SRC;
	}
	return 0;
}

/* The packet of flow entry f (not yet rewritten) does not fit the next
 * hop's MTU `mtu`: answer its sender with fragmentation needed / packet
 * too big. Packet pointers are invalid afterwards. */
static __always_inline int icmp_too_big(struct xdp_md *ctx, struct pkt *p, const struct xlvs_flow *f, __u32 mtu)
{
	struct tun_addr src = {};
	__u32 kind = ICMP_ERR_TOO_BIG | icmp_source(p, f, &src);

	return icmp_error_any(ctx, kind, mtu, &src, p->family);
}

/* The packet of flow entry f runs out of TTL / hop limit here (the router
 * is a hop on its way): answer its sender with time exceeded, quoting the
 * packet as it came in, so that a traceroute through a VIP never shows a
 * real's address (the kernel's error would quote the translated packet).
 * Packet pointers are invalid afterwards. */
static __always_inline int icmp_time_exceeded(struct xdp_md *ctx, struct pkt *p, const struct xlvs_flow *f)
{
	struct tun_addr src = {};
	__u32 kind = ICMP_ERR_TIME_EXCEEDED | icmp_source(p, f, &src);

	return icmp_error_any(ctx, kind, 0, &src, p->family);
}

#endif /* XLVS_ICMP_ERROR_H */
