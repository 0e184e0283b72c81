/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * Scheduling a real server for a new flow. sched_pick() is the only entry
 * point the program uses; each scheduler is one function behind it, so
 * adding one is a new case here and a new enum value in xlvs_abi.h.
 */
#ifndef XLVS_SCHED_H
#define XLVS_SCHED_H

#include "maps.h"
#include "conns.h"

/* How many ring slots a new flow may skip past unavailable reals. */
#define XLVS_RING_TRIES 16

/* Slot `slot` of service svc_id's table, or XLVS_NO_REAL. */
static __always_inline __u32 sched_table_slot(__u32 svc_id, __u32 slot)
{
	void *tbl = bpf_map_lookup_elem(&svc_tables, &svc_id);
	__u32 *real;

	if (!tbl)
		return XLVS_NO_REAL;
	real = bpf_map_lookup_elem(tbl, &slot);
	return real ? *real : XLVS_NO_REAL;
}

/* rr and wrr share a mechanism: the control plane writes the sequence IPVS
 * would produce (equal weights for rr, the gcd-stepped weighted order for
 * wrr) into the service's table, and every new flow takes the next slot. The
 * cursor is a global atomic so the order holds exactly across CPUs. A real
 * that is overloaded is skipped, as IPVS skips it. */
static __always_inline __u32 sched_ring(__u32 svc_id, const struct xlvs_svc *svc)
{
	__u32 *cursor, len = svc->table_len, real_id;
	struct xlvs_real *r;
	int i;

	if (len == 0)
		return XLVS_NO_REAL;
	cursor = bpf_map_lookup_elem(&svc_rr, &svc_id);
	if (!cursor)
		return XLVS_NO_REAL;
	for (i = 0; i < XLVS_RING_TRIES; i++) {
		real_id = sched_table_slot(svc_id, __sync_fetch_and_add(cursor, 1) % len);
		if (real_available(real_id, svc_id, &r))
			return real_id;
	}
	return XLVS_NO_REAL;
}

/* The real for a new flow k of service svc_id, or XLVS_NO_REAL. */
static __always_inline __u32 sched_pick(__u32 svc_id, const struct xlvs_svc *svc, const struct xlvs_flow_key *k,
					__u64 now)
{
	switch (svc->sched) {
	case XLVS_SCHED_RR:
	case XLVS_SCHED_WRR:
		return sched_ring(svc_id, svc);
	default:
		return XLVS_NO_REAL;
	}
}

#endif /* XLVS_SCHED_H */
