/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* Every map of xlvs. All are pinned by name under <pin dir>/maps so they, and
 * the flows and counters in them, outlive the daemon. */
#ifndef XLVS_MAPS_H
#define XLVS_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "xlvs_abi.h"

/* VIP:port/proto -> service id. The only lookup a non-flow packet pays. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XLVS_MAX_SVCS);
	__type(key, struct xlvs_vip_key);
	__type(value, struct xlvs_vip);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} vips SEC(".maps");

/* Service id -> scheduling parameters. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLVS_MAX_SVCS);
	__type(key, __u32);
	__type(value, struct xlvs_svc);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} svcs SEC(".maps");

/* Service id -> round-robin cursor, bumped atomically by every new flow so
 * that the order is exact across CPUs. Kept apart from svcs so that a config
 * change rewriting the service does not reset it. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLVS_MAX_SVCS);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} svc_rr SEC(".maps");

/* svc_id * XLVS_RING_SIZE + slot -> real id: the (weighted) round-robin
 * sequence the control plane computed for the service. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLVS_MAX_SVCS * XLVS_RING_SIZE);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ring SEC(".maps");

/* Real id -> real server. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLVS_MAX_REALS);
	__type(key, __u32);
	__type(value, struct xlvs_real);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} reals SEC(".maps");

/* Connection table, two entries per connection (see struct xlvs_flow). LRU so
 * that a flood can only evict the least recently used flows. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XLVS_MAX_FLOWS);
	__type(key, struct xlvs_flow_key);
	__type(value, struct xlvs_flow);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} flows SEC(".maps");

/* Per-CPU traffic counters by service id. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLVS_MAX_SVCS);
	__type(key, __u32);
	__type(value, struct xlvs_counters);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} svc_stats SEC(".maps");

/* Per-CPU traffic counters by real id. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLVS_MAX_REALS);
	__type(key, __u32);
	__type(value, struct xlvs_counters);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} real_stats SEC(".maps");

/* Per-CPU drop counters by enum xlvs_drop. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLVS_DROP_MAX);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} drops SEC(".maps");

/* Global settings (timeouts), one entry. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xlvs_cfg);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cfg SEC(".maps");

#endif /* XLVS_MAPS_H */
