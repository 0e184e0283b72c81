// SPDX-License-Identifier: Apache-2.0
// The mh (maglev) lookup table with IPVS's semantics (ip_vs_mh.c): every real walks its own
// permutation of the M slots (an offset and a skip from a hash of its identity and the cluster's
// seed) and, round after round, claims the next free slot of it, taking `turns` slots in a row
// per round: the gcd-reduced weight, shifted down so that the heaviest real takes at most about
// sqrt(M) turns a round. Removing one of N reals moves about 1/N of the flows; the data plane
// picks table[hash % M] (bpf/sched.h).

import { InvalidArgumentError } from '../errors.js';
import { gcd, isPrime } from '../model/math.js';
import { hashString } from './hash.js';

/** Tweaks of the identity hash: one for the offset, one for the skip (IPVS keys two siphashes). */
const TWEAK_OFFSET = 0x6d680001;
const TWEAK_SKIP = 0x6d680002;

export interface MaglevReal {
  /** Stable identity (the real's "address:port"): the same identity, the same permutation. */
  id: string;
  weight: number;
  /**
   * The weight before the real was quiesced (IPVS's last_weight): a real set to weight 0 keeps
   * its slots, so quiescing one real does not reshuffle the others' flows; its flows find it
   * unavailable (no real, or the next one with fallback). Absent: weight 0 takes no slots.
   */
  lastWeight?: number;
}

/** fls(): position of the highest set bit, 1-based; 0 for 0. */
function fls(x: number): number {
  return x === 0 ? 0 : 32 - Math.clz32(x);
}

/** The weight a real lays out its slots with. */
function layoutWeight(r: MaglevReal): number {
  return r.weight > 0 ? r.weight : (r.lastWeight ?? 0);
}

/**
 * Turns per round for each real: weight / gcd, shifted right by as many bits as the heaviest
 * real's reduced weight has beyond half of M's bits (IPVS ip_vs_mh_shift_weight); never below 1
 * for a non-zero weight.
 */
export function maglevTurns(weights: number[], size: number): number[] {
  const live = weights.filter((w) => w > 0);
  if (live.length === 0) return weights.map(() => 0);
  const g = live.reduce(gcd);
  const shift = Math.max(0, fls(Math.max(...live) / g) - Math.floor(Math.log2(size) / 2));
  return weights.map((w) => (w > 0 ? Math.max(1, Math.floor(w / g) >>> shift) : 0));
}

/** The lookup table: `size` slots (a prime), each an index into `reals`; [] when no real has a weight. */
export function maglevTable(reals: MaglevReal[], size: number, seed: number): number[] {
  if (!isPrime(size)) throw new InvalidArgumentError('mh_table_size', size, 'must be a prime');
  const turns = maglevTurns(reals.map(layoutWeight), size);
  const takers = turns.filter((t) => t > 0).length;
  if (takers === 0) return [];
  if (takers > size) throw new InvalidArgumentError('mh_table_size', size, `must exceed the number of reals (${takers})`);
  const perm = reals.map((r) => hashString(r.id, seed, TWEAK_OFFSET) % size);
  const skip = reals.map((r) => (hashString(r.id, seed, TWEAK_SKIP) % (size - 1)) + 1);
  const table = new Int32Array(size).fill(-1);
  let filled = 0;
  for (;;) {
    // One round: each real in config order takes its turns, one free slot of its permutation each.
    for (let i = 0; i < reals.length; i++) {
      for (let t = 0; t < turns[i]!; t++) {
        let c = perm[i]!;
        while (table[c] !== -1) {
          c += skip[i]!;
          if (c >= size) c -= size;
        }
        perm[i] = c;
        table[c] = i;
        if (++filled === size) return Array.from(table);
      }
    }
  }
}
