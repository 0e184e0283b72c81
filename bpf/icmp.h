/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * ICMP and ICMPv6 at the VIP: echo requests answered and errors about
 * tracked flows translated to the other side. The errors xlvs originates
 * itself ("too big", "time exceeded") are built in icmp_error.h.
 *
 * Each entry point is a thin dispatcher to a *global* function that parses
 * the frame again from ctx: the verifier checks each of those once instead
 * of once per inlined call site (xmit() alone is inlined four times), and
 * inside them the family is a constant again, so v4 and v6 stay apart.
 *
 * Every packet ends in exactly one count: XLVS_EV_ICMP_ECHO / _XLATE, a
 * drop reason, or pass().
 *
 * Decisions (see also the report of issue 3):
 *  - errors whose quoted packet we cannot read (truncated, not TCP/UDP, a
 *    non-first fragment, IPv6 extension headers in the quote) pass to the
 *    kernel: they cannot be about a flow of ours;
 *  - an error to a VIP about a TCP/UDP packet from VIP:port without a flow is
 *    dropped (XLVS_DROP_BAD_ICMP) when VIP:port is a frontend, passed when it
 *    is not (then it is about the router's own traffic from the VIP address);
 *  - the quoted TCP/UDP checksum is left as it was: it covers data the quote
 *    does not hold, and no receiver checks it (IPVS leaves it too);
 *  - an error about a tun real's reply goes to the real unchanged inside the
 *    flow's outer header (the real holds the VIP and strips the header).
 */
#ifndef XLVS_ICMP_H
#define XLVS_ICMP_H

#include "maps.h"
#include "parse.h"
#include "stats.h"
#include "csum.h"
#include "fwd.h"
#include "tun.h"
#include "flow.h"
#include "vip.h"
#include "srcval.h"

#include "icmp_base.h"

/* ---- errors about flows ---- */

/* Where the quoted packet's fields are, in the frame. */
struct icmp_quote {
	struct icmp_hdr *icmp;
	struct iphdr *ip4; /* IPv4 quote: its header checksum changes with it */
	__be32 *saddr;
	__be32 *daddr;
	__be16 *sport;
	__be16 *dport;
	__u8 proto;
};

/* Finds the quoted TCP/UDP packet after the ICMP header. -1 when it is not
 * one we can read: truncated (by the frame or the error's IP length),
 * another protocol, a non-first fragment, or (IPv6) behind extension
 * headers. */
static __always_inline int icmp_quote_parse(struct xdp_md *ctx, const struct pkt *p, struct icmp_quote *q)
{
	void *end = (void *)(long)ctx->data_end;
	void *lim = p->end;
	void *pos = p->l4hdr + sizeof(struct icmp_hdr);
	struct ipv6hdr *ip6;
	struct iphdr *ip;
	__be16 *ports;

	q->icmp = p->l4hdr;
	q->ip4 = 0;
	if (p->family == XLVS_AF_INET) {
		ip = pos;
		if ((void *)(ip + 1) > end || (void *)(ip + 1) > lim || ip->version != 4 || ip->ihl < 5)
			return -1;
		if (ipv4_is_later_fragment(ip))
			return -1;
		q->ip4 = ip;
		q->proto = ip->protocol;
		q->saddr = &ip->saddr;
		q->daddr = &ip->daddr;
		ports = pos + ip->ihl * 4;
	} else {
		ip6 = pos;
		if ((void *)(ip6 + 1) > end || (void *)(ip6 + 1) > lim || ip6->version != 6)
			return -1;
		q->proto = ip6->nexthdr;
		q->saddr = ip6->saddr.in6_u.u6_addr32;
		q->daddr = ip6->daddr.in6_u.u6_addr32;
		ports = (void *)(ip6 + 1);
	}
	if (q->proto != IPPROTO_TCP && q->proto != IPPROTO_UDP)
		return -1;
	if ((void *)(ports + 2) > end || (void *)(ports + 2) > lim)
		return -1;
	q->sport = ports;
	q->dport = ports + 1;
	return 0;
}

/* The flow entry that sent the quoted packet's other direction: the quote is
 * a packet we sent, so the entry that matters is keyed by it reversed. */
static __always_inline void icmp_quote_key(struct xlvs_flow_key *k, const struct pkt *p, const struct icmp_quote *q)
{
	if (p->family == XLVS_AF_INET) {
		addr_set4(k->src, q->daddr[0]);
		addr_set4(k->dst, q->saddr[0]);
	} else {
		addr_copy(k->src, q->daddr);
		addr_copy(k->dst, q->saddr);
	}
	k->sport = *q->dport;
	k->dport = *q->sport;
	k->proto = q->proto;
	k->family = p->family;
	k->pad[0] = k->pad[1] = 0;
}

/* Outer address a -> to. ICMPv6 covers it through the pseudo-header; ICMP
 * (v4) does not, the IPv4 header checksum does. */
static __always_inline void icmp_set_outer(struct pkt *p, struct icmp_hdr *ih, __be32 *a, const __be32 *to)
{
	int i;

	if (p->family == XLVS_AF_INET) {
		p->ip4->check = csum_replace32(p->ip4->check, a[0], to[0]);
		a[0] = to[0];
		return;
	}
#pragma unroll
	for (i = 0; i < 4; i++) {
		ih->check = csum_replace32(ih->check, a[i], to[i]);
		a[i] = to[i];
	}
}

/* Quoted address a -> to; the ICMP checksum covers the quote, so it follows
 * the address and (IPv4) the quoted header checksum. */
static __always_inline void icmp_set_quoted_addr(struct pkt *p, struct icmp_quote *q, __be32 *a, const __be32 *to)
{
	__u16 old_check;
	int i;

	if (p->family == XLVS_AF_INET) {
		old_check = q->ip4->check;
		q->ip4->check = csum_replace32(old_check, a[0], to[0]);
		q->icmp->check = csum_replace32(q->icmp->check, a[0], to[0]);
		q->icmp->check = csum_replace16(q->icmp->check, old_check, q->ip4->check);
		a[0] = to[0];
		return;
	}
#pragma unroll
	for (i = 0; i < 4; i++) {
		q->icmp->check = csum_replace32(q->icmp->check, a[i], to[i]);
		a[i] = to[i];
	}
}

static __always_inline void icmp_set_quoted_port(struct icmp_quote *q, __be16 *port, __be16 to)
{
	q->icmp->check = csum_replace16(q->icmp->check, *port, to);
	*port = to;
}

/* Applies flow entry f's rewrites to an error about its opposite direction.
 * f rewrites its own packets' source (SNAT) / destination (DNAT); the quote
 * travelled the other way, so those land on the quote's destination /
 * source. The outer destination follows DNAT; the outer source follows SNAT
 * only toward the client (it then comes from the VIP, as with IPVS). */
static __always_inline void icmp_xlate(struct pkt *p, struct icmp_quote *q, const struct xlvs_flow *f, int to_real)
{
	if (f->flags & XLVS_FLOW_F_DNAT) {
		icmp_set_outer(p, q->icmp, p->daddr, f->nat_dst);
		icmp_set_quoted_addr(p, q, q->saddr, f->nat_dst);
		icmp_set_quoted_port(q, q->sport, f->nat_dport);
	}
	if (f->flags & XLVS_FLOW_F_SNAT) {
		if (!to_real)
			icmp_set_outer(p, q->icmp, p->saddr, f->nat_src);
		icmp_set_quoted_addr(p, q, q->daddr, f->nat_src);
		icmp_set_quoted_port(q, q->dport, f->nat_sport);
	}
}

/* Sends a translated error on toward dst. as_router: the router forwards it
 * (TTL-1); dr keeps the IP packet as it is. may_pass: the kernel could
 * forward the translated packet itself (its source is not ours). */
static __always_inline int icmp_forward(struct xdp_md *ctx, struct pkt *p, const __be32 *dst, int as_router, int may_pass)
{
	struct bpf_fib_lookup fib;
	long rc;

	if (as_router && fwd_ttl_expired(p)) {
		if (!may_pass)
			return drop(XLVS_DROP_FIB);
		/* The kernel discards it (no error is sent about an error). */
		stats_event(XLVS_EV_FWD_KERNEL);
		return XDP_PASS;
	}
	rc = fwd_lookup(ctx, p, p->saddr, dst, 0, &fib);
	switch (fwd_verdict(rc, may_pass)) {
	case FWD_OK:
		break;
	case FWD_KERNEL:
		stats_event(XLVS_EV_FWD_KERNEL);
		return XDP_PASS; /* translated: the kernel resolves the next hop */
	case FWD_DROP_NO_NEIGH:
		fwd_nh_miss(rc, &fib, xlvs_now());
		return drop(XLVS_DROP_NO_NEIGH);
	case FWD_TOO_BIG:
		return drop(XLVS_DROP_TOO_BIG); /* never an error about an error */
	case FWD_DROP_FIB:
	default:
		return drop(XLVS_DROP_FIB);
	}
	if (as_router)
		fwd_dec_ttl(p);
	return fwd_redirect(ctx, &fib, XLVS_EV_ICMP_XLATE);
}

/* An error about a tun real's reply: to the real unchanged (it holds the
 * VIP), inside an outer header from the local address as the flow's packets. */
static __always_inline int icmp_forward_tun(struct xdp_md *ctx, struct pkt *p, const struct xlvs_flow *f)
{
	const __be32 *src = tun_local(p->family);
	struct bpf_fib_lookup fib;
	long rc;

	if (!src)
		return drop(XLVS_DROP_NO_LOCAL);
	rc = fwd_lookup(ctx, p, src, f->nat_dst, tun_overhead(p->family), &fib);
	switch (fwd_verdict(rc, 0)) {
	case FWD_OK:
		break;
	case FWD_TOO_BIG:
		return drop(XLVS_DROP_TOO_BIG); /* never an error about an error */
	case FWD_DROP_NO_NEIGH:
		fwd_nh_miss(rc, &fib, xlvs_now());
		/* Unlike xmit(), this path has always counted the lookup's other
		 * answers (not forwarded, forwarding disabled) as fib. */
		return drop(rc == BPF_FIB_LKUP_RET_NO_NEIGH ? XLVS_DROP_NO_NEIGH : XLVS_DROP_FIB);
	case FWD_DROP_FIB:
	default:
		return drop(XLVS_DROP_FIB);
	}
	if (tun_encap(ctx, p->family, (const struct tun_addr *)src, (const struct tun_addr *)f->nat_dst))
		return XDP_DROP;
	return fwd_redirect(ctx, &fib, XLVS_EV_ICMP_XLATE);
}

/* No flow for an error to a VIP: is the quoted source VIP:port a frontend
 * (then the error is about a connection we do not know: drop), or the
 * router's own traffic from the VIP address (pass)? */
static __always_inline int icmp_quote_is_frontend(const struct xlvs_flow_key *k)
{
	struct xlvs_vip_key vk;

	__builtin_memset(&vk, 0, sizeof(vk));
	addr_copy(vk.addr, k->dst);
	vk.family = k->family;
	return vip_frontend(&vk, k->proto, k->dport) != 0;
}

/* The flow entry of direction dir keyed by k, if alive. */
static __always_inline struct xlvs_flow *icmp_flow(const struct xlvs_flow_key *k, __u8 dir, __u64 now)
{
	struct xlvs_flow *f = bpf_map_lookup_elem(&flows, k);

	return flow_live(f, dir, now) ? f : 0;
}

/* An error to the VIP about a reply we sent (VIP:vport -> client:cport):
 * translated for the real that holds the connection. */
static __always_inline int icmp_error_public(struct xdp_md *ctx, struct pkt *p, __u64 now)
{
	struct icmp_quote q;
	struct xlvs_flow *f;
	struct scratch *s;
	__u32 zero = 0;

	if (icmp_quote_parse(ctx, p, &q))
		return pass();
	s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return drop(XLVS_DROP_BAD_ICMP);
	icmp_quote_key(&s->rk, p, &q);
	f = icmp_flow(&s->rk, XLVS_DIR_FORWARD, now);
	if (!f)
		return icmp_quote_is_frontend(&s->rk) ? drop(XLVS_DROP_BAD_ICMP) : pass();
	/* Not from a source the public side never sees (srcval.h). */
	if (srcval_refuse_pkt(ctx, p))
		return drop(XLVS_DROP_MARTIAN);
	switch (f->method) {
	case XLVS_METHOD_DR:
		/* The real holds the VIP: the error goes to it unchanged. */
		return icmp_forward(ctx, p, f->nat_dst, 0, 0);
	case XLVS_METHOD_TUN:
		return icmp_forward_tun(ctx, p, f);
	default:
		icmp_xlate(p, &q, f, 1);
		return icmp_forward(ctx, p, p->daddr, 1, 1);
	}
}

/* An error from the private side about a packet we forwarded (client:cport
 * or, fullnat, local:lport -> real:rport): translated for the client. */
static __always_inline int icmp_error_private(struct xdp_md *ctx, struct pkt *p, __u64 now)
{
	struct icmp_quote q;
	struct xlvs_flow *f;
	struct scratch *s;
	__u32 zero = 0;

	if (icmp_quote_parse(ctx, p, &q))
		return pass();
	s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return pass();
	icmp_quote_key(&s->rk, p, &q);
	f = icmp_flow(&s->rk, XLVS_DIR_REPLY, now);
	/* dr/tun reply entries rewrite nothing: those reals answer directly. */
	if (!f || !(f->flags & (XLVS_FLOW_F_SNAT | XLVS_FLOW_F_DNAT)))
		return pass();
	icmp_xlate(p, &q, f, 0);
	/* Its source is now the VIP, one of the router's addresses: the kernel
	 * would take it for a martian, so it is never handed over. */
	return icmp_forward(ctx, p, p->daddr, 1, 0);
}

static __always_inline int icmp_public_fam(struct xdp_md *ctx, __u64 now, const __u8 fam)
{
	struct icmp_hdr *ih;
	struct pkt p;

	if (parse_packet(ctx, &p, fam) || !icmp_of_family(&p) || !p.l4hdr)
		return pass();
	ih = p.l4hdr;
	if (ih->type == (fam == XLVS_AF_INET ? ICMP4_ECHO : ICMP6_ECHO_REQUEST) && ih->code == 0) {
		if (srcval_refuse_pkt(ctx, &p))
			return drop(XLVS_DROP_MARTIAN);
		return icmp_echo(&p, ih);
	}
	if (!icmp_is_xlate_error(&p, ih->type))
		return pass();
	return icmp_error_public(ctx, &p, now);
}

static __always_inline int icmp_private_fam(struct xdp_md *ctx, __u64 now, const __u8 fam)
{
	struct icmp_hdr *ih;
	struct pkt p;

	if (parse_packet(ctx, &p, fam) || !icmp_of_family(&p) || !p.l4hdr)
		return pass();
	ih = p.l4hdr;
	if (!icmp_is_xlate_error(&p, ih->type))
		return pass();
	return icmp_error_private(ctx, &p, now);
}

/* Global: verified once, whatever inlines the dispatchers below. */
__noinline int icmp_public_any(struct xdp_md *ctx, __u64 now, __u32 fam)
{
	if (fam == XLVS_AF_INET)
		return icmp_public_fam(ctx, now, XLVS_AF_INET);
	return icmp_public_fam(ctx, now, XLVS_AF_INET6);
}

__noinline int icmp_private_any(struct xdp_md *ctx, __u64 now, __u32 fam)
{
	if (fam == XLVS_AF_INET)
		return icmp_private_fam(ctx, now, XLVS_AF_INET);
	return icmp_private_fam(ctx, now, XLVS_AF_INET6);
}

/* ---- what the programs call ---- */

/* ICMP/ICMPv6 to a VIP address, arriving on the public side. */
static __always_inline int icmp_public(struct xdp_md *ctx, struct pkt *p, __u64 now)
{
	return icmp_public_any(ctx, now, p->family);
}

/* ICMP/ICMPv6 arriving on the private side (errors from or about reals). */
static __always_inline int icmp_private(struct xdp_md *ctx, struct pkt *p, __u64 now)
{
	return icmp_private_any(ctx, now, p->family);
}

#endif /* XLVS_ICMP_H */
