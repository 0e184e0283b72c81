/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * xlvs ABI, the data plane's health probes (probe.h) and the next hops it asks the daemon to resolve: part of bpf/xlvs_abi.h, which includes it (never
 * include it on its own: it uses the core ABI's types). Same conventions.
 */
#ifndef XLVS_ABI_PROBE_H
#define XLVS_ABI_PROBE_H

/* Health probes the data plane sends (probe.h): a tcp check without
 * send/expect is one SYN, built and sent by xlvs_private in batches (the
 * daemon runs it with BPF_PROG_TEST_RUN live frames "received" on the
 * loopback device) and answered in xlvs_private, which records the SYN-ACK
 * or RST and resets the half-open connection. The daemon reads the outcome
 * from the mmapped probes map. */
enum xlvs_probe_limits {
	XLVS_MAX_PROBES = 65536,     /* probe slots: slot = bucket * XLVS_PROBE_PORTS + port index */
	XLVS_PROBE_BATCH = 1024,     /* slots of one batch the daemon builds and sends */
	XLVS_PROBE_PORT_MIN = 61440, /* source ports of probes: 61440..65535, above the kernel's
				      * default ephemeral range; full-NAT never picks them */
	XLVS_PROBE_PORTS = 4096,
	XLVS_PROBE_PORT_SLOTS = 16,  /* slots per source port (XLVS_MAX_PROBES / XLVS_PROBE_PORTS):
				      * an answer's destination port names these, its ack the one */
	XLVS_PROBE_FRAME4 = 58,      /* a probe's frame: Ethernet, IPv4, TCP with the MSS option */
	XLVS_PROBE_FRAME6 = 78,      /* the same with IPv6 */
	XLVS_PROBE_TX_IFINDEX = 1,   /* a building run's frame arrives on this device: loopback */
};

/* Outcome of one probe slot (xlvs_probe.result). */
enum xlvs_probe_result {
	XLVS_PROBE_IDLE = 0,     /* written by the daemon: not sent yet */
	XLVS_PROBE_SENT = 1,     /* the SYN is built and goes out; no answer yet */
	XLVS_PROBE_OPEN = 2,     /* SYN-ACK: the port accepts connections */
	XLVS_PROBE_REFUSED = 3,  /* RST: nothing listens */
	XLVS_PROBE_NO_NEIGH = 4, /* not sent: the next hop's MAC is not resolved yet */
	XLVS_PROBE_NO_ROUTE = 5, /* not sent: no route, or the route leaves by another interface
				  * than the one the program ran on (its answer would miss xlvs_private) */
	XLVS_PROBE_BAD = 6,      /* not sent: the slot or frame did not make sense (a daemon bug) */
	XLVS_PROBE_NO_LOCAL = 7, /* not sent: via tun, but no local address of the family (cfg) */
	XLVS_PROBE_UNREACHABLE = 8, /* an ICMP error quoting the SYN (icmp_type, icmp_code) */
};

/* Where a probe's SYN goes (xlvs_probe.via). */
enum xlvs_probe_via {
	XLVS_PROBE_DIRECT = 0, /* to daddr */
	XLVS_PROBE_VIA_DR = 1, /* to daddr (the VIP) at the MAC of nexthop (a dr real holding it) */
	XLVS_PROBE_VIA_TUN = 2,/* to daddr (the VIP) inside IPIP / IPv6-in-IPv6 from the local
				* address to nexthop (a tun real): what clients' packets get */
};

/* One probe slot (probes map, mmapped by the daemon). The daemon writes the
 * target, sport and seq and sets result IDLE; building the SYN writes saddr,
 * peer_mac and result (SENT before the frame leaves: an answer can come back
 * before the send call returns); the daemon writes sent_ns as it sends the
 * frame; the answer writes answered_ns, then result.
 *
 * What an answer must show to be taken (a host on the private LAN must not be
 * able to forge one): the slot's addresses and ports, ack = seq + 1 where seq
 * is a random nonce the daemon draws for each use (crypto.randomFillSync), a
 * destination port that is the slot's (the daemon takes a random free slot,
 * and the slot fixes the port: XLVS_PROBE_PORT_MIN + slot % XLVS_PROBE_PORTS),
 * and the source MAC the SYN was sent to (the real's, or the gateway's of a
 * routed real). */
struct xlvs_probe {
	__be32 daddr[4];    /* the check address */
	__be32 saddr[4];    /* the source address the FIB chose for it */
	__be32 nexthop[4];  /* via dr/tun: the real the VIP is checked on */
	__u64 sent_ns;      /* CLOCK_MONOTONIC (bpf_ktime_get_ns()) when sent */
	__u64 answered_ns;  /* bpf_ktime_get_ns() when the answer came */
	__be16 dport;       /* the check port */
	__be16 sport;       /* XLVS_PROBE_PORT_MIN + slot % XLVS_PROBE_PORTS */
	__u32 seq;          /* the SYN's sequence number (host order): a random nonce per use */
	__u32 result;       /* enum xlvs_probe_result */
	__u8 family;        /* enum xlvs_family */
	__u8 via;           /* enum xlvs_probe_via */
	__u8 icmp_type;     /* XLVS_PROBE_UNREACHABLE: the error's type and code */
	__u8 icmp_code;
	__u8 peer_mac[6];   /* the destination MAC of the SYN (the FIB's next hop): answers must
			     * come from it */
	__u8 pad[2];
};

/* The single entry of probe_batch: which slots the next runs of xlvs_private
 * build, one per run; all of one family (the frame's size). */
struct xlvs_probe_batch {
	__u32 next;    /* slots taken so far; the daemon sets it to 0 */
	__u32 count;   /* valid entries of slots */
	__u32 ifindex; /* the private interface: probes leave by it, answers come in on it */
	__u32 pad;
	__u32 slots[XLVS_PROBE_BATCH];
};

/* A next hop bpf_fib_lookup found no resolved neighbour for (NO_NEIGH): the
 * key of nh_asked and the record of the nh_misses ring. XDP traffic neither
 * uses nor confirms neighbour entries, so the kernel never resolves such a
 * next hop by itself (one its GC removed, or one in FAILED); the daemon asks
 * it to (nexthop-misses.ts), at most once per XLVS_NH_ASK_MS per next hop. */
struct xlvs_nh {
	__u32 ifindex;  /* the device the FIB chose */
	__u32 family;   /* enum xlvs_family */
	__be32 addr[4]; /* the next hop (gateway, or the destination on link) */
};

enum xlvs_nh_limits {
	XLVS_NH_ASK_MS = 1000,        /* one record per next hop per this */
	XLVS_MAX_NH_ASKED = 4096,     /* next hops remembered for that */
	XLVS_NH_RING_BYTES = 65536,   /* nh_misses ring size */
};

#endif /* XLVS_ABI_PROBE_H */
