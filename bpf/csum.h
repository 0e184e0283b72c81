/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * Internet checksums: folding, incremental update (RFC 1624, eqn. 3:
 * HC' = ~(~HC + ~m + m')), and the IPv4 header's own. The one's complement
 * sum does not depend on byte order as long as old and new values are taken
 * the same way, so raw network-order fields are used.
 */
#ifndef XLVS_CSUM_H
#define XLVS_CSUM_H

#include <linux/types.h>
#include <linux/ip.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

static __always_inline __u16 csum_fold32(__u32 s)
{
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)s;
}

/* For sums of 32-bit words, such as bpf_csum_diff() results added up. */
static __always_inline __u16 csum_fold64(__u64 s)
{
	s = (s & 0xffffffff) + (s >> 32);
	s = (s & 0xffffffff) + (s >> 32);
	return csum_fold32((__u32)s);
}

static __always_inline __u16 csum_replace32(__u16 check, __u32 from, __u32 to)
{
	__u32 s = (__u16)~check;

	s += (~from & 0xffff) + (~from >> 16);
	s += (to & 0xffff) + (to >> 16);
	return (__u16)~csum_fold32(s);
}

static __always_inline __u16 csum_replace16(__u16 check, __u16 from, __u16 to)
{
	__u32 s = (__u16)~check;

	s += (__u16)~from;
	s += to;
	return (__u16)~csum_fold32(s);
}

/* Header checksum of a 20-byte IPv4 header whose check field is zero. An
 * unrolled sum: cheaper for the verifier than a helper call with a size. */
static __always_inline __u16 csum_ip4_hdr(const struct iphdr *ip)
{
	const __u16 *w = (const __u16 *)ip;
	__u32 s = 0;
	int i;

#pragma unroll
	for (i = 0; i < (int)(sizeof(*ip) / 2); i++)
		s += w[i];
	return (__u16)~csum_fold32(s);
}

/* Sets the IPv4 TTL, updating the header checksum from the byte values.
 * TTL shares a 16-bit word with the protocol field; the protocol stays, so
 * the TTL bytes alone give the same difference. (Not by reading the word
 * through a __u16 cast of &ttl around the store: clang took that read for
 * the one before the store, the checksum never changed and every forwarded
 * IPv4 packet left with a bad header checksum.) */
static __always_inline void csum_ip4_set_ttl(struct iphdr *ip, __u8 ttl)
{
	ip->check = csum_replace16(ip->check, bpf_htons((__u16)ip->ttl << 8), bpf_htons((__u16)ttl << 8));
	ip->ttl = ttl;
}

/* Adds len bytes at pos (a packet pointer) to sum, unfolded: 64-byte
 * chunks through bpf_csum_diff (at most max_chunks of them), then 16-bit
 * words, then an odd last byte as the high byte of a zero-padded word. Each
 * step is checked against end (data_end) for the verifier; -1 if the bytes
 * are not all in the frame or longer than max_chunks * 64 + 62. */
/* Hides a packet pointer's value from clang, which otherwise folds
 * `pos + n > end` into arithmetic on end, and the verifier refuses that. */
#define csum_opaque(v) asm volatile("" : "+r"(v))

static __always_inline int csum_pkt_bytes(void *pos, __u32 len, void *end, const __u32 max_chunks, __u64 *sum)
{
	__u16 last = 0;
	__u32 i;

	for (i = 0; i < max_chunks; i++) {
		if (len < 64)
			break;
		csum_opaque(pos);
		if (pos + 64 > end)
			return -1;
		*sum += (__u32)bpf_csum_diff(0, 0, pos, 64, 0);
		pos += 64;
		len -= 64;
	}
	for (i = 0; i < 32; i++) {
		if (len < 2)
			break;
		csum_opaque(pos);
		if (pos + 2 > end)
			return -1;
		*sum += *(__u16 *)pos;
		pos += 2;
		len -= 2;
	}
	if (len >= 2)
		return -1;
	if (len) {
		csum_opaque(pos);
		if (pos + 1 > end)
			return -1;
		*(__u8 *)&last = *(__u8 *)pos;
		*sum += last;
	}
	return 0;
}

#endif /* XLVS_CSUM_H */
