/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * IP fragments on the private side. xlvs neither reassembles nor translates
 * fragments, and the kernel forwards what it is handed as it is: a fragment
 * of a nat/fullnat real's reply would reach the client with the real's
 * address as its source. So those are dropped and counted
 * (XLVS_DROP_REPLY_FRAGMENT), and the sender's path MTU discovery (or its
 * application: DNS falls back to TCP) has to avoid them, as it must through
 * any NAT that does not reassemble.
 *
 * Whose fragment is it? The first fragment carries the ports: its reply
 * entry decides, and the datagram (source, destination, id, protocol) is
 * remembered in frag_drops for XLVS_FRAG_TTL_NS. A later fragment carries no
 * ports: it is dropped when its datagram is remembered. A later fragment
 * that arrives before its first one is not known yet and passes (the
 * router's own traffic looks the same); so does every fragment of a flow
 * that rewrites nothing (dr/tun replies: the real already speaks as the VIP).
 */
#ifndef XLVS_FRAG_H
#define XLVS_FRAG_H

#include "maps.h"
#include "parse.h"
#include "stats.h"
#include "flow.h"

/* How long the later fragments of a dropped first fragment are recognised:
 * the pieces of one datagram follow each other within microseconds. */
#define XLVS_FRAG_TTL_NS (5ull * 1000000000ull)

static __always_inline void frag_key_of(struct frag_key *fk, const struct pkt *p)
{
	pkt_addrs(p, fk->src, fk->dst);
	fk->id = p->frag_id;
	fk->proto = p->proto;
	fk->family = p->family;
	fk->pad[0] = fk->pad[1] = 0;
}

static __always_inline int frag_private_fam(struct xdp_md *ctx, __u64 now, const __u8 fam)
{
	struct xlvs_flow_key k;
	struct frag_key fk;
	struct xlvs_flow *f;
	__u64 until, *known;
	struct pkt p;

	if (parse_packet(ctx, &p, fam) || !p.frag)
		return pass();
	frag_key_of(&fk, &p);
	if (p.frag_later || !p.l4.sport || !p.l4.dport) {
		known = bpf_map_lookup_elem(&frag_drops, &fk);
		return known && *known >= now ? drop(XLVS_DROP_REPLY_FRAGMENT) : pass();
	}
	if (p.proto != IPPROTO_TCP && p.proto != IPPROTO_UDP)
		return pass();
	flow_key_of(&k, &p);
	f = bpf_map_lookup_elem(&flows, &k);
	if (!flow_live(f, XLVS_DIR_REPLY, now) || !(f->flags & (XLVS_FLOW_F_SNAT | XLVS_FLOW_F_DNAT)))
		return pass();
	until = now + XLVS_FRAG_TTL_NS;
	bpf_map_update_elem(&frag_drops, &fk, &until, BPF_ANY);
	return drop(XLVS_DROP_REPLY_FRAGMENT);
}

/* A fragment arriving on the private side. Global: verified once. */
__noinline int frag_private_any(struct xdp_md *ctx, __u64 now, __u32 fam)
{
	if (fam == XLVS_AF_INET)
		return frag_private_fam(ctx, now, XLVS_AF_INET);
	return frag_private_fam(ctx, now, XLVS_AF_INET6);
}

#endif /* XLVS_FRAG_H */
