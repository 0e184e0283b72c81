/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * ABI of xlvs_decap, the tunnel decapsulation program a real server runs in
 * "tun" mode: everything its maps hold, shared with the TypeScript side
 * (src/gen/decap-abi.ts is generated from the BTF of build/xlvs_decap.bpf.o by
 * scripts/gen-abi.mjs; same conventions as xlvs_abi.h: __be32 members are
 * network byte order, pad* members are written as zero).
 */
#ifndef XLVS_DECAP_ABI_H
#define XLVS_DECAP_ABI_H

#include <linux/types.h>

enum xlvs_decap_limits {
	XLVS_DECAP_ALLOW_MAX = 1024, /* entries of the outer-source allow-list */
	XLVS_DECAP_LOCAL_MAX = 256,  /* addresses of the host: accepted outer destinations */
	XLVS_DECAP_VIP_MAX = 1024,   /* VIPs: accepted inner destinations */
};

/* Index into the per-CPU decap_stats map: what happened to each packet. A
 * tunnel packet is decapsulated only when its outer destination is an address
 * of this host (decap_local), its outer source is on the allow-list
 * (decap_allow; empty: nothing is) and its inner destination is a VIP
 * (decap_vips); it is checked in that order and counted at the first "no".
 * New reasons are appended: the indices are what bpftool shows. */
enum xlvs_decap_stat {
	XLVS_DECAP_STAT_DECAP_V4 = 0,    /* outer IPv4 header stripped (inner IPv4 or IPv6) */
	XLVS_DECAP_STAT_DECAP_V6 = 1,    /* outer IPv6 header stripped (inner IPv4 or IPv6) */
	XLVS_DECAP_STAT_PASS = 2,        /* not a tunnel packet: handed to the kernel untouched */
	XLVS_DECAP_STAT_NOT_ALLOWED = 3, /* tunnel packet from a source not on the allow-list: dropped */
	XLVS_DECAP_STAT_BAD_INNER = 4,   /* inner header truncated or of the wrong IP version: dropped */
	XLVS_DECAP_STAT_FRAGMENT = 5,    /* outer header is a fragment: handed to the kernel untouched */
	XLVS_DECAP_STAT_NOT_LOCAL = 6,   /* tunnel packet to an address not of this host: not ours, handed to the kernel untouched */
	XLVS_DECAP_STAT_NOT_VIP = 7,     /* inner destination is not a configured VIP: dropped */
	XLVS_DECAP_STAT_MAX = 8,
};

/* Key of the address sets (decap_allow, decap_local, decap_vips): IPv4 as
 * IPv4-mapped IPv6 (::ffff:a.b.c.d), so one map holds both families. */
struct xlvs_decap_addr {
	__be32 w0;
	__be32 w1;
	__be32 w2;
	__be32 w3;
};

/* Not a map value: keeps the enums above in BTF for the generator. Its name
 * has no xlvs_ prefix so that the generator does not export it as a struct. */
struct decap_abi_enums {
	enum xlvs_decap_limits limits;
	enum xlvs_decap_stat stat;
};

#endif /* XLVS_DECAP_ABI_H */
