/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * Source validation on the public side: what the kernel's martian checks and
 * rp_filter would refuse before routing, done for the packets that would
 * open a flow (a flow's later packets are keyed by a source already judged).
 * XDP runs before the kernel's own checks, so without this a SYN from
 * 127.0.0.1, a VIP or a host of the private LAN is translated and delivered
 * to a real, which trusts it as an inside address.
 *
 * ICMP to a VIP is held to the same: an echo request (answered from the
 * VIP), and an error about a flow (handed on to its real).
 *
 * In order, the first that decides:
 *  1. srcval_prefixes, longest match: ALLOW lets the source through, DENY
 *     refuses it (the admin's allow: and deny: lists);
 *  2. fixed martians, which no router forwards from outside (srcval_fixed);
 *  3. our own addresses: a VIP (its vips address entry), the local address
 *     of full-NAT and tun (cfg);
 *  4. the route back (a FIB lookup with the source as destination, as
 *     rp_filter does): none, or to a local, broadcast or multicast address,
 *     refuses; STRICT wants it to leave by the interface the packet came in
 *     on, LOOSE by any but the private one. An answer that cannot be judged
 *     (forwarding disabled on the interface, a lightweight-tunnel route)
 *     lets the source through: steps 1-3 still held.
 */
#ifndef XLVS_SRCVAL_H
#define XLVS_SRCVAL_H

#include "maps.h"
#include "addr.h"
#include "parse.h"

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif

/* Sources that are never valid from outside, whatever the routes:
 * IPv4 0/8 ("this network"), 127/8, 169.254/16 (link-local: a router never
 * forwards it, RFC 3927), 224/4 multicast, 240/4 reserved and broadcast;
 * IPv6 ::/96 (unspecified, loopback and the deprecated v4-compatible),
 * ::ffff:0:0/96 (v4-mapped: never on the wire, RFC 4291), fe80::/10
 * (link-local: a router never forwards it), ff00::/8 multicast. */
static __always_inline int srcval_fixed(const __be32 *a, __u8 family)
{
	__u32 w0 = bpf_ntohl(a[0]);

	if (family == XLVS_AF_INET) {
		__u32 top = w0 >> 24;

		return top == 0 || top == 127 || top >= 224 || (w0 >> 16) == 0xa9fe;
	}
	if ((w0 >> 24) == 0xff || (w0 & 0xffc00000) == 0xfe800000)
		return 1;
	return a[0] == 0 && a[1] == 0 && (a[2] == 0 || a[2] == bpf_htonl(0xffff));
}

/* One of our own addresses: a VIP, or the local address of its family. */
static __always_inline int srcval_own(const struct xlvs_flow_key *k)
{
	struct xlvs_vip_key vk = {};
	struct xlvs_cfg *c;
	__u32 zero = 0;

	addr_copy(vk.addr, k->src);
	vk.family = k->family;
	if (bpf_map_lookup_elem(&vips, &vk))
		return 1;
	c = bpf_map_lookup_elem(&cfg, &zero);
	if (!c)
		return 0;
	if (k->family == XLVS_AF_INET)
		return (c->has_local & 1) && addr_eq(c->local4, k->src);
	return (c->has_local & 2) && addr_eq(c->local6, k->src);
}

/* The route back to the source, judged for the mode (see the top). The
 * lookup's 64 bytes live in this CPU's scratch: on the stack they took the
 * ICMP path (xlvs_public -> icmp_public_any -> srcval_refuse) past the
 * verifier's 512 bytes over all frames. */
static __always_inline int srcval_route(struct xdp_md *ctx, const struct xlvs_flow_key *k,
					const struct xlvs_srcval *sv)
{
	__u32 ingress = ctx->ingress_ifindex, zero = 0;
	struct bpf_fib_lookup *fib;
	struct scratch *s;
	long rc;

	s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return 0;
	fib = &s->fib;
	__builtin_memset(fib, 0, sizeof(*fib));
	/* As the kernel would route a packet back: from the VIP to the source. */
	fib->ifindex = ingress;
	fib->l4_protocol = k->proto;
	fib->sport = k->dport;
	fib->dport = k->sport;
	if (k->family == XLVS_AF_INET) {
		fib->family = AF_INET;
		fib->ipv4_src = k->dst[0];
		fib->ipv4_dst = k->src[0];
	} else {
		fib->family = AF_INET6;
		__builtin_memcpy(fib->ipv6_src, k->dst, 16);
		__builtin_memcpy(fib->ipv6_dst, k->src, 16);
	}
	rc = bpf_fib_lookup(ctx, fib, sizeof(*fib), 0);
	switch (rc) {
	case BPF_FIB_LKUP_RET_SUCCESS:
	case BPF_FIB_LKUP_RET_NO_NEIGH: /* the route is known: fib->ifindex is its device */
		break;
	case BPF_FIB_LKUP_RET_NOT_FWDED: /* local, broadcast, multicast; IPv6: no route */
	case BPF_FIB_LKUP_RET_BLACKHOLE:
	case BPF_FIB_LKUP_RET_UNREACHABLE:
	case BPF_FIB_LKUP_RET_PROHIBIT:
		return 1;
	default:
		return 0;
	}
	if (sv->mode == XLVS_SRCVAL_STRICT)
		return fib->ifindex != ingress;
	return sv->private_ifindex && fib->ifindex == sv->private_ifindex;
}

/* Whether a packet that would open a flow with key k (or an ICMP packet to a
 * VIP, srcval_refuse_pkt) must be dropped as martian. A global function:
 * verified once for both callers. */
__noinline int srcval_refuse(struct xdp_md *ctx, const struct xlvs_flow_key *k)
{
	struct xlvs_srcval_key pk;
	struct xlvs_srcval_prefix *pref;
	struct xlvs_srcval *sv;
	__u32 zero = 0;

	if (!k)
		return 0;
	sv = bpf_map_lookup_elem(&srcval, &zero);
	if (!sv || sv->mode == XLVS_SRCVAL_OFF)
		return 0;
	pk.prefixlen = 32 + 128;
	pk.family = k->family;
	addr_copy(pk.addr, k->src);
	pref = bpf_map_lookup_elem(&srcval_prefixes, &pk);
	if (pref)
		return pref->action == XLVS_SRCVAL_DENY;
	if (srcval_fixed(k->src, k->family) || srcval_own(k))
		return 1;
	return srcval_route(ctx, k, sv);
}

/* srcval_refuse() for an ICMP packet to a VIP: its addresses, no ports (the
 * key in this CPU's scratch, for the stack's sake as in srcval_route). */
static __always_inline int srcval_refuse_pkt(struct xdp_md *ctx, const struct pkt *p)
{
	struct xlvs_flow_key *k;
	struct scratch *s;
	__u32 zero = 0;

	s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return 0;
	k = &s->sk;
	__builtin_memset(k, 0, sizeof(*k));
	pkt_addrs(p, k->src, k->dst);
	k->proto = p->proto;
	k->family = p->family;
	return srcval_refuse(ctx, k);
}

#endif /* XLVS_SRCVAL_H */
