/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * Connection tracking: flow keys, the TCP state a flow is in, and its
 * deadline. A connection is two entries (forward and reply) so that each
 * direction costs one hash lookup. Entries past their deadline count as
 * absent here; the daemon deletes them (the reaper) to free memory.
 */
#ifndef XLVS_FLOW_H
#define XLVS_FLOW_H

#include "maps.h"
#include "parse.h"

/* The L4 facts of a packet the flow logic needs. */
struct l4 {
	__be16 *sport;  /* points into the packet */
	__be16 *dport;
	__sum16 *check; /* NULL for UDP without checksum */
	__u8 proto;
	__u8 syn;       /* SYN without ACK: may open a flow */
	__u8 syn_any;   /* SYN with or without ACK */
	__u8 fin;
	__u8 rst;
};

static __always_inline void flow_key_of(struct xlvs_flow_key *k, const struct iphdr *ip, const struct l4 *l4)
{
	k->src = ip->saddr;
	k->dst = ip->daddr;
	k->sport = *l4->sport;
	k->dport = *l4->dport;
	k->proto = l4->proto;
	k->pad[0] = k->pad[1] = k->pad[2] = 0;
}

static __always_inline __u64 flow_timeout(__u8 state)
{
	__u32 zero = 0;
	struct xlvs_cfg *c = bpf_map_lookup_elem(&cfg, &zero);
	__u64 t;

	if (!c)
		return 0;
	switch (state) {
	case XLVS_FLOW_TCP_FIN:
		t = c->timeout_tcp_fin_ns;
		break;
	case XLVS_FLOW_TCP_CLOSE:
		t = c->timeout_tcp_close_ns;
		break;
	case XLVS_FLOW_UDP:
		t = c->timeout_udp_ns;
		break;
	default:
		t = c->timeout_tcp_ns;
	}
	return t;
}

/* The state a flow moves to on this packet: RST closes, FIN starts closing,
 * nothing ever re-opens (a new SYN makes a new flow instead). */
static __always_inline __u8 flow_next_state(__u8 state, const struct l4 *l4)
{
	if (l4->proto != IPPROTO_TCP)
		return XLVS_FLOW_UDP;
	if (l4->rst)
		return XLVS_FLOW_TCP_CLOSE;
	if (l4->fin && state == XLVS_FLOW_TCP_EST)
		return XLVS_FLOW_TCP_FIN;
	return state;
}

/* The key of the other direction's entry of the connection that k/f belong
 * to: forward c->V (nat R) pairs with reply R->c (nat V) and back. */
static __always_inline void flow_partner_key(struct xlvs_flow_key *out, const struct xlvs_flow_key *k,
					     const struct xlvs_flow *f)
{
	if (f->dir == XLVS_DIR_FORWARD) {
		out->src = f->nat_addr;
		out->dst = k->src;
		out->sport = f->nat_port;
		out->dport = k->sport;
	} else {
		out->src = k->dst;
		out->dst = f->nat_addr;
		out->sport = k->dport;
		out->dport = f->nat_port;
	}
	out->proto = k->proto;
	out->pad[0] = out->pad[1] = out->pad[2] = 0;
}

/* Refreshes a live flow's deadline and state. On a state change the partner
 * entry follows, so a closing connection frees both entries on time. */
static __always_inline void flow_touch(struct xlvs_flow *f, const struct xlvs_flow_key *k,
				       const struct l4 *l4, __u64 now)
{
	__u8 next = flow_next_state(f->state, l4);
	__u64 expires = now + flow_timeout(next);
	struct xlvs_flow_key pk;
	struct xlvs_flow *p;

	/* Writing the deadline on every packet would bounce the cache line
	 * between CPUs for nothing: a second of slack is plenty. */
	if (next == f->state && expires < f->expires_ns + 1000000000ull)
		return;
	if (next != f->state) {
		flow_partner_key(&pk, k, f);
		p = bpf_map_lookup_elem(&flows, &pk);
		if (p) {
			p->state = next;
			p->expires_ns = expires;
		}
	}
	f->state = next;
	f->expires_ns = expires;
}

/* A flow entry may carry this packet: it exists, is not past its deadline,
 * and is not a closed TCP connection being reopened by a new SYN (port reuse,
 * which IPVS also schedules afresh). */
static __always_inline int flow_usable(const struct xlvs_flow *f, const struct l4 *l4, __u8 dir, __u64 now)
{
	if (!f || f->dir != dir || f->expires_ns < now)
		return 0;
	if (l4->syn && f->state != XLVS_FLOW_TCP_EST && f->state != XLVS_FLOW_UDP)
		return 0;
	return 1;
}

/* Forgets a connection: both of its entries. */
static __always_inline void flow_forget(const struct xlvs_flow_key *k, const struct xlvs_flow *f)
{
	struct xlvs_flow_key pk;

	flow_partner_key(&pk, k, f);
	bpf_map_delete_elem(&flows, &pk);
	bpf_map_delete_elem(&flows, k);
}

#endif /* XLVS_FLOW_H */
