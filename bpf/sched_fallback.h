/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * When a table's tries run out: rr/wrr after XLVS_RING_TRIES ring slots, and
 * sh/mh with XLVS_SVC_F_HASH_FALLBACK after XLVS_HASH_TRIES hashes, found no
 * available real. IPVS walks its whole list or table instead; a ring holds up
 * to 65536 slots and a maglev table 65537, so xlvs walks the service's reals
 * (svc_reals, config order, at most XLVS_MAX_SVC_REALS) through bpf_loop(), as
 * the lc family does. Without it a heavy real over its threshold starved the
 * light ones: weights 100:1 dropped most new flows while the light real had
 * room.
 *
 *   spread      rr, wrr: the available reals take turns in config order, each
 *               for its weight's worth of turns (wrr) or for one (rr), as the
 *               ring would have handed them out without the unavailable ones.
 *               The turn is a ticket from the ring's cursor, so successive
 *               flows move on. Two passes: the sum of the turns, then whose
 *               turn the ticket is.
 *   rendezvous  sh, mh: every available real scores the hash of its address
 *               and port seeded with the client's hash; the highest wins. A
 *               client keeps its fallback real while that real stays
 *               available, only the clients of a real that leaves move, and
 *               every router with the same config agrees (the seed is the
 *               service's, the scores need no real ids). Weights decide only
 *               availability here: a weighted rendezvous needs logarithms.
 *
 * src/sched/reference.ts (pickRing, pickHashed) states the same rules.
 * sched_fallback() is one global function, verified once, that runs only when
 * the tries failed: the path that finds a real in the table pays nothing for
 * it. It is called from sched_pick's frame (flow_create's), never from
 * sched_hashed's: one frame deeper, the walk's frames would not fit the 512
 * bytes of stack all frames share (flow_create's is at 128 for that reason).
 */
#ifndef XLVS_SCHED_FALLBACK_H
#define XLVS_SCHED_FALLBACK_H

#include "maps.h"
#include "conns.h"
#include "hash.h"
#include "sched_scan.h"

/* State of the spread's two passes (bpf_loop context). */
struct sched_spread_ctx {
	__u32 total;  /* pass 1: the turns of all available reals */
	__u32 turn;   /* pass 2: the ticket's turn, counted down real by real */
	__u32 base;   /* svc_id * XLVS_MAX_SVC_REALS */
	__u32 svc_id;
	__u32 pick;   /* the real whose turns hold the ticket's */
	__u32 last;   /* the last available real of pass 2 */
	__u8 use_w;   /* wrr: a real has weight turns; rr: one */
	__u8 choose;  /* pass 2 */
	__u8 any;     /* pass 1 found an available real: see sched_spread() */
	__u8 pad;
};

static long sched_spread_step(__u64 i, void *arg)
{
	struct sched_spread_ctx *c = arg;
	__u32 key = c->base + (__u32)i, *real_id;
	struct sched_real s;
	__u32 turns;

	real_id = bpf_map_lookup_elem(&svc_reals, &key);
	if (!real_id)
		return 1;
	sched_real_load(*real_id, c->svc_id, &s);
	if (!s.avail)
		return 0;
	turns = c->use_w ? s.weight : 1;
	if (!c->choose) {
		c->total += turns;
		c->any = 1;
		return 0;
	}
	c->last = *real_id;
	if (c->turn < turns) {
		c->pick = *real_id;
		return 1;
	}
	c->turn -= turns;
	return 0;
}

/* rr (weighted 0) and wrr (1): the available real whose turn `ticket` is, or
 * XLVS_NO_REAL when none is available. A real that stopped being available
 * between the passes shortens the second: the last available one then takes
 * the flow. The turns fit 32 bits: weights are at most 65535 (config).
 * Verifier: "none available" is asked of `any`, not of total == 0. A branch
 * the verifier can decide from total's range (0 when the loop runs no
 * iteration) marks total precise, and a precise sum that grows each iteration
 * keeps the callback's states from converging: the walk of it took 160k more
 * instructions at load. */
static __always_inline __u32 sched_spread(__u32 svc_id, __u32 n_reals, __u32 ticket, __u32 weighted)
{
	struct sched_spread_ctx c = {
		.base = svc_id * XLVS_MAX_SVC_REALS,
		.svc_id = svc_id,
		.pick = XLVS_NO_REAL,
		.last = XLVS_NO_REAL,
		.use_w = weighted ? 1 : 0,
	};

	if (n_reals > XLVS_MAX_SVC_REALS)
		n_reals = XLVS_MAX_SVC_REALS;
	bpf_loop(n_reals, sched_spread_step, &c, 0);
	if (!c.any)
		return XLVS_NO_REAL;
	c.turn = ticket % c.total;
	c.choose = 1;
	bpf_loop(n_reals, sched_spread_step, &c, 0);
	return c.pick != XLVS_NO_REAL ? c.pick : c.last;
}

/* State of the rendezvous (bpf_loop context). */
struct sched_rendezvous_ctx {
	__u32 base;  /* svc_id * XLVS_MAX_SVC_REALS */
	__u32 svc_id;
	__u32 seed;  /* the client's hash */
	__u32 best;  /* real id, XLVS_NO_REAL while none */
	__u32 best_score;
};

static long sched_rendezvous_step(__u64 i, void *arg)
{
	struct sched_rendezvous_ctx *c = arg;
	__u32 key = c->base + (__u32)i, *real_id, id, score;
	struct xlvs_real *r;

	real_id = bpf_map_lookup_elem(&svc_reals, &key);
	if (!real_id)
		return 1;
	id = *real_id;
	if (!real_available(id, c->svc_id, &r))
		return 0;
	score = xlvs_hash_addr(r->addr, r->family, r->port, c->seed, 0);
	/* Strictly higher: equal scores go to the first in config order. */
	if (c->best == XLVS_NO_REAL || score > c->best_score) {
		c->best = id;
		c->best_score = score;
	}
	return 0;
}

/* sh, mh: the available real of the highest score for the client whose
 * first-choice hash is client_hash, or XLVS_NO_REAL when none is available. */
static __always_inline __u32 sched_rendezvous(__u32 svc_id, __u32 n_reals, __u32 client_hash)
{
	struct sched_rendezvous_ctx c = {
		.base = svc_id * XLVS_MAX_SVC_REALS,
		.svc_id = svc_id,
		.seed = client_hash,
		.best = XLVS_NO_REAL,
	};

	if (n_reals > XLVS_MAX_SVC_REALS)
		n_reals = XLVS_MAX_SVC_REALS;
	bpf_loop(n_reals, sched_rendezvous_step, &c, 0);
	return c.best;
}

/* The real for a new flow k of service svc_id (scheduled by svc) once the
 * table's tries ran out, or XLVS_NO_REAL. rr/wrr's ticket is the ring's
 * cursor in units of the tries: each flow that falls back moved it by
 * XLVS_RING_TRIES, so successive ones take successive turns. sh/mh's client
 * hash is the first choice's (round 0), computed again here so that the path
 * that found a real in the table keeps nothing for this one. */
__noinline __u32 sched_fallback(__u32 svc_id, const struct xlvs_flow_key *k)
{
	struct xlvs_svc *svc = bpf_map_lookup_elem(&svcs, &svc_id);
	__be16 port = 0;
	__u32 *cursor;

	if (!svc || !k)
		return XLVS_NO_REAL;
	switch (svc->sched) {
	case XLVS_SCHED_RR:
	case XLVS_SCHED_WRR:
		cursor = bpf_map_lookup_elem(&svc_rr, &svc_id);
		if (!cursor)
			return XLVS_NO_REAL;
		return sched_spread(svc_id, svc->n_reals, *cursor / XLVS_RING_TRIES, svc->sched == XLVS_SCHED_WRR);
	case XLVS_SCHED_SH:
	case XLVS_SCHED_MH:
		if (!(svc->flags & XLVS_SVC_F_HASH_FALLBACK))
			return XLVS_NO_REAL;
		if (svc->flags & XLVS_SVC_F_HASH_PORT)
			port = k->sport;
		return sched_rendezvous(svc_id, svc->n_reals, xlvs_hash_addr(k->src, k->family, port, svc->hash_seed, 0));
	default:
		return XLVS_NO_REAL;
	}
}

#endif /* XLVS_SCHED_FALLBACK_H */
