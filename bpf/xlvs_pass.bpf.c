/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * A do-nothing XDP program for the namespace lab. A frame that the load balancer redirects
 * into a veth is dropped unless the receiving peer runs an XDP program of its own; this one
 * only makes the peer XDP-capable and hands every frame to the kernel unchanged.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xlvs_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

/* The GPL side of the dual licence; the kernel only knows GPL-compatible names. */
char LICENSE[] SEC("license") = "GPL";
