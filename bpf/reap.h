/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * xlvs_reap, run by the daemon through BPF_PROG_TEST_RUN every few seconds:
 * deletes dead connections (both entries, counted down once, their END
 * written to the HA sync ring), recounts each real's live flows, and drops
 * dead persistence templates and lblc entries. Included once, by xlvs.bpf.c.
 */
#ifndef XLVS_REAP_H
#define XLVS_REAP_H

#include "maps.h"
#include "flow.h"
#include "conns.h"

struct reap_ctx {
	__u64 now;
	__u32 reaped;
};

/* Per-real scratch of one reaper pass (the recount): a global of this object,
 * not a pinned map, as nothing outlives the pass. */
struct reap_real {
	__u32 seq0;     /* real_conns.seq before the walk */
	__u32 own;      /* count changes the walk itself made (flows it reaped) */
	__u32 active;   /* live forward entries the walk saw, by activity */
	__u32 inactive;
};

static struct reap_real reap_reals[XLVS_MAX_REALS];

static long reap_snapshot(__u32 i, void *unused)
{
	struct xlvs_real_conns *c = bpf_map_lookup_elem(&real_conns, &i);
	struct reap_real *r;

	if (i >= XLVS_MAX_REALS)
		return 1;
	r = &reap_reals[i];
	r->seq0 = c ? c->seq : 0;
	r->own = r->active = r->inactive = 0;
	return 0;
}

/* A connection's two entries live and die together: a dead entry whose
 * partner lives is kept (either direction's traffic keeps the pair; a reply
 * entry reaped alone left the real's late replies untranslated, and for
 * fullnat freed a local port its forward entry still used). When both are
 * dead, both go, counted down once (flow_end). */
static long reap_flow(void *map, struct xlvs_flow_key *k, struct xlvs_flow *f, struct reap_ctx *rc)
{
	__u32 real_id = f->real_id, state = f->state;
	struct xlvs_flow_key pk, back, kk;
	struct xlvs_flow *o;
	struct reap_real *r;
	int n;

	if (f->expires_ns < rc->now) {
		o = flow_partner(k, f, &pk, &back);
		if (!o || o->expires_ns < rc->now) {
			/* On the stack: the END record's key (sync_emit) may not be
			 * the walk's read-only map key. */
			kk = *k;
			n = flow_end(&kk, f, &pk, &back, 1);
			rc->reaped += n & (XLVS_FLOW_END_COUNTED - 1);
			if ((n & XLVS_FLOW_END_COUNTED) && real_id < XLVS_MAX_REALS)
				reap_reals[real_id].own++;
			return 0;
		}
	}
	if (f->dir != XLVS_DIR_FORWARD || real_id >= XLVS_MAX_REALS || state == XLVS_FLOW_GONE)
		return 0;
	r = &reap_reals[real_id];
	if (conns_is_active(state))
		r->active++;
	else
		r->inactive++;
	return 0;
}

/* After the walk: takes out of each real's counts what the walk shows is
 * drift (see conns_drift). Counts are read before seq, the order in which
 * the data path writes them the other way round, so a change caught half
 * way shows up in events rather than as drift. */
static long reap_recount(__u32 i, void *unused)
{
	struct xlvs_real_conns *c = bpf_map_lookup_elem(&real_conns, &i);
	__u32 active, inactive, events;
	struct reap_real *r;
	__s32 da, di;

	if (i >= XLVS_MAX_REALS)
		return 1;
	if (!c)
		return 0;
	r = &reap_reals[i];
	active = *(volatile __u32 *)&c->active;
	inactive = *(volatile __u32 *)&c->inactive;
	events = *(volatile __u32 *)&c->seq - r->seq0 - r->own;
	da = conns_drift(active, r->active, events);
	di = conns_drift(inactive, r->inactive, events);
	if (!da && !di)
		return 0;
	if (da)
		__sync_fetch_and_sub(&c->active, da);
	if (di)
		__sync_fetch_and_sub(&c->inactive, di);
	conns_overload_check(bpf_map_lookup_elem(&reals, &i), c);
	return 0;
}

static long reap_persist(void *map, struct xlvs_persist_key *k, struct xlvs_persist *t, struct reap_ctx *rc)
{
	if (t->expires_ns < rc->now)
		bpf_map_delete_elem(&persist, k);
	return 0;
}

static long reap_dest(void *map, struct xlvs_dest_key *k, struct xlvs_dest *d, struct reap_ctx *rc)
{
	__u32 zero = 0;
	struct xlvs_cfg *c = bpf_map_lookup_elem(&cfg, &zero);

	if (c && d->used_ns + c->lblc_expire_ns < rc->now)
		bpf_map_delete_elem(&dests, k);
	return 0;
}

/* Run by the daemon (BPF_PROG_TEST_RUN) every few seconds. Deleting here,
 * in the kernel, keeps the connection counts exact: a forward entry is
 * counted down by whoever deletes it, and only one can. The same walk
 * recounts each real's live flows, which corrects the counts for entries the
 * LRU evicted (never counted down). Returns how many flow entries it deleted. */
SEC("xdp")
int xlvs_reap(struct xdp_md *ctx)
{
	struct reap_ctx rc = { .now = xlvs_now() };

	bpf_loop(XLVS_MAX_REALS, reap_snapshot, 0, 0);
	bpf_for_each_map_elem(&flows, reap_flow, &rc, 0);
	bpf_loop(XLVS_MAX_REALS, reap_recount, 0, 0);
	bpf_for_each_map_elem(&persist, reap_persist, &rc, 0);
	bpf_for_each_map_elem(&dests, reap_dest, &rc, 0);
	return rc.reaped;
}

#endif /* XLVS_REAP_H */
