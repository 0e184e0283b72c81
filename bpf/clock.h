/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * The data plane's clock. Flow, template and destination deadlines need seconds, not
 * nanoseconds, and reading the TSC for bpf_ktime_get_ns() was about a tenth of an established
 * packet's cost (perf, bench/per-packet/per-packet.ts). The coarse clock is the same CLOCK_MONOTONIC base
 * advanced once per tick (a few ms), read without touching the clocksource. Every deadline
 * written or compared in BPF uses this one clock.
 */
#ifndef XLVS_CLOCK_H
#define XLVS_CLOCK_H

#include <bpf/bpf_helpers.h>

static __always_inline __u64 xlvs_now(void)
{
	return bpf_ktime_get_coarse_ns();
}

#endif
