/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * Eviction: the flows of a real that health checks took out with
 * on_failure: remove (XLVS_REAL_F_EVICT_DROP / _RESET on its reals entry,
 * with weight 0 so it takes no new flow) end at their next packet, where a
 * quiesced real's (weight 0 alone) run on. IPVS does the same for a
 * connection whose destination is gone (expire_nodest_conn).
 *
 * A live flow entry of such a real, hit in either direction:
 *  - the flow is deleted, both entries, counted down once (flow_end_key);
 *  - a client's packet that may open a flow (UDP, a TCP SYN) is then
 *    scheduled afresh by the caller as if there had been no flow: it goes to
 *    a healthy real and is counted as what happens to it there;
 *  - EVICT_RESET, any other client TCP segment but a RST: answered with a
 *    RST built in place and sent back out (XDP_TX), XLVS_EV_EVICT_RST;
 *  - anything else (EVICT_DROP, a client's RST, every packet from the
 *    evicted real): dropped, XLVS_DROP_EVICTED.
 *
 * Cost on the established path: one lookup of reals[f->real_id] (an array:
 * the verifier inlines it) and a test of its flags word.
 */
#ifndef XLVS_EVICT_H
#define XLVS_EVICT_H

#include "maps.h"
#include "parse.h"
#include "csum.h"
#include "conns.h"
#include "flow.h"
#include "stats.h"
#include "rst.h"

/* The evict bits of the real flow f (a live entry) leads to; 0 for a real
 * that is not evicted, or a slot that no longer belongs to f's service (a
 * freed or reused slot: not this real's verdict). */
static __always_inline __u32 evict_flags(const struct xlvs_flow *f)
{
	__u32 id = f->real_id;
	const struct xlvs_real *r = bpf_map_lookup_elem(&reals, &id);

	if (!r || !(r->flags & XLVS_REAL_F_EVICT) || r->svc_id != f->svc_id)
		return 0;
	return r->flags;
}

/* After the flow of a client's packet was ended (flow_end_key): a packet
 * that may open a flow (UDP, a TCP SYN) goes on as the first of a new one. */
static __always_inline int evict_may_reopen(const struct pkt *p)
{
	return p->proto == IPPROTO_UDP || p->l4.syn;
}

/* The verdict on a client's packet whose flow was ended and that may not
 * open a new one (evict = evict_flags() of the flow). The caller returns it
 * at once: building a RST invalidates every packet pointer. */
static __always_inline int evict_public(struct xdp_md *ctx, const struct pkt *p, __u32 evict)
{
	/* Never a RST in answer to a RST (RFC 793). */
	if ((evict & XLVS_REAL_F_EVICT_RESET) && p->proto == IPPROTO_TCP && !p->l4.rst) {
		if (rst_reply(ctx, p->family))
			return drop(XLVS_DROP_EVICTED);
		stats_event(XLVS_EV_EVICT_RST);
		return XDP_TX;
	}
	return drop(XLVS_DROP_EVICTED);
}

/* A packet from the evicted real on a live reply entry f (key k): the flow
 * is deleted and the packet dropped, in both modes (a RST goes to clients
 * only; after this one, the client's next segment finds no flow and is
 * dropped as no_flow, as after any flow's end). */
static __always_inline int evict_private(const struct xlvs_flow_key *k)
{
	flow_end_key(k);
	return drop(XLVS_DROP_EVICTED);
}

#endif /* XLVS_EVICT_H */
