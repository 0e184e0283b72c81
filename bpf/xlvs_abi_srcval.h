/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * xlvs ABI, source validation (srcval.h): part of bpf/xlvs_abi.h, which includes it (never
 * include it on its own: it uses the core ABI's types). Same conventions.
 */
#ifndef XLVS_ABI_SRCVAL_H
#define XLVS_ABI_SRCVAL_H

/* Source validation of the packets that would open a flow on the public side
 * (srcval.h): how the route back to the source is judged (srcval map). The
 * fixed martians and our own addresses are refused in every mode but OFF. */
enum xlvs_srcval_mode {
	XLVS_SRCVAL_OFF = 0,    /* nothing is checked (also: a srcval entry never written) */
	XLVS_SRCVAL_STRICT = 1, /* the route back must leave by the interface the packet came
				 * in on (rp_filter=1) */
	XLVS_SRCVAL_LOOSE = 2,  /* the route back must exist and not leave by the private
				 * interface (rp_filter=2, plus the private side) */
};

/* What a srcval_prefixes entry does with the sources it covers; the longest
 * matching prefix decides, before any other check. */
enum xlvs_srcval_action {
	XLVS_SRCVAL_ALLOW = 1, /* let through, whatever the other checks would say */
	XLVS_SRCVAL_DENY = 2,  /* dropped as martian */
};

/* The single entry of the srcval map. */
struct xlvs_srcval {
	__u32 mode;            /* enum xlvs_srcval_mode */
	__u32 private_ifindex; /* LOOSE: a route back by this interface is refused; 0: none */
};

/* Key of srcval_prefixes (an LPM trie over family and address): prefixlen
 * counts the 32 bits of family, then the address's: 32 + the prefix length. */
struct xlvs_srcval_key {
	__u32 prefixlen;
	__u32 family;    /* enum xlvs_family */
	__be32 addr[4];
};

struct xlvs_srcval_prefix {
	__u32 action;    /* enum xlvs_srcval_action */
};

#endif /* XLVS_ABI_SRCVAL_H */
