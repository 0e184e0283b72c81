// SPDX-License-Identifier: Apache-2.0
// mulberry32: a small seeded PRNG (property tests, so a failure reproduces from its seed; the
// health-check scheduler's per-target jitter, so restarts keep the spread).
// (The frame fuzzer has its own, faster generator: testing/fuzz.ts Prng.)

/** Returns a function giving floats in [0, 1), fully determined by `seed`. */
export function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
