/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * ICMP and ICMPv6 basics for icmp.h and icmp_error.h: the shared header
 * layout, the type numbers, which errors are about a flow, and the echo
 * request to a VIP answered in place.
 */
#ifndef XLVS_ICMP_BASE_H
#define XLVS_ICMP_BASE_H

#include "parse.h"
#include "stats.h"
#include "csum.h"

/* ICMP and ICMPv6 headers share this layout (RFC 792, RFC 4443); ours so
 * that <linux/icmp.h> and its libc includes stay out of a -target bpf build. */
struct icmp_hdr {
	__u8 type;
	__u8 code;
	__sum16 check;
	union {
		struct {
			__be16 id;
			__be16 seq;
		} echo;
		struct {
			__be16 unused;
			__be16 mtu; /* ICMP frag needed: next-hop MTU */
		} frag;
		__be32 mtu6;        /* ICMPv6 packet too big */
		__be32 unused;
	} un;
};

#define ICMP4_ECHO_REPLY 0
#define ICMP4_DEST_UNREACH 3
#define ICMP4_SOURCE_QUENCH 4
#define ICMP4_REDIRECT 5
#define ICMP4_ECHO 8
#define ICMP4_TIME_EXCEEDED 11
#define ICMP4_PARAMETERPROB 12
#define ICMP4_FRAG_NEEDED 4 /* code of ICMP4_DEST_UNREACH */

#define ICMP6_DEST_UNREACH 1
#define ICMP6_PKT_TOOBIG 2
#define ICMP6_TIME_EXCEED 3
#define ICMP6_ECHO_REQUEST 128
#define ICMP6_ECHO_REPLY 129
#define ICMP6_INFO_MIN 128 /* types below are errors */

/* TTL / hop limit of what we originate, Linux's default. */
#define ICMP_TTL 64
/* RFC 4443 2.4(c): an ICMPv6 error fills at most the minimum MTU, 1280. */
#define ICMP6_QUOTE (1280 - sizeof(struct ipv6hdr) - sizeof(struct icmp_hdr))

/* ---- common pieces ---- */

/* The frame carries the ICMP of its own family (ICMP in IPv4, ICMPv6 in IPv6). */
static __always_inline int icmp_of_family(const struct pkt *p)
{
	return p->family == XLVS_AF_INET ? p->proto == IPPROTO_ICMP : p->proto == IPPROTO_ICMPV6;
}

/* Errors we translate: destination unreachable (incl. frag needed / packet
 * too big), time exceeded. Parameter problems point into the quoted packet by
 * offset and redirects name a gateway: neither survives translation well. */
static __always_inline int icmp_is_xlate_error(const struct pkt *p, __u8 type)
{
	if (p->family == XLVS_AF_INET)
		return type == ICMP4_DEST_UNREACH || type == ICMP4_TIME_EXCEEDED;
	return type == ICMP6_DEST_UNREACH || type == ICMP6_PKT_TOOBIG || type == ICMP6_TIME_EXCEED;
}

/* ---- echo ---- */

/* An address a reply or error must never go to: unspecified, broadcast,
 * multicast (RFC 1122 3.2.2, RFC 4443 2.4(e)). */
static __always_inline int icmp_bad_source(const struct pkt *p)
{
	__u32 a0 = bpf_ntohl(p->saddr[0]);

	if (p->family == XLVS_AF_INET)
		return a0 == 0 || a0 == 0xffffffff || (a0 & 0xf0000000) == 0xe0000000;
	return (a0 >> 24) == 0xff || (a0 == 0 && p->saddr[1] == 0 && p->saddr[2] == 0 && p->saddr[3] == 0);
}

/* Echo request to a VIP: turned into the reply in place and sent back out. */
static __always_inline int icmp_echo(struct pkt *p, struct icmp_hdr *ih)
{
	__u8 mac[ETH_ALEN], new_type;
	__be32 tmp;
	int i;

	if (icmp_bad_source(p))
		return pass();
	__builtin_memcpy(mac, p->eth->h_source, ETH_ALEN);
	__builtin_memcpy(p->eth->h_source, p->eth->h_dest, ETH_ALEN);
	__builtin_memcpy(p->eth->h_dest, mac, ETH_ALEN);

	/* Swapping the addresses changes neither the IPv4 header sum nor the
	 * ICMPv6 pseudo-header sum: same words, other order. */
	if (p->family == XLVS_AF_INET) {
		tmp = p->ip4->saddr;
		p->ip4->saddr = p->ip4->daddr;
		p->ip4->daddr = tmp;
		csum_ip4_set_ttl(p->ip4, ICMP_TTL);
	} else {
#pragma unroll
		for (i = 0; i < 4; i++) {
			tmp = p->saddr[i];
			p->saddr[i] = p->daddr[i];
			p->daddr[i] = tmp;
		}
		p->ip6->hop_limit = ICMP_TTL;
	}
	/* Type is the high byte of the first word; code stays. */
	new_type = p->family == XLVS_AF_INET ? ICMP4_ECHO_REPLY : ICMP6_ECHO_REPLY;
	ih->check = csum_replace16(ih->check, bpf_htons((__u16)ih->type << 8), bpf_htons((__u16)new_type << 8));
	ih->type = new_type;
	stats_event(XLVS_EV_ICMP_ECHO);
	return XDP_TX;
}

#endif /* XLVS_ICMP_BASE_H */
