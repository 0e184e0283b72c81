/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * Test-only producer for the ring-buffer consumer (src/kernel/ringbuf.ts, exercised by
 * test/integration/ringbuf.test.ts). Each BPF_PROG_TEST_RUN of rb_test_produce writes one record
 * into rb_test_ring, as the frame asks (the frame is the test's command, not a packet):
 *
 *   frame[0]       RB_TEST_SUBMIT: a record of seq, len and len payload bytes (bpf_ringbuf_output)
 *                  RB_TEST_DISCARD: a record reserved, filled, then discarded (bpf_ringbuf_discard)
 *   frame[2..4)    len, little-endian, at most RB_TEST_PAYLOAD_MAX
 *   frame[8..8+len) the payload, copied into the record
 *
 * seq is the number of records submitted before this one, so what a consumer reads is numbered
 * 0, 1, 2, ... whatever was refused or discarded in between. Verdict: XDP_PASS written (or
 * discarded, as asked), XDP_DROP the ring had no room (counted in RB_TEST_FULL), XDP_ABORTED a
 * frame it cannot read.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define RB_TEST_SUBMIT 1
#define RB_TEST_DISCARD 2
#define RB_TEST_PAYLOAD_MAX 200
/* The smallest ring there is (one page): a few dozen records fill it, so tests wrap it often. */
#define RB_TEST_RING_BYTES 4096
/* A discarded record's size and its marker: a consumer that delivered one would show 0xffffffff. */
#define RB_TEST_DISCARD_BYTES 40
#define RB_TEST_DISCARD_SEQ 0xffffffffu
/* Where the payload starts in the frame. */
#define RB_TEST_PAYLOAD_OFF 8

/* Named offsets of rb_test_counts. */
enum rb_test_count {
	RB_TEST_SUBMITTED = 0,	/* records written */
	RB_TEST_DISCARDED,	/* records reserved then discarded */
	RB_TEST_FULL,		/* records refused: the ring had no room */
	RB_TEST_COUNTS,
};

/* The head of every record the consumer gets; the payload follows. */
struct rb_test_rec {
	__u32 seq;
	__u32 len;
};

/* A record being assembled: bpf_ringbuf_output takes a variable length, reserve only a constant. */
struct rb_test_scratch {
	struct rb_test_rec rec;
	__u8 payload[RB_TEST_PAYLOAD_MAX];
};

/* The ring the test consumes. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, RB_TEST_RING_BYTES);
} rb_test_ring SEC(".maps");

/* What the producer did, by enum rb_test_count. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, RB_TEST_COUNTS);
	__type(key, __u32);
	__type(value, __u64);
} rb_test_counts SEC(".maps");

/* One record under construction (test runs are sequential; per CPU all the same). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rb_test_scratch);
} rb_test_scratch SEC(".maps");

static __always_inline __u64 *count(__u32 which)
{
	return bpf_map_lookup_elem(&rb_test_counts, &which);
}

static __always_inline void bump(__u32 which)
{
	__u64 *c = count(which);

	if (c)
		__sync_fetch_and_add(c, 1);
}

static __always_inline int discard_one(void)
{
	struct rb_test_rec *r = bpf_ringbuf_reserve(&rb_test_ring, RB_TEST_DISCARD_BYTES, 0);

	if (!r) {
		bump(RB_TEST_FULL);
		return XDP_DROP;
	}
	r->seq = RB_TEST_DISCARD_SEQ;
	r->len = RB_TEST_DISCARD_BYTES - sizeof(*r);
	bpf_ringbuf_discard(r, 0);
	bump(RB_TEST_DISCARDED);
	return XDP_PASS;
}

SEC("xdp")
int rb_test_produce(struct xdp_md *ctx)
{
	struct rb_test_scratch *s;
	__u8 head[RB_TEST_PAYLOAD_OFF];
	__u32 zero = 0, len;
	__u64 *submitted;

	if (bpf_xdp_load_bytes(ctx, 0, head, sizeof(head)) < 0)
		return XDP_ABORTED;
	if (head[0] == RB_TEST_DISCARD)
		return discard_one();
	len = head[2] | (__u32)head[3] << 8;
	if (head[0] != RB_TEST_SUBMIT || len > RB_TEST_PAYLOAD_MAX)
		return XDP_ABORTED;
	s = bpf_map_lookup_elem(&rb_test_scratch, &zero);
	submitted = count(RB_TEST_SUBMITTED);
	if (!s || !submitted)
		return XDP_ABORTED;
	s->rec.seq = (__u32)*submitted;
	s->rec.len = len;
	if (len > 0 && bpf_xdp_load_bytes(ctx, RB_TEST_PAYLOAD_OFF, s->payload, len) < 0)
		return XDP_ABORTED;
	if (bpf_ringbuf_output(&rb_test_ring, s, sizeof(s->rec) + len, 0) < 0) {
		bump(RB_TEST_FULL);
		return XDP_DROP;
	}
	__sync_fetch_and_add(submitted, 1);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
