/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * Forwarding a rewritten packet: route lookup in the kernel FIB, TTL, MACs,
 * redirect. Until the kernel has resolved the next hop's MAC the lookup says
 * NO_NEIGH; then the (already rewritten) packet goes to the kernel, which
 * forwards it and resolves the neighbour for the packets after it.
 */
#ifndef XLVS_FWD_H
#define XLVS_FWD_H

#include "stats.h"
#include "csum.h"

#ifndef AF_INET
#define AF_INET 2
#endif

static __always_inline int fwd_ipv4(struct xdp_md *ctx, struct ethhdr *eth, struct iphdr *ip)
{
	struct bpf_fib_lookup fib = {};
	__u16 old_ttl_word, new_ttl_word;
	long rc;

	/* The kernel sends the ICMP time exceeded; let it see the packet. */
	if (ip->ttl <= 1)
		return XDP_PASS;

	fib.family = AF_INET;
	fib.tos = ip->tos;
	fib.l4_protocol = ip->protocol;
	fib.tot_len = bpf_ntohs(ip->tot_len);
	fib.ipv4_src = ip->saddr;
	fib.ipv4_dst = ip->daddr;
	fib.ifindex = ctx->ingress_ifindex;

	rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
	switch (rc) {
	case BPF_FIB_LKUP_RET_SUCCESS:
		break;
	case BPF_FIB_LKUP_RET_BLACKHOLE:
	case BPF_FIB_LKUP_RET_UNREACHABLE:
	case BPF_FIB_LKUP_RET_PROHIBIT:
		stats_drop(XLVS_DROP_FIB);
		return XDP_DROP;
	default: /* NO_NEIGH, NOT_FWDED, FRAG_NEEDED, ...: the kernel knows best */
		return XDP_PASS;
	}

	/* TTL shares a 16-bit checksum word with the protocol field. */
	old_ttl_word = *(__u16 *)&ip->ttl;
	ip->ttl--;
	new_ttl_word = *(__u16 *)&ip->ttl;
	ip->check = csum_replace16(ip->check, old_ttl_word, new_ttl_word);

	__builtin_memcpy(eth->h_dest, fib.dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, fib.smac, ETH_ALEN);
	return bpf_redirect(fib.ifindex, 0);
}

#endif /* XLVS_FWD_H */
