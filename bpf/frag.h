/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * IP fragments of replies on the private side. xlvs does not reassemble;
 * it translates each fragment of a nat/fullnat real's reply on its own, as
 * the kernel would have forwarded it untranslated, with the real's address
 * as its source:
 *  - the first fragment carries the ports: its reply entry translates it
 *    like any packet (the transport checksum, which covers the datagram,
 *    is in this fragment and updated incrementally), and its datagram
 *    (source, destination, id, protocol) is remembered in `frags` with that
 *    entry's key for XLVS_FRAG_TTL_NS;
 *  - a later fragment carries no ports: the remembered entry rewrites its
 *    addresses; one whose entry has gone since is dropped (reply_fragment),
 *    never passed with the real's address.
 * Not ours, passed as before: fragments no entry knows (the router's own
 * traffic), fragments of dr/tun replies (the real already speaks as the
 * VIP), a later fragment that arrives before its first one (it cannot be
 * told from the router's own: the one case that still leaves untranslated;
 * a real server's stack sends the first fragment first), and a first
 * fragment too short to hold its transport header.
 * Client -> VIP fragments stay dropped on the public side (fragment).
 */
#ifndef XLVS_FRAG_H
#define XLVS_FRAG_H

#include "maps.h"
#include "parse.h"
#include "stats.h"
#include "flow.h"
#include "evict.h"
#include "xmit.h"

/* How long the later fragments of a first one are recognised: the pieces
 * of one datagram follow each other within microseconds. */
#define XLVS_FRAG_TTL_NS (5ull * 1000000000ull)

static __always_inline void frag_key_of(struct frag_key *fk, const struct pkt *p)
{
	pkt_addrs(p, fk->src, fk->dst);
	fk->id = p->frag_id;
	fk->proto = p->proto;
	fk->family = p->family;
	fk->pad[0] = fk->pad[1] = 0;
}

/* The reply entry that translates this fragment, its key in s->rk; NULL
 * when the fragment is not a nat/fullnat reply's (or, *gone set, when it
 * is a later fragment whose entry has gone). Keys live in the per-CPU
 * scratch: with xmit() below, the stack would outgrow the verifier's 512
 * bytes. */
static __always_inline struct xlvs_flow *frag_flow(struct pkt *p, struct scratch *s, __u64 now, int *gone)
{
	struct xlvs_flow *f;
	struct frag_val *v;

	frag_key_of(&s->fk, p);
	if (p->frag_later || !p->l4.sport || !p->l4.dport) {
		v = bpf_map_lookup_elem(&frags, &s->fk);
		if (!v || v->expires_ns < now)
			return 0;
		__builtin_memcpy(&s->rk, &v->flow, sizeof(s->rk));
		f = bpf_map_lookup_elem(&flows, &s->rk);
		if (!flow_live(f, XLVS_DIR_REPLY, now)) {
			*gone = 1;
			return 0;
		}
		return f;
	}
	if (p->proto != IPPROTO_TCP && p->proto != IPPROTO_UDP)
		return 0;
	flow_key_of(&s->rk, p);
	f = bpf_map_lookup_elem(&flows, &s->rk);
	/* A fragment's segment facts are not the flow's (its length is the
	 * fragment's): it refreshes the flow and changes no TCP state. */
	__builtin_memset(&s->seg, 0, sizeof(s->seg));
	if (!flow_usable(f, &s->seg, XLVS_DIR_REPLY, now) || !(f->flags & (XLVS_FLOW_F_SNAT | XLVS_FLOW_F_DNAT)))
		return 0;
	__builtin_memcpy(&s->fv.flow, &s->rk, sizeof(s->rk));
	s->fv.expires_ns = now + XLVS_FRAG_TTL_NS;
	bpf_map_update_elem(&frags, &s->fk, &s->fv, BPF_ANY);
	return f;
}

/* frag_private_any's answer for a fragment to translate: its reply entry's
 * key is in this CPU's scratch.rk. */
#define FRAG_XLATE -1

static __always_inline int frag_private_fam(struct xdp_md *ctx, __u64 now, const __u8 fam)
{
	struct xlvs_flow *f;
	struct scratch *s;
	__u32 zero = 0;
	struct pkt p;
	int gone = 0;

	if (parse_packet(ctx, &p, fam) || !p.frag)
		return pass();
	s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return pass();
	f = frag_flow(&p, s, now, &gone);
	if (!f)
		return gone ? drop(XLVS_DROP_REPLY_FRAGMENT) : pass();
	return FRAG_XLATE;
}

/* Decides on a fragment arriving on the private side: a verdict (counted),
 * or FRAG_XLATE. Global: verified once. The rest happens in the caller:
 * xmit() (or flow_end_key(), a global) called from here would take this
 * function's stack, with the calling program's, past the verifier's 512
 * bytes. */
__noinline int frag_private_any(struct xdp_md *ctx, __u64 now, __u32 fam)
{
	if (fam == XLVS_AF_INET)
		return frag_private_fam(ctx, now, XLVS_AF_INET);
	return frag_private_fam(ctx, now, XLVS_AF_INET6);
}

/* A fragment arriving on the private side (p parsed by the caller): decided
 * and, when it belongs to a nat/fullnat reply, translated and sent on. */
static __always_inline int frag_private(struct xdp_md *ctx, struct pkt *p, __u64 now)
{
	struct xlvs_flow *f;
	struct scratch *s;
	__u32 zero = 0;
	int v;

	v = frag_private_any(ctx, now, p->family);
	if (v != FRAG_XLATE)
		return v;
	s = bpf_map_lookup_elem(&scratch, &zero);
	f = s ? bpf_map_lookup_elem(&flows, &s->rk) : 0;
	if (!f)
		return drop(XLVS_DROP_REPLY_FRAGMENT); /* gone in between */
	if (evict_flags(f))
		return evict_private(&s->rk);
	__builtin_memset(&s->seg, 0, sizeof(s->seg)); /* as in frag_flow: no TCP state from a fragment */
	flow_touch(f, &s->rk, &s->seg, now);
	stats_packet(f->svc_id, f->real_id, p->len, 1, 0);
	return xmit(ctx, p, f, now);
}

#endif /* XLVS_FRAG_H */
