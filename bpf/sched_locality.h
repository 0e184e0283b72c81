/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * lblc and lblcr (IPVS ip_vs_lblc.c, ip_vs_lblcr.c): dests[(service,
 * destination address)] remembers the real (lblc) or a set of reals (lblcr)
 * that served that destination, so one destination keeps hitting one cache
 * server. A new flow goes in three steps, each its own frame so that no call
 * chain holds them all on the 512-byte stack:
 *
 *   1. sched_lblc_lookup / sched_lblcr_lookup: the cached real, judged;
 *   2. sched_scan (wlc), only when the cached real is missing or overloaded;
 *   3. sched_locality_store: the wlc pick replaces (lblc) or joins (lblcr)
 *      the entry.
 *
 * "Overloaded" here is IPVS's is_overloaded() for these two schedulers, not
 * the threshold flag: more active connections than its weight while some
 * real of the service runs below half its own weight.
 *
 * Entries unused for cfg.lblc_expire_ns are deleted by xlvs_reap. CPUs may
 * race on one entry's set (IPVS takes a lock; we do not): the worst outcome
 * is a member too many or too few, never a member outside the set's bound.
 */
#ifndef XLVS_SCHED_LOCALITY_H
#define XLVS_SCHED_LOCALITY_H

#include "maps.h"
#include "clock.h"
#include "conns.h"
#include "addr.h"
#include "sched_scan.h"

/* Step 1's result: the cached real in the low word (XLVS_NO_REAL: none or
 * unusable), one of these flags, and for lblcr the most loaded member of the
 * set + 1 from bit XLVS_LOC_MAX_SHIFT (0: none), so that step 3 can make room
 * in a full set without walking it again (a second walk doubles the
 * verifier's work). Real ids are below XLVS_MAX_REALS (2^17); the low word
 * has room for 2^32. */
#define XLVS_LOC_KEEP (1ull << 32) /* use it: it is available and not overloaded */
#define XLVS_LOC_HALF (1ull << 33) /* use it unless some real runs below half its weight */
#define XLVS_LOC_MAX_SHIFT 40

static __always_inline void sched_dest_key(struct xlvs_dest_key *dk, __u32 svc_id, const struct xlvs_flow_key *k)
{
	addr_copy(dk->dst, k->dst);
	dk->svc_id = svc_id;
	dk->family = k->family;
	dk->pad[0] = dk->pad[1] = dk->pad[2] = 0;
}

/* The cached real, judged for step 1. */
static __always_inline __u64 sched_locality_judge(__u32 real_id, __u32 svc_id)
{
	struct xlvs_real_conns *c;
	struct xlvs_real *r;
	__u32 active = 0;

	if (real_id == XLVS_NO_REAL || !real_available(real_id, svc_id, &r))
		return XLVS_NO_REAL;
	c = bpf_map_lookup_elem(&real_conns, &real_id);
	if (c)
		active = conns_val(c->active);
	return real_id | (active <= r->weight ? XLVS_LOC_KEEP : XLVS_LOC_HALF);
}

/* lblc, step 1: the destination's real. */
__noinline __u64 sched_lblc_lookup(__u32 svc_id, const struct xlvs_flow_key *k, __u64 now)
{
	struct xlvs_dest_key dk;
	struct xlvs_dest *d;

	if (!k)
		return XLVS_NO_REAL;
	sched_dest_key(&dk, svc_id, k);
	d = bpf_map_lookup_elem(&dests, &dk);
	if (!d)
		return XLVS_NO_REAL;
	d->used_ns = now;
	return d->n ? sched_locality_judge(d->reals[0], svc_id) : XLVS_NO_REAL;
}

/* One walk over an lblcr set (bpf_loop context), for one of:
 *  - min: the least loaded available member (IPVS ip_vs_dest_set_min, wlc's
 *    metric), noting a member no longer allocated to the service (stale:
 *    dropped, as IPVS drops a removed real from every set);
 *  - max: the most loaded member with weight > 0 (ip_vs_dest_set_max: what
 *    shrinking drops).
 * Two walks, not one tracking both: the verifier checks the callback until
 * its states converge, and two running choices per member multiply its
 * states (about 70k instructions more than two simple walks). Real ids, not
 * positions, for the same reason. */
enum sched_set_want {
	SCHED_SET_MIN = 0,
	SCHED_SET_MAX = 1,
};

struct sched_set_ctx {
	struct xlvs_dest *d;
	__u64 oh;
	__u32 w;
	__u32 id;     /* the choice, XLVS_NO_REAL while none */
	__u32 stale;  /* min walk: a stale member, XLVS_NO_REAL if none */
	__u32 svc_id;
	__u32 want;   /* enum sched_set_want; a constant at each call site */
	__u32 pad;
};

static long sched_set_step(__u64 i, void *arg)
{
	struct sched_set_ctx *c = arg;
	struct xlvs_dest *d = c->d;
	struct sched_real s;
	__u32 id;
	__u64 oh;

	if (!d || i >= d->n)
		return 1;
	id = d->reals[i & (XLVS_LBLCR_SET - 1)];
	sched_real_load(id, c->svc_id, &s);
	if (!s.member) {
		c->stale = id;
		return 0;
	}
	oh = sched_conn_overhead(&s);
	if (c->want == SCHED_SET_MIN) {
		if (s.avail && (c->id == XLVS_NO_REAL || sched_lighter(oh, s.weight, c->oh, c->w)))
			goto take;
	} else {
		if (s.weight > 0 && (c->id == XLVS_NO_REAL || sched_lighter(c->oh, c->w, oh, s.weight)))
			goto take;
	}
	return 0;
take:
	c->id = id;
	c->oh = oh;
	c->w = s.weight;
	return 0;
}

/* The member `want` asks for (XLVS_NO_REAL: none); *stale as above. */
static __always_inline __u32 sched_set_walk(struct xlvs_dest *d, __u32 svc_id, __u32 want, __u32 *stale)
{
	struct sched_set_ctx c = {
		.d = d,
		.id = XLVS_NO_REAL,
		.stale = XLVS_NO_REAL,
		.svc_id = svc_id,
		.want = want,
	};

	bpf_loop(XLVS_LBLCR_SET, sched_set_step, &c, 0);
	*stale = c.stale;
	return c.id;
}

/* Drops real_id from d's set; the last member takes its place. */
static __always_inline void sched_set_erase(struct xlvs_dest *d, __u32 real_id)
{
	__u32 i, n = d->n;

	for (i = 0; i < XLVS_LBLCR_SET; i++) {
		if (i >= n)
			break;
		if (d->reals[i] == real_id) {
			n--;
			d->reals[i] = d->reals[n & (XLVS_LBLCR_SET - 1)];
			d->n = n;
			return;
		}
	}
}

static __always_inline int sched_set_has(const struct xlvs_dest *d, __u32 real_id)
{
	__u32 i, n = d->n;

	for (i = 0; i < XLVS_LBLCR_SET; i++) {
		if (i >= n)
			break;
		if (d->reals[i] == real_id)
			return 1;
	}
	return 0;
}

/* lblcr, step 1: the least loaded member of the destination's set. On the
 * way: a stale member is dropped, and a set of more than one that has not
 * changed for cfg.lblcr_shrink_ns loses its most loaded member (IPVS). */
__noinline __u64 sched_lblcr_lookup(__u32 svc_id, const struct xlvs_flow_key *k, __u64 now)
{
	__u32 zero = 0, min, max, stale;
	struct xlvs_dest *d;
	struct xlvs_cfg *cf;

	if (!k)
		return XLVS_NO_REAL;
	{
		/* Scoped so that its stack is reused for the walks. */
		struct xlvs_dest_key dk;

		sched_dest_key(&dk, svc_id, k);
		d = bpf_map_lookup_elem(&dests, &dk);
	}
	if (!d)
		return XLVS_NO_REAL;
	d->used_ns = now;
	min = sched_set_walk(d, svc_id, SCHED_SET_MIN, &stale);
	if (stale != XLVS_NO_REAL)
		sched_set_erase(d, stale);
	max = sched_set_walk(d, svc_id, SCHED_SET_MAX, &stale);
	cf = bpf_map_lookup_elem(&cfg, &zero);
	if (cf && d->n > 1 && max != XLVS_NO_REAL && now > d->modified_ns + cf->lblcr_shrink_ns) {
		sched_set_erase(d, max);
		d->modified_ns = now;
		max = XLVS_NO_REAL;
	}
	return sched_locality_judge(min, svc_id) |
	       (max < XLVS_MAX_REALS ? (__u64)(max + 1) << XLVS_LOC_MAX_SHIFT : 0);
}

/* A new dests entry holding real_id. */
static __always_inline void sched_dest_new(const struct xlvs_dest_key *dk, __u32 real_id, __u64 now)
{
	struct xlvs_dest nd = { .used_ns = now, .modified_ns = now, .n = 1 };

	nd.reals[0] = real_id;
	bpf_map_update_elem(&dests, dk, &nd, BPF_NOEXIST);
}

/* lblcr: real_id joins d's set. A full set first loses its most loaded
 * member, max (IPVS's set has no bound; ours holds XLVS_LBLCR_SET). */
static __always_inline void sched_set_join(struct xlvs_dest *d, __u32 real_id, __u32 max, __u64 now)
{
	__u32 n;

	if (sched_set_has(d, real_id))
		return;
	if (d->n >= XLVS_LBLCR_SET)
		sched_set_erase(d, max != XLVS_NO_REAL ? max : d->reals[0]);
	n = d->n;
	if (n < XLVS_LBLCR_SET) {
		d->reals[n & (XLVS_LBLCR_SET - 1)] = real_id;
		d->n = n + 1;
	}
	d->modified_ns = now;
}

/* Step 3: real_id, the wlc pick, becomes the destination's real (lblc) or
 * joins its set (lblcr; `looked` is step 1's result). Returns real_id. */
__noinline __u32 sched_locality_store(__u32 svc_id, __u32 sched, const struct xlvs_flow_key *k, __u32 real_id,
				      __u64 looked)
{
	__u32 max = (__u32)(looked >> XLVS_LOC_MAX_SHIFT);
	/* Not the flow's `now`: BPF functions take at most five arguments.
	 * Microseconds later, for a timestamp counted in seconds. */
	__u64 now = xlvs_now();

	struct xlvs_dest_key dk;
	struct xlvs_dest *d;

	if (!k)
		return real_id;
	sched_dest_key(&dk, svc_id, k);
	d = bpf_map_lookup_elem(&dests, &dk);
	if (!d) {
		sched_dest_new(&dk, real_id, now);
	} else if (sched == XLVS_SCHED_LBLC) {
		d->reals[0] = real_id;
		d->n = 1;
		d->modified_ns = now;
	} else {
		sched_set_join(d, real_id, max ? max - 1 : XLVS_NO_REAL, now);
	}
	return real_id;
}

/* lblc and lblcr: the three steps. */
static __always_inline __u32 sched_locality(__u32 svc_id, const struct xlvs_svc *svc, const struct xlvs_flow_key *k,
					    __u64 now)
{
	__u64 cached, scan;

	if (svc->sched == XLVS_SCHED_LBLC)
		cached = sched_lblc_lookup(svc_id, k, now);
	else
		cached = sched_lblcr_lookup(svc_id, k, now);
	if (cached & XLVS_LOC_KEEP)
		return (__u32)cached;
	scan = sched_scan(svc_id, XLVS_SCHED_WLC, svc->n_reals);
	if ((cached & XLVS_LOC_HALF) && !(scan & XLVS_SCAN_HALF))
		return (__u32)cached;
	if ((__u32)scan == XLVS_NO_REAL)
		return XLVS_NO_REAL;
	return sched_locality_store(svc_id, svc->sched, k, (__u32)scan, cached);
}

#endif /* XLVS_SCHED_LOCALITY_H */
