// SPDX-License-Identifier: Apache-2.0
// The scheduling ring (src/sched/ring.ts): IPVS wrr order, gcd reduction,
// weight fitting into the fixed ring size, and a seeded property check against
// an independent model of the kernel's stateful wrr scheduler.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildRing, fitWeights, wrrSequence } from '../../src/sched/ring.js';
import { XLVS_RING_SIZE } from '../../src/gen/abi.js';

const RING = 256;

/** A small deterministic PRNG (mulberry32) so that a failure reproduces. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gcdOf(ws: number[]): number {
  const g2 = (a: number, b: number): number => (b === 0 ? a : g2(b, a % b));
  return ws.filter((w) => w > 0).reduce(g2, 0);
}

function counts(ring: number[], n: number): number[] {
  const c = new Array<number>(n).fill(0);
  for (const i of ring) c[i]!++;
  return c;
}

const sum = (a: number[]): number => a.reduce((s, x) => s + x, 0);

/**
 * A model of ip_vs_wrr_schedule() as a state machine, one pick per call: the
 * mark holds the last picked real (-1 = list head) and the current weight;
 * walking off the end of the list lowers the current weight by the gcd and,
 * at or below zero, resets it to the max. Starts at the max, as in init_svc.
 */
function ipvsWrr(weights: number[]): () => number {
  const g = gcdOf(weights);
  const max = Math.max(...weights);
  let cl = -1;
  let cw = max;
  return () => {
    for (;;) {
      for (let i = cl + 1; i < weights.length; i++) {
        if (weights[i]! >= cw) {
          cl = i;
          return i;
        }
      }
      cl = -1;
      cw -= g;
      if (cw <= 0) cw = max;
    }
  };
}

test('wrr 3:1:1 is the IPVS order [0,0,0,1,2]', () => {
  assert.deepEqual(wrrSequence([3, 1, 1]), [0, 0, 0, 1, 2]);
  assert.deepEqual(buildRing('wrr', [3, 1, 1], RING), [0, 0, 0, 1, 2]);
});

test('wrr 4:3:2 steps the current weight 4,3,2,1 and picks every real at least that heavy', () => {
  // cw=4: [0]; cw=3: [0,1]; cw=2: [0,1,2]; cw=1: [0,1,2]
  assert.deepEqual(wrrSequence([4, 3, 2]), [0, 0, 1, 0, 1, 2, 0, 1, 2]);
});

test('wrr order does not depend on which real is heaviest being first', () => {
  // cw=3: [2]; cw=2: [1,2]; cw=1: [0,1,2]
  assert.deepEqual(wrrSequence([1, 2, 3]), [2, 1, 2, 0, 1, 2]);
});

test('wrr reduces by the gcd of the weights', () => {
  assert.deepEqual(wrrSequence([2, 2, 2]), [0, 1, 2]);
  assert.deepEqual(wrrSequence([100, 100, 100]), [0, 1, 2]);
  // 6:4:2 reduces to 3:2:1 — cw=3: [0]; cw=2: [0,1]; cw=1: [0,1,2]
  assert.deepEqual(wrrSequence([6, 4, 2]), [0, 0, 1, 0, 1, 2]);
  assert.deepEqual(wrrSequence([6, 4, 2]), wrrSequence([3, 2, 1]));
});

test('wrr skips zero weights, keeping the indices of the others', () => {
  assert.deepEqual(wrrSequence([0, 2, 0, 1]), [1, 1, 3]);
  assert.deepEqual(wrrSequence([3, 0, 1, 1]), [0, 0, 0, 2, 3]);
  // a zero weight does not take part in the gcd either: 4:0:2 is 2:0:1
  assert.deepEqual(wrrSequence([4, 0, 2]), [0, 0, 2]);
});

test('all-zero and empty weights give an empty sequence and ring', () => {
  assert.deepEqual(wrrSequence([0, 0, 0]), []);
  assert.deepEqual(wrrSequence([]), []);
  assert.deepEqual(buildRing('wrr', [0, 0], RING), []);
  assert.deepEqual(buildRing('rr', [0, 0], RING), []);
  assert.deepEqual(buildRing('rr', [], RING), []);
  assert.deepEqual(fitWeights([0, 0, 0], RING), [0, 0, 0]);
});

test('rr ignores weights except that 0 leaves a real out', () => {
  assert.deepEqual(buildRing('rr', [3, 1, 1], RING), [0, 1, 2]);
  assert.deepEqual(buildRing('rr', [1000, 0, 7, 65535], RING), [0, 2, 3]);
  assert.deepEqual(buildRing('rr', [0, 5], RING), [1]);
});

test('the ring size the data plane uses is the 256 these tests assume', () => {
  assert.equal(XLVS_RING_SIZE, RING);
});

test('fitWeights is exact (divided by the gcd) when the cycle fits', () => {
  assert.deepEqual(fitWeights([3, 1, 1], RING), [3, 1, 1]);
  assert.deepEqual(fitWeights([200, 0, 100], RING), [2, 0, 1]);
  assert.deepEqual(fitWeights([128, 128], RING), [1, 1]);
  assert.deepEqual(fitWeights([255, 1], RING), [255, 1]);
  assert.deepEqual(fitWeights([256], RING), [1]);
});

test('fitWeights [1000, 1, 500] into 256 keeps the ratio, keeps the 1, and fits', () => {
  const w = fitWeights([1000, 1, 500], RING);
  assert.equal(w.length, 3);
  assert.ok(sum(w) <= RING, `sum ${sum(w)} > ${RING}`);
  assert.ok(w.every((x) => Number.isInteger(x)), `non-integer weights ${w}`);
  assert.ok(w[1]! >= 1, 'a non-zero weight was dropped to 0');
  const ratio = w[0]! / w[2]!;
  assert.ok(Math.abs(ratio / 2 - 1) <= 0.02, `1000:500 became ${w[0]}:${w[2]}`);
  // each heavy real's share of the ring stays within 2% of its share of the weight
  const total = sum(w);
  for (const i of [0, 2]) {
    const want = [1000, 1, 500][i]! / 1501;
    const got = w[i]! / total;
    assert.ok(Math.abs(got / want - 1) <= 0.02, `real ${i}: share ${got} vs ${want}`);
  }
  const ring = buildRing('wrr', [1000, 1, 500], RING);
  assert.deepEqual(counts(ring, 3), w);
});

test('fitWeights never drops a non-zero weight to 0 even next to huge ones', () => {
  const weights = [65535, ...new Array<number>(200).fill(1), 0, 65535];
  const w = fitWeights(weights, RING);
  assert.ok(sum(w) <= RING, `sum ${sum(w)}`);
  weights.forEach((x, i) => {
    if (x > 0) assert.ok(w[i]! >= 1, `weight ${i} (${x}) became ${w[i]}`);
    else assert.equal(w[i], 0, `zero weight ${i} became ${w[i]}`);
  });
  assert.equal(w[0], w[202], 'equal weights scale equally');
});

test('fitWeights with more live reals than slots throws RangeError', () => {
  assert.throws(() => fitWeights(new Array<number>(RING + 1).fill(2).map((x, i) => x + (i % 3)), RING), RangeError);
  // exactly as many live reals as slots fits, one slot each
  const w = fitWeights(new Array<number>(RING).fill(0).map((_, i) => 1 + (i % 7) * 1000), RING);
  assert.deepEqual(w, new Array<number>(RING).fill(1));
});

test('property: wrr rings for random weights match the IPVS model and the weights', () => {
  const rnd = prng(0x5eed1);
  let exact = 0;
  let scaled = 0;
  for (let c = 0; c < 500; c++) {
    const n = 1 + Math.floor(rnd() * 8);
    // a fifth of the weights are 0, the rest 1..100
    const weights = Array.from({ length: n }, () => (rnd() < 0.2 ? 0 : 1 + Math.floor(rnd() * 100)));
    const ring = buildRing('wrr', weights, RING);
    const label = `case ${c}: weights ${JSON.stringify(weights)}`;
    const live = weights.filter((w) => w > 0);
    if (live.length === 0) {
      assert.deepEqual(ring, [], label);
      continue;
    }
    assert.ok(ring.length > 0 && ring.length <= RING, `${label}: ring length ${ring.length}`);
    const got = counts(ring, n);
    weights.forEach((w, i) => {
      if (w > 0) assert.ok(got[i]! >= 1, `${label}: real ${i} missing from the ring`);
      else assert.equal(got[i], 0, `${label}: quiescent real ${i} in the ring`);
    });
    const g = gcdOf(weights);
    if (sum(weights) / g <= RING) {
      exact++;
      assert.deepEqual(got, weights.map((w) => w / g), `${label}: counts not weights/gcd`);
      assert.equal(ring.length, sum(weights) / g, label);
    } else {
      scaled++;
      // the ring is one cycle of the fitted weights, which wrr reduces by their own gcd again
      const fitted = fitWeights(weights, RING);
      const fg = gcdOf(fitted);
      assert.deepEqual(got, fitted.map((w) => w / fg), `${label}: counts differ from the fitted weights`);
    }
    // the ring is one cycle of the kernel's scheduler run on the fitted weights
    const pick = ipvsWrr(got);
    const twoCycles = Array.from({ length: 2 * ring.length }, pick);
    assert.deepEqual(twoCycles, [...ring, ...ring], `${label}: order differs from ip_vs_wrr`);
  }
  // the generator must exercise both branches for this test to mean anything
  assert.ok(exact > 50 && scaled > 50, `exact ${exact}, scaled ${scaled}`);
});
