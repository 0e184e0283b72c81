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
#include "flow_new.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Keeps every ABI enum in BTF so the TypeScript generator can export them. */
const volatile struct xlvs_abi_enums xlvs_abi_enums_anchor;

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

/* What every frame meets first on either interface: a unicast frame for
 * another host's MAC is handed to the kernel (l2.h), then the ARP/ND gate of
 * HA (ha.h). A verdict when one of them decides the frame, -1 when it goes on. */
static __always_inline int frame_gates(struct xdp_md *ctx, __u32 role)
{
	int v = l2_otherhost(ctx, role);

	if (v >= 0)
		return v;
	return ha_gate(ctx);
}

SEC("xdp")
int xlvs_public(struct xdp_md *ctx)
{
	__be16 proto;
	int v = frame_gates(ctx, XLVS_IF_PUBLIC);

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
	v = frame_gates(ctx, XLVS_IF_PRIVATE);
	if (v >= 0)
		return v;
	proto = frame_proto(ctx);

	if (proto == bpf_htons(ETH_P_IP))
		return private_fam(ctx, XLVS_AF_INET);
	if (proto == bpf_htons(ETH_P_IPV6))
		return private_fam(ctx, XLVS_AF_INET6);
	return pass();
}

#include "reap.h"
