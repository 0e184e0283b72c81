/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* Address and port translation with incremental checksum updates. */
#ifndef XLVS_NAT_H
#define XLVS_NAT_H

#include "flow.h"
#include "csum.h"

enum nat_side { NAT_SRC, NAT_DST };

/* Rewrites the packet's source or destination address and port. The L4
 * checksum covers the addresses through the pseudo-header, so it changes
 * with both. A UDP checksum of 0 means "none" and stays 0; a computed 0 is
 * sent as 0xffff (RFC 768). */
static __always_inline void nat_rewrite(struct iphdr *ip, struct l4 *l4, enum nat_side side,
					__be32 addr, __be16 port)
{
	__be32 *a = side == NAT_DST ? &ip->daddr : &ip->saddr;
	__be16 *p = side == NAT_DST ? l4->dport : l4->sport;
	__u16 c;

	ip->check = csum_replace32(ip->check, *a, addr);
	if (l4->check) {
		c = csum_replace32(*l4->check, *a, addr);
		c = csum_replace16(c, *p, port);
		if (l4->proto == IPPROTO_UDP && c == 0)
			c = 0xffff;
		*l4->check = c;
	}
	*a = addr;
	*p = port;
}

#endif /* XLVS_NAT_H */
