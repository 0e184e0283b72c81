/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * Packet parsing. Contract of every parse_*(): it checks the header lies
 * within [data, data_end) and, past the IP header, within the IP packet's
 * own length (cursor.lim: Ethernet padding after a short packet is not
 * part of it and is never read as a header), fills the caller's pointer,
 * advances the cursor past the header and returns 0; on a truncated or
 * inconsistent header it returns -1 and leaves the cursor where it was.
 * Both bounds are checked: data_end for the verifier, lim for the meaning.
 *
 * parse_packet() fills a struct pkt: the facts every later stage uses.
 */
#ifndef XLVS_PARSE_H
#define XLVS_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include "xlvs_abi.h"
#include "addr.h"

/* IPv6 extension headers walked before the transport header; a longer chain
 * is counted and dropped when addressed to a VIP (XLVS_DROP_IPV6_EXT). */
#define XLVS_V6_EXT_MAX 3

/* IPv4 frag_off bits (host order; compare with bpf_htons()). */
#define XLVS_IP4_DF 0x4000     /* don't fragment */
#define XLVS_IP4_MF 0x2000     /* more fragments */
#define XLVS_IP4_OFFSET 0x1fff /* fragment offset: non-zero past the first fragment */

struct cursor {
	void *pos;
	void *end; /* data_end */
	void *lim; /* end of the IP packet (<= end); end until the IP header is parsed */
};

/* The L4 facts of a packet the flow logic needs. */
struct l4 {
	__be16 *sport;  /* points into the packet (TCP/UDP only) */
	__be16 *dport;
	__sum16 *check; /* NULL for UDP/IPv4 without checksum */
	__u8 syn;       /* SYN without ACK: may open a flow */
	__u8 syn_any;   /* SYN with or without ACK */
	__u8 fin;
	__u8 rst;
};

/* A parsed packet. Exactly one of ip4/ip6 is set when family != 0. */
struct pkt {
	struct ethhdr *eth;
	struct iphdr *ip4;
	struct ipv6hdr *ip6;
	__be32 *saddr;    /* the packet's addresses: IPv4 one word, IPv6 four */
	__be32 *daddr;
	void *l4hdr;      /* transport header (TCP/UDP/ICMP/ICMPv6), NULL if absent */
	struct l4 l4;
	__u8 family;      /* XLVS_AF_INET / XLVS_AF_INET6; 0: not IP */
	__u8 proto;       /* transport protocol */
	__u8 frag;        /* an IPv4 fragment or an IPv6 fragment header */
	__u8 frag_later;  /* a fragment other than the first: no transport header */
	__u8 ext_long;    /* IPv6 extension chain longer than we walk */
	__u8 rh_pending;  /* IPv6 routing header with segments left: not at its final destination */
	__be32 frag_id;   /* a fragment's identification (IPv4: the 16-bit id, zero-extended) */
	void *end;        /* end of the IP packet: transport data ends here, not at data_end */
	__u32 len;        /* frame length */
};

static __always_inline int parse_eth(struct cursor *c, struct ethhdr **eth)
{
	struct ethhdr *h = c->pos;

	if ((void *)(h + 1) > c->end)
		return -1;
	*eth = h;
	c->pos = h + 1;
	return 0;
}

static __always_inline int parse_ipv4(struct cursor *c, struct iphdr **ip)
{
	struct iphdr *h = c->pos;
	__u32 hlen;

	if ((void *)(h + 1) > c->end)
		return -1;
	hlen = h->ihl * 4;
	if (h->version != 4 || hlen < sizeof(*h))
		return -1;
	if (c->pos + hlen > c->end)
		return -1;
	/* A total length beyond the frame (or inside the header) is a broken
	 * packet: the kernel drops it; we must not size ICMP errors by it. */
	if (bpf_ntohs(h->tot_len) < hlen || c->pos + bpf_ntohs(h->tot_len) > c->end)
		return -1;
	*ip = h;
	c->lim = c->pos + (bpf_ntohs(h->tot_len) & 0xffff);
	c->pos += hlen;
	return 0;
}

static __always_inline int ipv4_is_fragment(const struct iphdr *ip)
{
	return (ip->frag_off & bpf_htons(XLVS_IP4_MF | XLVS_IP4_OFFSET)) != 0;
}

/* A fragment other than the first: it carries no transport header. */
static __always_inline int ipv4_is_later_fragment(const struct iphdr *ip)
{
	return (ip->frag_off & bpf_htons(XLVS_IP4_OFFSET)) != 0;
}

/* The sender forbids fragmentation (and so wants to hear "frag needed"). */
static __always_inline int ipv4_df(const struct iphdr *ip)
{
	return (ip->frag_off & bpf_htons(XLVS_IP4_DF)) != 0;
}

static __always_inline int parse_ipv6(struct cursor *c, struct ipv6hdr **ip6)
{
	struct ipv6hdr *h = c->pos;

	if ((void *)(h + 1) > c->end)
		return -1;
	if (h->version != 6)
		return -1;
	if ((void *)(h + 1) + bpf_ntohs(h->payload_len) > c->end)
		return -1;
	*ip6 = h;
	/* A jumbogram (payload length 0) ends here: nothing past it is read. */
	c->lim = (void *)(h + 1) + (bpf_ntohs(h->payload_len) & 0xffff);
	c->pos = h + 1;
	return 0;
}

/* IPv6 fragment header (RFC 8200 4.5); ours, like struct icmp_hdr. */
struct ip6_frag_hdr {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off; /* offset in 8-byte units << 3 | M */
	__be32 id;
};

#define XLVS_IP6_FRAG_OFFSET 0xfff8

/* The fragment header at the cursor: marks p->frag (p->frag_later past the
 * first fragment), keeps its id and returns the protocol after it, -1 on
 * truncation. The walk stops there: only a first fragment has more. */
static __always_inline int parse_ipv6_frag(struct cursor *c, struct pkt *p)
{
	struct ip6_frag_hdr *h = c->pos;

	if ((void *)(h + 1) > c->end || (void *)(h + 1) > c->lim)
		return -1;
	p->frag = 1;
	p->frag_later = (h->frag_off & bpf_htons(XLVS_IP6_FRAG_OFFSET)) != 0;
	p->frag_id = h->id;
	c->pos = h + 1;
	return h->nexthdr;
}

/* Walks hop-by-hop, routing and destination options headers and a fragment
 * header (marks p->frag). Returns the transport protocol, -1 on truncation.
 * A routing header with segments left (RFC 8200 4.4) names the next hop in
 * the destination address; the final destination is another address, and
 * the transport checksum's pseudo-header uses that one: the packet is not
 * (yet) for a VIP. The walk stops there, returning IPPROTO_ROUTING with
 * p->rh_pending set, so nothing reads or rewrites the packet: the kernel
 * gets it. */
static __always_inline int skip_ipv6_ext(struct cursor *c, __u8 next, struct pkt *p)
{
	struct ipv6_opt_hdr *h;
	int i;

#pragma unroll
	for (i = 0; i < XLVS_V6_EXT_MAX; i++) {
		if (next == IPPROTO_FRAGMENT)
			return parse_ipv6_frag(c, p);
		if (next != IPPROTO_HOPOPTS && next != IPPROTO_ROUTING && next != IPPROTO_DSTOPTS)
			return next;
		h = c->pos;
		/* 4 bytes: a routing header's segments left is the 4th. */
		if (c->pos + 4 > c->end || c->pos + 4 > c->lim)
			return -1;
		if (next == IPPROTO_ROUTING && ((__u8 *)h)[3] != 0) {
			p->rh_pending = 1;
			return IPPROTO_ROUTING;
		}
		next = h->nexthdr;
		if (c->pos + (h->hdrlen + 1) * 8 > c->end || c->pos + (h->hdrlen + 1) * 8 > c->lim)
			return -1;
		c->pos += (h->hdrlen + 1) * 8;
	}
	if (next == IPPROTO_HOPOPTS || next == IPPROTO_ROUTING || next == IPPROTO_DSTOPTS ||
	    next == IPPROTO_FRAGMENT)
		p->ext_long = 1;
	return next;
}

static __always_inline int parse_tcp(struct cursor *c, struct tcphdr **tcp)
{
	struct tcphdr *h = c->pos;

	if ((void *)(h + 1) > c->end || (void *)(h + 1) > c->lim)
		return -1;
	if (h->doff < 5 || c->pos + h->doff * 4 > c->lim)
		return -1;
	*tcp = h;
	c->pos = h + 1;
	return 0;
}

static __always_inline int parse_udp(struct cursor *c, struct udphdr **udp)
{
	struct udphdr *h = c->pos;

	if ((void *)(h + 1) > c->end || (void *)(h + 1) > c->lim)
		return -1;
	*udp = h;
	c->pos = h + 1;
	return 0;
}

/* The EtherType of the frame, 0 if it is too short for an Ethernet header. */
static __always_inline __be16 frame_proto(struct xdp_md *ctx)
{
	struct ethhdr *eth = (void *)(long)ctx->data;

	if ((void *)(eth + 1) > (void *)(long)ctx->data_end)
		return 0;
	return eth->h_proto;
}

/* Fills p for a frame of family fam (a constant at every call site, so each
 * family gets its own specialised code and the verifier never sees a path
 * that mixes them). Returns 0 for an IP packet (p->proto says what it
 * carries; a fragment is marked, and only a first fragment's transport
 * header is parsed; an over-long extension chain or a pending routing
 * header is marked, not parsed further; a transport header truncated by
 * the frame or by the IP length leaves p->l4hdr NULL), -1 when the IP
 * header is broken or its length runs past the frame: the kernel decides
 * on those (it drops them as truncated). */
static __always_inline int parse_packet(struct xdp_md *ctx, struct pkt *p, const __u8 fam)
{
	struct cursor c = { .pos = (void *)(long)ctx->data, .end = (void *)(long)ctx->data_end,
			    .lim = (void *)(long)ctx->data_end };
	struct tcphdr *tcp;
	struct udphdr *udp;
	int proto;

	__builtin_memset(p, 0, sizeof(*p));
	p->len = ctx->data_end - ctx->data;
	if (parse_eth(&c, &p->eth))
		return -1;
	p->family = fam;
	if (fam == XLVS_AF_INET) {
		if (parse_ipv4(&c, &p->ip4))
			return -1;
		p->proto = p->ip4->protocol;
		p->saddr = &p->ip4->saddr;
		p->daddr = &p->ip4->daddr;
		p->end = c.lim;
		if (ipv4_is_fragment(p->ip4)) {
			p->frag = 1;
			p->frag_later = ipv4_is_later_fragment(p->ip4);
			p->frag_id = p->ip4->id;
			if (p->frag_later)
				return 0;
		}
	} else {
		if (parse_ipv6(&c, &p->ip6))
			return -1;
		p->saddr = p->ip6->saddr.in6_u.u6_addr32;
		p->daddr = p->ip6->daddr.in6_u.u6_addr32;
		p->end = c.lim;
		proto = skip_ipv6_ext(&c, p->ip6->nexthdr, p);
		if (proto < 0)
			return -1;
		p->proto = proto;
		if (p->frag_later || p->ext_long || p->rh_pending)
			return 0;
	}

	if (p->proto == IPPROTO_TCP) {
		if (parse_tcp(&c, &tcp))
			return 0;
		p->l4hdr = tcp;
		p->l4.sport = &tcp->source;
		p->l4.dport = &tcp->dest;
		p->l4.check = &tcp->check;
		p->l4.syn = tcp->syn && !tcp->ack;
		p->l4.syn_any = tcp->syn;
		p->l4.fin = tcp->fin;
		p->l4.rst = tcp->rst;
	} else if (p->proto == IPPROTO_UDP) {
		if (parse_udp(&c, &udp))
			return 0;
		p->l4hdr = udp;
		p->l4.sport = &udp->source;
		p->l4.dport = &udp->dest;
		/* IPv4 UDP may go without a checksum; IPv6 UDP may not (RFC 8200). */
		p->l4.check = (udp->check || fam == XLVS_AF_INET6) ? &udp->check : 0;
	} else if (p->proto == IPPROTO_ICMP || p->proto == IPPROTO_ICMPV6) {
		if (c.pos + 8 <= c.end && c.pos + 8 <= c.lim)
			p->l4hdr = c.pos;
	}
	return 0;
}

/* The packet's source and destination in ABI form. */
static __always_inline void pkt_addrs(const struct pkt *p, __be32 *src, __be32 *dst)
{
	if (p->family == XLVS_AF_INET6) {
		__builtin_memcpy(src, p->saddr, 16);
		__builtin_memcpy(dst, p->daddr, 16);
	} else {
		addr_set4(src, p->saddr[0]);
		addr_set4(dst, p->daddr[0]);
	}
}

#endif /* XLVS_PARSE_H */
