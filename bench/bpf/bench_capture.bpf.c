/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * A frame recorder for the generator's tests (bench/traffic/frame-capture.ts reads it): attached where
 * the generator's frames arrive, it keeps the first CAP_SLOTS IPv4 frames whole, in the order
 * they came, counts every one, and drops them. Other frames (ARP, IPv6 neighbour discovery)
 * pass, so a test sees only the stream it made.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define CAP_SLOTS 1024
/* The generator's frames are at most 128 bytes (GEN_FRAME_MAX); longer ones are cut there. */
#define CAP_FRAME_MAX 128

struct cap_slot {
	__u32 len;			/* the frame's length on the wire (may exceed what was kept) */
	__u8 frame[CAP_FRAME_MAX];
};

/* Frame i of the capture, i < CAP_SLOTS. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, CAP_SLOTS);
	__type(key, __u32);
	__type(value, struct cap_slot);
} cap_slots SEC(".maps");

/* One entry: IPv4 frames seen, kept or not. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} cap_count SEC(".maps");

SEC("xdp")
int xlvs_bench_capture(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u32 zero = 0, i, len;
	__u64 *count = bpf_map_lookup_elem(&cap_count, &zero);
	struct cap_slot *slot;

	if (!count || (void *)(eth + 1) > end)
		return XDP_PASS;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	i = (__u32)__sync_fetch_and_add(count, 1);
	if (i >= CAP_SLOTS)
		return XDP_DROP;
	slot = bpf_map_lookup_elem(&cap_slots, &i);
	if (!slot)
		return XDP_DROP;
	len = end - data;
	slot->len = len;
	if (len > CAP_FRAME_MAX)
		len = CAP_FRAME_MAX;
	if (len > 0)
		bpf_xdp_load_bytes(ctx, 0, slot->frame, len);
	return XDP_DROP;
}

/* The GPL side of the dual licence; the kernel only knows GPL-compatible names. */
char LICENSE[] SEC("license") = "GPL";
