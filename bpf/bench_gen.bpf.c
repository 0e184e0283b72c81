/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * The benchmarks' traffic generator (bench/live-gen.ts drives it). Run with
 * BPF_PROG_TEST_RUN and BPF_F_TEST_XDP_LIVE_FRAMES on a device, it turns every frame the
 * kernel hands it into the next frame of a configured stream and sends it out of that device
 * with XDP_TX.
 *
 * Live-frames pages are recycled after the receiver (or a NAT on the way) has rewritten them, so
 * the whole frame is written from the template on every run, never only the varied fields.
 * The template (built in TypeScript, checksums correct for flow 0) lives in gen_cfg; flow i
 * differs from it only in the IPv4 source address and the L4 source port, and both checksums
 * are patched incrementally for that difference (RFC 1624), which is exact and cheap.
 *
 * IPv4 only, header without options (the template builder guarantees both).
 */
#include <linux/bpf.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

/* Largest frame: small-packet benchmarks only; a bigger one would make the copy loop long. */
#define GEN_FRAME_MAX 128
#define GEN_OFF_IP 14
#define GEN_OFF_IP_CSUM (GEN_OFF_IP + 10)
#define GEN_OFF_SADDR (GEN_OFF_IP + 12)
#define GEN_OFF_SPORT (GEN_OFF_IP + 20)

enum gen_order { GEN_SEQUENTIAL = 0, GEN_RANDOM = 1 };

/* Written by bench/live-gen.ts (encodeGenCfg); the layout is checked there by size. */
struct gen_cfg {
	__u8 frame[GEN_FRAME_MAX];	/* flow 0's frame, checksums correct */
	__u32 frame_len;		/* must equal the test run's data_size_in */
	__u32 l4_csum_off;		/* UDP: 40, TCP: 50 */
	__u32 sport_count;		/* source ports: the template's .. + sport_count - 1 */
	__u32 saddr_count;		/* source addresses: the template's .. + saddr_count - 1 */
	__u32 order;			/* enum gen_order */
	__u32 udp;			/* a UDP checksum of 0 means "none": send 0xffff instead */
};

/* One entry: the stream's configuration. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct gen_cfg);
} gen_cfg SEC(".maps");

/*
 * One entry: frames generated so far, which is also the next sequential flow index. Not
 * per-CPU and not atomic: one test run at a time drives a loaded generator, on one CPU.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} gen_state SEC(".maps");

static __always_inline __u32 csum_add16(__u32 sum, __u16 from, __u16 to)
{
	return sum + (__u16)~from + to;
}

static __always_inline __u16 csum_apply(__u16 csum, __u32 delta)
{
	__u32 s = (__u16)~csum + delta;

	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)~s;
}

static __always_inline __u16 load16(const void *p)
{
	return *(const __u16 *)p;
}

SEC("xdp")
int xlvs_bench_gen(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 zero = 0;
	struct gen_cfg *cfg = bpf_map_lookup_elem(&gen_cfg, &zero);
	__u64 *state = bpf_map_lookup_elem(&gen_state, &zero);
	__u32 len, i, port_i, addr_i;

	if (!cfg || !state)
		return XDP_ABORTED;
	len = cfg->frame_len;
	if (len > GEN_FRAME_MAX || data + len != end || len < GEN_OFF_SPORT + 2 ||
	    cfg->l4_csum_off + 2 > len || cfg->sport_count == 0 || cfg->saddr_count == 0)
		return XDP_ABORTED;

	/* The whole frame, 8 bytes at a time, then the tail byte by byte. */
	for (i = 0; i + 8 <= GEN_FRAME_MAX; i += 8) {
		if (i + 8 > len || data + i + 8 > end)
			break;
		*(__u64 *)(data + i) = *(__u64 *)&cfg->frame[i];
	}
	for (int j = 0; j < 7; j++) {
		__u32 k = (len & ~7u) + j;

		if (k >= len || k >= GEN_FRAME_MAX || data + k + 1 > end)
			break;
		*(__u8 *)(data + k) = cfg->frame[k];
	}

	if (cfg->order == GEN_RANDOM) {
		port_i = bpf_get_prandom_u32() % cfg->sport_count;
		addr_i = bpf_get_prandom_u32() % cfg->saddr_count;
	} else {
		__u64 n = *state;

		port_i = n % cfg->sport_count;
		addr_i = (n / cfg->sport_count) % cfg->saddr_count;
	}
	*state += 1;
	if (port_i == 0 && addr_i == 0)
		return XDP_TX;

	{
		void *saddr = data + GEN_OFF_SADDR;
		void *sport = data + GEN_OFF_SPORT;
		void *ip_csum = data + GEN_OFF_IP_CSUM;
		void *l4_csum;
		__u32 off = cfg->l4_csum_off;
		__u32 base_addr, new_addr;
		__u16 base_port, new_port, hi0, lo0, hi1, lo1, c;
		__u32 d_ip = 0, d_l4;

		if (sport + 2 > end || off > GEN_FRAME_MAX - 2)
			return XDP_ABORTED;
		l4_csum = data + off;
		if (l4_csum + 2 > end)
			return XDP_ABORTED;
		/* Host-order arithmetic on the varied fields; checksums in wire order (RFC 1071 is order-free). */
		base_addr = bpf_ntohl(*(__u32 *)saddr);
		new_addr = bpf_htonl(base_addr + addr_i);
		base_port = bpf_ntohs(load16(sport));
		new_port = bpf_htons((__u16)(base_port + port_i));
		hi0 = load16(saddr);
		lo0 = load16(saddr + 2);
		*(__u32 *)saddr = new_addr;
		hi1 = load16(saddr);
		lo1 = load16(saddr + 2);
		d_ip = csum_add16(csum_add16(0, hi0, hi1), lo0, lo1);
		d_l4 = csum_add16(d_ip, load16(sport), new_port);
		*(__u16 *)sport = new_port;
		*(__u16 *)ip_csum = csum_apply(load16(ip_csum), d_ip);
		c = csum_apply(load16(l4_csum), d_l4);
		if (cfg->udp && c == 0)
			c = 0xffff;
		*(__u16 *)l4_csum = c;
	}
	return XDP_TX;
}

/* The GPL side of the dual licence; the kernel only knows GPL-compatible names. */
char LICENSE[] SEC("license") = "GPL";
