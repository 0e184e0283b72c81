/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * Scheduling a real server for a new flow: every IPVS scheduler. sched_pick()
 * is the only entry point the program uses. Three mechanisms serve them:
 *
 *   table   rr, wrr (ring + atomic cursor); sh, dh, mh (slot = hash % len).
 *           The control plane computes the table (src/sched/table.ts) and
 *           swaps it into svc_tables whole.
 *   scan    lc, wlc, sed, nq, fo, ovf: one pass over the service's reals in
 *           svc_reals with their connection counts (real_conns), IPVS's rules.
 *   cache   lblc, lblcr: dests[(svc, destination)] remembers the real(s);
 *           a miss or an overloaded real falls back to a wlc scan.
 *
 * When the table finds no available real (rr/wrr: XLVS_RING_TRIES slots;
 * sh/mh with fallback: XLVS_HASH_TRIES hashes) the service's reals are walked
 * (sched_fallback.h), as IPVS walks its whole table.
 *
 * The scan, the hash lookups and the locality caches are global functions:
 * the verifier checks each once, whatever path of the packet program reaches
 * it. The scan walks up to XLVS_MAX_SVC_REALS reals through bpf_loop() so it
 * is verified as one iteration, not unrolled.
 *
 * IPVS semantics followed throughout (net/netfilter/ipvs/ip_vs_*.c): a real
 * may take a new flow when it is allocated to the service, its weight is > 0
 * and it is not over its upper connection threshold (real_available() in
 * conns.h); ties go to the first real in config order.
 */
#ifndef XLVS_SCHED_H
#define XLVS_SCHED_H

#include "maps.h"
#include "conns.h"
#include "addr.h"
#include "hash.h"
#include "sched_scan.h"
#include "sched_locality.h"
#include "sched_fallback.h"

/* XLVS_RING_TRIES and XLVS_HASH_TRIES, the bounds of the searches below, are in
 * xlvs_abi.h (enum xlvs_sched_tries) so the TypeScript reference shares them. */

/* Slot `slot` of a service's table (an inner map of svc_tables), or
 * XLVS_NO_REAL. */
static __always_inline __u32 sched_table_slot(void *tbl, __u32 slot)
{
	__u32 *real = bpf_map_lookup_elem(tbl, &slot);

	return real ? *real : XLVS_NO_REAL;
}

/* rr and wrr share a mechanism: the control plane writes the sequence IPVS
 * would produce (equal weights for rr, the gcd-stepped weighted order for
 * wrr) into the service's table, and every new flow takes the next slot. The
 * cursor is a global atomic so the order holds exactly across CPUs. A real
 * that is overloaded is skipped, as IPVS skips it; after XLVS_RING_TRIES
 * slots in a row were, the walk of the reals decides. (The call sits here, at
 * the loop's end: tested in sched_pick, the extra live value cost
 * flow_create 8 more bytes of stack, which it does not have.) */
static __always_inline __u32 sched_ring(__u32 svc_id, const struct xlvs_svc *svc, const struct xlvs_flow_key *k)
{
	__u32 *cursor, len = svc->table_len, real_id;
	struct xlvs_real *r;
	void *tbl;
	int i;

	if (len == 0)
		return XLVS_NO_REAL;
	/* One lookup for all tries, as in sched_hashed: a table swapped in
	 * meanwhile applies from the next flow. Without a table no slot is
	 * taken, so the cursor does not move. */
	tbl = bpf_map_lookup_elem(&svc_tables, &svc_id);
	if (!tbl)
		return XLVS_NO_REAL;
	cursor = bpf_map_lookup_elem(&svc_rr, &svc_id);
	if (!cursor)
		return XLVS_NO_REAL;
	for (i = 0; i < XLVS_RING_TRIES; i++) {
		real_id = sched_table_slot(tbl, __sync_fetch_and_add(cursor, 1) % len);
		if (real_available(real_id, svc_id, &r))
			return real_id;
	}
	return sched_fallback(svc_id, k);
}

/* sh, dh, mh: real = table[hash % table_len]. sh and mh hash the client's
 * address (and port with XLVS_SVC_F_HASH_PORT), dh the destination address;
 * the seed is the service's, so every router with the same config picks the
 * same real. An unavailable real means no real, unless sh/mh have
 * XLVS_SVC_F_HASH_FALLBACK: then, as IPVS does, the key is rehashed with the
 * try number until an available real turns up; when none did, sched_pick
 * walks the reals. No real is XLVS_NO_REAL here whatever the cause: a
 * distinct answer for "tries ran out" made the verifier's walk of this loop
 * branch past its bound of 8192 pending states. */
__noinline __u32 sched_hashed(__u32 svc_id, const struct xlvs_svc *svc, const struct xlvs_flow_key *k)
{
	__u32 len, tries = 1, slot, *real_id, i;
	const __be32 *addr;
	struct xlvs_real *r;
	__be16 port = 0;
	void *tbl;

	if (!svc || !k)
		return XLVS_NO_REAL;
	len = svc->table_len;
	tbl = bpf_map_lookup_elem(&svc_tables, &svc_id);
	if (!tbl || len == 0)
		return XLVS_NO_REAL;
	addr = k->src;
	if (svc->sched == XLVS_SCHED_DH) {
		addr = k->dst;
	} else {
		if (svc->flags & XLVS_SVC_F_HASH_PORT)
			port = k->sport;
		if (svc->flags & XLVS_SVC_F_HASH_FALLBACK)
			tries = XLVS_HASH_TRIES;
	}
	for (i = 0; i < XLVS_HASH_TRIES && i < tries; i++) {
		slot = xlvs_hash_addr(addr, k->family, port, svc->hash_seed, i) % len;
		real_id = bpf_map_lookup_elem(tbl, &slot);
		if (!real_id)
			return XLVS_NO_REAL;
		if (real_available(*real_id, svc_id, &r))
			return *real_id;
	}
	return XLVS_NO_REAL;
}

/* The real for a new flow k of service svc_id, or XLVS_NO_REAL. */
static __always_inline __u32 sched_pick(__u32 svc_id, const struct xlvs_svc *svc, const struct xlvs_flow_key *k,
					__u64 now)
{
	__u32 real_id;

	switch (svc->sched) {
	case XLVS_SCHED_RR:
	case XLVS_SCHED_WRR:
		return sched_ring(svc_id, svc, k);
	case XLVS_SCHED_SH:
	case XLVS_SCHED_DH:
	case XLVS_SCHED_MH:
		/* sched_fallback() answers none at once for dh and for sh/mh
		 * without XLVS_SVC_F_HASH_FALLBACK; with it, any miss walks the
		 * reals (a service without a table has none available). */
		real_id = sched_hashed(svc_id, svc, k);
		if (real_id == XLVS_NO_REAL)
			real_id = sched_fallback(svc_id, k);
		return real_id;
	case XLVS_SCHED_LBLC:
	case XLVS_SCHED_LBLCR:
		return sched_locality(svc_id, svc, k, now);
	case XLVS_SCHED_LC:
	case XLVS_SCHED_WLC:
	case XLVS_SCHED_SED:
	case XLVS_SCHED_NQ:
	case XLVS_SCHED_FO:
	case XLVS_SCHED_OVF:
		return (__u32)sched_scan(svc_id, svc->sched, svc->n_reals);
	default:
		return XLVS_NO_REAL;
	}
}

#endif /* XLVS_SCHED_H */
