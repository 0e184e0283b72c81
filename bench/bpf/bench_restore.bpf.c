/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * Lets BPF_PROG_TEST_RUN's `repeat` time programs that rewrite the packet (bench/per-packet/per-packet.ts).
 * The kernel does not restore the input frame between repeats, so a NAT program would see its
 * own output from the second run on. This program first writes the frame back from a template
 * (bench_frame), optionally makes it a new flow (the next source port each run), then
 * tail-calls the program under test (bench_target[0]). The floor is measured through the same
 * wrapper, so the restore and the tail call are measured, and taken out, in the same run.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define BENCH_FRAME_MAX 128

/* bench_knobs keys (bench/per-packet/restore.ts names them the same). */
enum {
	KNOB_LEN = 0,	  /* template length in bytes, 14..BENCH_FRAME_MAX */
	KNOB_VARY = 1,	  /* 1: every run gets the next source port (64k distinct flows) */
	KNOB_COUNTER = 2, /* runs so far (written here) */
	KNOB_COUNT,
};

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} bench_target SEC(".maps");

struct frame_bytes {
	__u8 b[BENCH_FRAME_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct frame_bytes);
} bench_frame SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, KNOB_COUNT);
	__type(key, __u32);
	__type(value, __u32);
} bench_knobs SEC(".maps");

static __always_inline __u32 *knob(__u32 k)
{
	return bpf_map_lookup_elem(&bench_knobs, &k);
}

SEC("xdp")
int xlvs_bench_restore(struct xdp_md *ctx)
{
	__u32 zero = 0;
	struct frame_bytes *tpl = bpf_map_lookup_elem(&bench_frame, &zero);
	__u32 *len = knob(KNOB_LEN), *vary = knob(KNOB_VARY), *counter = knob(KNOB_COUNTER);

	if (!tpl || !len || !vary || !counter)
		return XDP_ABORTED;
	__u32 n = *len;
	if (n < ETH_HLEN || n > BENCH_FRAME_MAX || n != ctx->data_end - ctx->data)
		return XDP_ABORTED;
	if (bpf_xdp_store_bytes(ctx, 0, tpl->b, n) < 0)
		return XDP_ABORTED;

	if (*vary) {
		/* IPv4 TCP/UDP: the source port is the counter's low 16 bits. */
		void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
		struct iphdr *ip = data + ETH_HLEN;
		__u32 c = (*counter)++;

		if ((void *)(ip + 1) > end)
			return XDP_ABORTED;
		__u16 *sport = (void *)ip + (ip->ihl & 0xf) * 4;
		if ((void *)(sport + 1) > end)
			return XDP_ABORTED;
		*sport = bpf_htons((__u16)c);
		/* The L4 checksum is left stale: xlvs never verifies it, it only updates it. */
	}
	bpf_tail_call(ctx, &bench_target, 0);
	return XDP_ABORTED; /* no target installed */
}

char LICENSE[] SEC("license") = "GPL";
