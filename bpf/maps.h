/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* Every map of xlvs. All are pinned by name under <pin dir>/maps so they, and
 * the flows and counters in them, outlive the daemon. */
#ifndef XLVS_MAPS_H
#define XLVS_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "xlvs_abi.h"
#include "tcpwin.h"

/* What a scheduler returns when no real may take the flow. */
#define XLVS_NO_REAL 0xffffffffu

/* VIP frontends and VIP addresses (see struct xlvs_vip_key). A packet that is
 * not for a VIP address pays this one lookup. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XLVS_MAX_VIPS);
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

/* svc_id * XLVS_MAX_SVC_REALS + i -> real id, i < svc.n_reals: the reals the
 * least-connection family scans, in config order. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLVS_MAX_SVCS * XLVS_MAX_SVC_REALS);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} svc_reals SEC(".maps");

/* Service id -> its scheduling table, slot -> real id (rr/wrr ring, sh/dh
 * buckets, maglev lookup table). One inner array per service, sized to the
 * service (BPF_F_INNER_MAP lets sizes differ), swapped in whole by the daemon
 * so a new table takes effect atomically. */
struct svc_table {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
	__uint(map_flags, BPF_F_INNER_MAP);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, XLVS_MAX_SVCS);
	__type(key, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, struct svc_table);
} svc_tables SEC(".maps");

/* Real id -> real server. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLVS_MAX_REALS);
	__type(key, __u32);
	__type(value, struct xlvs_real);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} reals SEC(".maps");

/* Real id -> active/inactive connection counts (shared, atomic). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLVS_MAX_REALS);
	__type(key, __u32);
	__type(value, struct xlvs_real_conns);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} real_conns SEC(".maps");

/* Connection table, two entries per connection (see struct xlvs_flow). LRU:
 * when full, the least recently used entries are evicted rather than new
 * flows refused (an evicted entry's connection breaks; the reaper's recount
 * counts it down, and its walk keeps dead entries from filling the table). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XLVS_MAX_FLOWS);
	__type(key, struct xlvs_flow_key);
	__type(value, struct xlvs_flow);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} flows SEC(".maps");

/* Persistence templates: (service, client prefix) -> real. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XLVS_MAX_PERSIST);
	__type(key, struct xlvs_persist_key);
	__type(value, struct xlvs_persist);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} persist SEC(".maps");

/* lblc/lblcr: (service, destination) -> real(s). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XLVS_MAX_DESTS);
	__type(key, struct xlvs_dest_key);
	__type(value, struct xlvs_dest);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} dests SEC(".maps");

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

/* Per-CPU drop counters by enum xlvs_drop (slots past XLVS_DROP_MAX: room
 * for reasons a later version adds). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLVS_DROP_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} drops SEC(".maps");

/* Per-CPU counters of every other outcome, by enum xlvs_event (slots past
 * XLVS_EV_MAX: room for later versions). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLVS_EV_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} events SEC(".maps");

/* Global settings (timeouts, local addresses), one entry. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xlvs_cfg);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cfg SEC(".maps");

/* Source validation on the public side (srcval.h), one entry: the mode. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xlvs_srcval);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} srcval SEC(".maps");

/* Source prefixes allowed or denied before any other source check (config allow/deny). */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, XLVS_MAX_SRCVAL_PREFIXES);
	__type(key, struct xlvs_srcval_key);
	__type(value, struct xlvs_srcval_prefix);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} srcval_prefixes SEC(".maps");

/* Next hops reported unresolved lately (fwd.h fwd_nh_miss): when, to report
 * each at most once per XLVS_NH_ASK_MS. Not pinned: a restart may ask again. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XLVS_MAX_NH_ASKED);
	__type(key, struct xlvs_nh);
	__type(value, __u64);
} nh_asked SEC(".maps");

/* Unresolved next hops for the daemon to have resolved (struct xlvs_nh). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, XLVS_NH_RING_BYTES);
} nh_misses SEC(".maps");

/* Active/backup HA (ha.h): the lease and flags, one entry. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xlvs_ha);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ha SEC(".maps");

/* The floating addresses: ARP / neighbour solicitations for them are answered
 * only while this router's lease holds (value 1). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XLVS_MAX_FLOATING);
	__type(key, struct xlvs_ha_addr);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ha_floating SEC(".maps");

/* enum xlvs_if_role -> the program's interface and its MAC (l2.h): xlvs_public
 * and xlvs_private hand unicast frames for another MAC to the kernel. An array
 * with a constant key: the verifier inlines the lookup (the check costs every
 * frame). Written by the daemon; ifindex 0 or another ingress: not checked. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XLVS_IF_ROLES);
	__type(key, __u32);
	__type(value, struct xlvs_if_mac);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} if_macs SEC(".maps");

/* Per-CPU HA counters by enum xlvs_ha_stat (slots past XLVS_HA_STAT_MAX: room). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLVS_HA_STAT_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ha_stats SEC(".maps");

/* Flow changes for the backup router (struct xlvs_sync_rec), while
 * ha.flags & XLVS_HA_F_SYNC. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, XLVS_SYNC_RING_BYTES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sync_ring SEC(".maps");

/* Fragmented replies of nat/fullnat reals (frag.h): the first fragment,
 * which carries the ports, names its datagram (source, destination, id,
 * protocol) and the reply entry that translated it; the later fragments,
 * which carry no ports, are translated by that entry. Not shared with the
 * control plane, not pinned: a restart forgets a few seconds' worth. */
struct frag_key {
	__be32 src[4];
	__be32 dst[4];
	__be32 id;    /* IPv4: the 16-bit identification; IPv6: the fragment header's */
	__u8 proto;
	__u8 family;
	__u8 pad[2];
};

struct frag_val {
	struct xlvs_flow_key flow; /* the reply entry of the first fragment */
	__u64 expires_ns;          /* xlvs_now() deadline */
};

#define XLVS_MAX_FRAGS 8192

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XLVS_MAX_FRAGS);
	__type(key, struct frag_key);
	__type(value, struct frag_val);
} frags SEC(".maps");

/* Per-CPU scratch space for a new flow's entries: the verifier allows 512
 * bytes of stack over all calls and the programs need most of it. Not shared
 * with the control plane, not pinned. sk and fib are source validation's
 * (srcval.h: the key of an ICMP packet, the reverse route lookup), which runs
 * before a flow is made and never while another user of them is midway. */
struct scratch {
	struct xlvs_flow fw;
	struct xlvs_flow rp;
	struct xlvs_flow_key rk;   /* also a fragment's flow key (frag.h) */
	struct frag_key fk;        /* frag.h */
	struct frag_val fv;
	struct xlvs_flow_key sk;   /* source validation (srcval.h) */
	struct bpf_fib_lookup fib;
	struct xlvs_flow_key pk;   /* flow_create's partner keys (flow_end, flow_claim) */
	struct xlvs_flow_key back;
	struct tcp_seg seg;        /* xlvs_public's packet's TCP facts (tcpwin.h) */
	__u32 claim_end;           /* flow_claim ended a counted connection for flow_insert's END
				    * record (ha.h): 1 + that entry's dir; 0: none */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch SEC(".maps");

#endif /* XLVS_MAPS_H */
