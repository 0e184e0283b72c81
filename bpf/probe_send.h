/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * The sending half of the data plane's health probes (probe.h has the
 * whole): the probe slots the daemon fills, and the SYN that one building
 * run of xlvs_private writes for a slot (a bare frame, or inside the tunnel
 * to a tun real), its route from the FIB.
 */
#ifndef XLVS_PROBE_SEND_H
#define XLVS_PROBE_SEND_H

#include "maps.h"
#include "parse.h"
#include "csum.h"
#include "stats.h"
#include "tun.h" /* and fwd.h: AF_INET, AF_INET6 */

/* Probe slots, indexed by slot (xlvs_abi.h struct xlvs_probe). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLVS_MAX_PROBES);
	__type(key, __u32);
	__type(value, struct xlvs_probe);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} probes SEC(".maps");

/* The slots the next sending run sends (probe_tx). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xlvs_probe_batch);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} probe_batch SEC(".maps");

#define PROBE_TTL 64
#define PROBE_WINDOW 64240
/* TCP header with one option, MSS (kind 2, length 4). */
#define PROBE_TCP_LEN 24
#define PROBE_FRAME4 (sizeof(struct ethhdr) + sizeof(struct iphdr) + PROBE_TCP_LEN)
#define PROBE_FRAME6 (sizeof(struct ethhdr) + sizeof(struct ipv6hdr) + PROBE_TCP_LEN)
_Static_assert(PROBE_FRAME4 == XLVS_PROBE_FRAME4, "XLVS_PROBE_FRAME4 is the IPv4 SYN's frame");
_Static_assert(PROBE_FRAME6 == XLVS_PROBE_FRAME6, "XLVS_PROBE_FRAME6 is the IPv6 SYN's frame");
#define TCP_FLAG_SYN_BIT 0x0002
_Static_assert(XLVS_PROBE_PORTS * XLVS_PROBE_PORT_SLOTS == XLVS_MAX_PROBES, "a probe port names XLVS_PROBE_PORT_SLOTS slots");

/* The SYN's TCP header and its checksum over the pseudo-header sum `sum`. */
static __always_inline void probe_tcp(struct tcphdr *t, const struct xlvs_probe *pr, __u32 mss, __u64 sum)
{
	t->source = pr->sport;
	t->dest = pr->dport;
	t->seq = bpf_htonl(pr->seq);
	t->ack_seq = 0;
	((__be16 *)t)[6] = bpf_htons((PROBE_TCP_LEN / 4) << 12 | TCP_FLAG_SYN_BIT);
	t->window = bpf_htons(PROBE_WINDOW);
	t->check = 0;
	t->urg_ptr = 0;
	*(__be32 *)(t + 1) = bpf_htonl(0x02040000 | (mss & 0xffff));
	sum += (__u32)bpf_csum_diff(0, 0, (__be32 *)t, PROBE_TCP_LEN, 0);
	t->check = ~csum_fold64(sum);
}

static __always_inline void probe_eth(struct ethhdr *e, const struct bpf_fib_lookup *fib, __be16 proto)
{
	__builtin_memcpy(e->h_dest, fib->dmac, ETH_ALEN);
	__builtin_memcpy(e->h_source, fib->smac, ETH_ALEN);
	e->h_proto = proto;
}

/* Writes the frame of slot pr (IPv4) from the FIB's answer; mss_less: what a
 * tunnel takes from the MTU. */
static __always_inline int probe_frame4(struct xdp_md *ctx, struct xlvs_probe *pr, const struct bpf_fib_lookup *fib,
					__u32 mss_less)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *e = data;
	struct iphdr *ip = (void *)(e + 1);
	struct tcphdr *t = (void *)(ip + 1);
	__u64 sum;

	/* The frame is exactly the SYN: the verifier learns the bound from the first test. */
	if ((void *)t + PROBE_TCP_LEN > end || end - data != PROBE_FRAME4)
		return -1;
	probe_eth(e, fib, bpf_htons(ETH_P_IP));
	*(__be16 *)ip = bpf_htons(0x4500);
	ip->tot_len = bpf_htons(sizeof(*ip) + PROBE_TCP_LEN);
	ip->id = 0;
	ip->frag_off = bpf_htons(XLVS_IP4_DF);
	ip->ttl = PROBE_TTL;
	ip->protocol = IPPROTO_TCP;
	ip->check = 0;
	ip->saddr = fib->ipv4_src;
	ip->daddr = pr->daddr[0];
	ip->check = csum_ip4_hdr(ip);
	sum = (__u64)ip->saddr + ip->daddr + bpf_htonl((IPPROTO_TCP << 16) | PROBE_TCP_LEN);
	probe_tcp(t, pr, fib->mtu_result - mss_less - sizeof(*ip) - sizeof(*t), sum);
	addr_set4(pr->saddr, fib->ipv4_src);
	return 0;
}

static __always_inline int probe_frame6(struct xdp_md *ctx, struct xlvs_probe *pr, const struct bpf_fib_lookup *fib,
					__u32 mss_less)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *e = data;
	struct ipv6hdr *ip6 = (void *)(e + 1);
	struct tcphdr *t = (void *)(ip6 + 1);
	__u64 sum;

	if ((void *)t + PROBE_TCP_LEN > end || end - data != PROBE_FRAME6)
		return -1;
	probe_eth(e, fib, bpf_htons(ETH_P_IPV6));
	*(__be32 *)ip6 = bpf_htonl(6 << 28);
	ip6->payload_len = bpf_htons(PROBE_TCP_LEN);
	ip6->nexthdr = IPPROTO_TCP;
	ip6->hop_limit = PROBE_TTL;
	__builtin_memcpy(&ip6->saddr, fib->ipv6_src, 16);
	__builtin_memcpy(&ip6->daddr, pr->daddr, 16);
	sum = (__u32)bpf_csum_diff(0, 0, (__be32 *)&ip6->saddr, 32, 0);
	sum += bpf_htonl(PROBE_TCP_LEN);
	sum += bpf_htonl(IPPROTO_TCP);
	probe_tcp(t, pr, fib->mtu_result - mss_less - sizeof(*ip6) - sizeof(*t), sum);
	__builtin_memcpy(pr->saddr, fib->ipv6_src, 16);
	return 0;
}

/* Wraps the SYN in the frame in the tunnel header to the real (via tun) and
 * writes the MACs again at the frame's new start: 0 or -1. */
static __always_inline int probe_tunnel(struct xdp_md *ctx, const struct xlvs_probe *pr, const __be32 *local,
					const struct bpf_fib_lookup *fib)
{
	struct tun_addr src, dst;
	struct ethhdr *e;

	addr_copy(src.a, local);
	addr_copy(dst.a, pr->nexthop);
	if (tun_encap(ctx, pr->family, &src, &dst))
		return -1;
	e = (void *)(long)ctx->data;
	if ((void *)(e + 1) > (void *)(long)ctx->data_end)
		return -1;
	__builtin_memcpy(e->h_dest, fib->dmac, ETH_ALEN);
	__builtin_memcpy(e->h_source, fib->smac, ETH_ALEN);
	return 0;
}

/* Builds slot pr's SYN, to leave by the private interface, or records why
 * not. The verdict only tells the daemon whether a frame was built. */
static __always_inline int probe_send(struct xdp_md *ctx, struct xlvs_probe *pr, __u32 ifindex)
{
	/* Direct: the FIB's next hop for the check address. Via a real: the
	 * real's, whatever the address (a VIP is local on this router). */
	const __be32 *hop = pr->via == XLVS_PROBE_DIRECT ? pr->daddr : pr->nexthop;
	const __be32 *local = 0;
	struct bpf_fib_lookup fib = {};
	__u32 over = 0;
	long rc;

	if (pr->via == XLVS_PROBE_VIA_TUN) {
		local = tun_local(pr->family);
		if (!local) {
			pr->result = XLVS_PROBE_NO_LOCAL;
			return XDP_DROP;
		}
		over = tun_overhead(pr->family);
	} else if (pr->via != XLVS_PROBE_DIRECT && pr->via != XLVS_PROBE_VIA_DR) {
		pr->result = XLVS_PROBE_BAD;
		return XDP_DROP;
	}
	fib.l4_protocol = IPPROTO_TCP;
	fib.sport = pr->sport;
	fib.dport = pr->dport;
	fib.ifindex = ifindex;
	if (pr->family == XLVS_AF_INET) {
		fib.family = AF_INET;
		fib.tot_len = over + sizeof(struct iphdr) + PROBE_TCP_LEN;
		fib.ipv4_dst = hop[0];
	} else if (pr->family == XLVS_AF_INET6) {
		fib.family = AF_INET6;
		fib.tot_len = over + PROBE_TCP_LEN;
		__builtin_memcpy(fib.ipv6_dst, hop, 16);
	} else {
		pr->result = XLVS_PROBE_BAD;
		return XDP_DROP;
	}
	rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), BPF_FIB_LOOKUP_OUTPUT | BPF_FIB_LOOKUP_SRC);
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH) {
		pr->result = XLVS_PROBE_NO_NEIGH;
		return XDP_DROP;
	}
	/* Only out of the private interface: the answer must meet xlvs_private. */
	if (rc != BPF_FIB_LKUP_RET_SUCCESS || fib.ifindex != ifindex || fib.mtu_result < 1280) {
		pr->result = XLVS_PROBE_NO_ROUTE;
		return XDP_DROP;
	}
	if ((pr->family == XLVS_AF_INET ? probe_frame4(ctx, pr, &fib, over) : probe_frame6(ctx, pr, &fib, over)) ||
	    (local && probe_tunnel(ctx, pr, local, &fib))) {
		pr->result = XLVS_PROBE_BAD;
		return XDP_DROP;
	}
	/* Its answer must come from where it goes (probe_find). */
	__builtin_memcpy(pr->peer_mac, fib.dmac, ETH_ALEN);
	pr->answered_ns = 0;
	pr->result = XLVS_PROBE_SENT;
	return bpf_redirect(fib.ifindex, 0);
}


/* One building run: its frame becomes the SYN of probe_batch.slots[next]. */
static __always_inline int probe_tx(struct xdp_md *ctx)
{
	struct xlvs_probe_batch *b;
	struct xlvs_probe *pr;
	__u32 zero = 0, i, slot;

	b = bpf_map_lookup_elem(&probe_batch, &zero);
	if (!b)
		return XDP_DROP;
	i = __sync_fetch_and_add(&b->next, 1);
	if (i >= b->count || i >= XLVS_PROBE_BATCH)
		return XDP_DROP;
	slot = b->slots[i];
	pr = bpf_map_lookup_elem(&probes, &slot);
	if (!pr)
		return XDP_DROP;
	return probe_send(ctx, pr, b->ifindex);
}

#endif /* XLVS_PROBE_SEND_H */
