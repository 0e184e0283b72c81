// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
/*
 * xlvs_decap: LVS-TUN on a real server without the ipip/ip6_tunnel modules.
 * The router sends the client's packet (to the VIP) inside an outer IP header
 * addressed to this server: IPv4 protocol 4 or 41, IPv6 next header 4 or 41.
 * This program strips the outer header, keeps the MACs, sets the Ethernet
 * type for the inner family and hands the inner packet to the kernel, which
 * delivers it to the VIP held on lo; the reply goes straight to the client.
 *
 * Only tunnel packets that are ours are stripped: addressed to this host
 * (decap_local), from an LVS router (decap_allow) and carrying a packet to one
 * of our VIPs (decap_vips). Non-tunnel packets, outer fragments and tunnel
 * packets to another host pass untouched; tunnel packets from a source not
 * allowed, with a broken inner header or to an address that is no VIP are
 * dropped. Every packet lands in exactly one decap_stats counter.
 */
#include "decap.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Keeps the ABI enums in BTF so the TypeScript generator can export them. */
const volatile struct decap_abi_enums decap_abi_enums_anchor;

/* Replaces the outer header(s) by a fresh Ethernet header in front of the
 * inner packet. 0 on success. */
static __always_inline int strip_outer(struct xdp_md *ctx, __u32 len, __u8 inner)
{
	struct ethhdr *eth = (void *)(long)ctx->data;
	unsigned char macs[2 * ETH_ALEN];
	void *end;

	if ((void *)(eth + 1) > (void *)(long)ctx->data_end)
		return -1;
	__builtin_memcpy(macs, eth, sizeof(macs)); /* h_dest then h_source */
	if (bpf_xdp_adjust_head(ctx, (int)len))
		return -1;
	/* adjust_head invalidates every packet pointer: derive them again. */
	eth = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	if ((void *)(eth + 1) > end)
		return -1;
	__builtin_memcpy(eth, macs, sizeof(macs));
	eth->h_proto = bpf_htons(inner == IPPROTO_IPIP ? ETH_P_IP : ETH_P_IPV6);
	return 0;
}

SEC("xdp")
int xlvs_decap(struct xdp_md *ctx)
{
	struct cursor c = { .pos = (void *)(long)ctx->data, .end = (void *)(long)ctx->data_end };
	struct decap_outer outer = {};
	struct xlvs_decap_addr vip;
	struct ethhdr *eth;
	int verdict;

	if (parse_eth(&c, &eth))
		verdict = XLVS_DECAP_STAT_PASS;
	else if (eth->h_proto == bpf_htons(ETH_P_IP))
		verdict = classify_ipv4(&c, &outer);
	else if (eth->h_proto == bpf_htons(ETH_P_IPV6))
		verdict = classify_ipv6(&c, &outer);
	else
		verdict = XLVS_DECAP_STAT_PASS;

	if (verdict != DECAP_TUNNEL) {
		decap_count(verdict);
		return XDP_PASS;
	}
	/* Routed through us, or meant for a tunnel device of the kernel's own:
	 * the kernel decides, not us. */
	if (!in_set(&decap_local, &outer.dst)) {
		decap_count(XLVS_DECAP_STAT_NOT_LOCAL);
		return XDP_PASS;
	}
	if (!in_set(&decap_allow, &outer.src)) {
		decap_count(XLVS_DECAP_STAT_NOT_ALLOWED);
		return XDP_DROP;
	}
	/* c now points at the inner header. */
	if (parse_inner(&c, outer.inner, &vip)) {
		decap_count(XLVS_DECAP_STAT_BAD_INNER);
		return XDP_DROP;
	}
	/* An allowed router must not make us deliver to, or forward towards,
	 * anything but the VIPs. */
	if (!in_set(&decap_vips, &vip)) {
		decap_count(XLVS_DECAP_STAT_NOT_VIP);
		return XDP_DROP;
	}
	/* Cannot fail once the inner header is known to fit (the frame only
	 * shrinks); if it ever does, the xdp_exception tracepoint shows it. */
	if (strip_outer(ctx, outer.len, outer.inner))
		return XDP_ABORTED;
	decap_count(outer.stat);
	return XDP_PASS;
}
