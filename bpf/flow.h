/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * Connection tracking: flow keys, the TCP state a flow is in, and its
 * deadline. A connection is two entries (forward and reply) so that each
 * direction costs one hash lookup. Entries past their deadline count as
 * absent here; the reaper program deletes them and counts them down.
 */
#ifndef XLVS_FLOW_H
#define XLVS_FLOW_H

#include "maps.h"
#include "parse.h"
#include "conns.h"

/* A half-open connection (TCP_SYN) lives this long without the client's
 * ACK: IPVS's tcp_synrecv default. A SYN flood's entries then leave the
 * table within a minute instead of the 900 s of an established flow. A tcp
 * timeout set shorter still wins: a half-open flow never outlives an open one. */
#define XLVS_FLOW_SYN_TIMEOUT_NS (60ull * 1000000000ull)

static __always_inline void flow_key_of(struct xlvs_flow_key *k, const struct pkt *p)
{
	pkt_addrs(p, k->src, k->dst);
	k->sport = *p->l4.sport;
	k->dport = *p->l4.dport;
	k->proto = p->proto;
	k->family = p->family;
	k->pad[0] = k->pad[1] = 0;
}

static __always_inline __u64 flow_timeout(__u32 state)
{
	__u32 zero = 0;
	struct xlvs_cfg *c = bpf_map_lookup_elem(&cfg, &zero);

	if (!c)
		return 0;
	switch (state) {
	case XLVS_FLOW_TCP_FIN:
		return c->timeout_tcp_fin_ns;
	case XLVS_FLOW_TCP_CLOSE:
		return c->timeout_tcp_close_ns;
	case XLVS_FLOW_UDP:
		return c->timeout_udp_ns;
	case XLVS_FLOW_TCP_SYN:
		return c->timeout_tcp_ns < XLVS_FLOW_SYN_TIMEOUT_NS ? c->timeout_tcp_ns : XLVS_FLOW_SYN_TIMEOUT_NS;
	default:
		return c->timeout_tcp_ns;
	}
}

/* TCP states after which a new SYN on the same 4-tuple is a new connection. */
static __always_inline int flow_closing(__u32 state)
{
	return state == XLVS_FLOW_TCP_FIN || state == XLVS_FLOW_TCP_CLOSE;
}

/* The state a flow moves to on this packet (dir: the entry's direction): RST
 * closes, FIN starts closing, the client's first segment without SYN (its
 * ACK of the handshake) establishes a half-open flow; nothing ever re-opens
 * (a new SYN makes a new flow instead). The real's SYN-ACK changes nothing:
 * like IPVS's SYN_RECV, only the client's ACK makes the connection active,
 * so a flood of SYNs from forged sources never counts as active. */
static __always_inline __u32 flow_next_state(__u32 state, const struct pkt *p, __u8 dir)
{
	if (p->proto != IPPROTO_TCP)
		return XLVS_FLOW_UDP;
	if (p->l4.rst)
		return XLVS_FLOW_TCP_CLOSE;
	if (p->l4.fin && (state == XLVS_FLOW_TCP_EST || state == XLVS_FLOW_TCP_SYN))
		return XLVS_FLOW_TCP_FIN;
	if (state == XLVS_FLOW_TCP_SYN && dir == XLVS_DIR_FORWARD && !p->l4.syn_any)
		return XLVS_FLOW_TCP_EST;
	return state;
}

/* The key of the other entry of the connection k/f belong to: this entry's
 * packet after its rewrites, reversed. */
static __always_inline void flow_partner_key(struct xlvs_flow_key *out, const struct xlvs_flow_key *k,
					     const struct xlvs_flow *f)
{
	if (f->flags & XLVS_FLOW_F_SNAT) {
		addr_copy(out->dst, f->nat_src);
		out->dport = f->nat_sport;
	} else {
		addr_copy(out->dst, k->src);
		out->dport = k->sport;
	}
	if (f->flags & XLVS_FLOW_F_DNAT) {
		addr_copy(out->src, f->nat_dst);
		out->sport = f->nat_dport;
	} else {
		addr_copy(out->src, k->dst);
		out->sport = k->dport;
	}
	out->proto = k->proto;
	out->family = k->family;
	out->pad[0] = out->pad[1] = 0;
}

/* Deletes the connection k/f belong to (both entries). The one that deletes
 * the forward entry counts the connection down. */
static __always_inline void flow_forget(const struct xlvs_flow_key *k, const struct xlvs_flow *f)
{
	struct xlvs_flow_key pk;
	__u32 real_id = f->real_id, state = f->state;
	int fwd_deleted;

	flow_partner_key(&pk, k, f);
	if (f->dir == XLVS_DIR_FORWARD) {
		bpf_map_delete_elem(&flows, &pk);
		fwd_deleted = bpf_map_delete_elem(&flows, k) == 0;
	} else {
		fwd_deleted = bpf_map_delete_elem(&flows, &pk) == 0;
		bpf_map_delete_elem(&flows, k);
	}
	if (fwd_deleted)
		conns_close(real_id, state);
}

/* Refreshes a live flow's deadline and state. On a state change the partner
 * entry follows, so a closing connection frees both entries on time; the
 * forward entry's state word is swapped atomically so the change from
 * active to inactive is counted once. Returns 1 when the deadline was
 * written (the persistence template may want the same refresh). */
static __always_inline int flow_touch(struct xlvs_flow *f, const struct xlvs_flow_key *k,
				      const struct pkt *p, __u64 now)
{
	__u32 cur = f->state, next = flow_next_state(cur, p, f->dir);
	__u64 expires = now + flow_timeout(next);
	struct xlvs_flow_key pk;
	struct xlvs_flow *fw, *other;

	/* Writing the deadline on every packet would bounce the cache line
	 * between CPUs for nothing: a second of slack is plenty. */
	if (next == cur && expires < f->expires_ns + 1000000000ull)
		return 0;
	if (next != cur) {
		flow_partner_key(&pk, k, f);
		other = bpf_map_lookup_elem(&flows, &pk);
		fw = f->dir == XLVS_DIR_FORWARD ? f : other;
		if (fw && __sync_val_compare_and_swap(&fw->state, cur, next) == cur &&
		    conns_is_active(cur) != conns_is_active(next))
			conns_move(f->real_id, conns_is_active(next));
		if (other) {
			other->state = next;
			other->expires_ns = expires;
		}
	}
	f->state = next;
	f->expires_ns = expires;
	return 1;
}

/* f (a lookup result, may be NULL) is an entry of direction dir that is not
 * past its deadline. */
static __always_inline int flow_live(const struct xlvs_flow *f, __u8 dir, __u64 now)
{
	return f && f->dir == dir && f->expires_ns >= now;
}

/* A flow entry may carry this packet: it is live, and is not a closed TCP
 * connection being reopened by a new SYN (port reuse, which IPVS also
 * schedules afresh). A retransmitted SYN of a half-open flow stays on it. */
static __always_inline int flow_usable(const struct xlvs_flow *f, const struct pkt *p, __u8 dir, __u64 now)
{
	if (!flow_live(f, dir, now))
		return 0;
	if (p->l4.syn && flow_closing(f->state))
		return 0;
	return 1;
}

#endif /* XLVS_FLOW_H */
