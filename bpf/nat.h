/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* Address and port translation with incremental checksum updates. */
#ifndef XLVS_NAT_H
#define XLVS_NAT_H

#include "parse.h"
#include "csum.h"

/* The L4 checksum after a change from -> to of a 32-bit word it covers. */
static __always_inline void l4_csum32(struct pkt *p, __be32 from, __be32 to)
{
	if (p->l4.check)
		*p->l4.check = csum_replace32(*p->l4.check, from, to);
}

/* A UDP checksum that computes to 0 is sent as 0xffff (RFC 768/8200). */
static __always_inline void l4_csum_fixup(struct pkt *p)
{
	if (p->l4.check && p->proto == IPPROTO_UDP && *p->l4.check == 0)
		*p->l4.check = 0xffff;
}

/* Rewrites the source (dst == 0) or destination address and port. The L4
 * checksum covers the addresses through the pseudo-header, so it changes with
 * both; IPv4's header checksum with the address. The transport checksum
 * covers a whole datagram but sits in its first fragment: an incremental
 * update there is right for the datagram, and a later fragment (no
 * transport header: l4.sport NULL) only has its addresses rewritten. */
static __always_inline void nat_rewrite(struct pkt *p, int dst, const __be32 *addr, __be16 port)
{
	__be16 *pp = dst ? p->l4.dport : p->l4.sport;
	__be32 *a = dst ? p->daddr : p->saddr;
	int i;

	if (p->family == XLVS_AF_INET) {
		p->ip4->check = csum_replace32(p->ip4->check, a[0], addr[0]);
		l4_csum32(p, a[0], addr[0]);
		a[0] = addr[0];
	} else {
#pragma unroll
		for (i = 0; i < 4; i++) {
			l4_csum32(p, a[i], addr[i]);
			a[i] = addr[i];
		}
	}
	/* A fragment past the first has no transport header: addresses only. */
	if (!pp)
		return;
	if (p->l4.check)
		*p->l4.check = csum_replace16(*p->l4.check, *pp, port);
	*pp = port;
	l4_csum_fixup(p);
}

#endif /* XLVS_NAT_H */
