/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * LVS-TUN: the client's packet, unchanged, inside an outer IP header from
 * the router's local address to the real (IPIP / IPv6-in-IPv6). Real servers
 * without an ipip module strip it with bpf/xlvs_decap.bpf.c.
 *
 * The core keeps a real's family equal to its VIP's, so the outer family is
 * the inner one: IPv4 protocol 4 (IPIP) or IPv6 next header 41.
 */
#ifndef XLVS_TUN_H
#define XLVS_TUN_H

#include "maps.h"
#include "parse.h"
#include "stats.h"
#include "csum.h"
#include "fwd.h"

#define XLVS_TUN_TTL 64

/* A failed encapsulation: counted here, -1 for tun_encap to return. */
static __always_inline int tun_drop(void)
{
	stats_drop(XLVS_DROP_ENCAP);
	return -1;
}

/* The router's local address for this family (the outer source), NULL if unset. */
static __always_inline const __be32 *tun_local(__u8 family)
{
	__u32 zero = 0;
	struct xlvs_cfg *c = bpf_map_lookup_elem(&cfg, &zero);

	if (!c)
		return 0;
	if (family == XLVS_AF_INET6)
		return (c->has_local & 2) ? c->local6 : 0;
	return (c->has_local & 1) ? c->local4 : 0;
}

/* Bytes the outer header adds for a real of this family. */
static __always_inline __u32 tun_overhead(__u8 family)
{
	return family == XLVS_AF_INET6 ? sizeof(struct ipv6hdr) : sizeof(struct iphdr);
}

/* What the outer header copies from the inner one; read before the frame
 * moves, since adjust_head invalidates every packet pointer. */
struct tun_inner {
	__u16 len;     /* inner IP packet length (not the frame: it may be padded) */
	__u8 tos;      /* v4 TOS / v6 traffic class: QoS and ECN stay visible outside */
	__u8 df;       /* v4: the inner DF bit, so PMTU discovery keeps working */
};

/* An address as the ABI stores it, as a type of known size: a global
 * function's pointer argument must say how many bytes it may read. */
struct tun_addr {
	__be32 a[4];
};

static __always_inline void tun_outer4(struct iphdr *ip, const struct tun_inner *in, const __be32 *src,
				       const __be32 *dst)
{
	ip->version = 4;
	ip->ihl = sizeof(*ip) / 4;
	ip->tos = in->tos;
	ip->tot_len = bpf_htons(in->len + sizeof(*ip));
	/* RFC 6864: an atomic datagram (DF set, not a fragment) may carry any
	 * ID; one that may be fragmented needs an ID unique for its (source,
	 * destination, protocol) while its fragments may live. The outer
	 * header's triple is shared by every client of the real, so the inner
	 * ID would collide: a random one instead, never 0. */
	ip->id = in->df ? 0 : bpf_htons((bpf_get_prandom_u32() % 0xffff) + 1);
	ip->frag_off = in->df ? bpf_htons(XLVS_IP4_DF) : 0;
	ip->ttl = XLVS_TUN_TTL;
	ip->protocol = IPPROTO_IPIP;
	ip->check = 0;
	ip->saddr = src[0];
	ip->daddr = dst[0];
	ip->check = csum_ip4_hdr(ip);
}

static __always_inline void tun_outer6(struct ipv6hdr *ip6, const struct tun_inner *in, const __be32 *src,
				       const __be32 *dst)
{
	ip6->version = 6;
	ip6->priority = in->tos >> 4;
	ip6->flow_lbl[0] = (in->tos & 0xf) << 4;
	ip6->flow_lbl[1] = 0;
	ip6->flow_lbl[2] = 0;
	ip6->payload_len = bpf_htons(in->len);
	ip6->nexthdr = IPPROTO_IPV6;
	ip6->hop_limit = XLVS_TUN_TTL;
	addr_copy(ip6->saddr.in6_u.u6_addr32, src);
	addr_copy(ip6->daddr.in6_u.u6_addr32, dst);
}

/* Reads what the outer header needs from the inner one at the frame's start. */
static __always_inline int tun_inner_of(struct xdp_md *ctx, __u32 family, struct tun_inner *in)
{
	struct ethhdr *eth = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;

	if (family == XLVS_AF_INET) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > end)
			return -1;
		in->len = bpf_ntohs(ip->tot_len);
		in->tos = ip->tos;
		in->df = ipv4_df(ip);
	} else {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > end)
			return -1;
		in->len = bpf_ntohs(ip6->payload_len) + sizeof(*ip6);
		in->tos = (ip6->priority << 4) | (ip6->flow_lbl[0] >> 4);
		in->df = 0;
	}
	return 0;
}

/* Prepends the outer header; 0, or -1 after counting the drop. The caller
 * writes the MACs and redirects (and counts that). A global function, so
 * the verifier checks it once instead of on every path of the packet
 * programs that reaches xmit() (inlined, it cost xlvs_public ~20k more
 * instructions processed). Packet pointers the caller holds are invalid
 * afterwards. */
__noinline int tun_encap(struct xdp_md *ctx, __u32 family, const struct tun_addr *src, const struct tun_addr *dst)
{
	struct tun_inner in;
	struct ethhdr *eth;
	void *end;

	if (!ctx || !src || !dst || tun_inner_of(ctx, family, &in) || bpf_xdp_adjust_head(ctx, -(int)tun_overhead(family)))
		return tun_drop();
	eth = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	if (family == XLVS_AF_INET) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > end)
			return tun_drop();
		eth->h_proto = bpf_htons(ETH_P_IP);
		tun_outer4(ip, &in, src->a, dst->a);
	} else {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > end)
			return tun_drop();
		eth->h_proto = bpf_htons(ETH_P_IPV6);
		tun_outer6(ip6, &in, src->a, dst->a);
	}
	return 0;
}

#endif /* XLVS_TUN_H */
