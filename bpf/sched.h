/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * Scheduling a real server for a new flow. sched_pick() is the only entry
 * point the program uses; each scheduler is one function behind it, so
 * adding one is a new case here and a new enum value in xlvs_abi.h.
 */
#ifndef XLVS_SCHED_H
#define XLVS_SCHED_H

#include "maps.h"

#define XLVS_NO_REAL 0xffffffffu

/* rr and wrr share a mechanism: the control plane writes the sequence IPVS
 * would produce (equal weights for rr, the gcd-stepped weighted order for
 * wrr) into the service's ring, and every new flow takes the next slot. The
 * cursor is a global atomic so the order holds exactly across CPUs. */
static __always_inline __u32 sched_ring(__u32 svc_id, const struct xlvs_svc *svc)
{
	__u32 *cursor, slot, key, *real;
	__u32 len = svc->ring_len;

	if (len == 0 || len > XLVS_RING_SIZE)
		return XLVS_NO_REAL;
	cursor = bpf_map_lookup_elem(&svc_rr, &svc_id);
	if (!cursor)
		return XLVS_NO_REAL;
	slot = __sync_fetch_and_add(cursor, 1) % len;
	key = svc_id * XLVS_RING_SIZE + slot;
	real = bpf_map_lookup_elem(&ring, &key);
	return real ? *real : XLVS_NO_REAL;
}

static __always_inline __u32 sched_pick(__u32 svc_id, const struct xlvs_svc *svc)
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
