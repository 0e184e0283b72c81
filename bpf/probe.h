/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * Health probes in the data plane: a tcp check without send/expect is one
 * SYN, with no socket behind it.
 *
 *  - Building: the daemon writes probe slots (the probes map, mmapped) and
 *    the list of slots to send (probe_batch), then runs xlvs_private with a
 *    plain BPF_PROG_TEST_RUN once per slot, the frame arriving on the
 *    loopback device. xlvs_private is only ever attached to the private
 *    interface, so a frame from the loopback device can only be such a run
 *    (probe_tx). It builds the SYN of the next slot from the FIB (source
 *    address, MACs, MTU for the MSS, the tunnel header of a tun real) and
 *    returns XDP_REDIRECT; the kernel hands the frame back to the daemon
 *    (data_out), which sends the batch with one sendmmsg() on an AF_PACKET
 *    socket of the private interface (src/host/raw-frames.ts). Kernels
 *    that refuse BPF_F_TEST_XDP_LIVE_FRAMES run this as well as any.
 *    Why xlvs_private and not a program of its own: a test run of a program
 *    that no interface runs adds it to the kernel's XDP dispatcher and takes
 *    it out again, two synchronize_rcu() calls: 40-70 ms a run on a busy
 *    machine, which held the daemon's event loop. An attached program is in
 *    the dispatcher already.
 *  - Answers: xlvs_private recognises a SYN-ACK or RST to a probe port with
 *    a slot's addresses and ports, whose acknowledgement is that slot's nonce
 *    + 1 and whose source MAC is the one the SYN went to; it records OPEN or
 *    REFUSED with the time. One with a slot's addresses and ports but not
 *    its nonce or MAC is dropped (probe_forged): a host on the private LAN
 *    that forges answers must guess the port (12 random bits) and the nonce
 *    (32) and send from the real's MAC. A SYN-ACK is answered
 *    with a RST (as a half-open port scan does; through the tunnel for a tun
 *    real), so the real forgets the connection at once and no TIME_WAIT is
 *    left anywhere; a RST is consumed.
 *    Anything else to a probe port goes on as usual (the kernel resets it).
 *    An ICMP error quoting a probe's SYN fails it at once (probe_icmp).
 *
 * Compared with connect() and close() per check, the daemon does no socket
 * work at all: at 10,000 checks a second that was most of its CPU.
 */
#ifndef XLVS_PROBE_H
#define XLVS_PROBE_H

#include "rst.h"
#include "probe_send.h"

/*
 * A tun real's SYN-ACK is answered with a RST inside the tunnel, as the SYN
 * went: sent bare to the VIP, it would reach the real only where the real
 * shares our LAN (a routed hop takes the VIP to be ours).
 */
static __always_inline int probe_rst_tunnel(struct xdp_md *ctx, const struct pkt *p, const struct xlvs_probe *pr)
{
	__u8 peer[ETH_ALEN], self[ETH_ALEN];
	const __be32 *local = tun_local(pr->family);
	struct tun_addr src, dst;
	struct ethhdr *e;

	if (!local)
		return drop(XLVS_DROP_NO_LOCAL);
	__builtin_memcpy(peer, p->eth->h_source, ETH_ALEN);
	__builtin_memcpy(self, p->eth->h_dest, ETH_ALEN);
	addr_copy(src.a, local);
	addr_copy(dst.a, pr->nexthop);
	if (rst_reply(ctx, p->family))
		return drop(XLVS_DROP_ENCAP);
	if (tun_encap(ctx, p->family, &src, &dst))
		return XDP_DROP; /* counted by tun_encap */
	e = (void *)(long)ctx->data;
	if ((void *)(e + 1) > (void *)(long)ctx->data_end)
		return drop(XLVS_DROP_ENCAP);
	__builtin_memcpy(e->h_dest, peer, ETH_ALEN);
	__builtin_memcpy(e->h_source, self, ETH_ALEN);
	stats_event(XLVS_EV_PROBE);
	return XDP_TX;
}

/* Whether slot pr is in flight from saddr:sport to daddr:dport. */
static __always_inline int probe_tuple(const struct xlvs_probe *pr, __u8 family, const __be32 *saddr,
				       const __be32 *daddr, __be16 sport, __be16 dport)
{
	__u32 i;

	if (pr->result != XLVS_PROBE_SENT || pr->family != family || pr->sport != sport || pr->dport != dport)
		return 0;
	if (pr->saddr[0] != saddr[0] || pr->daddr[0] != daddr[0])
		return 0;
	if (family == XLVS_AF_INET6) {
		for (i = 1; i < 4; i++)
			if (pr->saddr[i] != saddr[i] || pr->daddr[i] != daddr[i])
				return 0;
	}
	return 1;
}

/* mac: the packet's, at an odd offset for a word compare (h_source is at 6). */
static __always_inline int probe_mac_eq(const __u8 *slot, const __u8 *mac)
{
	__u8 diff = 0;
	int i;

#pragma unroll
	for (i = 0; i < ETH_ALEN; i++)
		diff |= slot[i] ^ mac[i];
	return diff == 0;
}

/* What probe_find found. */
enum probe_match {
	PROBE_NONE = 0,   /* no probe in flight with these addresses and ports */
	PROBE_FOUND = 1,  /* the answer of that probe */
	PROBE_FORGED = 2, /* one in flight has them, but not this nonce or not from this MAC */
};

/*
 * The probe in flight from saddr:sport to daddr:dport whose SYN carried seq
 * and went to mac: an answer or ICMP error names it by the port it comes to
 * (the slot fixes the port, so a port is XLVS_PROBE_PORT_SLOTS slots: a fixed
 * number of lookups), by the nonce it acknowledges or quotes, and by the MAC
 * it comes from. *m says which case it was; the slot is set for PROBE_FOUND.
 */
static __always_inline struct xlvs_probe *probe_find(__u32 seq, __u8 family, const __be32 *saddr, const __be32 *daddr,
						     __be16 sport, __be16 dport, const __u8 *mac, enum probe_match *m)
{
	__u32 port = bpf_ntohs(sport) - XLVS_PROBE_PORT_MIN, b, slot;
	struct xlvs_probe *pr;

	*m = PROBE_NONE;
	if (port >= XLVS_PROBE_PORTS)
		return 0;
	for (b = 0; b < XLVS_PROBE_PORT_SLOTS; b++) {
		slot = b * XLVS_PROBE_PORTS + port;
		pr = bpf_map_lookup_elem(&probes, &slot);
		if (!pr || !probe_tuple(pr, family, saddr, daddr, sport, dport))
			continue;
		if (pr->seq == seq && probe_mac_eq(pr->peer_mac, mac)) {
			*m = PROBE_FOUND;
			return pr;
		}
		/* Another probe of the same target may share the port: look on. */
		*m = PROBE_FORGED;
	}
	return 0;
}

/* A probe's outcome: the time first, as the daemon reads the result, then the time. */
static __always_inline void probe_record(struct xlvs_probe *pr, __u32 result)
{
	pr->answered_ns = bpf_ktime_get_ns();
	pr->result = result;
}

/*
 * The answer to a probe in a packet xlvs_private parsed (TCP, destination
 * port in the probe range): the verdict, or -1 when it is not one (the
 * packet goes on as any other: a NAT reply to a client whose port happens to
 * be in that range, an answer too late for its slot).
 */
static __always_inline int probe_answer(struct xdp_md *ctx, const struct pkt *p)
{
	const struct tcphdr *t = p->l4hdr;
	enum probe_match m;
	struct xlvs_probe *pr;

	/* A SYN-ACK, or a RST refusing the SYN: that one has ACK set too, with
	 * ack = the SYN's seq + 1 (RFC 793, Reset Generation). */
	if (!t || !t->ack || !(t->syn || t->rst))
		return -1;
	/* The answer comes the other way: its destination was the SYN's source. */
	pr = probe_find(bpf_ntohl(t->ack_seq) - 1, p->family, p->daddr, p->saddr, *p->l4.dport, *p->l4.sport,
			p->eth->h_source, &m);
	if (m == PROBE_FORGED)
		return drop(XLVS_DROP_PROBE_FORGED);
	if (!pr)
		return -1;
	probe_record(pr, t->rst ? XLVS_PROBE_REFUSED : XLVS_PROBE_OPEN);
	if (t->rst) {
		stats_event(XLVS_EV_PROBE);
		return XDP_DROP;
	}
	if (pr->via == XLVS_PROBE_VIA_TUN)
		return probe_rst_tunnel(ctx, p, pr);
	if (rst_reply(ctx, p->family))
		return drop(XLVS_DROP_ENCAP);
	stats_event(XLVS_EV_PROBE);
	return XDP_TX;
}

/*
 * An ICMP error about a probe's SYN (destination unreachable, time exceeded:
 * a router on the way, or the real's own stack): the probe fails at once,
 * as connect() would with EHOSTUNREACH, instead of at its timeout. The
 * quote holds the SYN's first 8 TCP bytes (RFC 792), so its seq names the
 * slot. -1 when the error is not about a probe in flight (it goes on to
 * icmp_private as any other).
 */
static __always_inline int probe_icmp(struct xdp_md *ctx, const struct pkt *p)
{
	const struct icmp_hdr *ih = p->l4hdr;
	enum probe_match m;
	struct xlvs_probe *pr;
	struct icmp_quote q;
	__be32 *seqp;

	if (!ih || !icmp_of_family(p) || !icmp_is_xlate_error(p, ih->type))
		return -1;
	if (icmp_quote_parse(ctx, p, &q) || q.proto != IPPROTO_TCP || bpf_ntohs(*q.sport) < XLVS_PROBE_PORT_MIN)
		return -1;
	seqp = (void *)q.sport + 4;
	if ((void *)(seqp + 1) > (void *)(long)ctx->data_end)
		return -1;
	/* The quote is the SYN as sent; the error comes by the SYN's next hop. */
	pr = probe_find(bpf_ntohl(*seqp), p->family, q.saddr, q.daddr, *q.sport, *q.dport, p->eth->h_source, &m);
	if (m == PROBE_FORGED)
		return drop(XLVS_DROP_PROBE_FORGED);
	if (!pr)
		return -1;
	pr->icmp_type = ih->type;
	pr->icmp_code = ih->code;
	probe_record(pr, XLVS_PROBE_UNREACHABLE);
	stats_event(XLVS_EV_PROBE);
	return XDP_DROP;
}

#endif /* XLVS_PROBE_H */
