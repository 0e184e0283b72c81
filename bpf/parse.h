/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * Packet parsing. Contract of every parse_*(): it checks the header lies
 * within [data, data_end), fills the caller's pointer, advances the cursor
 * past the header and returns 0; on a truncated or inconsistent header it
 * returns -1 and leaves the cursor where it was.
 */
#ifndef XLVS_PARSE_H
#define XLVS_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

struct cursor {
	void *pos;
	void *end;
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
	*ip = h;
	c->pos += hlen;
	return 0;
}

static __always_inline int ipv4_is_fragment(const struct iphdr *ip)
{
	return (ip->frag_off & bpf_htons(0x3fff)) != 0; /* MF set or offset != 0 */
}

/* Parses TCP or UDP; returns the ports through l4 (a tcphdr or udphdr). */
static __always_inline int parse_tcp(struct cursor *c, struct tcphdr **tcp)
{
	struct tcphdr *h = c->pos;

	if ((void *)(h + 1) > c->end)
		return -1;
	if (h->doff < 5)
		return -1;
	*tcp = h;
	c->pos = h + 1;
	return 0;
}

static __always_inline int parse_udp(struct cursor *c, struct udphdr **udp)
{
	struct udphdr *h = c->pos;

	if ((void *)(h + 1) > c->end)
		return -1;
	*udp = h;
	c->pos = h + 1;
	return 0;
}

#endif /* XLVS_PARSE_H */
