/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * A new flow: scheduling its real (flow_create, persistence first, then the
 * scheduler) and recording its two entries (flow_insert: the reply entry
 * first, with BPF_NOEXIST and the claim of a dead or closing holder's key
 * (flow_claim), full-NAT's local port reservation, then the forward entry),
 * counted up and written to the HA sync ring. Included once, by xlvs.bpf.c.
 */
#ifndef XLVS_FLOW_NEW_H
#define XLVS_FLOW_NEW_H

#include "maps.h"
#include "clock.h"
#include "flow.h"
#include "persist.h"
#include "sched.h"
#include "xmit.h"
#include "ha.h"

/* Fills the rewrites of a new flow's two entries for the real's method. */
static __always_inline void flow_methods(const struct xlvs_flow_key *k, const struct xlvs_real *real,
					 struct xlvs_flow *fw, struct xlvs_flow *rp)
{
	__be16 port = real->port ? real->port : k->dport;

	addr_copy(fw->nat_dst, real->addr);
	fw->nat_dport = port;
	switch (real->method) {
	case XLVS_METHOD_NAT:
		fw->flags |= XLVS_FLOW_F_DNAT;
		rp->flags = XLVS_FLOW_F_SNAT;
		addr_copy(rp->nat_src, k->dst);
		rp->nat_sport = k->dport;
		break;
	case XLVS_METHOD_FULLNAT:
		fw->flags |= XLVS_FLOW_F_DNAT | XLVS_FLOW_F_SNAT;
		rp->flags = XLVS_FLOW_F_SNAT | XLVS_FLOW_F_DNAT;
		addr_copy(rp->nat_src, k->dst);
		rp->nat_sport = k->dport;
		addr_copy(rp->nat_dst, k->src);
		rp->nat_dport = k->sport;
		break;
	default: /* dr, tun: the real holds the VIP; nothing is rewritten */
		fw->nat_dport = k->dport;
		rp->flags = 0;
	}
}

/* An entry a new flow may take the key of: dead or closing, and so is its
 * partner (a pair lives while either entry does). */
static __always_inline int flow_replaceable(const struct xlvs_flow_key *k, const struct xlvs_flow *f, __u64 now,
					    struct scratch *s)
{
	struct xlvs_flow *o;

	if (f->expires_ns >= now && !flow_closing(f->state))
		return 0;
	o = flow_partner(k, f, &s->pk, &s->back);
	return !o || o->expires_ns < now || flow_closing(o->state);
}

/* Inserts a new flow's reply entry under rk, which must not belong to
 * another live connection: two VIPs may NAT to one real:port, and a client
 * port reused for both (port reuse, CGNAT, a forged SYN) gives their
 * connections one reply key. A dead or closing connection's entry is ended
 * (both entries, counted down) and replaced; a live one keeps its key and
 * the new flow is refused. Ending it is claimed by a compare-and-swap of its
 * deadline to 0, so of two CPUs racing for the key one ends it and inserts,
 * and the other finds the winner's live entry; nobody deletes an entry it
 * did not look at. Returns 0 when inserted. Global: verified once. */
__noinline int flow_claim(struct xlvs_flow_key *rk, struct xlvs_flow *rp, __u64 now)
{
	struct xlvs_flow *old;
	struct scratch *s;
	__u32 zero = 0;
	__u64 seen;
	__u8 dir;

	s = bpf_map_lookup_elem(&scratch, &zero);
	if (!rk || !rp || !s)
		return -1;
	if (bpf_map_update_elem(&flows, rk, rp, BPF_NOEXIST) == 0)
		return 0;
	old = bpf_map_lookup_elem(&flows, rk);
	if (old) {
		seen = old->expires_ns;
		if (!flow_replaceable(rk, old, now, s))
			return -1;
		if (__sync_val_compare_and_swap(&old->expires_ns, seen, 0) != seen)
			return -1;
		dir = old->dir;
		/* Its END record is flow_insert's to write (s->claim_end). */
		if (flow_end(rk, old, &s->pk, &s->back, 0) & XLVS_FLOW_END_COUNTED)
			s->claim_end = 1 + dir;
	}
	return bpf_map_update_elem(&flows, rk, rp, BPF_NOEXIST) ? -1 : 0;
}

/* fullnat: the reply entry is keyed by the local address and a local port;
 * inserting it with BPF_NOEXIST is what reserves the port, so two flows never
 * share (real, real port, local, local port). Ports from 1024 up to the
 * health probes' range (XLVS_PROBE_PORT_MIN), which stays theirs. */
#define XLVS_PORT_TRIES 8
#define XLVS_PORT_MIN 1024

/* Returns 0 when inserted; else the drop reason. */
static __always_inline int flow_insert_reply(struct xlvs_flow_key *rk, struct xlvs_flow *fw,
					     struct xlvs_flow *rp, __u64 now)
{
	__u32 base, i;

	if (!(fw->flags & XLVS_FLOW_F_SNAT))
		return flow_claim(rk, rp, now) ? XLVS_DROP_FLOW_TAKEN : 0;
	base = bpf_get_prandom_u32();
	for (i = 0; i < XLVS_PORT_TRIES; i++) {
		fw->nat_sport = bpf_htons(XLVS_PORT_MIN + (base + i * 7919) % (XLVS_PROBE_PORT_MIN - XLVS_PORT_MIN));
		rk->dport = fw->nat_sport;
		if (bpf_map_update_elem(&flows, rk, rp, BPF_NOEXIST) == 0)
			return 0;
	}
	return XLVS_DROP_NO_PORT;
}

/* Schedules a new flow of service svc_id and fills both of its entries in
 * this CPU's scratch (fw, rp; a TCP flow's client seq from scratch.seg, the
 * SYN's: tcpwin.h); flow_insert records them. Returns 0 when it did;
 * non-zero when no flow can be made (the reason is counted, except for the
 * impossible missing arguments). A global function: the verifier checks it
 * once, not once per path of the packet program. */
__noinline int flow_create(const struct xlvs_flow_key *k, __u32 svc_id, __u64 now)
{
	__u32 zero = 0, real_id = XLVS_NO_REAL;
	struct xlvs_flow *fw, *rp;
	const __be32 *local = 0;
	struct xlvs_real *real;
	struct xlvs_svc *svc;
	struct scratch *s;

	s = bpf_map_lookup_elem(&scratch, &zero);
	if (!k || !s)
		return -1;
	fw = &s->fw;
	rp = &s->rp;
	svc = bpf_map_lookup_elem(&svcs, &svc_id);
	if (!svc || svc->family != k->family)
		return drop(XLVS_DROP_NO_REAL);
	if (svc->flags & XLVS_SVC_F_PERSIST)
		real_id = persist_lookup(svc_id, svc, k->src, k->family, now);
	if (real_id == XLVS_NO_REAL) {
		real_id = sched_pick(svc_id, svc, k, now);
		if (real_id == XLVS_NO_REAL)
			return drop(XLVS_DROP_NO_REAL);
		if (svc->flags & XLVS_SVC_F_PERSIST)
			persist_store(svc_id, svc, k->src, k->family, real_id, now);
	}
	real = bpf_map_lookup_elem(&reals, &real_id);
	if (!real_member(real, svc_id))
		return drop(XLVS_DROP_NO_REAL);
	/* fullnat's source and tun's outer source: checked once here, kept in
	 * the flow (nat_src; only fullnat sets F_SNAT to rewrite with it). */
	if (real->method == XLVS_METHOD_FULLNAT || real->method == XLVS_METHOD_TUN) {
		local = xmit_local(k->family);
		if (!local)
			return drop(XLVS_DROP_NO_LOCAL);
	}

	__builtin_memset(fw, 0, sizeof(*fw));
	__builtin_memset(rp, 0, sizeof(*rp));
	fw->state = k->proto == IPPROTO_TCP ? XLVS_FLOW_TCP_SYN : XLVS_FLOW_UDP;
	fw->expires_ns = now + flow_timeout(fw->state);
	fw->dir = XLVS_DIR_FORWARD;
	fw->method = real->method;
	fw->real_id = real_id;
	fw->svc_id = svc_id;
	if (svc->flags & XLVS_SVC_F_PERSIST)
		fw->flags = XLVS_FLOW_F_PERSIST;
	if (local)
		addr_copy(fw->nat_src, local);
	fw->nat_sport = k->sport;
	if (k->proto == IPPROTO_TCP) {
		fw->tcp = XLVS_TCP_F_SEQ;
		fw->seq_next = s->seg.end;
	}
	rp->state = fw->state;
	rp->expires_ns = fw->expires_ns;
	rp->dir = XLVS_DIR_REPLY;
	rp->method = fw->method;
	rp->real_id = real_id;
	rp->svc_id = svc_id;
	flow_methods(k, real, fw, rp);
	return 0;
}

/* Records the new flow flow_create filled in this CPU's scratch, keyed by k:
 * a dead or closed entry under k is ended first (flow_end), the reply entry
 * is inserted first (flow_insert_reply: once the forward entry exists, the
 * reply must too), the real counted up. Returns 0 with the forward entry in
 * scratch.fw; non-zero (the reason counted) when no flow was made. Global,
 * and called by the packet program after flow_create rather than by it: the
 * two frames never stack (the scheduler's chain leaves no room). */
__noinline int flow_insert(const struct xlvs_flow_key *k, __u64 now)
{
	struct xlvs_flow *old, *fw, *rp;
	struct scratch *s;
	__u32 zero = 0;
	int why;

	s = bpf_map_lookup_elem(&scratch, &zero);
	if (!k || !s)
		return -1;
	fw = &s->fw;
	rp = &s->rp;
	old = bpf_map_lookup_elem(&flows, k);
	if (old)
		flow_end(k, old, &s->pk, &s->back, 1);
	flow_partner_key(&s->rk, k, fw);
	s->claim_end = 0;
	why = flow_insert_reply(&s->rk, fw, rp, now);
	/* flow_claim ended the connection that held the reply key: its END
	 * record, forward entry's key first (s->pk: the old entry's partner's). */
	if (s->claim_end == 1 + XLVS_DIR_REPLY)
		sync_emit(XLVS_SYNC_END, &s->pk, 0, &s->rk, 0);
	else if (s->claim_end == 1 + XLVS_DIR_FORWARD)
		sync_emit(XLVS_SYNC_END, &s->rk, 0, &s->pk, 0);
	if (why)
		return drop(why);
	fw->sync_s = sync_stamp(now); /* its NEW record, below */
	/* BPF_NOEXIST: the old entry is gone, so only another CPU's new flow of
	 * the same 4-tuple (a SYN on two CPUs at once) can be there. It won:
	 * this one takes its reply entry back and is not counted. */
	if (bpf_map_update_elem(&flows, k, fw, BPF_NOEXIST)) {
		bpf_map_delete_elem(&flows, &s->rk);
		return drop(XLVS_DROP_FLOW_TAKEN);
	}
	conns_open(fw->real_id, fw->state);
	sync_emit(XLVS_SYNC_NEW, k, fw, &s->rk, rp);
	return 0;
}

#endif /* XLVS_FLOW_NEW_H */
