/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * The bare XDP forwarder of the forwarding benchmark (bench/forwarding/forwarding.ts): the least an XDP
 * router does for an IPv4 packet, so that xlvs's forwarding rate can be read against it.
 * Parse Ethernet + IPv4, route with bpf_fib_lookup, decrement the TTL (checksum patched), write
 * the MACs the FIB gave and bpf_redirect out of the egress device. No NAT and no state.
 * Anything else, and any route that is not a plain success (unresolved neighbour, local,
 * unreachable), goes to the kernel untouched, which then does what a router would.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define AF_INET 2

SEC("xdp")
int xlvs_bench_fwd(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct bpf_fib_lookup fib = {};
	__u32 sum;

	if ((void *)(ip + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP) || ip->ihl != 5)
		return XDP_PASS;
	/* The kernel answers TTL expiry with ICMP; leave that to it. */
	if (ip->ttl <= 1)
		return XDP_PASS;

	fib.family = AF_INET;
	fib.tos = ip->tos;
	fib.l4_protocol = ip->protocol;
	fib.tot_len = bpf_ntohs(ip->tot_len);
	fib.ipv4_src = ip->saddr;
	fib.ipv4_dst = ip->daddr;
	fib.ifindex = ctx->ingress_ifindex;
	if (bpf_fib_lookup(ctx, &fib, sizeof(fib), 0) != BPF_FIB_LKUP_RET_SUCCESS)
		return XDP_PASS;

	/* TTL is the high byte of its 16-bit word: the checksum goes up by 0x0100 (RFC 1624). */
	ip->ttl--;
	sum = ip->check + bpf_htons(0x0100);
	ip->check = (__u16)(sum + (sum >> 16));
	__builtin_memcpy(eth->h_dest, fib.dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, fib.smac, ETH_ALEN);
	return bpf_redirect(fib.ifindex, 0);
}

/* The GPL side of the dual licence; the kernel only knows GPL-compatible names. */
char LICENSE[] SEC("license") = "GPL";
