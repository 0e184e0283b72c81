/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * The Ethernet destination check, first thing in xlvs_public and xlvs_private.
 *
 * A NIC hands XDP every frame it receives, including unicast frames addressed
 * to another host's MAC: a switch flooding unknown unicast, a bridge whose
 * FDB entry aged out, promiscuous mode. The kernel drops those
 * (PACKET_OTHERHOST); forwarding them would make two routers on one segment
 * both forward (and schedule) the same client packet, and a backup forward
 * traffic meant for the master. So a unicast frame (I/G bit clear) arriving on
 * the program's interface (if_macs[role].ifindex) for another destination than
 * its MAC is handed to the kernel untouched, counted as XLVS_EV_OTHERHOST.
 * Broadcast and multicast (ARP requests, neighbour solicitations) go on. A
 * frame from any other ingress (BPF_PROG_TEST_RUN fixtures, the probe
 * sender's loopback), or with no entry written (ifindex 0), is not checked.
 */
#ifndef XLVS_L2_H
#define XLVS_L2_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include "xlvs_abi.h"
#include "maps.h"
#include "stats.h"

/* XDP_PASS (counted, otherhost) for a unicast frame to another MAC than that
 * of role's interface (enum xlvs_if_role); -1 for every other frame. One
 * if_macs lookup (an array's, inlined), for unicast frames only. Global: its
 * key's stack never sits under the packet programs' deeper chains. */
__noinline int l2_otherhost(struct xdp_md *ctx, __u32 role)
{
	const struct xlvs_if_mac *m;
	void *data, *end;
	struct ethhdr *eth;

	if (!ctx)
		return -1;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	eth = data;
	if ((void *)(eth + 1) > end || (eth->h_dest[0] & 1))
		return -1;
	m = bpf_map_lookup_elem(&if_macs, &role);
	if (!m || !m->ifindex || m->ifindex != ctx->ingress_ifindex)
		return -1;
	if (!((eth->h_dest[0] ^ m->mac[0]) | (eth->h_dest[1] ^ m->mac[1]) | (eth->h_dest[2] ^ m->mac[2]) |
	      (eth->h_dest[3] ^ m->mac[3]) | (eth->h_dest[4] ^ m->mac[4]) | (eth->h_dest[5] ^ m->mac[5])))
		return -1;
	stats_event(XLVS_EV_OTHERHOST);
	return XDP_PASS;
}

#endif /* XLVS_L2_H */
