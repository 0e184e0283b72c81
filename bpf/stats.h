/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* Counter updates. Per-CPU maps, so plain adds are race free. */
#ifndef XLVS_STATS_H
#define XLVS_STATS_H

#include "maps.h"

static __always_inline void stats_drop(__u32 reason)
{
	__u64 *n = bpf_map_lookup_elem(&drops, &reason);

	if (n)
		*n += 1;
}

/* Counts an outcome that is not a drop (enum xlvs_event). */
static __always_inline void stats_event(__u32 ev)
{
	__u64 *n = bpf_map_lookup_elem(&events, &ev);

	if (n)
		*n += 1;
}

/* Drops a packet for a counted reason. */
static __always_inline int drop(__u32 reason)
{
	stats_drop(reason);
	return XDP_DROP;
}

/* Hands a packet that is not ours to the kernel. */
static __always_inline int pass(void)
{
	stats_event(XLVS_EV_PASS);
	return XDP_PASS;
}

static __always_inline void stats_add(void *map, __u32 id, __u64 bytes, int reply, int new_conn)
{
	struct xlvs_counters *c = bpf_map_lookup_elem(map, &id);

	if (!c)
		return;
	if (reply) {
		c->packets_out += 1;
		c->bytes_out += bytes;
	} else {
		c->packets_in += 1;
		c->bytes_in += bytes;
	}
	c->conns += new_conn;
}

/* Accounts one packet to its service and its real. */
static __always_inline void stats_packet(__u32 svc_id, __u32 real_id, __u64 bytes, int reply, int new_conn)
{
	stats_add(&svc_stats, svc_id, bytes, reply, new_conn);
	stats_add(&real_stats, real_id, bytes, reply, new_conn);
}

#endif /* XLVS_STATS_H */
