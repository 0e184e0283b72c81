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

#include "maps.h"
#include "parse.h"
#include "csum.h"
#include "stats.h"
#include "rst.h"
#include "tun.h" /* and fwd.h: AF_INET, AF_INET6 */

/* Probe slots, indexed by slot (xlvs_abi.h struct xlvs_probe). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLVS_MAX_PROBES);
	__type(key, __u32);
	__type(value, struct xlvs_probe);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} probes SEC(".maps");

/* The slots the next sending run sends (probe_tx). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xlvs_probe_batch);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} probe_batch SEC(".maps");

#define PROBE_TTL 64
#define PROBE_WINDOW 64240
/* TCP header with one option, MSS (kind 2, length 4). */
#define PROBE_TCP_LEN 24
#define PROBE_FRAME4 (sizeof(struct ethhdr) + sizeof(struct iphdr) + PROBE_TCP_LEN)
#define PROBE_FRAME6 (sizeof(struct ethhdr) + sizeof(struct ipv6hdr) + PROBE_TCP_LEN)
_Static_assert(PROBE_FRAME4 == XLVS_PROBE_FRAME4, "XLVS_PROBE_FRAME4 is the IPv4 SYN's frame");
_Static_assert(PROBE_FRAME6 == XLVS_PROBE_FRAME6, "XLVS_PROBE_FRAME6 is the IPv6 SYN's frame");
#define TCP_FLAG_SYN_BIT 0x0002
_Static_assert(XLVS_PROBE_PORTS * XLVS_PROBE_PORT_SLOTS == XLVS_MAX_PROBES, "a probe port names XLVS_PROBE_PORT_SLOTS slots");

/* The SYN's TCP header and its checksum over the pseudo-header sum `sum`. */
static __always_inline void probe_tcp(struct tcphdr *t, const struct xlvs_probe *pr, __u32 mss, __u64 sum)
{
	t->source = pr->sport;
	t->dest = pr->dport;
	t->seq = bpf_htonl(pr->seq);
	t->ack_seq = 0;
	((__be16 *)t)[6] = bpf_htons((PROBE_TCP_LEN / 4) << 12 | TCP_FLAG_SYN_BIT);
	t->window = bpf_htons(PROBE_WINDOW);
	t->check = 0;
	t->urg_ptr = 0;
	*(__be32 *)(t + 1) = bpf_htonl(0x02040000 | (mss & 0xffff));
	sum += (__u32)bpf_csum_diff(0, 0, (__be32 *)t, PROBE_TCP_LEN, 0);
	t->check = ~csum_fold64(sum);
}

static __always_inline void probe_eth(struct ethhdr *e, const struct bpf_fib_lookup *fib, __be16 proto)
{
	__builtin_memcpy(e->h_dest, fib->dmac, ETH_ALEN);
	__builtin_memcpy(e->h_source, fib->smac, ETH_ALEN);
	e->h_proto = proto;
}

/* Writes the frame of slot pr (IPv4) from the FIB's answer; mss_less: what a
 * tunnel takes from the MTU. */
static __always_inline int probe_frame4(struct xdp_md *ctx, struct xlvs_probe *pr, const struct bpf_fib_lookup *fib,
					__u32 mss_less)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *e = data;
	struct iphdr *ip = (void *)(e + 1);
	struct tcphdr *t = (void *)(ip + 1);
	__u64 sum;

	/* The frame is exactly the SYN: the verifier learns the bound from the first test. */
	if ((void *)t + PROBE_TCP_LEN > end || end - data != PROBE_FRAME4)
		return -1;
	probe_eth(e, fib, bpf_htons(ETH_P_IP));
	*(__be16 *)ip = bpf_htons(0x4500);
	ip->tot_len = bpf_htons(sizeof(*ip) + PROBE_TCP_LEN);
	ip->id = 0;
	ip->frag_off = bpf_htons(XLVS_IP4_DF);
	ip->ttl = PROBE_TTL;
	ip->protocol = IPPROTO_TCP;
	ip->check = 0;
	ip->saddr = fib->ipv4_src;
	ip->daddr = pr->daddr[0];
	ip->check = csum_ip4_hdr(ip);
	sum = (__u64)ip->saddr + ip->daddr + bpf_htonl((IPPROTO_TCP << 16) | PROBE_TCP_LEN);
	probe_tcp(t, pr, fib->mtu_result - mss_less - sizeof(*ip) - sizeof(*t), sum);
	addr_set4(pr->saddr, fib->ipv4_src);
	return 0;
}

static __always_inline int probe_frame6(struct xdp_md *ctx, struct xlvs_probe *pr, const struct bpf_fib_lookup *fib,
					__u32 mss_less)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *e = data;
	struct ipv6hdr *ip6 = (void *)(e + 1);
	struct tcphdr *t = (void *)(ip6 + 1);
	__u64 sum;

	if ((void *)t + PROBE_TCP_LEN > end || end - data != PROBE_FRAME6)
		return -1;
	probe_eth(e, fib, bpf_htons(ETH_P_IPV6));
	*(__be32 *)ip6 = bpf_htonl(6 << 28);
	ip6->payload_len = bpf_htons(PROBE_TCP_LEN);
	ip6->nexthdr = IPPROTO_TCP;
	ip6->hop_limit = PROBE_TTL;
	__builtin_memcpy(&ip6->saddr, fib->ipv6_src, 16);
	__builtin_memcpy(&ip6->daddr, pr->daddr, 16);
	sum = (__u32)bpf_csum_diff(0, 0, (__be32 *)&ip6->saddr, 32, 0);
	sum += bpf_htonl(PROBE_TCP_LEN);
	sum += bpf_htonl(IPPROTO_TCP);
	probe_tcp(t, pr, fib->mtu_result - mss_less - sizeof(*ip6) - sizeof(*t), sum);
	__builtin_memcpy(pr->saddr, fib->ipv6_src, 16);
	return 0;
}

/* Wraps the SYN in the frame in the tunnel header to the real (via tun) and
 * writes the MACs again at the frame's new start: 0 or -1. */
static __always_inline int probe_tunnel(struct xdp_md *ctx, const struct xlvs_probe *pr, const __be32 *local,
					const struct bpf_fib_lookup *fib)
{
	struct tun_addr src, dst;
	struct ethhdr *e;

	addr_copy(src.a, local);
	addr_copy(dst.a, pr->nexthop);
	if (tun_encap(ctx, pr->family, &src, &dst))
		return -1;
	e = (void *)(long)ctx->data;
	if ((void *)(e + 1) > (void *)(long)ctx->data_end)
		return -1;
	__builtin_memcpy(e->h_dest, fib->dmac, ETH_ALEN);
	__builtin_memcpy(e->h_source, fib->smac, ETH_ALEN);
	return 0;
}

/* Builds slot pr's SYN, to leave by the private interface, or records why
 * not. The verdict only tells the daemon whether a frame was built. */
static __always_inline int probe_send(struct xdp_md *ctx, struct xlvs_probe *pr, __u32 ifindex)
{
	/* Direct: the FIB's next hop for the check address. Via a real: the
	 * real's, whatever the address (a VIP is local on this router). */
	const __be32 *hop = pr->via == XLVS_PROBE_DIRECT ? pr->daddr : pr->nexthop;
	const __be32 *local = 0;
	struct bpf_fib_lookup fib = {};
	__u32 over = 0;
	long rc;

	if (pr->via == XLVS_PROBE_VIA_TUN) {
		local = tun_local(pr->family);
		if (!local) {
			pr->result = XLVS_PROBE_NO_LOCAL;
			return XDP_DROP;
		}
		over = tun_overhead(pr->family);
	} else if (pr->via != XLVS_PROBE_DIRECT && pr->via != XLVS_PROBE_VIA_DR) {
		pr->result = XLVS_PROBE_BAD;
		return XDP_DROP;
	}
	fib.l4_protocol = IPPROTO_TCP;
	fib.sport = pr->sport;
	fib.dport = pr->dport;
	fib.ifindex = ifindex;
	if (pr->family == XLVS_AF_INET) {
		fib.family = AF_INET;
		fib.tot_len = over + sizeof(struct iphdr) + PROBE_TCP_LEN;
		fib.ipv4_dst = hop[0];
	} else if (pr->family == XLVS_AF_INET6) {
		fib.family = AF_INET6;
		fib.tot_len = over + PROBE_TCP_LEN;
		__builtin_memcpy(fib.ipv6_dst, hop, 16);
	} else {
		pr->result = XLVS_PROBE_BAD;
		return XDP_DROP;
	}
	rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), BPF_FIB_LOOKUP_OUTPUT | BPF_FIB_LOOKUP_SRC);
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH) {
		pr->result = XLVS_PROBE_NO_NEIGH;
		return XDP_DROP;
	}
	/* Only out of the private interface: the answer must meet xlvs_private. */
	if (rc != BPF_FIB_LKUP_RET_SUCCESS || fib.ifindex != ifindex || fib.mtu_result < 1280) {
		pr->result = XLVS_PROBE_NO_ROUTE;
		return XDP_DROP;
	}
	if ((pr->family == XLVS_AF_INET ? probe_frame4(ctx, pr, &fib, over) : probe_frame6(ctx, pr, &fib, over)) ||
	    (local && probe_tunnel(ctx, pr, local, &fib))) {
		pr->result = XLVS_PROBE_BAD;
		return XDP_DROP;
	}
	/* Its answer must come from where it goes (probe_find). */
	__builtin_memcpy(pr->peer_mac, fib.dmac, ETH_ALEN);
	pr->answered_ns = 0;
	pr->result = XLVS_PROBE_SENT;
	return bpf_redirect(fib.ifindex, 0);
}


/* One building run: its frame becomes the SYN of probe_batch.slots[next]. */
static __always_inline int probe_tx(struct xdp_md *ctx)
{
	struct xlvs_probe_batch *b;
	struct xlvs_probe *pr;
	__u32 zero = 0, i, slot;

	b = bpf_map_lookup_elem(&probe_batch, &zero);
	if (!b)
		return XDP_DROP;
	i = __sync_fetch_and_add(&b->next, 1);
	if (i >= b->count || i >= XLVS_PROBE_BATCH)
		return XDP_DROP;
	slot = b->slots[i];
	pr = bpf_map_lookup_elem(&probes, &slot);
	if (!pr)
		return XDP_DROP;
	return probe_send(ctx, pr, b->ifindex);
}

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
