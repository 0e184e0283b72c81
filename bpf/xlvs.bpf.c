// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
/*
 * xlvs data plane, NAT mode (the LVS two-tier model): clients reach a VIP on
 * the router's public interface; real servers sit on the private network with
 * the router as their gateway.
 *
 *   xlvs_public  (public iface):  VIP packet -> flow or new flow -> DNAT -> FIB -> redirect
 *   xlvs_private (private iface): reply of a tracked flow -> SNAT to the VIP -> FIB -> redirect
 *
 * Anything that is not ours is passed to the kernel untouched.
 */
#include "maps.h"
#include "parse.h"
#include "flow.h"
#include "sched.h"
#include "nat.h"
#include "fwd.h"
#include "stats.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Keeps every ABI enum in BTF so the TypeScript generator can export them. */
const volatile struct xlvs_abi_enums xlvs_abi_enums_anchor;

/* Parses an IPv4 TCP/UDP packet. Returns 0 when it is one this program may
 * handle, non-zero when the packet is not ours (other protocols, fragments,
 * or headers too broken for anyone: the kernel then decides). */
static __always_inline int parse_packet(struct xdp_md *ctx, struct ethhdr **eth, struct iphdr **ip, struct l4 *l4)
{
	struct cursor c = { .pos = (void *)(long)ctx->data, .end = (void *)(long)ctx->data_end };
	struct tcphdr *tcp;
	struct udphdr *udp;

	if (parse_eth(&c, eth) || (*eth)->h_proto != bpf_htons(ETH_P_IP))
		return 1;
	if (parse_ipv4(&c, ip) || ipv4_is_fragment(*ip))
		return 1;
	l4->proto = (*ip)->protocol;
	if (l4->proto == IPPROTO_TCP) {
		if (parse_tcp(&c, &tcp))
			return 1;
		l4->sport = &tcp->source;
		l4->dport = &tcp->dest;
		l4->check = &tcp->check;
		l4->syn = tcp->syn && !tcp->ack;
		l4->syn_any = tcp->syn;
		l4->fin = tcp->fin;
		l4->rst = tcp->rst;
		return 0;
	}
	if (l4->proto == IPPROTO_UDP) {
		if (parse_udp(&c, &udp))
			return 1;
		l4->sport = &udp->source;
		l4->dport = &udp->dest;
		l4->check = udp->check ? &udp->check : 0;
		l4->syn = l4->syn_any = l4->fin = l4->rst = 0;
		return 0;
	}
	return 1;
}

/* Schedules a new flow of service svc_id and records both of its entries.
 * Returns 0 and fills *out, or -1 (the reason is counted). */
static __always_inline int flow_create(const struct xlvs_flow_key *k, __u32 svc_id, __u64 now,
				       struct xlvs_flow *out)
{
	struct xlvs_flow_key rk = {};
	struct xlvs_flow reply;
	struct xlvs_real *real;
	struct xlvs_svc *svc;
	__u32 real_id;

	svc = bpf_map_lookup_elem(&svcs, &svc_id);
	if (!svc)
		goto no_real;
	real_id = sched_pick(svc_id, svc);
	real = bpf_map_lookup_elem(&reals, &real_id);
	if (!real || !(real->flags & XLVS_REAL_F_USED))
		goto no_real;

	out->state = k->proto == IPPROTO_TCP ? XLVS_FLOW_TCP_EST : XLVS_FLOW_UDP;
	out->expires_ns = now + flow_timeout(out->state);
	out->nat_addr = real->addr;
	out->nat_port = real->port;
	out->dir = XLVS_DIR_FORWARD;
	out->real_id = real_id;
	out->svc_id = svc_id;

	reply = *out;
	reply.dir = XLVS_DIR_REPLY;
	reply.nat_addr = k->dst;
	reply.nat_port = k->dport;
	flow_partner_key(&rk, k, out);

	/* Reply entry first: once the forward entry exists, the reply must too. */
	if (bpf_map_update_elem(&flows, &rk, &reply, BPF_ANY) ||
	    bpf_map_update_elem(&flows, k, out, BPF_ANY))
		goto no_real;
	return 0;
no_real:
	stats_drop(XLVS_DROP_NO_REAL);
	return -1;
}

SEC("xdp")
int xlvs_public(struct xdp_md *ctx)
{
	__u64 bytes = ctx->data_end - ctx->data;
	struct xlvs_vip_key vk = {};
	struct xlvs_flow_key k;
	struct xlvs_flow *f, nf;
	struct ethhdr *eth;
	struct xlvs_vip *v;
	struct iphdr *ip;
	struct l4 l4;
	int new_conn = 0;
	__u64 now;

	if (parse_packet(ctx, &eth, &ip, &l4))
		return XDP_PASS;

	/* The VIP table is small and hot: non-VIP traffic pays one lookup. */
	vk.addr = ip->daddr;
	vk.port = *l4.dport;
	vk.proto = l4.proto;
	v = bpf_map_lookup_elem(&vips, &vk);
	if (!v)
		return XDP_PASS;

	now = bpf_ktime_get_ns();
	flow_key_of(&k, ip, &l4);
	f = bpf_map_lookup_elem(&flows, &k);
	if (flow_usable(f, &l4, XLVS_DIR_FORWARD, now)) {
		flow_touch(f, &k, &l4, now);
	} else {
		/* IPVS only opens TCP connections on SYN. */
		if (l4.proto == IPPROTO_TCP && !l4.syn) {
			stats_drop(XLVS_DROP_NO_FLOW);
			return XDP_DROP;
		}
		if (flow_create(&k, v->svc_id, now, &nf))
			return XDP_DROP;
		f = &nf;
		new_conn = 1;
	}

	stats_packet(f->svc_id, f->real_id, bytes, 0, new_conn);
	nat_rewrite(ip, &l4, NAT_DST, f->nat_addr, f->nat_port);
	return fwd_ipv4(ctx, eth, ip);
}

SEC("xdp")
int xlvs_private(struct xdp_md *ctx)
{
	__u64 bytes = ctx->data_end - ctx->data;
	struct xlvs_flow_key k;
	struct ethhdr *eth;
	struct xlvs_flow *f;
	struct iphdr *ip;
	struct l4 l4;
	__u64 now;

	if (parse_packet(ctx, &eth, &ip, &l4))
		return XDP_PASS;

	flow_key_of(&k, ip, &l4);
	f = bpf_map_lookup_elem(&flows, &k);
	if (!f)
		return XDP_PASS;
	now = bpf_ktime_get_ns();
	if (!flow_usable(f, &l4, XLVS_DIR_REPLY, now))
		return XDP_PASS;
	/* A SYN from the real on a closing connection: its 4-tuple was reused by
	 * a connection that never went through the VIP (the client reached the
	 * real directly from the same port). Not ours: forget the old one. */
	if (l4.syn_any && f->state != XLVS_FLOW_TCP_EST) {
		flow_forget(&k, f);
		return XDP_PASS;
	}
	flow_touch(f, &k, &l4, now);

	stats_packet(f->svc_id, f->real_id, bytes, 1, 0);
	nat_rewrite(ip, &l4, NAT_SRC, f->nat_addr, f->nat_port);
	return fwd_ipv4(ctx, eth, ip);
}
