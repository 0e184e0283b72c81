// SPDX-License-Identifier: Apache-2.0
// The scheduling ring of rr and wrr services: the exact sequence of reals
// IPVS would pick, computed here once per change and walked by XDP with one
// atomic cursor per service (bpf/sched.h).

import { gcd } from '../model/math.js';

/** IPVS's weighted round robin (ip_vs_wrr.c): the current weight steps down by
 * the gcd of weights; each step picks, in order, every real at least that heavy.
 * Returns indices into `weights`; one full cycle of sum(weights)/gcd picks. */
export function wrrSequence(weights: number[]): number[] {
  const live = weights.filter((w) => w > 0);
  if (live.length === 0) return [];
  const g = live.reduce(gcd);
  const max = Math.max(...live);
  const seq: number[] = [];
  for (let cw = max; cw > 0; cw -= g) {
    weights.forEach((w, i) => {
      if (w >= cw) seq.push(i);
    });
  }
  return seq;
}

/** Scales weights down so that one wrr cycle fits in `size` slots, keeping
 * every non-zero weight at least 1. Exact when the reduced cycle fits already. */
export function fitWeights(weights: number[], size: number): number[] {
  const live = weights.filter((w) => w > 0);
  if (live.length === 0) return weights.map(() => 0);
  const g = live.reduce(gcd);
  let w = weights.map((x) => x / g);
  const sum = (a: number[]) => a.reduce((s, x) => s + x, 0);
  if (sum(w) <= size) return w;
  if (live.length > size) throw new RangeError(`${live.length} reals with weight > 0 do not fit ${size} slots`);
  let budget = size;
  for (;;) {
    const total = sum(w);
    const scaled = w.map((x) => (x > 0 ? Math.max(1, Math.floor((x * budget) / total)) : 0));
    if (sum(scaled) <= size) return scaled;
    budget -= sum(scaled) - size;
  }
}

/** The ring for a service: indices into `weights` (reals in config order). */
export function buildRing(sched: 'rr' | 'wrr', weights: number[], size: number): number[] {
  switch (sched) {
    case 'rr':
      return weights.flatMap((w, i) => (w > 0 ? [i] : []));
    case 'wrr':
      return wrrSequence(fitWeights(weights, size));
    default:
      throw new RangeError(`scheduler ${sched} has no ring`);
  }
}
