/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * Kernel features xlvsd asks about once, at start (src/host/capabilities.ts):
 * each program is run with BPF_PROG_TEST_RUN on a frame "from" the loopback
 * device and answers in its verdict. Nothing here is attached or pinned.
 */
#include <linux/bpf.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#ifndef AF_INET
#define AF_INET 2
#endif

/* Drops the frame: the program the live-frames question is asked with (the
 * kernel really acts on the verdict there, so it must be a drop). */
SEC("xdp")
int xlvs_caps_drop(struct xdp_md *ctx)
{
	return XDP_DROP;
}

/*
 * XDP_PASS if bpf_fib_lookup takes BPF_FIB_LOOKUP_SRC (Linux 6.7: the FIB
 * chooses the source address, as the health probes' SYNs need), XDP_DROP if
 * it refuses the flag (-EINVAL). The flags are checked before the lookup, so
 * any answer >= 0 (127.0.0.1 is not forwarded: NOT_FWDED) means it knows it.
 */
SEC("xdp")
int xlvs_caps_fib_src(struct xdp_md *ctx)
{
	struct bpf_fib_lookup fib = {};

	fib.family = AF_INET;
	fib.ifindex = ctx->ingress_ifindex;
	fib.ipv4_dst = bpf_htonl(0x7f000001);
	if (bpf_fib_lookup(ctx, &fib, sizeof(fib), BPF_FIB_LOOKUP_OUTPUT | BPF_FIB_LOOKUP_SRC) < 0)
		return XDP_DROP;
	return XDP_PASS;
}

/* The GPL side of the dual licence; the kernel only knows GPL-compatible names. */
char LICENSE[] SEC("license") = "GPL";
