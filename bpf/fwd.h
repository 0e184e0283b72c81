/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * Forwarding: route lookup in the kernel FIB, TTL / hop limit, MACs,
 * redirect. The lookup runs before the packet is rewritten, so a packet too
 * big for the next hop can still be answered with an ICMP error about the
 * packet as the client sent it.
 */
#ifndef XLVS_FWD_H
#define XLVS_FWD_H

#include "parse.h"
#include "stats.h"
#include "csum.h"

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif

/* Looks up the route from src to dst for this packet, grown by `extra`
 * bytes (an encapsulation). Returns the BPF_FIB_LKUP_RET_* code. */
/* The IP length the route must carry: the packet's plus what encapsulation adds. */
static __always_inline __u32 fwd_tot_len(const struct pkt *p, __u32 extra)
{
	if (p->family == XLVS_AF_INET)
		return bpf_ntohs(p->ip4->tot_len) + extra;
	return bpf_ntohs(p->ip6->payload_len) + sizeof(struct ipv6hdr) + extra;
}

static __always_inline long fwd_lookup(struct xdp_md *ctx, const struct pkt *p, const __be32 *src,
				       const __be32 *dst, __u32 extra, struct bpf_fib_lookup *fib)
{
	__builtin_memset(fib, 0, sizeof(*fib));
	fib->ifindex = ctx->ingress_ifindex;
	fib->l4_protocol = p->proto;
	fib->tot_len = fwd_tot_len(p, extra);
	if (p->family == XLVS_AF_INET) {
		fib->family = AF_INET;
		fib->tos = p->ip4->tos;
		fib->ipv4_src = src[0];
		fib->ipv4_dst = dst[0];
	} else {
		fib->family = AF_INET6;
		__builtin_memcpy(fib->ipv6_src, src, 16);
		__builtin_memcpy(fib->ipv6_dst, dst, 16);
	}
	return bpf_fib_lookup(ctx, fib, sizeof(*fib), 0);
}

/* How long a flow entry trusts its cached next hop: route and neighbour
 * changes reach established flows within this. */
#define XLVS_NH_TTL_NS 1000000000ull

/* fwd_lookup() for a tracked flow's packet, with its answer cached in the
 * flow entry: bpf_fib_lookup was ~40% of an established packet (perf, make
 * bench). The cache serves only what the FIB said yes to: the same entry
 * (so the same source, destination and route), within XLVS_NH_TTL_NS, and
 * no longer than a length the FIB passed (a longer packet asks the FIB,
 * which checks the MTU). On a hit only ifindex, dmac and smac of fib are
 * set: all a caller reads after BPF_FIB_LKUP_RET_SUCCESS. Two CPUs may
 * refresh one entry at once; they write the same answer, except in the
 * instant a neighbour changes, when one packet may leave with a mix of the
 * old and new MAC (the next lookup, within a second, puts it right). */
static __always_inline long fwd_lookup_flow(struct xdp_md *ctx, const struct pkt *p, const __be32 *src,
					    const __be32 *dst, __u32 extra, struct bpf_fib_lookup *fib,
					    struct xlvs_flow *f, __u64 now)
{
	__u32 len = fwd_tot_len(p, extra);
	long rc;

	if (f->nh_ifindex && now < f->nh_expires_ns && len <= f->nh_len) {
		fib->ifindex = f->nh_ifindex;
		__builtin_memcpy(fib->dmac, f->nh_dmac, ETH_ALEN);
		__builtin_memcpy(fib->smac, f->nh_smac, ETH_ALEN);
		return BPF_FIB_LKUP_RET_SUCCESS;
	}
	rc = fwd_lookup(ctx, p, src, dst, extra, fib);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS)
		return rc;
	/* Keep the longest length passed while the route is the same one. */
	if (!(f->nh_ifindex == fib->ifindex && now < f->nh_expires_ns && f->nh_len > len))
		f->nh_len = len > 0xffff ? 0xffff : len;
	__builtin_memcpy(f->nh_dmac, fib->dmac, ETH_ALEN);
	__builtin_memcpy(f->nh_smac, fib->smac, ETH_ALEN);
	f->nh_ifindex = fib->ifindex;
	f->nh_expires_ns = now + XLVS_NH_TTL_NS;
	return rc;
}

/* What a caller does with its packet after fwd_lookup(). */
enum fwd_verdict {
	FWD_OK,            /* route and MACs known: rewrite and redirect */
	FWD_KERNEL,        /* hand the translated packet to the kernel */
	FWD_DROP_FIB,      /* blackhole, unreachable, prohibit */
	FWD_DROP_NO_NEIGH, /* next hop unresolved, and the kernel may not have it */
	FWD_TOO_BIG,       /* over the next hop's MTU (fib->mtu_result) */
};

/* The verdict on fwd_lookup()'s result rc. may_pass: the kernel may be
 * handed the packet, i.e. its source is not one of ours (the kernel drops
 * those as martian on input); it then forwards the packet and resolves the
 * neighbour for the next ones. The lookup's other answers (not forwarded,
 * forwarding disabled, lightweight tunnel) take the NO_NEIGH way. */
static __always_inline enum fwd_verdict fwd_verdict(long rc, int may_pass)
{
	switch (rc) {
	case BPF_FIB_LKUP_RET_SUCCESS:
		return FWD_OK;
	case BPF_FIB_LKUP_RET_BLACKHOLE:
	case BPF_FIB_LKUP_RET_UNREACHABLE:
	case BPF_FIB_LKUP_RET_PROHIBIT:
		return FWD_DROP_FIB;
	case BPF_FIB_LKUP_RET_FRAG_NEEDED:
		return FWD_TOO_BIG;
	default:
		return may_pass ? FWD_KERNEL : FWD_DROP_NO_NEIGH;
	}
}

/* After a lookup answered NO_NEIGH (fib holds the next hop and its device):
 * tells the daemon, which asks the kernel to resolve it. At most once per
 * XLVS_NH_ASK_MS per next hop; a full ring loses the record (the next packet
 * after that period reports again). */
static __always_inline void fwd_nh_miss(long rc, const struct bpf_fib_lookup *fib, __u64 now)
{
	struct xlvs_nh nh = {};
	struct xlvs_nh *rec;
	__u64 *last;

	if (rc != BPF_FIB_LKUP_RET_NO_NEIGH)
		return;
	nh.ifindex = fib->ifindex;
	if (fib->family == AF_INET) {
		nh.family = XLVS_AF_INET;
		nh.addr[0] = fib->ipv4_dst;
	} else {
		nh.family = XLVS_AF_INET6;
		__builtin_memcpy(nh.addr, fib->ipv6_dst, 16);
	}
	last = bpf_map_lookup_elem(&nh_asked, &nh);
	if (last && now - *last < XLVS_NH_ASK_MS * 1000000ull)
		return;
	if (bpf_map_update_elem(&nh_asked, &nh, &now, BPF_ANY))
		return;
	rec = bpf_ringbuf_reserve(&nh_misses, sizeof(*rec), 0);
	if (!rec)
		return;
	*rec = nh;
	/* Nobody waits on the ring: the daemon polls it (ringbuf-poller.ts). */
	bpf_ringbuf_submit(rec, BPF_RB_NO_WAKEUP);
}

/* The packet would be dropped by the next router for its TTL. */
static __always_inline int fwd_ttl_expired(const struct pkt *p)
{
	return p->family == XLVS_AF_INET ? p->ip4->ttl <= 1 : p->ip6->hop_limit <= 1;
}

static __always_inline void fwd_dec_ttl(struct pkt *p)
{
	if (p->family == XLVS_AF_INET)
		csum_ip4_set_ttl(p->ip4, p->ip4->ttl - 1);
	else
		p->ip6->hop_limit--;
}

/* Writes the next hop's MACs (eth may have moved: encapsulation), counts
 * event ev (XLVS_EV_FWD, XLVS_EV_ICMP_XLATE) and redirects to the route's
 * device. The frame check is for the verifier: every caller parsed the
 * Ethernet header, or grew the frame in front of it (tun_encap). */
static __always_inline int fwd_redirect(struct xdp_md *ctx, const struct bpf_fib_lookup *fib, __u32 ev)
{
	struct ethhdr *eth = (void *)(long)ctx->data;

	if ((void *)(eth + 1) > (void *)(long)ctx->data_end)
		return drop(XLVS_DROP_ENCAP);
	__builtin_memcpy(eth->h_dest, fib->dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, fib->smac, ETH_ALEN);
	stats_event(ev);
	return bpf_redirect(fib->ifindex, 0);
}

#endif /* XLVS_FWD_H */
