/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * TCP sequence windows: what makes a segment count for a flow's state
 * (RFC 5961 in spirit, for a box in the middle). Without them one forged
 * RST with any seq closed an established flow, and a forged SYN then moved
 * its 4-tuple to another real: two packets per guessed client port.
 *
 * Each flow entry tracks the sender of its packets (xlvs_flow.seq_next,
 * .ack, .tcp): the next sequence number it will send, learned from its SYN
 * (forward) or SYN-ACK (reply) and moved forward by its in-window segments.
 * A segment is in window when its seq lies within XLVS_TCP_WINDOW of that
 * number either way. The box sees every segment of the direction, so a
 * sender's own RST or FIN carries exactly its next seq, give or take what
 * is reordered or in flight; a blind forger hits the window once in
 * 2^32 / (2 * XLVS_TCP_WINDOW) = 32768 tries per guessed port.
 *
 *  - RST: counts (TCP_CLOSE) only in window; outside it is dropped
 *    (XLVS_DROP_OUT_OF_WINDOW) and changes nothing. A RST of the real
 *    before its SYN-ACK was seen (a closed port's RST,ACK) counts when it
 *    acknowledges what the client sent (RFC 793's SYN-SENT rule).
 *  - FIN: counts (TCP_FIN) only in window; outside it the segment goes on
 *    and changes nothing (the endpoint judges it).
 *  - a client's SYN on a closing flow starts a new flow (port reuse) after
 *    an honoured RST, or after the client's own honoured FIN when its seq is
 *    past the old connection's (Linux's TIME_WAIT rule, after(seq, rcv_nxt),
 *    which the ISNs of a reused 4-tuple meet for 137 s). Otherwise it stays on
 *    the old flow and changes nothing.
 *  - establishing a half-open flow (TCP_SYN -> TCP_EST, active): when the
 *    real's SYN-ACK was seen (nat, fullnat; dr/tun whose replies come back
 *    through the router), the client's ACK must acknowledge it (ack within
 *    the window below the real's next seq): a proof of the handshake, as the
 *    forger never sees the SYN-ACK. dr/tun see one direction only: the
 *    client's first ACK must carry seq == ISN + 1, and a later segment must
 *    show progress (its seq or its ack moved forward within the window:
 *    data sent, or the real's data acknowledged). That is all a one-way box
 *    can check: a forger who sends SYN, ACK and one more consistent segment
 *    still makes an active entry; a bare ACK with any numbers no longer does.
 *  - a client SYN with a new ISN on a half-open flow (the client started
 *    over) re-seeds both entries. A forger can do the same and then RST it
 *    in its own window: a connection is open to that only while it is still
 *    in its handshake (about one round trip), a moment a blind guess of the
 *    client port must also hit.
 *
 * Cost: seq_next is written only when it moved XLVS_TCP_STEP bytes or a
 * flag counted, so an established flow's entry is not written per packet.
 */
#ifndef XLVS_TCPWIN_H
#define XLVS_TCPWIN_H

#include "parse.h"

#define XLVS_TCP_WINDOW 65536u /* a segment counts within this of its sender's next seq */
#define XLVS_TCP_STEP 16384u   /* seq_next is written when the sender moved this far */

/* The facts of a segment the windows need, host order; proto 0: not TCP. */
struct tcp_seg {
	__u32 seq;
	__u32 ack;
	__u32 end;  /* the sender's next seq after it: seq + payload + SYN + FIN */
	__u8 proto; /* IPPROTO_TCP, or 0 */
	__u8 syn;   /* SYN, with or without ACK */
	__u8 ackf;  /* ACK flag */
	__u8 fin;
	__u8 rst;
	__u8 pad[3];
};

/* Fills s from a parsed packet. The payload length comes from the IP
 * header, not the frame (Ethernet pads short frames). */
static __always_inline void tcp_seg_of(const struct pkt *p, struct tcp_seg *s)
{
	const struct tcphdr *t = p->l4hdr;
	__s32 len;

	__builtin_memset(s, 0, sizeof(*s));
	if (p->proto != IPPROTO_TCP || !t)
		return;
	s->proto = IPPROTO_TCP;
	s->seq = bpf_ntohl(t->seq);
	s->ack = bpf_ntohl(t->ack_seq);
	s->syn = t->syn;
	s->ackf = t->ack;
	s->fin = t->fin;
	s->rst = t->rst;
	if (p->ip4)
		len = (__s32)bpf_ntohs(p->ip4->tot_len) - p->ip4->ihl * 4;
	else if (p->ip6)
		len = (__s32)bpf_ntohs(p->ip6->payload_len) - (__s32)((void *)t - (void *)(p->ip6 + 1));
	else
		len = 0;
	len -= t->doff * 4;
	if (len < 0)
		len = 0;
	s->end = s->seq + (__u32)len + s->syn + s->fin;
}

/* seq lies within XLVS_TCP_WINDOW of ref, either way. */
static __always_inline int tcp_in_window(__u32 seq, __u32 ref)
{
	return seq - ref + XLVS_TCP_WINDOW <= 2 * XLVS_TCP_WINDOW;
}

/* ack acknowledges something the peer sent: at most the window below the
 * peer's next seq as tracked, and at most XLVS_TCP_STEP above it (the
 * tracked number lags by up to that much). */
static __always_inline int tcp_ack_ok(__u32 ack, __u32 peer_next)
{
	return ack - peer_next + XLVS_TCP_WINDOW <= XLVS_TCP_WINDOW + XLVS_TCP_STEP;
}

/* a is after b, within the window. */
static __always_inline int tcp_ahead(__u32 a, __u32 b)
{
	return a != b && a - b <= XLVS_TCP_WINDOW;
}

/* a is after b in sequence space (half of it). */
static __always_inline int tcp_after(__u32 a, __u32 b)
{
	return (__s32)(a - b) > 0;
}

#endif /* XLVS_TCPWIN_H */
