/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * The floor of the per-packet benchmark (bench/per-packet/per-packet.ts): the least an XDP load
 * balancer must do to a packet. It parses Ethernet and the IPv4 or IPv6 header (bounds
 * checked, as any real program must), swaps the MACs and bounces the frame with XDP_TX.
 * xlvs's per-packet cost is reported as a ratio to this program's, measured the same way.
 * Frames that are not IP, or too short, pass to the kernel.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xlvs_bench_floor(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	unsigned char tmp[ETH_ALEN];

	if ((void *)(eth + 1) > end)
		return XDP_PASS;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		/* The whole header, options included: the real program reads up to the L4 header. */
		if ((void *)(ip + 1) > end || ip->ihl < 5 || (void *)ip + ip->ihl * 4 > end)
			return XDP_PASS;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > end)
			return XDP_PASS;
	} else {
		return XDP_PASS;
	}
	__builtin_memcpy(tmp, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, tmp, ETH_ALEN);
	return XDP_TX;
}

/* The GPL side of the dual licence; the kernel only knows GPL-compatible names. */
char LICENSE[] SEC("license") = "GPL";
