/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * Active/backup HA, the data plane's part (the daemon's: src/ha/).
 *
 *  - The ARP/ND gate (ha_gate): a router answers ARP requests and IPv6
 *    neighbour solicitations for the floating addresses (ha_floating) only
 *    while its lease (ha.lease_ns, an xlvs_now() deadline the daemon renews)
 *    holds. With XLVS_HA_F_ENABLED set and the lease run out, such a request
 *    is dropped (XLVS_DROP_HA_STANDBY) before the kernel can answer it, so the
 *    standby never draws the floating addresses' traffic. Everything else,
 *    and everything while HA is not enabled, goes on as before.
 *  - Sync emission (sync_emit): with XLVS_HA_F_SYNC set, every flow made,
 *    changed (or refreshed XLVS_SYNC_REFRESH_S after its last record) and
 *    ended is written to sync_ring (struct xlvs_sync_rec) for the daemon to
 *    send to the backup. Records are counted in ha_stats, never in drops or
 *    events (those count packets).
 */
#ifndef XLVS_HA_H
#define XLVS_HA_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include "xlvs_abi.h"
#include "maps.h"
#include "clock.h"
#include "stats.h"

#ifndef ETH_P_ARP
#define ETH_P_ARP 0x0806
#endif

#define XLVS_ICMPV6_NS 135

/* The Ethernet/IPv4 ARP packet (RFC 826), as far as the target address. */
struct ha_arp {
	__be16 htype;
	__be16 ptype;
	__u8 hlen;
	__u8 plen;
	__be16 op;
	__u8 sha[6];
	__u8 spa[4];
	__u8 tha[6];
	__u8 tpa[4];
} __attribute__((packed));

/* ICMPv6 neighbour solicitation (RFC 4861 4.3), as far as the target address. */
struct ha_ns {
	__u8 type;
	__u8 code;
	__sum16 check;
	__be32 reserved;
	__be32 target[4];
};

/* The lease check of a request for target (16 bytes, family fam): 1 when it
 * must be dropped (HA enabled, lease run out, a floating address). */
static __always_inline int ha_standby_for(const __u8 *target, __u8 fam, int len)
{
	struct xlvs_ha_addr a = {};
	struct xlvs_ha *h;
	__u32 zero = 0;

	h = bpf_map_lookup_elem(&ha, &zero);
	if (!h || !(h->flags & XLVS_HA_F_ENABLED) || xlvs_now() <= h->lease_ns)
		return 0;
	if (len == 16)
		__builtin_memcpy(a.addr, target, 16);
	else
		__builtin_memcpy(a.addr, target, 4);
	a.family = fam;
	return bpf_map_lookup_elem(&ha_floating, &a) != 0;
}

/* The ARP/ND gate, in xlvs_public and xlvs_private after l2.h's check: XDP_DROP
 * (counted, ha_standby) for an ARP request or a neighbour solicitation this
 * router must not answer; -1 for every other frame, which goes on as before.
 * Global: its frame never sits under the packet programs' deeper chains. */
__noinline int ha_gate(struct xdp_md *ctx)
{
	void *data, *end;
	struct ethhdr *eth;

	if (!ctx)
		return -1;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	eth = data;
	if ((void *)(eth + 1) > end)
		return -1;
	if (eth->h_proto == bpf_htons(ETH_P_ARP)) {
		struct ha_arp *arp = (void *)(eth + 1);

		if ((void *)(arp + 1) > end)
			return -1;
		if (arp->op != bpf_htons(1) || arp->htype != bpf_htons(1) || arp->ptype != bpf_htons(ETH_P_IP) ||
		    arp->hlen != 6 || arp->plen != 4)
			return -1;
		if (ha_standby_for(arp->tpa, XLVS_AF_INET, 4))
			return drop(XLVS_DROP_HA_STANDBY);
		return -1;
	}
	if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);
		struct ha_ns *ns = (void *)(ip6 + 1);

		if ((void *)(ns + 1) > end)
			return -1;
		if (ip6->nexthdr != IPPROTO_ICMPV6 || ns->type != XLVS_ICMPV6_NS)
			return -1;
		if (ha_standby_for((const __u8 *)ns->target, XLVS_AF_INET6, 16))
			return drop(XLVS_DROP_HA_STANDBY);
	}
	return -1;
}

static __always_inline void ha_count(__u32 stat)
{
	__u64 *n = bpf_map_lookup_elem(&ha_stats, &stat);

	if (n)
		*n += 1;
}

/* Writes one sync record (enum xlvs_sync_kind) while ha.flags & XLVS_HA_F_SYNC:
 * fk/fv the connection's forward entry, rk/rv its reply entry (a NULL value:
 * zeros; END passes none). The record is built in the ring's own memory: no
 * stack (the callers' chains have none to spare). Returns 1 when written. */
__noinline int sync_emit(__u32 kind, const struct xlvs_flow_key *fk, const struct xlvs_flow *fv,
			 const struct xlvs_flow_key *rk, const struct xlvs_flow *rv)
{
	struct xlvs_sync_rec *r;
	struct xlvs_ha *h;
	__u32 zero = 0;

	h = bpf_map_lookup_elem(&ha, &zero);
	if (!h || !(h->flags & XLVS_HA_F_SYNC))
		return 0;
	r = bpf_ringbuf_reserve(&sync_ring, sizeof(*r), 0);
	if (!r) {
		ha_count(XLVS_HA_STAT_SYNC_LOST);
		return 0;
	}
	__builtin_memset(r, 0, sizeof(*r));
	r->kind = kind;
	r->at_ns = xlvs_now();
	if (fk)
		r->fk = *fk;
	if (fv)
		r->fv = *fv;
	if (rk)
		r->rk = *rk;
	if (rv)
		r->rv = *rv;
	bpf_ringbuf_submit(r, BPF_RB_NO_WAKEUP);
	ha_count(XLVS_HA_STAT_SYNC_SENT);
	return 1;
}

/* xlvs_now() in sync_s units (about seconds: 2^30 ns), 16 bits. */
static __always_inline __u16 sync_stamp(__u64 now)
{
	return (__u16)(now >> 30);
}

#endif /* XLVS_HA_H */
