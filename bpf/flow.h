/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * Connection tracking: flow keys, the TCP state a flow is in, and its
 * deadline. A connection is two entries (forward and reply) so that each
 * direction costs one hash lookup; the two live and die together (one
 * deadline, refreshed by either direction; the reaper deletes a pair only
 * when both are dead). Entries past their deadline count as absent here;
 * the reaper program deletes them and counts them down. TCP segments change
 * the state only inside their sender's sequence window (tcpwin.h).
 */
#ifndef XLVS_FLOW_H
#define XLVS_FLOW_H

#include "maps.h"
#include "parse.h"
#include "conns.h"
#include "tcpwin.h"
#include "ha.h"

/* A half-open connection (TCP_SYN) lives this long without the client's
 * ACK: IPVS's tcp_synrecv default. A SYN flood's entries then leave the
 * table within a minute instead of the 900 s of an established flow. A tcp
 * timeout set shorter still wins: a half-open flow never outlives an open one. */
#define XLVS_FLOW_SYN_TIMEOUT_NS (60ull * 1000000000ull)

static __always_inline void flow_key_of(struct xlvs_flow_key *k, const struct pkt *p)
{
	pkt_addrs(p, k->src, k->dst);
	k->sport = *p->l4.sport;
	k->dport = *p->l4.dport;
	k->proto = p->proto;
	k->family = p->family;
	k->pad[0] = k->pad[1] = 0;
}

static __always_inline __u64 flow_timeout(__u32 state)
{
	__u32 zero = 0;
	struct xlvs_cfg *c = bpf_map_lookup_elem(&cfg, &zero);

	if (!c)
		return 0;
	switch (state) {
	case XLVS_FLOW_TCP_FIN:
		return c->timeout_tcp_fin_ns;
	case XLVS_FLOW_TCP_CLOSE:
		return c->timeout_tcp_close_ns;
	case XLVS_FLOW_UDP:
		return c->timeout_udp_ns;
	case XLVS_FLOW_TCP_SYN:
		return c->timeout_tcp_ns < XLVS_FLOW_SYN_TIMEOUT_NS ? c->timeout_tcp_ns : XLVS_FLOW_SYN_TIMEOUT_NS;
	default:
		return c->timeout_tcp_ns;
	}
}

/* A forward entry's state word while its connection is being ended
 * (flow_end): whoever swapped the state out owns the count down; a state
 * change finding it changes nothing. Not an ABI state: the entry is deleted
 * right after. */
#define XLVS_FLOW_GONE 0xffffffffu

/* TCP states after which a new SYN on the same 4-tuple may be a new connection. */
static __always_inline int flow_closing(__u32 state)
{
	return state == XLVS_FLOW_TCP_FIN || state == XLVS_FLOW_TCP_CLOSE;
}

/* The state a flow in state cur moves to, given what the segment showed
 * (tcpwin.h decides rst/fin/est; flow_touch): RST closes, FIN starts
 * closing, the proven end of the handshake establishes a half-open flow;
 * nothing ever re-opens (a new SYN makes a new flow instead). Like IPVS's
 * SYN_RECV, only the client makes the connection active. */
static __always_inline __u32 flow_next_state(__u32 cur, int rst, int fin, int est)
{
	if (cur == XLVS_FLOW_UDP || cur == XLVS_FLOW_GONE)
		return cur;
	if (rst)
		return XLVS_FLOW_TCP_CLOSE;
	if (fin && (cur == XLVS_FLOW_TCP_EST || cur == XLVS_FLOW_TCP_SYN))
		return XLVS_FLOW_TCP_FIN;
	if (est && cur == XLVS_FLOW_TCP_SYN)
		return XLVS_FLOW_TCP_EST;
	return cur;
}

/* The key of the other entry of the connection k/f belong to: this entry's
 * packet after its rewrites, reversed. */
static __always_inline void flow_partner_key(struct xlvs_flow_key *out, const struct xlvs_flow_key *k,
					     const struct xlvs_flow *f)
{
	if (f->flags & XLVS_FLOW_F_SNAT) {
		addr_copy(out->dst, f->nat_src);
		out->dport = f->nat_sport;
	} else {
		addr_copy(out->dst, k->src);
		out->dport = k->sport;
	}
	if (f->flags & XLVS_FLOW_F_DNAT) {
		addr_copy(out->src, f->nat_dst);
		out->sport = f->nat_dport;
	} else {
		addr_copy(out->src, k->dst);
		out->sport = k->dport;
	}
	out->proto = k->proto;
	out->family = k->family;
	out->pad[0] = out->pad[1] = 0;
}

static __always_inline int flow_key_eq(const struct xlvs_flow_key *a, const struct xlvs_flow_key *b)
{
	const __u32 *x = (const __u32 *)a, *y = (const __u32 *)b;
	__u32 d = 0;
	int i;

#pragma unroll
	for (i = 0; i < (int)(sizeof(*a) / 4); i++)
		d |= x[i] ^ y[i];
	return d == 0;
}

/* The other entry of the connection k/f belong to (its key in *pk), or NULL
 * when what lies under that key is not it: an LRU eviction, or a new
 * connection on a reused key, can leave another connection's entry there,
 * and that one must be neither deleted nor refreshed in f's name. */
static __always_inline struct xlvs_flow *flow_partner(const struct xlvs_flow_key *k, const struct xlvs_flow *f,
						      struct xlvs_flow_key *pk, struct xlvs_flow_key *back)
{
	struct xlvs_flow *o;

	flow_partner_key(pk, k, f);
	o = bpf_map_lookup_elem(&flows, pk);
	if (!o || o->dir == f->dir || o->real_id != f->real_id)
		return 0;
	flow_partner_key(back, pk, o);
	return flow_key_eq(back, k) ? o : 0;
}

#define XLVS_FLOW_END_COUNTED 0x10

/* Ends the connection k/f belong to: both entries deleted, the real's count
 * down once. The count belongs to whoever swaps the forward entry's state
 * word out (to XLVS_FLOW_GONE): the swap returns the state to count down,
 * exactly once however many CPUs (or the reaper) end the flow at the same
 * time, and a state change racing with it either lands before the swap (and
 * is counted down as what it made) or finds GONE and does nothing. Returns
 * the entries deleted, | XLVS_FLOW_END_COUNTED if this call counted. pk and
 * back: room for two keys (the stack is tight on some callers' paths). The
 * call that counted writes the END sync record (ha.h) when sync is set (a
 * constant; flow_claim leaves it to flow_insert: its chain has no room for
 * sync_emit's frame). */
static __always_inline int flow_end(const struct xlvs_flow_key *k, struct xlvs_flow *f,
				    struct xlvs_flow_key *pk, struct xlvs_flow_key *back, const int sync)
{
	struct xlvs_flow *o, *fw;
	__u32 real_id = f->real_id, state = XLVS_FLOW_GONE;
	int n = 0;

	o = flow_partner(k, f, pk, back);
	fw = f->dir == XLVS_DIR_FORWARD ? f : o;
	if (fw)
		state = __sync_lock_test_and_set(&fw->state, XLVS_FLOW_GONE);
	if (o)
		n += bpf_map_delete_elem(&flows, pk) == 0;
	n += bpf_map_delete_elem(&flows, k) == 0;
	if (state == XLVS_FLOW_GONE)
		return n;
	conns_close(real_id, state);
	/* The forward entry's key first (pk holds the partner's, found or not). */
	if (!sync)
		return n | XLVS_FLOW_END_COUNTED;
	if (fw == f)
		sync_emit(XLVS_SYNC_END, k, 0, pk, 0);
	else
		sync_emit(XLVS_SYNC_END, pk, 0, k, 0);
	return n | XLVS_FLOW_END_COUNTED;
}

/* Ends the connection whose entry is keyed by k (either direction), as
 * flow_end. Global, so its keys live in its own frame: inlined, they pushed
 * xlvs_public's deepest call chain (flow_create -> the scheduler scan) past
 * the 512 bytes of stack the verifier allows. It looks the entry up again,
 * which only the end of a flow pays. */
__noinline int flow_end_key(const struct xlvs_flow_key *k)
{
	struct xlvs_flow_key pk, back;
	struct xlvs_flow *f;

	if (!k)
		return -1;
	f = bpf_map_lookup_elem(&flows, k);
	if (!f)
		return -1;
	flow_end(k, f, &pk, &back, 1);
	return 0;
}

/* What flow_touch returns for a segment that must be dropped: a RST outside
 * its sender's window (XLVS_DROP_OUT_OF_WINDOW). */
#define XLVS_TOUCH_DROP (-1)

/* Refreshes a live flow for one of its packets: the TCP windows (tcpwin.h),
 * the state, and the deadline of both entries. The forward entry's state
 * word is the connection's: a change is a compare-and-swap on it, retried
 * on the new state if another CPU changed it first, so every transition is
 * made and counted (active/inactive) once, by the CPU whose swap made it;
 * the reply entry gets a copy. The two entries share one deadline (a pair
 * lives and dies together): whichever direction carries traffic keeps both
 * alive, written at most once a second (a second of slack keeps the cache
 * line from bouncing between CPUs on every packet). Returns 1 when the
 * deadline was written (the persistence template may want the same
 * refresh), 0 when not, XLVS_TOUCH_DROP for a RST out of window. A global
 * function: verified once, and its partner key does not weigh on the
 * callers' stack. */
__noinline int flow_touch(struct xlvs_flow *f, const struct xlvs_flow_key *k, const struct tcp_seg *s, __u64 now)
{
	struct xlvs_flow_key pk, back;
	struct xlvs_flow *o = 0, *fw;
	int got = 0, known, inwin, rst = 0, fin = 0, est = 0, changed = 0, i;
	__u32 cur, next;
	__u64 expires;

	if (!f || !k || !s)
		return 0;
	if (s->proto == IPPROTO_TCP) {
		/* A half-open flow's client SYN with another ISN (the client
		 * started over on the same port): the handshake starts over, on
		 * both sides (a SYN opens nothing the old ISN had). */
		if (f->dir == XLVS_DIR_FORWARD && f->state == XLVS_FLOW_TCP_SYN && s->syn && !s->ackf &&
		    s->end != f->seq_next) {
			f->seq_next = s->end;
			f->tcp = XLVS_TCP_F_SEQ;
			o = flow_partner(k, f, &pk, &back);
			got = 1;
			if (o)
				o->tcp = 0;
		}
		known = f->tcp & XLVS_TCP_F_SEQ;
		inwin = known && tcp_in_window(s->seq, f->seq_next);
		/* The real's SYN-ACK teaches its ISN, if it acknowledges the
		 * client's SYN; a RST of the real before that counts when it
		 * acknowledges what the client sent (a closed port's RST,ACK). */
		if (!known && f->dir == XLVS_DIR_REPLY && s->ackf && (s->syn || s->rst)) {
			o = flow_partner(k, f, &pk, &back);
			got = 1;
			if (o && (o->tcp & XLVS_TCP_F_SEQ) && tcp_ack_ok(s->ack, o->seq_next)) {
				inwin = 1;
				if (s->syn) {
					f->seq_next = s->end;
					f->ack = s->ack;
					f->tcp |= XLVS_TCP_F_SEQ;
				}
			}
		}
		if (s->rst) {
			/* A half-open flow's client RST outside the window is the
			 * client's answer to an ACK from the real's TIME_WAIT of an
			 * earlier connection on the same 4-tuple (seq = that ACK's
			 * ack): the real must see it to end the TIME_WAIT, or every
			 * retransmitted SYN meets the same ACK until it expires. It
			 * is forwarded and changes nothing here; the real's stack
			 * judges it (RFC 5961). */
			if (!inwin && f->dir == XLVS_DIR_FORWARD && f->state == XLVS_FLOW_TCP_SYN)
				return 0;
			if (!inwin)
				return XLVS_TOUCH_DROP;
			rst = 1;
		} else if (s->fin && inwin) {
			fin = 1;
		}
		/* The end of the handshake, on the client's side. */
		if (f->dir == XLVS_DIR_FORWARD && f->state == XLVS_FLOW_TCP_SYN && inwin && s->ackf && !s->syn) {
			if (!got) {
				o = flow_partner(k, f, &pk, &back);
				got = 1;
			}
			if (o && (o->tcp & XLVS_TCP_F_SEQ)) {
				est = tcp_ack_ok(s->ack, o->seq_next);
			} else if (f->method == XLVS_METHOD_DR || f->method == XLVS_METHOD_TUN) {
				if (!(f->tcp & XLVS_TCP_F_HS_ACK)) {
					if (s->seq == f->seq_next) {
						f->ack = s->ack;
						f->tcp |= XLVS_TCP_F_HS_ACK;
					}
				} else {
					est = tcp_ahead(s->seq, f->seq_next) || tcp_ahead(s->ack, f->ack);
				}
			}
		}
		/* Track the sender. A half-open forward entry keeps ISN + 1 (the
		 * dr/tun proof compares with it); otherwise seq_next is written
		 * on a step of XLVS_TCP_STEP or when a flag counted. */
		if (inwin && known && (f->dir == XLVS_DIR_REPLY || f->state != XLVS_FLOW_TCP_SYN || est) &&
		    (rst || fin || est || (__s32)(s->end - f->seq_next) >= (__s32)XLVS_TCP_STEP)) {
			if (tcp_after(s->end, f->seq_next))
				f->seq_next = s->end;
			if (s->ackf)
				f->ack = s->ack;
		}
		if (fin)
			f->tcp |= XLVS_TCP_F_FIN;
	}

	cur = f->state;
	next = flow_next_state(cur, rst, fin, est);
	expires = now + flow_timeout(next);
	/* Writing the deadline on every packet would bounce the cache line
	 * between CPUs for nothing: a second of slack is plenty. */
	if (next == cur && expires < f->expires_ns + 1000000000ull)
		return 0;
	if (!got)
		o = flow_partner(k, f, &pk, &back);
	fw = f->dir == XLVS_DIR_FORWARD ? f : o;
	if (next != cur && fw) {
		/* Bounded: each failed swap means another CPU made a transition,
		 * and there are only three to make. */
		for (i = 0; i < 4; i++) {
			cur = *(volatile __u32 *)&fw->state;
			next = flow_next_state(cur, rst, fin, est);
			if (next == cur)
				break;
			if (__sync_val_compare_and_swap(&fw->state, cur, next) == cur) {
				if (conns_is_active(cur) != conns_is_active(next))
					conns_move(f->real_id, conns_is_active(next));
				changed = 1;
				break;
			}
		}
		next = *(volatile __u32 *)&fw->state;
		if (next == XLVS_FLOW_GONE)
			return 0;
		expires = now + flow_timeout(next);
		if (fw != f)
			f->state = next;
		else if (o)
			o->state = next;
		if (o)
			o->expires_ns = expires;
	} else {
		/* No state change, or a reply entry whose forward partner is
		 * gone (nothing to count). */
		if (next != cur)
			f->state = next;
		if (o && o->expires_ns < expires)
			o->expires_ns = expires;
	}
	f->expires_ns = expires;
	/* HA sync (ha.h): a transition this call made, or a refresh of a flow
	 * whose last record is XLVS_SYNC_REFRESH_S old, so the backup's copy
	 * never runs out while the flow lives. */
	if (fw && (changed || (__u16)(sync_stamp(now) - fw->sync_s) >= XLVS_SYNC_REFRESH_S)) {
		fw->sync_s = sync_stamp(now);
		if (fw == f)
			sync_emit(XLVS_SYNC_UPDATE, k, f, &pk, o);
		else
			sync_emit(XLVS_SYNC_UPDATE, &pk, o, k, f);
	}
	return 1;
}

/* f (a lookup result, may be NULL) is an entry of direction dir that is not
 * past its deadline nor being ended. */
static __always_inline int flow_live(const struct xlvs_flow *f, __u8 dir, __u64 now)
{
	return f && f->dir == dir && f->expires_ns >= now && f->state != XLVS_FLOW_GONE;
}

/* A flow entry may carry this packet: it is live, and is not a closed TCP
 * connection being reopened by a new SYN (port reuse, which IPVS also
 * schedules afresh): after an honoured RST, or after the client's honoured
 * FIN with a seq past the old connection's (tcpwin.h). A retransmitted SYN
 * of a half-open flow, or a SYN that fails those tests, stays on it. */
static __always_inline int flow_usable(const struct xlvs_flow *f, const struct tcp_seg *s, __u8 dir, __u64 now)
{
	if (!flow_live(f, dir, now))
		return 0;
	if (!s->syn || s->ackf || !flow_closing(f->state))
		return 1;
	if (f->state == XLVS_FLOW_TCP_CLOSE)
		return 0;
	return !((f->tcp & XLVS_TCP_F_FIN) && (f->tcp & XLVS_TCP_F_SEQ) && tcp_after(s->seq, f->seq_next));
}

#endif /* XLVS_FLOW_H */
