/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * The benchmarks' traffic generator, an XDP packet loop (bench/traffic/loop-gen.ts drives it).
 *
 * One seed frame circulates in a private veth pair (loop0 -> loop1). xlvs_bench_loop, on loop1,
 * sends each arrival through gen_ports, a DEVMAP, with BPF_F_BROADCAST: the kernel makes one copy
 * per entry, FAN-1 of them to the target device (whose peer is the router's input) and one back
 * into loop0, so the seed comes round again. xlvs_bench_gen, the entries' devmap program, turns
 * each target copy into the next frame of the configured stream and leaves the loop copy alone.
 * No system call and no skb per frame: the kernel's redirect path does all the work, in the
 * softirq of the CPU the seed arrived on (and the router's NAPI runs there too, so a slower
 * router slows the loop down rather than overflowing its ring).
 *
 * Bounded: the loop drops the seed, which ends it, once `count` frames are generated or `max_ns`
 * has passed since its first round (or when count is set to 0 from outside).
 *
 * The seed is the template itself (flow 0's frame, checksums correct, built in TypeScript) and
 * the loop checks every arrival against it, so every copy starts as the template: flow i differs
 * from it only in the IPv4 source address and the L4 source port, and both checksums are patched
 * for that difference (RFC 1624), exact and cheap. IPv4 only, header without options.
 */
#include <linux/bpf.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include "csum.h"

/* Largest frame: small-packet benchmarks only; a bigger one would make the seed check long. */
#define GEN_FRAME_MAX 128
/* Copies per round at most: the receiving NAPI's budget (a veth ring holds 256). */
#define GEN_FAN_MAX 64
#define GEN_OFF_IP 14
#define GEN_OFF_IP_CSUM (GEN_OFF_IP + 10)
#define GEN_OFF_SADDR (GEN_OFF_IP + 12)
#define GEN_OFF_SPORT (GEN_OFF_IP + 20)

enum gen_order { GEN_SEQUENTIAL = 0, GEN_RANDOM = 1 };

/* Why the loop ended (gen_state.why, bits: with several seeds each records its own). */
enum gen_end { GEN_END_COUNT = 1, GEN_END_DEADLINE = 2, GEN_END_STOPPED = 4 };

/* Written by bench/traffic/loop-gen.ts (encodeGenCfg); the layout is checked there by size. */
struct gen_cfg {
	__u8 frame[GEN_FRAME_MAX];	/* flow 0's frame = the seed, checksums correct */
	__u32 frame_len;
	__u32 l4_csum_off;		/* UDP: 40, TCP: 50 */
	__u32 sport_count;		/* source ports: the template's .. + sport_count - 1 */
	__u32 saddr_count;		/* source addresses: the template's .. + saddr_count - 1 */
	__u32 order;			/* enum gen_order */
	__u32 udp;			/* a UDP checksum of 0 means "none": send 0xffff instead */
	__u32 loop_ifindex;		/* the entry that carries the seed round: left untouched */
	__u32 targets;			/* copies per round to the target: FAN - 1 */
	__u64 count;			/* frames to generate; 0 stops a running loop */
	__u64 max_ns;			/* the loop's time bound, from its first round */
};

/* Read by bench/traffic/loop-gen.ts (stateCodec), zeroed by it before each run. */
struct gen_state {
	__u64 next;			/* sequence number of the next copy: generated = min(next, count) */
	__u64 first_ns;			/* bpf_ktime_get_ns() of the first round */
	__u64 last_ns;			/* of the latest round: the ending one, once ended */
	__u64 rounds;			/* seed arrivals broadcast */
	__u64 foreign;			/* arrivals on the loop device that were not the seed: dropped */
	__u64 cpus;			/* bit i: CPU i ran rounds (the loop's softirq, and the router's) */
	__u32 ended;			/* seeds dropped, ending the loop */
	__u32 why;			/* enum gen_end bits */
	__u32 skip;			/* the last round's first copies to drop (see xlvs_bench_loop) */
	__u32 pad;
};

/* One entry: the stream and the run's bounds. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct gen_cfg);
} gen_cfg SEC(".maps");

/* One entry: the run's progress. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct gen_state);
} gen_state SEC(".maps");

/* The broadcast: FAN-1 entries for the target device, one for the loop (xlvs_bench_gen on each). */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, GEN_FAN_MAX);
	__type(key, __u32);
	__type(value, struct bpf_devmap_val);
} gen_ports SEC(".maps");

/* The arrival is exactly the template: anything else (a stray frame) must not start a loop. */
static __always_inline int is_seed(const struct gen_cfg *cfg, void *data, void *end)
{
	__u32 len = cfg->frame_len;
	__u32 i;

	if (len > GEN_FRAME_MAX || data + len != end)
		return 0;
	for (i = 0; i + 8 <= GEN_FRAME_MAX; i += 8) {
		if (i + 8 > len || data + i + 8 > end)
			break;
		if (*(__u64 *)(data + i) != *(const __u64 *)&cfg->frame[i])
			return 0;
	}
	for (int j = 0; j < 7; j++) {
		__u32 k = (len & ~7u) + j;

		if (k >= len || k >= GEN_FRAME_MAX || data + k + 1 > end)
			break;
		if (*(__u8 *)(data + k) != cfg->frame[k])
			return 0;
	}
	return 1;
}

SEC("xdp")
int xlvs_bench_loop(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 zero = 0;
	struct gen_cfg *cfg = bpf_map_lookup_elem(&gen_cfg, &zero);
	struct gen_state *st = bpf_map_lookup_elem(&gen_state, &zero);
	__u32 why = 0;
	__u64 now;

	if (!cfg || !st)
		return XDP_ABORTED;
	if (!is_seed(cfg, data, end)) {
		__sync_fetch_and_add(&st->foreign, 1);
		return XDP_DROP;
	}
	now = bpf_ktime_get_ns();
	/* One seed (bench/traffic/loop-gen.ts SEEDS): its rounds run one after another, on one CPU. */
	if (st->first_ns == 0)
		st->first_ns = now;
	st->last_ns = now;
	if (cfg->count == 0)
		why = GEN_END_STOPPED;
	else if (st->next >= cfg->count)
		why = GEN_END_COUNT;
	else if (now - st->first_ns >= cfg->max_ns)
		why = GEN_END_DEADLINE;
	if (why) {
		__sync_fetch_and_or(&st->why, why);
		__sync_fetch_and_add(&st->ended, 1);
		return XDP_DROP;
	}
	/*
	 * A last round that needs fewer than all its copies drops the first ones, not the last:
	 * the devmap hands frames to the target 16 at a time and only the final batch wakes the
	 * receiver's NAPI, so if every frame of that batch were dropped, the frames passed before
	 * it would wait in the ring until the next run.
	 */
	if (cfg->count - st->next < cfg->targets)
		st->skip = cfg->targets - (__u32)(cfg->count - st->next);
	__sync_fetch_and_add(&st->rounds, 1);
	__sync_fetch_and_or(&st->cpus, 1ull << (bpf_get_smp_processor_id() & 63));
	return bpf_redirect_map(&gen_ports, 0, BPF_F_BROADCAST);
}

SEC("xdp/devmap")
int xlvs_bench_gen(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 zero = 0;
	struct gen_cfg *cfg = bpf_map_lookup_elem(&gen_cfg, &zero);
	struct gen_state *st = bpf_map_lookup_elem(&gen_state, &zero);
	__u32 port_i, addr_i, off;
	__u64 n;

	if (!cfg || !st)
		return XDP_ABORTED;
	if (ctx->egress_ifindex == cfg->loop_ifindex)
		return XDP_PASS;
	if (st->skip) {
		st->skip--;	/* one seed: the loop's rounds and their copies run on one CPU, in turn */
		return XDP_DROP;
	}
	/* Atomic all the same: the sequence is read from user space while the loop runs. */
	n = __sync_fetch_and_add(&st->next, 1);
	if (n >= cfg->count || cfg->sport_count == 0 || cfg->saddr_count == 0)
		return XDP_DROP;	/* the last round's surplus */
	if (cfg->order == GEN_RANDOM) {
		port_i = bpf_get_prandom_u32() % cfg->sport_count;
		addr_i = bpf_get_prandom_u32() % cfg->saddr_count;
	} else {
		port_i = n % cfg->sport_count;
		addr_i = (n / cfg->sport_count) % cfg->saddr_count;
	}
	if (port_i == 0 && addr_i == 0)
		return XDP_PASS;	/* flow 0: the template as it is */

	off = cfg->l4_csum_off;
	if (data + GEN_OFF_SPORT + 2 > end || off > GEN_FRAME_MAX - 2 || data + off + 2 > end)
		return XDP_ABORTED;
	{
		__u32 *saddr = data + GEN_OFF_SADDR;
		__u16 *sport = data + GEN_OFF_SPORT;
		__u16 *ip_csum = data + GEN_OFF_IP_CSUM;
		__u16 *l4_csum = data + off;
		/* Host-order arithmetic on the varied fields; the checksums take wire order as it is. */
		__u32 old_addr = *saddr;
		__u32 new_addr = bpf_htonl(bpf_ntohl(old_addr) + addr_i);
		__u16 old_port = *sport;
		__u16 new_port = bpf_htons((__u16)(bpf_ntohs(old_port) + port_i));
		__u16 c;

		*saddr = new_addr;
		*sport = new_port;
		*ip_csum = csum_replace32(*ip_csum, old_addr, new_addr);
		c = csum_replace16(csum_replace32(*l4_csum, old_addr, new_addr), old_port, new_port);
		if (cfg->udp && c == 0)
			c = 0xffff;
		*l4_csum = c;
	}
	return XDP_PASS;
}

/* The GPL side of the dual licence; the kernel only knows GPL-compatible names. */
char LICENSE[] SEC("license") = "GPL";
