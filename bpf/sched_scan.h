/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * The least-connection family of schedulers (lc, wlc, sed, nq, fo, ovf, and
 * the fallback of lblc/lblcr): one pass over a service's reals (svc_reals,
 * config order) with their connection counts (real_conns), IPVS's rules
 * (net/netfilter/ipvs/ip_vs_{lc,wlc,sed,nq,fo,ovf}.c). src/sched/reference.ts
 * is the same rules in TypeScript; the fixture tests hold the two together.
 *
 * The pass is bpf_loop() over up to XLVS_MAX_SVC_REALS reals: the verifier
 * checks the callback until its states converge instead of unrolling 256
 * iterations, and sched_scan() is a global function, checked once.
 */
#ifndef XLVS_SCHED_SCAN_H
#define XLVS_SCHED_SCAN_H

#include "maps.h"
#include "conns.h"

/* sched_scan()'s result: the pick in the low word, and this bit when some
 * real of the service runs below half its weight (lblc's overload test). */
#define XLVS_SCAN_HALF (1ull << 32)

/* What the least-connection family needs to know of one real. */
struct sched_real {
	__u32 weight;
	__u32 active;
	__u32 inactive;
	__u8 member; /* allocated to this service */
	__u8 avail;  /* may take a new flow: real_available() */
	__u8 pad[2];
};

/* real_available() plus the counts, with one lookup of each map. */
static __always_inline void sched_real_load(__u32 real_id, __u32 svc_id, struct sched_real *s)
{
	struct xlvs_real *r = bpf_map_lookup_elem(&reals, &real_id);
	struct xlvs_real_conns *c = bpf_map_lookup_elem(&real_conns, &real_id);

	__builtin_memset(s, 0, sizeof(*s));
	if (!real_member(r, svc_id))
		return;
	s->member = 1;
	s->weight = r->weight;
	if (c) {
		s->active = conns_val(c->active);
		s->inactive = conns_val(c->inactive);
	}
	s->avail = r->weight > 0 && !(r->u_threshold && c && c->overloaded);
}

/* IPVS's connection overhead of lc, wlc, lblc and lblcr. */
static __always_inline __u64 sched_conn_overhead(const struct sched_real *s)
{
	return ((__u64)s->active << 8) + s->inactive;
}

/* overhead/weight of the best so far is greater than the candidate's,
 * compared by cross-multiplication as IPVS does (no division). */
static __always_inline int sched_lighter(__u64 oh, __u32 w, __u64 best_oh, __u32 best_w)
{
	return best_oh * w > oh * best_w;
}

/* State of one scan over a service's reals (bpf_loop context). Every rule
 * of the family is "the least overhead per weight, first one on ties", with
 *   overhead = active * a_mul + inactive * i_mul + add
 * and the weight replaced by 1 when !use_w:
 *   lc   (active << 8) + inactive, weights ignored
 *   wlc  (active << 8) + inactive per weight (also lblc/lblcr's fallback)
 *   sed  (active + 1) per weight; nq the same after an idle real (stop)
 *   fo   1 per weight: the heaviest; ovf the same among active <= weight
 * Expressing the rules as numbers, not branches, keeps the callback's paths
 * few: the verifier walks it until its states converge. */
struct sched_scan_ctx {
	__u64 best_oh;
	__u32 base;     /* svc_id * XLVS_MAX_SVC_REALS: the service's svc_reals */
	__u32 svc_id;
	__u32 best;     /* real id, XLVS_NO_REAL while none */
	__u32 best_w;   /* weight the best was compared with */
	__u16 a_mul;
	__u8 i_mul;
	__u8 add;
	__u8 use_w;
	__u8 idle_stop; /* nq: an idle real ends the scan */
	__u8 cap;       /* ovf: skip a real with active > weight */
	__u8 half;      /* some real has active*2 < weight (lblc's overload test) */
};

/* One real of the scan. Returns 1 to stop (nq found an idle real). */
static long sched_scan_step(__u64 i, void *arg)
{
	struct sched_scan_ctx *c = arg;
	__u32 key = c->base + (__u32)i, *real_id, id, w;
	struct sched_real s;
	__u64 oh;

	real_id = bpf_map_lookup_elem(&svc_reals, &key);
	if (!real_id)
		return 1;
	id = *real_id;
	sched_real_load(id, c->svc_id, &s);
	/* lblc's "overloaded" asks whether any real of the service, available
	 * or not, runs below half its weight (IPVS is_overloaded()). */
	if ((__u64)s.active * 2 < s.weight)
		c->half = 1;
	if (!s.avail || (c->cap && s.active > s.weight))
		return 0;
	oh = (__u64)s.active * c->a_mul + (__u64)s.inactive * c->i_mul + c->add;
	w = c->use_w ? s.weight : 1;
	/* nq: the first idle real wins outright. */
	if (c->idle_stop && s.active == 0) {
		c->best = id;
		return 1;
	}
	if (c->best == XLVS_NO_REAL || sched_lighter(oh, w, c->best_oh, c->best_w)) {
		c->best = id;
		c->best_oh = oh;
		c->best_w = w;
	}
	return 0;
}

/* Scans the service's reals under rule `sched` (an enum xlvs_sched of the
 * family; anything else is wlc). Returns the pick (XLVS_NO_REAL: none) |
 * XLVS_SCAN_HALF. One word, no out-parameter: the callers are deep in the
 * call chain and the 512 bytes of stack are shared by all frames. The loop
 * context lives here: bpf_loop() wants it on its caller's stack. */
__noinline __u64 sched_scan(__u32 svc_id, __u32 sched, __u32 n_reals)
{
	struct sched_scan_ctx c = {
		.base = svc_id * XLVS_MAX_SVC_REALS,
		.svc_id = svc_id,
		.best = XLVS_NO_REAL,
		.a_mul = 256,
		.i_mul = 1,
		.use_w = 1,
	};

	switch (sched) {
	case XLVS_SCHED_LC:
		c.use_w = 0;
		break;
	case XLVS_SCHED_NQ:
		c.idle_stop = 1;
		/* fall through: nq is sed once no real is idle */
	case XLVS_SCHED_SED:
		c.a_mul = 1;
		c.i_mul = 0;
		c.add = 1;
		break;
	case XLVS_SCHED_OVF:
		c.cap = 1;
		/* fall through: ovf is fo among the reals not overflowing */
	case XLVS_SCHED_FO:
		c.a_mul = 0;
		c.i_mul = 0;
		c.add = 1;
		break;
	default: /* wlc */
		break;
	}
	if (n_reals > XLVS_MAX_SVC_REALS)
		n_reals = XLVS_MAX_SVC_REALS;
	bpf_loop(n_reals, sched_scan_step, &c, 0);
	return c.best | (c.half ? XLVS_SCAN_HALF : 0);
}

#endif /* XLVS_SCHED_SCAN_H */
