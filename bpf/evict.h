/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * Eviction: the flows of a real that health checks took out with
 * on_failure: remove (XLVS_REAL_F_EVICT_DROP / _RESET on its reals entry,
 * with weight 0 so it takes no new flow) end at their next packet, where a
 * quiesced real's (weight 0 alone) run on. IPVS does the same for a
 * connection whose destination is gone (expire_nodest_conn).
 *
 * A live flow entry of such a real, hit in either direction:
 *  - the flow is deleted, both entries, counted down once (evict_flow_end);
 *  - a client's packet that may open a flow (UDP, a TCP SYN) is then
 *    scheduled afresh by the caller as if there had been no flow: it goes to
 *    a healthy real and is counted as what happens to it there;
 *  - EVICT_RESET, any other client TCP segment but a RST: answered with a
 *    RST built in place and sent back out (XDP_TX), XLVS_EV_EVICT_RST;
 *  - anything else (EVICT_DROP, a client's RST, every packet from the
 *    evicted real): dropped, XLVS_DROP_EVICTED.
 *
 * Cost on the established path: one lookup of reals[f->real_id] (an array:
 * the verifier inlines it) and a test of its flags word.
 */
#ifndef XLVS_EVICT_H
#define XLVS_EVICT_H

#include "maps.h"
#include "parse.h"
#include "csum.h"
#include "conns.h"
#include "flow.h"
#include "stats.h"
#include "icmp.h"

/* TTL / hop limit of the RSTs we originate, Linux's default. */
#define EVICT_RST_TTL 64
/* TCP flag bits in the 16-bit word at offset 12 of the header (with doff). */
#define TCP_FLAG_RST_BIT 0x0004
#define TCP_FLAG_ACK_BIT 0x0010

/* The evict bits of the real flow f (a live entry) leads to; 0 for a real
 * that is not evicted, or a slot that no longer belongs to f's service (a
 * freed or reused slot: not this real's verdict). */
static __always_inline __u32 evict_flags(const struct xlvs_flow *f)
{
	__u32 id = f->real_id;
	const struct xlvs_real *r = bpf_map_lookup_elem(&reals, &id);

	if (!r || !(r->flags & XLVS_REAL_F_EVICT) || r->svc_id != f->svc_id)
		return 0;
	return r->flags;
}

/* The RST fields RFC 793 (3.4, "Reset Generation") asks for in answer to a
 * segment: if it carries an ACK, <SEQ=SEG.ACK><CTL=RST>; otherwise
 * <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>, SYN and FIN counting one each.
 * Facts are read before the frame is rewritten (the new headers overlay
 * the old ones). */
struct rst_facts {
	__be16 sport;
	__be16 dport;
	__be32 seq;     /* of the RST */
	__be32 ack_seq; /* of the RST */
	__be16 flags;   /* doff 5 and the flag bits, network order */
};

/* l4_len: the TCP segment's length (header and payload) per the IP header.
 * -1 when its header does not fit in it (a broken segment gets no answer). */
static __always_inline int rst_facts_of(struct rst_facts *rf, const struct tcphdr *t, __u32 l4_len)
{
	__u32 hlen = t->doff * 4, seg_len;

	if (hlen > l4_len)
		return -1;
	seg_len = l4_len - hlen + t->syn + t->fin;
	rf->sport = t->dest;
	rf->dport = t->source;
	if (t->ack) {
		rf->seq = t->ack_seq;
		rf->ack_seq = 0;
		rf->flags = bpf_htons((5 << 12) | TCP_FLAG_RST_BIT);
	} else {
		rf->seq = 0;
		rf->ack_seq = bpf_htonl(bpf_ntohl(t->seq) + seg_len);
		rf->flags = bpf_htons((5 << 12) | TCP_FLAG_RST_BIT | TCP_FLAG_ACK_BIT);
	}
	return 0;
}

/* Writes the 20-byte RST header (checksum zero). */
static __always_inline void rst_write_tcp(struct tcphdr *t, const struct rst_facts *rf)
{
	t->source = rf->sport;
	t->dest = rf->dport;
	t->seq = rf->seq;
	t->ack_seq = rf->ack_seq;
	((__be16 *)t)[6] = rf->flags;
	t->window = 0;
	t->check = 0;
	t->urg_ptr = 0;
}

static __always_inline void rst_swap_macs(struct ethhdr *e)
{
	__u8 mac[ETH_ALEN];

	__builtin_memcpy(mac, e->h_source, ETH_ALEN);
	__builtin_memcpy(e->h_source, e->h_dest, ETH_ALEN);
	__builtin_memcpy(e->h_dest, mac, ETH_ALEN);
}

/* [eth][ip 20][tcp 20], from VIP:port to the client, over what was the
 * client's segment (IP options and payload cut off). */
static __always_inline int rst4(struct xdp_md *ctx)
{
	struct rst_facts rf;
	__be32 saddr, daddr;
	struct tcphdr *t;
	struct iphdr *ip;
	void *data, *end;
	struct pkt p;
	__u64 sum;

	if (parse_packet(ctx, &p, XLVS_AF_INET) || p.proto != IPPROTO_TCP || !p.l4hdr || icmp_bad_source(&p))
		return drop(XLVS_DROP_EVICTED);
	if (rst_facts_of(&rf, p.l4hdr, bpf_ntohs(p.ip4->tot_len) - p.ip4->ihl * 4))
		return drop(XLVS_DROP_EVICTED);
	saddr = p.ip4->saddr;
	daddr = p.ip4->daddr;
	rst_swap_macs(p.eth);

	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	ip = data + sizeof(struct ethhdr);
	t = (void *)(ip + 1);
	if ((void *)(t + 1) > end)
		return drop(XLVS_DROP_EVICTED);
	*(__be16 *)ip = bpf_htons(0x4500); /* version 4, ihl 5, tos 0 */
	ip->tot_len = bpf_htons(sizeof(*ip) + sizeof(*t));
	ip->id = 0;
	ip->frag_off = bpf_htons(XLVS_IP4_DF);
	ip->ttl = EVICT_RST_TTL;
	ip->protocol = IPPROTO_TCP;
	ip->check = 0;
	ip->saddr = daddr;
	ip->daddr = saddr;
	ip->check = csum_ip4_hdr(ip);

	rst_write_tcp(t, &rf);
	/* Pseudo-header: addresses, then zero, protocol and TCP length as one
	 * network-order word. */
	sum = (__u64)daddr + saddr + bpf_htonl((IPPROTO_TCP << 16) | sizeof(*t));
	sum += (__u32)bpf_csum_diff(0, 0, (__be32 *)t, sizeof(*t), 0);
	t->check = ~csum_fold64(sum);

	if (bpf_xdp_adjust_tail(ctx, (int)(sizeof(struct ethhdr) + sizeof(*ip) + sizeof(*t)) - (int)(end - data)))
		return drop(XLVS_DROP_EVICTED);
	stats_event(XLVS_EV_EVICT_RST);
	return XDP_TX;
}

/* [eth][ip6 40][tcp 20]; extension headers and payload cut off. */
static __always_inline int rst6(struct xdp_md *ctx)
{
	struct in6_addr saddr, daddr;
	struct ipv6hdr *ip6;
	struct rst_facts rf;
	struct tcphdr *t;
	void *data, *end;
	struct pkt p;
	__u64 sum;
	__u32 l4_len;

	if (parse_packet(ctx, &p, XLVS_AF_INET6) || p.proto != IPPROTO_TCP || !p.l4hdr || icmp_bad_source(&p))
		return drop(XLVS_DROP_EVICTED);
	/* The payload length covers the extension headers before the segment. */
	l4_len = bpf_ntohs(p.ip6->payload_len) - (__u32)((void *)p.l4hdr - (void *)(p.ip6 + 1));
	if (rst_facts_of(&rf, p.l4hdr, l4_len))
		return drop(XLVS_DROP_EVICTED);
	__builtin_memcpy(&saddr, &p.ip6->saddr, sizeof(saddr));
	__builtin_memcpy(&daddr, &p.ip6->daddr, sizeof(daddr));
	rst_swap_macs(p.eth);

	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	ip6 = data + sizeof(struct ethhdr);
	t = (void *)(ip6 + 1);
	if ((void *)(t + 1) > end)
		return drop(XLVS_DROP_EVICTED);
	*(__be32 *)ip6 = bpf_htonl(6 << 28); /* version, no traffic class, no flow label */
	ip6->payload_len = bpf_htons(sizeof(*t));
	ip6->nexthdr = IPPROTO_TCP;
	ip6->hop_limit = EVICT_RST_TTL;
	ip6->saddr = daddr;
	ip6->daddr = saddr;

	rst_write_tcp(t, &rf);
	/* Pseudo-header: addresses, upper-layer length, next header. */
	sum = (__u32)bpf_csum_diff(0, 0, (__be32 *)&ip6->saddr, 32, 0);
	sum += bpf_htonl(sizeof(*t));
	sum += bpf_htonl(IPPROTO_TCP);
	sum += (__u32)bpf_csum_diff(0, 0, (__be32 *)t, sizeof(*t), 0);
	t->check = ~csum_fold64(sum);

	if (bpf_xdp_adjust_tail(ctx, (int)(sizeof(struct ethhdr) + sizeof(*ip6) + sizeof(*t)) - (int)(end - data)))
		return drop(XLVS_DROP_EVICTED);
	stats_event(XLVS_EV_EVICT_RST);
	return XDP_TX;
}

/* Global: verified once, however many paths of the packet program reach it;
 * it parses the frame again from ctx (the family is a constant again inside). */
__noinline int evict_rst_any(struct xdp_md *ctx, __u32 fam)
{
	if (fam == XLVS_AF_INET)
		return rst4(ctx);
	return rst6(ctx);
}

/* Ends the connection whose entry is keyed by k (either direction): both
 * entries deleted, the real's count down once (flow_forget). Global, so its
 * partner key lives in its own frame: inlined, it pushed xlvs_public's
 * deepest call chain (flow_create -> the scheduler scan) past the 512 bytes
 * of stack the verifier allows. It looks the entry up again, which only an
 * eviction pays. */
__noinline int evict_flow_end(const struct xlvs_flow_key *k)
{
	struct xlvs_flow *f;

	if (!k)
		return -1;
	f = bpf_map_lookup_elem(&flows, k);
	if (!f)
		return -1;
	flow_forget(k, f);
	return 0;
}

/* After the flow of a client's packet was ended (evict_flow_end): a packet
 * that may open a flow (UDP, a TCP SYN) goes on as the first of a new one. */
static __always_inline int evict_may_reopen(const struct pkt *p)
{
	return p->proto == IPPROTO_UDP || p->l4.syn;
}

/* The verdict on a client's packet whose flow was ended and that may not
 * open a new one (evict = evict_flags() of the flow). The caller returns it
 * at once: building a RST invalidates every packet pointer. */
static __always_inline int evict_public(struct xdp_md *ctx, const struct pkt *p, __u32 evict)
{
	/* Never a RST in answer to a RST (RFC 793). */
	if ((evict & XLVS_REAL_F_EVICT_RESET) && p->proto == IPPROTO_TCP && !p->l4.rst)
		return evict_rst_any(ctx, p->family);
	return drop(XLVS_DROP_EVICTED);
}

/* A packet from the evicted real on a live reply entry f (key k): the flow
 * is deleted and the packet dropped, in both modes (a RST goes to clients
 * only; after this one, the client's next segment finds no flow and is
 * dropped as no_flow, as after any flow's end). */
static __always_inline int evict_private(const struct xlvs_flow_key *k)
{
	evict_flow_end(k);
	return drop(XLVS_DROP_EVICTED);
}

#endif /* XLVS_EVICT_H */
