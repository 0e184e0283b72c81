/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * xlvs ABI, active/backup HA: the lease, the sync ring's records, the interfaces' MACs (ha.h, l2.h): part of bpf/xlvs_abi.h, which includes it (never
 * include it on its own: it uses the core ABI's types). Same conventions.
 */
#ifndef XLVS_ABI_HA_H
#define XLVS_ABI_HA_H

/* Active/backup HA (ha.h). The single entry of the ha map: the lease that lets
 * this router answer ARP / neighbour solicitations for the floating addresses,
 * and whether flow changes are written to the sync ring. */
enum xlvs_ha_flags {
	XLVS_HA_F_ENABLED = 1, /* gate ARP/ND for ha_floating on the lease */
	XLVS_HA_F_SYNC = 2,    /* write sync records (sync_ring) */
};

enum xlvs_ha_limits {
	XLVS_MAX_FLOATING = 4096,          /* ha_floating entries */
	XLVS_SYNC_RING_BYTES = 67108864,   /* sync_ring size (64 MiB: ~226k records, ~0.6 s of a 375k/s burst) */
	XLVS_SYNC_REFRESH_S = 30,          /* a deadline refresh is synced when the flow's last record
					    * is this many xlvs_now()>>30 units old */
	XLVS_HA_STAT_SLOTS = 8,            /* ha_stats slots (room for later counters) */
};

/* Per-CPU HA counters (ha_stats), by index. Records, not packets: never in drops/events. */
enum xlvs_ha_stat {
	XLVS_HA_STAT_SYNC_SENT = 0, /* sync records submitted */
	XLVS_HA_STAT_SYNC_LOST = 1, /* sync records lost: the ring was full */
	XLVS_HA_STAT_MAX = 2,
};

/* What a sync record says of a flow. */
enum xlvs_sync_kind {
	XLVS_SYNC_NEW = 1,    /* flow_insert made a flow */
	XLVS_SYNC_UPDATE = 2, /* a state change, or a deadline refresh XLVS_SYNC_REFRESH_S after the last record */
	XLVS_SYNC_END = 3,    /* flow_end ended (and counted down) the flow: fk/rk valid, fv/rv zero */
};

struct xlvs_ha {
	__u64 lease_ns; /* xlvs_now() deadline (CLOCK_MONOTONIC, coarse) of this router's lease */
	__u32 flags;    /* enum xlvs_ha_flags */
	__u32 pad;
};

/* Key of ha_floating (value __u32 1): an address this router answers ARP/ND for only
 * while its lease holds. IPv4 in addr[0]. */
struct xlvs_ha_addr {
	__be32 addr[4];
	__u8 family;    /* enum xlvs_family */
	__u8 pad[3];
};

/* Slots of if_macs: the interface each program is attached to. */
enum xlvs_if_role {
	XLVS_IF_PUBLIC = 0,  /* xlvs_public's */
	XLVS_IF_PRIVATE = 1, /* xlvs_private's */
	XLVS_IF_ROLES = 2,
};

/* Value of if_macs (key: enum xlvs_if_role): the interface a program is attached
 * to and its MAC, written by the daemon. A unicast frame arriving there for
 * another MAC is not ours (l2.h). ifindex 0: none, nothing is checked. */
struct xlvs_if_mac {
	__u32 ifindex;
	__u8 mac[6];
	__u8 pad[2];
};

/* A record of the sync ring. fk/fv: the FORWARD entry; rk/rv: the reply entry. */
struct xlvs_sync_rec {
	__u32 kind;     /* enum xlvs_sync_kind */
	__u32 pad;
	__u64 at_ns;    /* xlvs_now() when written */
	struct xlvs_flow_key fk;
	struct xlvs_flow fv;
	struct xlvs_flow_key rk;
	struct xlvs_flow rv;
};

_Static_assert(XLVS_HA_STAT_MAX <= XLVS_HA_STAT_SLOTS, "more HA counters than ha_stats holds");

#endif /* XLVS_ABI_HA_H */
