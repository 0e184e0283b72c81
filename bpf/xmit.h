/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * Sending a packet of a tracked flow on its way, by the real's method:
 *   nat      rewrite per the flow entry, route, TTL-1, redirect
 *   fullnat  the same (the entry rewrites source and destination)
 *   dr       route to the real's address, keep the IP packet, new MACs
 *   tun      route to the real, prepend an outer header from the local address
 * Replies of every method are rewritten per their entry and routed.
 */
#ifndef XLVS_XMIT_H
#define XLVS_XMIT_H

#include "parse.h"
#include "nat.h"
#include "fwd.h"
#include "icmp_error.h"
#include "tun.h"

/* The router's local address for this family (fullnat source, tun outer
 * source), NULL if unset. */
static __always_inline const __be32 *xmit_local(__u8 family)
{
	return tun_local(family);
}

static __always_inline void xmit_rewrite(struct pkt *p, const struct xlvs_flow *f)
{
	if (f->flags & XLVS_FLOW_F_SNAT)
		nat_rewrite(p, 0, f->nat_src, f->nat_sport);
	if (f->flags & XLVS_FLOW_F_DNAT)
		nat_rewrite(p, 1, f->nat_dst, f->nat_dport);
}

/* Hands a NAT packet toward a real to the kernel, translated: it forwards
 * it (fragments it, resolves the neighbour). Not for a packet whose TTL
 * runs out here: the kernel's time exceeded would quote the translated
 * packet, the real's address in it. */
static __always_inline int xmit_kernel(struct pkt *p, const struct xlvs_flow *f)
{
	xmit_rewrite(p, f);
	stats_event(XLVS_EV_FWD_KERNEL);
	return XDP_PASS;
}

static __always_inline int xmit(struct xdp_md *ctx, struct pkt *p, struct xlvs_flow *f, __u64 now)
{
	int to_real = f->dir == XLVS_DIR_FORWARD;
	int tun = to_real && f->method == XLVS_METHOD_TUN;
	int dr = to_real && f->method == XLVS_METHOD_DR;
	/* Only a NAT packet toward a real may be handed to the kernel: its source
	 * is the client's. Every other one carries a local or VIP source address,
	 * which the kernel drops as martian on input. */
	int kernel_ok = to_real && f->method == XLVS_METHOD_NAT;
	const __be32 *src, *dst;
	struct bpf_fib_lookup fib;
	__u32 extra = 0;
	long rc;

	/* Where the packet goes after its rewrites; pointers, not copies (into
	 * the flow entry, the cfg map or the packet itself). */
	src = (f->flags & XLVS_FLOW_F_SNAT) ? f->nat_src : p->saddr;
	dst = ((f->flags & XLVS_FLOW_F_DNAT) || tun || dr) ? f->nat_dst : p->daddr;
	if (tun) {
		src = f->nat_src; /* the local address, checked when the flow was made */
		extra = tun_overhead(p->family);
	}

	/* A packet that is forwarded as the router (not handed to a real on the
	 * same link as the VIP's owner) costs a TTL; the last one is answered
	 * here, about the packet as it came in. */
	if (!tun && !dr && fwd_ttl_expired(p))
		return icmp_time_exceeded(ctx, p, f);

	rc = fwd_lookup_flow(ctx, p, src, dst, extra, &fib, f, now);
	switch (fwd_verdict(rc, kernel_ok)) {
	case FWD_OK:
		break;
	case FWD_KERNEL:
		return xmit_kernel(p, f);
	case FWD_DROP_NO_NEIGH:
		fwd_nh_miss(rc, &fib, now);
		return drop(XLVS_DROP_NO_NEIGH);
	case FWD_TOO_BIG:
		/* IPv4 without DF may be fragmented: the kernel does that for NAT
		 * toward a real. Any other packet carries a VIP or local source
		 * the kernel drops as martian (or, a dr packet, the VIP as its
		 * destination, which it would take for its own), and XDP cannot
		 * fragment: dropped and counted (need_frag), where IPVS would
		 * fragment. */
		if (p->family == XLVS_AF_INET && !ipv4_df(p->ip4)) {
			if (kernel_ok)
				return xmit_kernel(p, f);
			return drop(XLVS_DROP_NEED_FRAG);
		}
		return icmp_too_big(ctx, p, f, fib.mtu_result > extra ? fib.mtu_result - extra : 0);
	case FWD_DROP_FIB:
	default:
		return drop(XLVS_DROP_FIB);
	}

	/* A tun entry rewrites nothing (flow_methods): the client's packet
	 * travels unchanged inside the outer header. */
	if (tun) {
		if (tun_encap(ctx, p->family, (const struct tun_addr *)src, (const struct tun_addr *)dst))
			return XDP_DROP;
		return fwd_redirect(ctx, &fib, XLVS_EV_FWD);
	}
	xmit_rewrite(p, f);
	if (!dr)
		fwd_dec_ttl(p);
	return fwd_redirect(ctx, &fib, XLVS_EV_FWD);
}

#endif /* XLVS_XMIT_H */
