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
#include "conns.h"
#include "addr.h"
#include "sched_scan.h"

/* Step 1's result: the cached real in the low word (XLVS_NO_REAL: none or
 * unusable), and one of these. */
#define XLVS_LOC_KEEP (1ull << 32) /* use it: it is available and not overloaded */
#define XLVS_LOC_HALF (1ull << 33) /* use it unless some real runs below half its weight */

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

/* One walk over an lblcr set (bpf_loop context): the least loaded available
 * member (IPVS ip_vs_dest_set_min, wlc's metric), the most loaded one with
 * weight > 0 (ip_vs_dest_set_max: what shrinking drops) and a member no
 * longer allocated to the service (dropped: IPVS drops a removed real from
 * every set). Real ids, not positions, and a loop the verifier checks once:
 * unrolled over eight members, its states multiply past its limit. */
struct sched_set_ctx {
	struct xlvs_dest *d;
	__u64 min_oh;
	__u64 max_oh;
	__u32 svc_id;
	__u32 min, min_w;
	__u32 max, max_w;
	__u32 stale;
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
	if (s.avail && (c->min == XLVS_NO_REAL || sched_lighter(oh, s.weight, c->min_oh, c->min_w))) {
		c->min = id;
		c->min_oh = oh;
		c->min_w = s.weight;
	}
	if (s.weight > 0 && (c->max == XLVS_NO_REAL || sched_lighter(c->max_oh, c->max_w, oh, s.weight))) {
		c->max = id;
		c->max_oh = oh;
		c->max_w = s.weight;
	}
	return 0;
}

static __always_inline void sched_set_walk(struct sched_set_ctx *c, struct xlvs_dest *d, __u32 svc_id)
{
	c->d = d;
	c->svc_id = svc_id;
	c->min = c->max = c->stale = XLVS_NO_REAL;
	c->min_oh = c->max_oh = 0;
	c->min_w = c->max_w = 0;
	bpf_loop(XLVS_LBLCR_SET, sched_set_step, c, 0);
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
	struct sched_set_ctx c;
	struct xlvs_dest *d;
	struct xlvs_cfg *cf;
	__u32 zero = 0;

	if (!k)
		return XLVS_NO_REAL;
	{
		/* Scoped so that its stack is reused for the walk. */
		struct xlvs_dest_key dk;

		sched_dest_key(&dk, svc_id, k);
		d = bpf_map_lookup_elem(&dests, &dk);
	}
	if (!d)
		return XLVS_NO_REAL;
	d->used_ns = now;
	sched_set_walk(&c, d, svc_id);
	if (c.stale != XLVS_NO_REAL)
		sched_set_erase(d, c.stale);
	cf = bpf_map_lookup_elem(&cfg, &zero);
	if (cf && d->n > 1 && c.max != XLVS_NO_REAL && now > d->modified_ns + cf->lblcr_shrink_ns) {
		sched_set_erase(d, c.max);
		d->modified_ns = now;
	}
	return sched_locality_judge(c.min, svc_id);
}

/* A new dests entry holding real_id. */
static __always_inline void sched_dest_new(const struct xlvs_dest_key *dk, __u32 real_id, __u64 now)
{
	struct xlvs_dest nd = { .used_ns = now, .modified_ns = now, .n = 1 };

	nd.reals[0] = real_id;
	bpf_map_update_elem(&dests, dk, &nd, BPF_NOEXIST);
}

/* lblcr: real_id joins d's set. A full set first loses its most loaded
 * member (IPVS's set has no bound; ours holds XLVS_LBLCR_SET). */
static __always_inline void sched_set_join(struct xlvs_dest *d, __u32 svc_id, __u32 real_id, __u64 now)
{
	struct sched_set_ctx c;
	__u32 n;

	if (sched_set_has(d, real_id))
		return;
	if (d->n >= XLVS_LBLCR_SET) {
		sched_set_walk(&c, d, svc_id);
		sched_set_erase(d, c.max != XLVS_NO_REAL ? c.max : d->reals[0]);
	}
	n = d->n;
	if (n < XLVS_LBLCR_SET) {
		d->reals[n & (XLVS_LBLCR_SET - 1)] = real_id;
		d->n = n + 1;
	}
	d->modified_ns = now;
}

/* Step 3: real_id, the wlc pick, becomes the destination's real (lblc) or
 * joins its set (lblcr). Returns real_id. */
__noinline __u32 sched_locality_store(__u32 svc_id, __u32 sched, const struct xlvs_flow_key *k, __u32 real_id,
				      __u64 now)
{
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
		sched_set_join(d, svc_id, real_id, now);
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
	return sched_locality_store(svc_id, svc->sched, k, (__u32)scan, now);
}

#endif /* XLVS_SCHED_LOCALITY_H */
