// SPDX-License-Identifier: Apache-2.0
// The bucket tables of sh and dh, laid out as IPVS lays them out (ip_vs_sh.c, ip_vs_dh.c):
// 256 buckets filled in config order, cycling through the reals. The data plane picks
// bucket hash % 256 (bpf/sched.h).

/** IPVS's IP_VS_SH_TAB_SIZE and IP_VS_DH_TAB_SIZE (1 << 8). */
export const HASH_BUCKETS = 256;

/**
 * sh: each real takes `weight` consecutive buckets before the next one does, cycling until the
 * 256 are filled (ip_vs_sh_reassign). As in IPVS, a real of weight 0 still takes one bucket (its
 * flows find it unavailable: no real, or another one with fallback), and when the weights add up
 * to more than 256 the reals late in the list get fewer buckets than their weight, or none.
 */
export function shBuckets(weights: number[]): number[] {
  if (weights.length === 0) return [];
  const out: number[] = [];
  let p = 0;
  let taken = 0;
  while (out.length < HASH_BUCKETS) {
    out.push(p);
    taken++;
    if (taken >= weights[p]!) {
      p = (p + 1) % weights.length;
      taken = 0;
    }
  }
  return out;
}

/** dh: one bucket per real in turn, weights ignored (ip_vs_dh_reassign). */
export function dhBuckets(n: number): number[] {
  if (n === 0) return [];
  return Array.from({ length: HASH_BUCKETS }, (_, i) => i % n);
}
