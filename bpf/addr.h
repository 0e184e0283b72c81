/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * Addresses as the ABI stores them: __be32 a[4], IPv4 in a[0] with a[1..3]
 * zero, so one key layout serves both families.
 */
#ifndef XLVS_ADDR_H
#define XLVS_ADDR_H

#include <linux/types.h>
#include <bpf/bpf_endian.h>

static __always_inline void addr_copy(__be32 *dst, const __be32 *src)
{
	dst[0] = src[0];
	dst[1] = src[1];
	dst[2] = src[2];
	dst[3] = src[3];
}

static __always_inline void addr_set4(__be32 *dst, __be32 v4)
{
	dst[0] = v4;
	dst[1] = 0;
	dst[2] = 0;
	dst[3] = 0;
}

static __always_inline int addr_eq(const __be32 *a, const __be32 *b)
{
	return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3];
}

/* Keeps the first plen bits of a (network order), zeroes the rest. For IPv4
 * plen counts within a[0]. */
static __always_inline void addr_mask(__be32 *a, __u32 plen, __u8 family)
{
	int i;

	if (family == 4 && plen > 32)
		plen = 32;
	if (plen > 128)
		plen = 128;
#pragma unroll
	for (i = 0; i < 4; i++) {
		__u32 bits = plen > 32 ? 32 : plen;

		if (bits == 0)
			a[i] = 0;
		else if (bits < 32)
			a[i] &= bpf_htonl(~((1u << (32 - bits)) - 1));
		plen -= bits;
	}
}

#endif /* XLVS_ADDR_H */
