/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * xlvs ABI: every struct and constant shared between the XDP programs and
 * the TypeScript control plane lives here and nowhere else (this file and
 * the parts it includes below: xlvs_abi_srcval.h, xlvs_abi_probe.h,
 * xlvs_abi_ha.h).
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

/* Capacities. Map sizes in maps.h use these; TypeScript reads them from BTF.
 * Sized for 10,000 services x 8 reals with room to change them (a change adds
 * before it removes). What each costs in kernel memory, measured by the
 * control-plane benchmark: svc_reals is XLVS_MAX_SVCS x XLVS_MAX_SVC_REALS x 4 B
 * (16 MiB, preallocated), real_stats is XLVS_MAX_REALS x 40 B per possible CPU;
 * vips is a hash without preallocation (pays per entry in use). */
enum xlvs_limits {
	XLVS_MAX_SVCS = 16384,       /* virtual services */
	XLVS_MAX_VIPS = 65536,       /* vips map entries: frontends + one per VIP address */
	XLVS_MAX_REALS = 131072,     /* real servers, over all services */
	XLVS_MAX_SVC_REALS = 256,    /* reals per service (the lc family scans them) */
	XLVS_MAX_TABLE = 1048576,    /* slots of one service's scheduling table */
	XLVS_MAX_FLOWS = 1048576,    /* connection table entries (2 per connection) */
	XLVS_MAX_PERSIST = 262144,   /* persistence templates */
	XLVS_MAX_DESTS = 262144,     /* lblc/lblcr destination entries */
	XLVS_LBLCR_SET = 8,          /* reals in one lblcr destination's set */
	XLVS_MAX_SRCVAL_PREFIXES = 4096, /* source_validation allow + deny prefixes */
	/* Slots of the drops and events counter arrays: more than the reasons and
	 * outcomes there are (XLVS_DROP_MAX, XLVS_EV_MAX), so that a version that
	 * adds one still adopts the pinned arrays (a pinned map is reused only
	 * with the same size) and a restart into it keeps the counters. */
	XLVS_DROP_SLOTS = 64,
	XLVS_EV_SLOTS = 32,
};

/* Address family of a key or real. Addresses are always __be32 addr[4]; an
 * IPv4 address sits in addr[0] and addr[1..3] are zero. */
enum xlvs_family {
	XLVS_AF_INET = 4,
	XLVS_AF_INET6 = 6,
};

/* Scheduler per service; the choice for a new flow is made in XDP. */
enum xlvs_sched {
	XLVS_SCHED_RR = 0,    /* round robin (table = ring) */
	XLVS_SCHED_WRR = 1,   /* weighted round robin, IPVS order (table = ring) */
	XLVS_SCHED_LC = 2,    /* least connections: min (active<<8)+inactive */
	XLVS_SCHED_WLC = 3,   /* weighted least connections: min overhead/weight */
	XLVS_SCHED_LBLC = 4,  /* locality-based least connections (dest -> real) */
	XLVS_SCHED_LBLCR = 5, /* lblc with replication (dest -> set of reals) */
	XLVS_SCHED_DH = 6,    /* destination hashing (table = buckets) */
	XLVS_SCHED_SH = 7,    /* source hashing (table = buckets) */
	XLVS_SCHED_SED = 8,   /* shortest expected delay: min (active+1)/weight */
	XLVS_SCHED_NQ = 9,    /* never queue: an idle real, else sed */
	XLVS_SCHED_MH = 10,   /* maglev hashing (table = maglev lookup table) */
	XLVS_SCHED_FO = 11,   /* weighted failover: highest weight available */
	XLVS_SCHED_OVF = 12,  /* overflow: highest weight with active < weight */
};

/* Bounds of a new flow's search for an available real (sched.h); the TypeScript
 * reference schedulers (src/sched/reference.ts) read them from BTF too. */
enum xlvs_sched_tries {
	XLVS_RING_TRIES = 16, /* ring slots a new flow may skip past unavailable reals
	                       * before the walk of the reals (sched_fallback.h) */
	XLVS_HASH_TRIES = 16, /* sh/mh with XLVS_SVC_F_HASH_FALLBACK: slots (first choice
	                       * and rehashes) tried before the walk of the reals.
	                       * IPVS tries the whole table; the bounds keep the
	                       * program's cost fixed. */
};

/* Flags on xlvs_svc.flags. */
enum xlvs_svc_flags {
	XLVS_SVC_F_PERSIST = 1,      /* persistence templates (persist_ns, persist_plen) */
	XLVS_SVC_F_HASH_FALLBACK = 2,/* sh/mh: skip an unavailable real instead of failing */
	XLVS_SVC_F_HASH_PORT = 4,    /* sh/mh: hash the source port too */
};

/* Forwarding method per real server. */
enum xlvs_method {
	XLVS_METHOD_NAT = 0,     /* rewrite destination; replies come back through us */
	XLVS_METHOD_DR = 1,      /* rewrite the MAC only; the real holds the VIP */
	XLVS_METHOD_TUN = 2,     /* IP-in-IP to the real; the real holds the VIP */
	XLVS_METHOD_FULLNAT = 3, /* rewrite destination and source (a local address) */
};

/* Why a packet was dropped (index into the drops map). */
enum xlvs_drop {
	XLVS_DROP_NO_REAL = 0,    /* no real available (all weight 0, overloaded, or none) */
	XLVS_DROP_NO_FLOW = 1,    /* non-SYN TCP to a VIP without a live flow */
	XLVS_DROP_FIB = 2,        /* route lookup says blackhole/unreachable/prohibit, or
				   * TTL expired on a packet the kernel may not be handed */
	XLVS_DROP_FRAGMENT = 3,   /* IP fragment addressed to a VIP (not reassembled) */
	XLVS_DROP_IPV6_EXT = 4,   /* IPv6 extension header chain we do not walk, to a VIP */
	XLVS_DROP_NO_PORT = 5,    /* fullnat: no free local port for this real */
	XLVS_DROP_ENCAP = 6,      /* could not reshape the frame (tun header, MACs) */
	XLVS_DROP_TOO_BIG = 7,    /* too big for the next hop and could not send the ICMP error */
	XLVS_DROP_BAD_ICMP = 8,   /* ICMP error to a VIP that matches no flow */
	XLVS_DROP_NO_LOCAL = 9,   /* tun/fullnat real without a local address configured */
	XLVS_DROP_NO_NEIGH = 10,  /* dr/tun/fullnat: next hop MAC not resolved yet (the
				   * kernel cannot be handed these packets) */
	XLVS_DROP_EVICTED = 11,   /* a packet of a flow whose real is evicted (XLVS_REAL_F_EVICT_*):
				   * the flow was deleted with it */
	XLVS_DROP_MARTIAN = 12,   /* a packet that would open a flow from a source the public side
				   * never sees legitimately: martian, one of ours, or routed back
				   * another way (srcval.h) */
	XLVS_DROP_FLOW_TAKEN = 13,/* a new flow's reply key belongs to another live connection
				   * (two VIPs to one real:port and a reused client port, or a
				   * forged SYN): the new flow is refused, the old one keeps it */
	XLVS_DROP_OUT_OF_WINDOW = 14, /* a TCP RST outside its sender's sequence window (tcpwin.h):
				       * forged or stale; the flow's state is unchanged */
	XLVS_DROP_REPLY_FRAGMENT = 15, /* a later fragment of a nat/fullnat real's reply whose flow
				   * entry has gone since its first fragment: it cannot be translated
				   * and would leave with the real's address */
	XLVS_DROP_NEED_FRAG = 16, /* IPv4 without DF over the next hop's MTU that the kernel cannot be
				   * handed to fragment (all but nat toward a real): XDP cannot fragment */
	XLVS_DROP_PROBE_FORGED = 17, /* a TCP answer or ICMP error with a probe in flight's addresses
				      * and ports but not its nonce (ack != seq + 1) or not from the
				      * MAC its SYN went to: forged, or the stale answer of an earlier
				      * use of the slot (probe.h) */
	XLVS_DROP_HA_STANDBY = 18, /* an ARP request / IPv6 neighbour solicitation for a floating
				    * address (ha_floating) while HA is enabled and this router's
				    * lease has run out: the active router answers for it (ha.h) */
	XLVS_DROP_MAX = 19,
};

/* What happened to every packet that was not dropped (index into the events
 * map). Every packet a program sees is counted once: in drops or here. */
enum xlvs_event {
	XLVS_EV_PASS = 0,         /* not ours: handed to the kernel untouched */
	XLVS_EV_FWD = 1,          /* translated and redirected/transmitted */
	XLVS_EV_FWD_KERNEL = 2,   /* translated (a packet or an ICMP error), handed to the kernel */
	XLVS_EV_ICMP_ECHO = 3,    /* echo request to a VIP answered */
	XLVS_EV_ICMP_XLATE = 4,   /* ICMP error about a flow translated and redirected */
	XLVS_EV_ICMP_TOO_BIG = 5, /* too big for the next hop: ICMP error sent back */
	XLVS_EV_EVICT_RST = 6,    /* a client's TCP segment of a flow whose real is evicted with
				   * XLVS_REAL_F_EVICT_RESET: answered with a RST (XDP_TX), flow deleted */
	XLVS_EV_PROBE = 7,        /* the answer to a health probe's SYN (probe.h): recorded; a
				   * SYN-ACK is answered with a RST (XDP_TX), a RST consumed */
	XLVS_EV_ICMP_TIME_EXCEEDED = 8, /* TTL / hop limit ran out at the router: ICMP time exceeded
				   * built from the untranslated packet and sent back (XDP_TX) */
	XLVS_EV_OTHERHOST = 9,    /* unicast to another host's MAC (a flooding switch or bridge,
				   * promiscuous mode): handed to the kernel untouched, which drops
				   * it (PACKET_OTHERHOST); never forwarded (l2.h) */
	XLVS_EV_MAX = 10,
};

/* Connection state of a flow entry; picks the timeout (xlvs_cfg, or flow.h's
 * fixed one for TCP_SYN). Values are kept stable: flows outlive the daemon. */
enum xlvs_flow_state {
	XLVS_FLOW_TCP_EST = 0,  /* the client ACKed after its SYN, no FIN/RST yet (active) */
	XLVS_FLOW_TCP_FIN = 1,  /* FIN seen in either direction (inactive) */
	XLVS_FLOW_TCP_CLOSE = 2,/* RST seen (inactive) */
	XLVS_FLOW_UDP = 3,      /* UDP (inactive, as IPVS counts it) */
	XLVS_FLOW_TCP_SYN = 4,  /* only the client's SYN seen: IPVS's SYN_RECV (inactive) */
};

/* Flags on xlvs_flow.tcp: what a TCP flow entry knows of its sender's
 * sequence space (tcpwin.h). Each entry tracks the packets it carries. */
enum xlvs_flow_tcp {
	XLVS_TCP_F_SEQ = 1,   /* seq_next is known: the sender's SYN (forward) or SYN-ACK
			       * (reply) was seen */
	XLVS_TCP_F_HS_ACK = 2,/* forward, half-open, dr/tun: the client's handshake ACK was
			       * seen (seq == its ISN + 1); ack holds that ACK's number */
	XLVS_TCP_F_FIN = 4,   /* the sender's FIN was honoured (inside its window) */
};

/* Which way a flow entry translates. */
enum xlvs_flow_dir {
	XLVS_DIR_FORWARD = 0, /* client -> VIP, toward the real */
	XLVS_DIR_REPLY = 1,   /* real -> client */
};

/* Flags on xlvs_flow.flags: which rewrites the entry applies. */
enum xlvs_flow_flags {
	XLVS_FLOW_F_SNAT = 1,    /* write nat_src:nat_sport as source */
	XLVS_FLOW_F_DNAT = 2,    /* write nat_dst:nat_dport as destination */
	XLVS_FLOW_F_PERSIST = 4, /* keep the service's persistence template alive */
};

/* Flags on xlvs_real.flags. The EVICT bits are set by health checks with
 * on_failure: remove (the real also gets weight 0, so it takes no new flows).
 * Weight 0 alone only quiesces: existing flows go on. An evict bit ends them
 * too, at their next packet, because the real behind them is taken to be
 * gone: IPVS's expire_nodest_conn. At most one of the two is set. */
enum xlvs_real_flags {
	XLVS_REAL_F_USED = 1,        /* slot is allocated to a service */
	XLVS_REAL_F_EVICT_DROP = 2,  /* the flow is deleted and its packet dropped; a packet
				      * that may open a flow (UDP, TCP SYN) is scheduled afresh */
	XLVS_REAL_F_EVICT_RESET = 4, /* as DROP, but a TCP client's segment is answered with a
				      * RST so the client learns at once (UDP: as DROP) */
};

/* Key of the vips map. Three kinds of entry:
 *  - a frontend: addr, port, proto (TCP/UDP) -> its service;
 *  - a port-all frontend: port 0;
 *  - the VIP address itself: port 0, proto 0 (answers ICMP echo, catches
 *    fragments and ICMP errors); one per VIP address. */
struct xlvs_vip_key {
	__be32 addr[4];
	__be16 port;
	__u8 proto;
	__u8 family; /* enum xlvs_family */
};

/* Value of the vips map. */
struct xlvs_vip {
	__u32 svc_id; /* frontends: index into svcs etc.; address entries: unused */
	__u32 flags;
};

/* A virtual service: how new flows are scheduled. */
struct xlvs_svc {
	__u32 sched;      /* enum xlvs_sched */
	__u32 flags;      /* enum xlvs_svc_flags */
	__u32 n_reals;    /* valid entries of this service in svc_reals */
	__u32 table_len;  /* valid slots in the service's table (svc_tables) */
	__u64 persist_ns; /* persistence timeout */
	__u32 hash_seed;  /* sh/dh/mh: same seed, same pick, on every router */
	__u8 persist_plen;/* persistence client prefix length */
	__u8 family;      /* enum xlvs_family */
	__u8 pad[2];
};

/* A real server. Its id is its index in the reals map. */
struct xlvs_real {
	__be32 addr[4];
	__be16 port;      /* 0: keep the client's destination port */
	__u8 method;      /* enum xlvs_method */
	__u8 flags;       /* enum xlvs_real_flags */
	__u8 family;      /* enum xlvs_family */
	__u8 pad[3];
	__u32 svc_id;
	__u32 weight;     /* 0 = quiescent: no new flows */
	__u32 u_threshold;/* 0 = none; no new flows at active+inactive >= this */
	__u32 l_threshold;/* overload ends below this (0: 3/4 of u_threshold) */
};

/* Connection counts of a real, kept by the data plane (atomic adds): a new
 * flow counts up, FIN/RST moves active to inactive, expiry counts down. */
struct xlvs_real_conns {
	__u32 active;
	__u32 inactive;
	__u32 overloaded; /* 1 while above the upper threshold (hysteresis) */
	__u32 seq;        /* bumped after every count change by a flow, for the reaper's recount
			   * (the control plane only reads it) */
};

/* Connection table key: the packet's own 5-tuple as seen on the wire. */
struct xlvs_flow_key {
	__be32 src[4];
	__be32 dst[4];
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 family;
	__u8 pad[2];
};

/* Connection table value. A connection has two entries: the forward one
 * (keyed by client -> VIP) and the reply one (keyed by what the real sends).
 * Either entry's partner is keyed by its own packet after rewriting, reversed. */
struct xlvs_flow {
	__u64 expires_ns;  /* xlvs_now() deadline (clock.h); past it the entry is dead */
	__be32 nat_src[4]; /* SNAT: new source (reply: VIP; fullnat forward: local addr) */
	__be32 nat_dst[4]; /* DNAT: new destination (forward: real); dr/tun: the real */
	__be16 nat_sport;
	__be16 nat_dport;
	__u32 state;       /* enum xlvs_flow_state; a word so it can be swapped atomically */
	__u32 real_id;
	__u32 svc_id;
	__u8 dir;          /* enum xlvs_flow_dir */
	__u8 flags;        /* enum xlvs_flow_flags */
	__u8 method;       /* enum xlvs_method of the real */
	__u8 tcp;          /* enum xlvs_flow_tcp */
	/* The next hop of this entry's packets, cached from bpf_fib_lookup (fwd.h
	 * fwd_lookup_flow): valid until nh_expires_ns, for packets of up to nh_len
	 * bytes (IP length plus encapsulation) the FIB passed. 0 ifindex: none. */
	__u32 nh_ifindex;
	__u64 nh_expires_ns;
	__u16 nh_len;
	__u8 nh_dmac[6];
	__u8 nh_smac[6];
	__u16 sync_s;      /* forward entry, HA sync (ha.h): xlvs_now() >> 30 (about seconds, 16
			    * bits) when its last sync record was written; reply entry: 0 */
	/* TCP: the sender of this entry's packets (tcpwin.h). seq_next is its
	 * next sequence number as far as seen (lags by at most XLVS_TCP_STEP
	 * bytes: written only on a larger step, a state change or a flag); ack
	 * its acknowledgment number last written. The forward entry's state
	 * word is the connection's; the reply entry's is a copy. */
	__u32 seq_next;
	__u32 ack;
};

/* Persistence template key: service and (masked) client address. */
struct xlvs_persist_key {
	__be32 client[4];
	__u32 svc_id;
	__u8 family;
	__u8 pad[3];
};

struct xlvs_persist {
	__u64 expires_ns;
	__u32 real_id;
	__u32 pad;
};

/* lblc/lblcr: destination address of a service -> its real(s). */
struct xlvs_dest_key {
	__be32 dst[4];
	__u32 svc_id;
	__u8 family;
	__u8 pad[3];
};

struct xlvs_dest {
	__u64 used_ns;     /* last new flow through this entry */
	__u64 modified_ns; /* lblcr: last change of the set */
	__u32 n;           /* valid entries of reals */
	__u32 reals[XLVS_LBLCR_SET];
	__u32 pad;
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
	__u64 timeout_tcp_ns;       /* established */
	__u64 timeout_tcp_fin_ns;   /* after FIN */
	__u64 timeout_tcp_close_ns; /* after RST */
	__u64 timeout_udp_ns;
	__u64 lblc_expire_ns;       /* lblc/lblcr entry unused this long is forgotten */
	__u64 lblcr_shrink_ns;      /* lblcr set unchanged this long drops its busiest */
	__be32 local4[4];           /* tun outer source / fullnat source, IPv4 (addr[0]) */
	__be32 local6[4];           /* the same for IPv6 */
	__u32 has_local;            /* bit 0: local4 set, bit 1: local6 set */
	__u32 pad;
};

#include "xlvs_abi_srcval.h"
#include "xlvs_abi_probe.h"
#include "xlvs_abi_ha.h"

/* Not a map value: keeps every enum above (and the ring records' structs) in BTF for the TS generator. */
_Static_assert(XLVS_DROP_MAX <= XLVS_DROP_SLOTS, "more drop reasons than the drops array holds");
_Static_assert(XLVS_EV_MAX <= XLVS_EV_SLOTS, "more event kinds than the events array holds");

struct xlvs_abi_enums {
	enum xlvs_limits limits;
	enum xlvs_family family;
	enum xlvs_sched sched;
	enum xlvs_sched_tries sched_tries;
	enum xlvs_svc_flags svc_flags;
	enum xlvs_method method;
	enum xlvs_drop drop;
	enum xlvs_event event;
	enum xlvs_flow_state flow_state;
	enum xlvs_flow_dir flow_dir;
	enum xlvs_flow_tcp flow_tcp;
	enum xlvs_flow_flags flow_flags;
	enum xlvs_real_flags real_flags;
	enum xlvs_probe_limits probe_limits;
	enum xlvs_probe_result probe_result;
	enum xlvs_probe_via probe_via;
	enum xlvs_nh_limits nh_limits;
	enum xlvs_srcval_mode srcval_mode;
	enum xlvs_srcval_action srcval_action;
	enum xlvs_ha_flags ha_flags;
	enum xlvs_ha_limits ha_limits;
	enum xlvs_ha_stat ha_stat;
	enum xlvs_sync_kind sync_kind;
	enum xlvs_if_role if_role;
	/* Structs no map declares as key or value (a ring's records): kept in BTF here too. */
	struct xlvs_sync_rec sync_rec;
};

#endif /* XLVS_ABI_H */
