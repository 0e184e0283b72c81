/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * Pieces of xlvs_decap: its maps, the outer-header classification, the inner
 * header sanity check and the address-set tests. Parsing follows the contract of
 * parse.h (cursor advanced on success). The classify_*() helpers return an
 * enum xlvs_decap_stat verdict, or DECAP_TUNNEL when the packet is a tunnel
 * packet to strip; then *outer tells how.
 */
#ifndef XLVS_DECAP_H
#define XLVS_DECAP_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include "parse.h"
#include "xlvs_decap_abi.h"

/* Per-CPU packet counters by enum xlvs_decap_stat. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLVS_DECAP_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} decap_stats SEC(".maps");

/* The three address sets a tunnel packet is checked against (value unused,
 * 1). Each has room for two full lists: a replacement adds the new list
 * before removing the old (src/decap/address-sets.ts). An empty set matches
 * nothing: a fresh attachment decapsulates nothing until the CLI fills them. */

/* Outer sources allowed to tunnel to us: the LVS routers' local addresses. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * XLVS_DECAP_ALLOW_MAX);
	__type(key, struct xlvs_decap_addr);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} decap_allow SEC(".maps");

/* Addresses of this host, read by the CLI at attach: the outer destinations
 * that are ours. (bpf_fib_lookup() would know them without a copy, but it
 * answers FWD_DISABLED on an interface without forwarding, as a real server's
 * is.) */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * XLVS_DECAP_LOCAL_MAX);
	__type(key, struct xlvs_decap_addr);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} decap_local SEC(".maps");

/* The VIPs this real serves (held on lo): the inner destinations accepted. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * XLVS_DECAP_VIP_MAX);
	__type(key, struct xlvs_decap_addr);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} decap_vips SEC(".maps");

/* Not a counter: "strip this packet's outer header". */
#define DECAP_TUNNEL XLVS_DECAP_STAT_MAX

/* IPv6 extension headers skipped in front of the tunnel payload. A real
 * ip6_tunnel sender puts a destination-options header (tunnel encapsulation
 * limit, RFC 2473) there by default. */
#define DECAP_MAX_EXT_HDRS 3

struct decap_outer {
	__u32 len;                  /* bytes of outer IP header(s) to strip */
	__u32 stat;                 /* counter on success: DECAP_V4 or DECAP_V6 (outer family) */
	__u8 inner;                 /* IPPROTO_IPIP or IPPROTO_IPV6 */
	struct xlvs_decap_addr src; /* outer source, decap_allow key */
	struct xlvs_decap_addr dst; /* outer destination, decap_local key */
};

/* IPv4 address (network order) as the IPv4-mapped key of the address sets. */
static __always_inline void decap_addr4(struct xlvs_decap_addr *k, __be32 a)
{
	k->w0 = 0;
	k->w1 = 0;
	k->w2 = bpf_htonl(0xffff);
	k->w3 = a;
}

static __always_inline void decap_count(__u32 stat)
{
	__u64 *n = bpf_map_lookup_elem(&decap_stats, &stat);

	if (n)
		*n += 1;
}

static __always_inline int is_tunnel_proto(__u8 p)
{
	return p == IPPROTO_IPIP || p == IPPROTO_IPV6;
}

static __always_inline int classify_ipv4(struct cursor *c, struct decap_outer *o)
{
	struct iphdr *ip;
	void *start = c->pos;

	/* A broken outer header is not ours to judge: the kernel drops it. */
	if (parse_ipv4(c, &ip) || !is_tunnel_proto(ip->protocol))
		return XLVS_DECAP_STAT_PASS;
	/* Reassembly is the kernel's; it has no tunnel to give the result to,
	 * but stripping one piece here would corrupt the datagram. */
	if (ipv4_is_fragment(ip))
		return XLVS_DECAP_STAT_FRAGMENT;
	o->len = c->pos - start;
	o->stat = XLVS_DECAP_STAT_DECAP_V4;
	o->inner = ip->protocol;
	decap_addr4(&o->src, ip->saddr);
	decap_addr4(&o->dst, ip->daddr);
	return DECAP_TUNNEL;
}

static __always_inline int classify_ipv6(struct cursor *c, struct decap_outer *o)
{
	struct ipv6hdr *ip6 = c->pos;
	struct ipv6_opt_hdr *ext;
	void *start = c->pos;
	__u8 next;
	int i;

	if ((void *)(ip6 + 1) > c->end || ip6->version != 6)
		return XLVS_DECAP_STAT_PASS;
	c->pos = ip6 + 1;
	next = ip6->nexthdr;
	for (i = 0; i < DECAP_MAX_EXT_HDRS; i++) {
		if (next == IPPROTO_FRAGMENT)
			return XLVS_DECAP_STAT_FRAGMENT;
		if (next != IPPROTO_HOPOPTS && next != IPPROTO_DSTOPTS)
			break;
		ext = c->pos;
		if ((void *)(ext + 1) > c->end)
			return XLVS_DECAP_STAT_PASS;
		next = ext->nexthdr;
		c->pos += (ext->hdrlen + 1) * 8;
	}
	if (!is_tunnel_proto(next))
		return XLVS_DECAP_STAT_PASS;
	o->len = c->pos - start;
	o->stat = XLVS_DECAP_STAT_DECAP_V6;
	o->inner = next;
	__builtin_memcpy(&o->src, &ip6->saddr, sizeof(o->src));
	__builtin_memcpy(&o->dst, &ip6->daddr, sizeof(o->dst));
	return DECAP_TUNNEL;
}

/* 0 when the inner header at c fits, has the version the outer protocol
 * announced and a length that lies within the frame; *dst is then its
 * destination, the decap_vips key. */
static __always_inline int parse_inner(struct cursor *c, __u8 inner, struct xlvs_decap_addr *dst)
{
	if (inner == IPPROTO_IPIP) {
		struct iphdr *ip;
		void *start = c->pos;

		if (parse_ipv4(c, &ip))
			return -1;
		if (bpf_ntohs(ip->tot_len) < c->pos - start || start + bpf_ntohs(ip->tot_len) > c->end)
			return -1;
		decap_addr4(dst, ip->daddr);
		return 0;
	}
	{
		struct ipv6hdr *ip6 = c->pos;

		if ((void *)(ip6 + 1) > c->end || ip6->version != 6)
			return -1;
		if ((void *)(ip6 + 1) + bpf_ntohs(ip6->payload_len) > c->end)
			return -1;
		__builtin_memcpy(dst, &ip6->daddr, sizeof(*dst));
		return 0;
	}
}

static __always_inline int in_set(void *set, const struct xlvs_decap_addr *a)
{
	return bpf_map_lookup_elem(set, a) != 0;
}

#endif /* XLVS_DECAP_H */
