/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * Lookups in vips: the address entry (port 0, proto 0) that makes a
 * destination ours, and the frontend (the port's entry, else the address's
 * port-all one) that names the service. The packet path and the ICMP error
 * path ask the same question, so they share the lookup order.
 */
#ifndef XLVS_VIP_H
#define XLVS_VIP_H

#include "maps.h"
#include "parse.h"

/* The vips entry for this packet's destination address (port 0, proto 0).
 * Leaves vk filled for vip_frontend(). */
static __always_inline struct xlvs_vip *vip_address(const struct pkt *p, struct xlvs_vip_key *vk)
{
	__be32 src[4];

	__builtin_memset(vk, 0, sizeof(*vk));
	pkt_addrs(p, src, vk->addr);
	vk->family = p->family;
	return bpf_map_lookup_elem(&vips, vk);
}

/* The frontend for proto/port at the address vk holds (addr and family
 * set, the rest zeroed): the port's entry, else the port-all one. vk is
 * left as the last key looked up. */
static __always_inline struct xlvs_vip *vip_frontend(struct xlvs_vip_key *vk, __u8 proto, __be16 port)
{
	struct xlvs_vip *v;

	vk->proto = proto;
	vk->port = port;
	v = bpf_map_lookup_elem(&vips, vk);
	if (v)
		return v;
	vk->port = 0;
	return bpf_map_lookup_elem(&vips, vk);
}

#endif /* XLVS_VIP_H */
