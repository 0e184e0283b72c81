/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * xlvs ABI: every struct and constant shared between the XDP programs and
 * the TypeScript control plane lives here and nowhere else.
 *
 * The TypeScript codecs (src/gen/abi.ts) are generated from the BTF of the
 * compiled object (scripts/gen-abi.mjs), and the daemon re-checks every
 * struct's size and member offsets against the loaded object's BTF before it
 * touches a map. So: change a struct here, rebuild, and both sides follow.
 *
 * Conventions the generator relies on:
 *  - shared structs are named xlvs_*; fields typed __be16/__be32 are network
 *    byte order, everything else host order;
 *  - fields named pad* / _pad* are reserved and always written as zero;
 *  - every enum named xlvs_* is exported to TypeScript as constants (the
 *    anchor struct at the bottom keeps unused enums in BTF).
 */
#ifndef XLVS_ABI_H
#define XLVS_ABI_H

#include <linux/types.h>

/* Capacities. Map sizes in maps.h use these; TypeScript reads them from BTF. */
enum xlvs_limits {
	XLVS_MAX_SVCS = 4096,      /* virtual services (VIP:port/proto) */
	XLVS_MAX_REALS = 65536,    /* real servers, over all services */
	XLVS_RING_SIZE = 256,      /* scheduling slots per service */
	XLVS_MAX_FLOWS = 1048576,  /* connection table entries (2 per connection) */
};

/* Scheduler per service; the choice for a new flow is made in XDP. */
enum xlvs_sched {
	XLVS_SCHED_RR = 0,  /* round robin */
	XLVS_SCHED_WRR = 1, /* weighted round robin (IPVS order) */
};

/* Forwarding method per real server. */
enum xlvs_method {
	XLVS_METHOD_NAT = 0,
};

/* Why a packet addressed to us was dropped (index into the drops map). */
enum xlvs_drop {
	XLVS_DROP_NO_REAL = 0,    /* VIP matched, no real with weight > 0 */
	XLVS_DROP_NO_FLOW = 1,    /* non-SYN TCP to a VIP without a live flow */
	XLVS_DROP_FIB = 2,        /* route lookup says blackhole/unreachable/prohibit */
	XLVS_DROP_MAX = 3,
};

/* Connection state of a flow entry; picks the timeout from xlvs_cfg. */
enum xlvs_flow_state {
	XLVS_FLOW_TCP_EST = 0,  /* SYN seen, no FIN/RST yet */
	XLVS_FLOW_TCP_FIN = 1,  /* FIN seen in either direction */
	XLVS_FLOW_TCP_CLOSE = 2,/* RST seen */
	XLVS_FLOW_UDP = 3,
};

/* Which way a flow entry translates. */
enum xlvs_flow_dir {
	XLVS_DIR_FORWARD = 0, /* client -> VIP, rewrite destination to the real */
	XLVS_DIR_REPLY = 1,   /* real -> client, rewrite source to the VIP */
};

/* Flags on xlvs_real.flags. */
enum xlvs_real_flags {
	XLVS_REAL_F_USED = 1, /* slot is allocated to a service */
};

/* Key of the vips map: the virtual service address. */
struct xlvs_vip_key {
	__be32 addr;
	__be16 port;
	__u8 proto; /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 pad;
};

/* Value of the vips map. */
struct xlvs_vip {
	__u32 svc_id; /* index into svcs, svc_rr, ring, svc_stats */
	__u32 flags;
};

/* A virtual service: how new flows are scheduled. */
struct xlvs_svc {
	__u32 sched;    /* enum xlvs_sched */
	__u32 ring_len; /* valid slots in this service's ring; 0 = no real */
	__u32 flags;
	__u32 pad;
};

/* A real server. Its id is its index in the reals map. */
struct xlvs_real {
	__be32 addr;
	__be16 port;
	__u8 method; /* enum xlvs_method */
	__u8 flags;  /* enum xlvs_real_flags */
	__u32 svc_id;
	__u32 weight;
};

/* Connection table key: the packet's own 5-tuple as seen on the wire. */
struct xlvs_flow_key {
	__be32 src;
	__be32 dst;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 pad[3];
};

/* Connection table value. A connection has two entries: the forward one
 * (keyed by client -> VIP) and the reply one (keyed by real -> client). */
struct xlvs_flow {
	__u64 expires_ns; /* bpf_ktime_get_ns() deadline; past it the entry is dead */
	__be32 nat_addr;  /* forward: real address; reply: VIP */
	__be16 nat_port;  /* forward: real port; reply: VIP port */
	__u8 dir;         /* enum xlvs_flow_dir */
	__u8 state;       /* enum xlvs_flow_state */
	__u32 real_id;
	__u32 svc_id;
};

/* Per-CPU traffic counters, one per service and one per real. */
struct xlvs_counters {
	__u64 packets_in;  /* client -> real */
	__u64 bytes_in;
	__u64 packets_out; /* real -> client */
	__u64 bytes_out;
	__u64 conns;       /* new flows scheduled */
};

/* Global settings, the single entry of the cfg map. */
struct xlvs_cfg {
	__u64 timeout_tcp_ns;     /* established */
	__u64 timeout_tcp_fin_ns; /* after FIN */
	__u64 timeout_tcp_close_ns; /* after RST */
	__u64 timeout_udp_ns;
};

/* Not a map value: keeps every enum above in BTF for the TS generator. */
struct xlvs_abi_enums {
	enum xlvs_limits limits;
	enum xlvs_sched sched;
	enum xlvs_method method;
	enum xlvs_drop drop;
	enum xlvs_flow_state flow_state;
	enum xlvs_flow_dir flow_dir;
	enum xlvs_real_flags real_flags;
};

#endif /* XLVS_ABI_H */
