/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * The packet hash of the sh, dh and mh schedulers. src/sched/hash.ts computes
 * the same function bit for bit: the control plane predicts picks with it and
 * builds the maglev permutations with it, and two routers with the same
 * config (same seed) pick the same real for the same flow.
 *
 * Murmur3's 32-bit block round over words, then its finaliser. The words are
 * the address as the numbers it spells (network order read big-endian), so
 * the result does not depend on the CPU's byte order:
 *   addr[0..3], family << 16 | port, round; length 24 bytes.
 * `round` is 0 for the first choice and 1, 2, ... for fallback rehashes.
 */
#ifndef XLVS_HASH_H
#define XLVS_HASH_H

#include <linux/types.h>
#include <bpf/bpf_endian.h>

static __always_inline __u32 hash_rotl(__u32 x, __u32 r)
{
	return (x << r) | (x >> (32 - r));
}

static __always_inline __u32 hash_round(__u32 h, __u32 k)
{
	k *= 0xcc9e2d51u;
	k = hash_rotl(k, 15);
	k *= 0x1b873593u;
	h ^= k;
	h = hash_rotl(h, 13);
	return h * 5 + 0xe6546b64u;
}

static __always_inline __u32 hash_fmix(__u32 h)
{
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

/* Hash of an address (ABI form: IPv4 in addr[0]), its family, a port (0 when
 * the scheduler ignores ports) and the fallback round, keyed by seed. */
static __always_inline __u32 xlvs_hash_addr(const __be32 *addr, __u8 family, __be16 port, __u32 seed, __u32 round)
{
	__u32 h = seed;

	h = hash_round(h, bpf_ntohl(addr[0]));
	h = hash_round(h, bpf_ntohl(addr[1]));
	h = hash_round(h, bpf_ntohl(addr[2]));
	h = hash_round(h, bpf_ntohl(addr[3]));
	h = hash_round(h, ((__u32)family << 16) | bpf_ntohs(port));
	h = hash_round(h, round);
	return hash_fmix(h ^ 24);
}

#endif /* XLVS_HASH_H */
