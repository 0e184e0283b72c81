// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
/*
 * xlvs data plane, the LVS two-tier model: clients reach a VIP on the
 * router's public interface; real servers sit behind the private one.
 *
 *   xlvs_public  (public iface):  to a VIP -> flow or new flow (source
 *                                 validation, persistence, scheduler)
 *                                 -> nat/fullnat/dr/tun -> redirect
 *   xlvs_private (private iface): reply of a tracked flow -> rewrite -> redirect;
 *                                 (a fragmented reply: each fragment, frag.h)
 *   (either: a flow of a real that health checks evicted ends: evict.h)
 *   xlvs_private also builds health probes' SYNs when the daemon runs it
 *                through BPF_PROG_TEST_RUN on a frame "from" the loopback
 *                device (the daemon sends them), and takes their answers
 *                (probe.h)
 *   xlvs_reap    (run by the daemon through BPF_PROG_TEST_RUN): deletes
 *                dead flows, templates and lblc entries, counting flows down
 *
 * Anything that is not ours is passed to the kernel untouched, first of all a
 * unicast frame for another host's MAC (l2.h). Every packet is
 * counted once, in drops or events.
 */
#include "maps.h"
#include "clock.h"
#include "parse.h"
#include "vip.h"
#include "flow.h"
#include "persist.h"
#include "sched.h"
#include "xmit.h"
#include "icmp.h"
#include "frag.h"
#include "evict.h"
#include "probe.h"
#include "srcval.h"
#include "stats.h"
#include "ha.h"
#include "l2.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Keeps every ABI enum in BTF so the TypeScript generator can export them. */
const volatile struct xlvs_abi_enums xlvs_abi_enums_anchor;

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

static __always_inline int public_fam(struct xdp_md *ctx, const __u8 fam)
{
	struct xlvs_vip_key vk;
	struct xlvs_flow_key k;
	__u32 zero = 0, new_conn = 0, evict;
	struct tcp_seg *seg;
	struct xlvs_flow *f;
	int touched;
	struct xlvs_vip *v;
	struct scratch *s;
	struct pkt p;
	__u64 now;

	if (parse_packet(ctx, &p, fam))
		return pass();
	/* Not for a VIP address: one lookup and out. */
	if (!vip_address(&p, &vk))
		return pass();
	if (p.frag)
		return drop(XLVS_DROP_FRAGMENT);
	if (p.ext_long)
		return drop(XLVS_DROP_IPV6_EXT);
	now = xlvs_now();
	if (p.proto == IPPROTO_ICMP || p.proto == IPPROTO_ICMPV6)
		return icmp_public(ctx, &p, now);
	if ((p.proto != IPPROTO_TCP && p.proto != IPPROTO_UDP) || !p.l4.sport || !p.l4.dport)
		return pass();

	flow_key_of(&k, &p);
	/* In the per-CPU scratch, not on the stack: xlvs_public's deepest
	 * call chain (flow_create -> the scheduler) has no 20 bytes to spare. */
	s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return pass();
	seg = &s->seg;
	tcp_seg_of(&p, seg);
	f = bpf_map_lookup_elem(&flows, &k);
	if (!flow_usable(f, seg, XLVS_DIR_FORWARD, now)) {
		f = 0;
	} else if ((evict = evict_flags(f))) {
		/* Its real was evicted (evict.h): the flow ends here; a packet
		 * that may open a flow goes on as the first of a new one. */
		flow_end_key(&k);
		if (!evict_may_reopen(&p))
			return evict_public(ctx, &p, evict);
		f = 0;
	}
	if (f) {
		touched = flow_touch(f, &k, seg, now);
		if (touched == XLVS_TOUCH_DROP)
			return drop(XLVS_DROP_OUT_OF_WINDOW);
		if (touched && (f->flags & XLVS_FLOW_F_PERSIST))
			persist_refresh(f->svc_id, k.src, k.family, now);
	} else {
		/* A VIP address, but no service on this port: the router's own. */
		v = vip_frontend(&vk, p.proto, *p.l4.dport);
		if (!v)
			return pass();
		/* IPVS only opens TCP connections on SYN. */
		if (p.proto == IPPROTO_TCP && !p.l4.syn)
			return drop(XLVS_DROP_NO_FLOW);
		/* No flow from a source the public side never sees (srcval.h). */
		if (srcval_refuse(ctx, &k))
			return drop(XLVS_DROP_MARTIAN);
		if (flow_create(&k, v->svc_id, now) || flow_insert(&k, now))
			return XDP_DROP;
		s = bpf_map_lookup_elem(&scratch, &zero);
		if (!s)
			return XDP_DROP;
		f = &s->fw;
		new_conn = 1;
	}

	stats_packet(f->svc_id, f->real_id, p.len, 0, new_conn);
	return xmit(ctx, &p, f, now);
}

static __always_inline int private_fam(struct xdp_md *ctx, const __u8 fam)
{
	struct xlvs_flow_key k;
	struct tcp_seg seg;
	struct xlvs_flow *f;
	struct pkt p;
	__u64 now;

	if (parse_packet(ctx, &p, fam) || p.ext_long || p.rh_pending)
		return pass();
	now = xlvs_now();
	if (p.frag)
		return frag_private(ctx, &p, now);
	if (p.proto == IPPROTO_ICMP || p.proto == IPPROTO_ICMPV6) {
		int v = probe_icmp(ctx, &p);

		if (v >= 0)
			return v;
		return icmp_private(ctx, &p, now);
	}
	if ((p.proto != IPPROTO_TCP && p.proto != IPPROTO_UDP) || !p.l4.sport || !p.l4.dport)
		return pass();
	/* A health probe's answer (probe.h): one compare for every other packet. */
	if (p.proto == IPPROTO_TCP && bpf_ntohs(*p.l4.dport) >= XLVS_PROBE_PORT_MIN) {
		int v = probe_answer(ctx, &p);

		if (v >= 0)
			return v;
	}

	flow_key_of(&k, &p);
	tcp_seg_of(&p, &seg);
	f = bpf_map_lookup_elem(&flows, &k);
	if (!flow_usable(f, &seg, XLVS_DIR_REPLY, now))
		return pass();
	/* A SYN from the real on a closing connection: its 4-tuple was reused by
	 * a connection that never went through the VIP (the client reached the
	 * real directly from the same port). Not ours: forget the old one. */
	if (p.l4.syn_any && flow_closing(f->state)) {
		flow_end_key(&k);
		return pass();
	}
	if (evict_flags(f))
		return evict_private(&k);
	if (flow_touch(f, &k, &seg, now) == XLVS_TOUCH_DROP)
		return drop(XLVS_DROP_OUT_OF_WINDOW);

	stats_packet(f->svc_id, f->real_id, p.len, 1, 0);
	return xmit(ctx, &p, f, now);
}

SEC("xdp")
int xlvs_public(struct xdp_md *ctx)
{
	__be16 proto;
	int v = l2_otherhost(ctx, XLVS_IF_PUBLIC);

	if (v >= 0)
		return v;
	v = ha_gate(ctx);
	if (v >= 0)
		return v;
	proto = frame_proto(ctx);

	if (proto == bpf_htons(ETH_P_IP))
		return public_fam(ctx, XLVS_AF_INET);
	if (proto == bpf_htons(ETH_P_IPV6))
		return public_fam(ctx, XLVS_AF_INET6);
	return pass();
}

SEC("xdp")
int xlvs_private(struct xdp_md *ctx)
{
	__be16 proto;
	int v;

	/* Attached to the private interface only: a frame from the loopback
	 * device is the daemon building a health probe's SYN (probe.h). */
	if (ctx->ingress_ifindex == XLVS_PROBE_TX_IFINDEX)
		return probe_tx(ctx);
	v = l2_otherhost(ctx, XLVS_IF_PRIVATE);
	if (v >= 0)
		return v;
	v = ha_gate(ctx);
	if (v >= 0)
		return v;
	proto = frame_proto(ctx);

	if (proto == bpf_htons(ETH_P_IP))
		return private_fam(ctx, XLVS_AF_INET);
	if (proto == bpf_htons(ETH_P_IPV6))
		return private_fam(ctx, XLVS_AF_INET6);
	return pass();
}

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
