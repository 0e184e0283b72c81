/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * RSTs built in place: the answer to a TCP segment, in the frame that
 * carried it, sent back with XDP_TX. Used for the clients of an evicted
 * real (evict.h) and for the SYN-ACKs health probes draw (probe.h).
 */
#ifndef XLVS_RST_H
#define XLVS_RST_H

#include "maps.h"
#include "parse.h"
#include "csum.h"
#include "icmp.h"

/* TTL / hop limit of the RSTs we originate, Linux's default. */
#define RST_TTL 64
/* TCP flag bits in the 16-bit word at offset 12 of the header (with doff). */
#define TCP_FLAG_RST_BIT 0x0004
#define TCP_FLAG_ACK_BIT 0x0010

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
		return -1;
	if (rst_facts_of(&rf, p.l4hdr, bpf_ntohs(p.ip4->tot_len) - p.ip4->ihl * 4))
		return -1;
	saddr = p.ip4->saddr;
	daddr = p.ip4->daddr;
	rst_swap_macs(p.eth);

	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	ip = data + sizeof(struct ethhdr);
	t = (void *)(ip + 1);
	if ((void *)(t + 1) > end)
		return -1;
	*(__be16 *)ip = bpf_htons(0x4500); /* version 4, ihl 5, tos 0 */
	ip->tot_len = bpf_htons(sizeof(*ip) + sizeof(*t));
	ip->id = 0;
	ip->frag_off = bpf_htons(XLVS_IP4_DF);
	ip->ttl = RST_TTL;
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
		return -1;
	return 0;
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
		return -1;
	/* The payload length covers the extension headers before the segment. */
	l4_len = bpf_ntohs(p.ip6->payload_len) - (__u32)((void *)p.l4hdr - (void *)(p.ip6 + 1));
	if (rst_facts_of(&rf, p.l4hdr, l4_len))
		return -1;
	__builtin_memcpy(&saddr, &p.ip6->saddr, sizeof(saddr));
	__builtin_memcpy(&daddr, &p.ip6->daddr, sizeof(daddr));
	rst_swap_macs(p.eth);

	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	ip6 = data + sizeof(struct ethhdr);
	t = (void *)(ip6 + 1);
	if ((void *)(t + 1) > end)
		return -1;
	*(__be32 *)ip6 = bpf_htonl(6 << 28); /* version, no traffic class, no flow label */
	ip6->payload_len = bpf_htons(sizeof(*t));
	ip6->nexthdr = IPPROTO_TCP;
	ip6->hop_limit = RST_TTL;
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
		return -1;
	return 0;
}

/* Turns the TCP segment in the frame into the RST that answers it, addressed
 * back to its sender (the caller returns XDP_TX): 0, or -1 when the segment
 * gets no answer (not TCP, a source we never answer, broken lengths); the
 * frame may then be half rewritten and must be dropped. Global: verified
 * once, however many paths reach it; it parses the frame again from ctx. */
__noinline int rst_reply(struct xdp_md *ctx, __u32 fam)
{
	if (fam == XLVS_AF_INET)
		return rst4(ctx);
	return rst6(ctx);
}

#endif /* XLVS_RST_H */
