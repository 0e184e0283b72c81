/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * Active/inactive connection counts per real, as IPVS keeps them: a new TCP
 * flow is inactive while half-open (SYN_RECV) and active once the client
 * ACKs, a UDP flow inactive; FIN/RST moves a TCP flow from active to inactive; the end of a flow (expiry, reuse, reaping) counts it down.
 * Every change is an atomic add on the shared real_conns entry. One owner
 * per change (flow.h): a new flow is counted up by the CPU whose BPF_NOEXIST
 * insert of the forward entry succeeded (two SYNs racing make one flow); a
 * state change by the CPU whose compare-and-swap of the forward entry's
 * state word made it; the end by whoever swapped that word out (flow_end),
 * with the state it had. An entry the LRU evicts when the table is full is
 * counted down by nobody: the reaper's recount (conns_drift) takes such
 * drift out.
 *
 * The overload flag follows ipvsadm -x/-y: set at active+inactive >= upper
 * threshold, cleared below the lower threshold (3/4 of upper if unset).
 */
#ifndef XLVS_CONNS_H
#define XLVS_CONNS_H

#include "maps.h"

/* A count that raced below zero reads as zero. */
static __always_inline __u32 conns_val(__u32 v)
{
	return (__s32)v < 0 ? 0 : v;
}

static __always_inline void conns_overload_check(const struct xlvs_real *r, struct xlvs_real_conns *c)
{
	__u32 total, low;

	if (!r || !r->u_threshold) {
		if (c->overloaded)
			c->overloaded = 0;
		return;
	}
	total = conns_val(c->active) + conns_val(c->inactive);
	if (total >= r->u_threshold) {
		if (!c->overloaded)
			c->overloaded = 1;
		return;
	}
	low = r->l_threshold ? r->l_threshold : r->u_threshold * 3 / 4;
	if (c->overloaded && total < low)
		c->overloaded = 0;
}

static __always_inline int conns_is_active(__u32 state)
{
	return state == XLVS_FLOW_TCP_EST;
}

/* A new flow to real_id in state. */
static __always_inline void conns_open(__u32 real_id, __u32 state)
{
	struct xlvs_real_conns *c = bpf_map_lookup_elem(&real_conns, &real_id);

	if (!c)
		return;
	if (conns_is_active(state))
		__sync_fetch_and_add(&c->active, 1);
	else
		__sync_fetch_and_add(&c->inactive, 1);
	__sync_fetch_and_add(&c->seq, 1);
	conns_overload_check(bpf_map_lookup_elem(&reals, &real_id), c);
}

/* A flow of real_id in state ended. */
static __always_inline void conns_close(__u32 real_id, __u32 state)
{
	struct xlvs_real_conns *c = bpf_map_lookup_elem(&real_conns, &real_id);

	if (!c)
		return;
	if (conns_is_active(state))
		__sync_fetch_and_sub(&c->active, 1);
	else
		__sync_fetch_and_sub(&c->inactive, 1);
	__sync_fetch_and_add(&c->seq, 1);
	conns_overload_check(bpf_map_lookup_elem(&reals, &real_id), c);
}

/* A flow of real_id became active (the client's ACK of a half-open flow) or
 * inactive (FIN/RST of an established one): one count moves to the other.
 * The total is unchanged, so the overload flag is too. */
static __always_inline void conns_move(__u32 real_id, int to_active)
{
	struct xlvs_real_conns *c = bpf_map_lookup_elem(&real_conns, &real_id);

	if (!c)
		return;
	if (to_active) {
		__sync_fetch_and_sub(&c->inactive, 1);
		__sync_fetch_and_add(&c->active, 1);
	} else {
		__sync_fetch_and_sub(&c->active, 1);
		__sync_fetch_and_add(&c->inactive, 1);
	}
	__sync_fetch_and_add(&c->seq, 1);
}

/* The correction a recount allows for one count: `shown` is what the counter
 * says, `seen` the live entries the reaper's walk found, `events` the count
 * changes flows made while it walked. Each such change can make shown and
 * seen disagree by one without any drift, so only the disagreement beyond
 * `events` is drift (LRU evictions, which only ever inflate the count, or a
 * double count); a quiet real is corrected exactly, a busy one converges
 * over passes. Positive: the counter is that much too high. */
static __always_inline __s32 conns_drift(__u32 shown, __u32 seen, __u32 events)
{
	__s32 d = (__s32)(shown - seen);

	if (events > 0x7fffffff)
		return 0;
	if (d > (__s32)events)
		return d - (__s32)events;
	if (d < -(__s32)events)
		return d + (__s32)events;
	return 0;
}

/* r (a lookup result, may be NULL) is a real allocated to service svc_id:
 * a freed slot, or one reused by another service, is not. */
static __always_inline int real_member(const struct xlvs_real *r, __u32 svc_id)
{
	return r && (r->flags & XLVS_REAL_F_USED) && r->svc_id == svc_id;
}

/* The evict bits (health checks, on_failure: remove) of a reals entry: its
 * flows end at their next packet (evict.h) and it keeps no persistent
 * clients. Only meaningful together with real_member(). */
#define XLVS_REAL_F_EVICT (XLVS_REAL_F_EVICT_DROP | XLVS_REAL_F_EVICT_RESET)

/* May real_id take a new flow of service svc_id? (allocated to it, weight > 0,
 * not overloaded). Fills *out with the real when it may. */
static __always_inline int real_available(__u32 real_id, __u32 svc_id, struct xlvs_real **out)
{
	struct xlvs_real *r = bpf_map_lookup_elem(&reals, &real_id);
	struct xlvs_real_conns *c;

	if (!real_member(r, svc_id) || r->weight == 0)
		return 0;
	if (r->u_threshold) {
		c = bpf_map_lookup_elem(&real_conns, &real_id);
		if (c && c->overloaded)
			return 0;
	}
	*out = r;
	return 1;
}

#endif /* XLVS_CONNS_H */
