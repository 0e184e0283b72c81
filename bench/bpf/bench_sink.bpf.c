/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * The benchmarks' count-and-drop sink (bench/traffic/live-sink.ts reads it). Attached to the veth right
 * after the router, it counts every IP frame the router delivered and drops it, so the figure is
 * the router's and not that of the real servers' bridge and stacks (which saturate first).
 * ARP and IPv6 neighbour discovery pass, so the router's neighbours stay resolved; other
 * non-IP frames and IPv6 multicast pass too, counted apart.
 *
 * Optional, per sink_cfg flags: a count per destination (address, port, protocol), to check
 * that a NAT really spread the frames over its reals, and a count per flow bucket (a hash of
 * source address and port, which a NAT to the reals leaves alone), to measure loss per flow.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define SINK_F_PER_DST 1
#define SINK_F_PER_FLOW 2
/* A power of two: the bucket is the low bits of the hash. */
#define SINK_FLOW_BUCKETS 65536
#define SINK_MAX_DSTS 1024
/* Multiplicative hash constant (2^32 / golden ratio); bench/traffic/live-sink.ts computes the same. */
#define SINK_HASH_MUL 0x9E3779B1u

/* Named offsets of sink_totals. */
enum sink_total {
	SINK_PACKETS = 0,	/* IP frames counted and dropped */
	SINK_BYTES,		/* their bytes (Ethernet header included) */
	SINK_PASSED,		/* ARP, neighbour discovery, other non-IP: passed */
	SINK_DST_FULL,		/* counted, but sink_dsts was full: not in any destination */
	SINK_TOTALS,
};

struct sink_dst {
	__be32 addr;		/* IPv4 destination; IPv6: the last 32 bits */
	__be16 port;		/* TCP/UDP destination port, 0 for other protocols */
	__u8 proto;
	__u8 family;		/* 4 or 6 */
};

/* One entry: SINK_F_* flags, written before traffic starts. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} sink_cfg SEC(".maps");

/* enum sink_total counters, per CPU so that counting costs no atomic operation. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SINK_TOTALS);
	__type(key, __u32);
	__type(value, __u64);
} sink_totals SEC(".maps");

/* Frames per destination (SINK_F_PER_DST). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, SINK_MAX_DSTS);
	__type(key, struct sink_dst);
	__type(value, __u64);
} sink_dsts SEC(".maps");

/* Frames per flow bucket (SINK_F_PER_FLOW). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SINK_FLOW_BUCKETS);
	__type(key, __u32);
	__type(value, __u64);
} sink_flows SEC(".maps");

static __always_inline void bump(void *map, const void *key, __u64 by)
{
	__u64 *v = bpf_map_lookup_elem(map, key);

	if (v)
		*v += by;
}

static __always_inline int pass(void)
{
	__u32 k = SINK_PASSED;

	bump(&sink_totals, &k, 1);
	return XDP_PASS;
}

SEC("xdp")
int xlvs_bench_sink(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct sink_dst dst = {};
	__u32 saddr = 0, zero = 0, k, *flags;
	__u16 *ports = 0;
	__u8 proto;

	if ((void *)(eth + 1) > end)
		return pass();
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > end || ip->ihl < 5)
			return pass();
		proto = ip->protocol;
		dst.addr = ip->daddr;
		dst.family = 4;
		saddr = ip->saddr;
		ports = (void *)ip + ip->ihl * 4;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > end)
			return pass();
		proto = ip6->nexthdr;
		/*
		 * Neighbour discovery (and all ICMPv6) passes: the router needs it to resolve reals. So
		 * does multicast (MLD reports, router solicitations behind a hop-by-hop header): no
		 * benchmark stream goes to a multicast group, and counting them would add stray frames.
		 */
		if (proto == IPPROTO_ICMPV6 || ip6->daddr.in6_u.u6_addr8[0] == 0xff)
			return pass();
		dst.addr = ip6->daddr.in6_u.u6_addr32[3];
		dst.family = 6;
		saddr = ip6->saddr.in6_u.u6_addr32[3];
		ports = (void *)(ip6 + 1);
	} else {
		return pass();
	}

	k = SINK_PACKETS;
	bump(&sink_totals, &k, 1);
	k = SINK_BYTES;
	bump(&sink_totals, &k, (__u64)(end - data));

	flags = bpf_map_lookup_elem(&sink_cfg, &zero);
	if (!flags || *flags == 0)
		return XDP_DROP;
	dst.proto = proto;
	if ((proto == IPPROTO_UDP || proto == IPPROTO_TCP) && (void *)(ports + 2) <= end)
		dst.port = ports[1];
	else
		ports = 0;
	if (*flags & SINK_F_PER_DST) {
		__u64 *v = bpf_map_lookup_elem(&sink_dsts, &dst);
		__u64 one = 1;

		if (v)
			*v += 1;
		else if (bpf_map_update_elem(&sink_dsts, &dst, &one, BPF_NOEXIST) != 0) {
			k = SINK_DST_FULL;
			bump(&sink_totals, &k, 1);
		}
	}
	if (*flags & SINK_F_PER_FLOW) {
		__u32 sport = ports ? bpf_ntohs(ports[0]) : 0;
		__u32 bucket = (bpf_ntohl(saddr) * SINK_HASH_MUL + sport) & (SINK_FLOW_BUCKETS - 1);

		bump(&sink_flows, &bucket, 1);
	}
	return XDP_DROP;
}

/* The GPL side of the dual licence; the kernel only knows GPL-compatible names. */
char LICENSE[] SEC("license") = "GPL";
