// SPDX-License-Identifier: Apache-2.0
// The scheduling ring (src/sched/ring.ts): IPVS wrr order, gcd reduction,
// weight fitting into a bounded ring (MAX_RING slots of a service's inner table,
// src/sched/table.ts), and seeded property checks against an independent model
// of the kernel's stateful wrr scheduler.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildRing, fitWeights, wrrSequence } from '../../src/sched/ring.js';
import { buildTable, MAX_RING } from '../../src/sched/table.js';
import { XLVS_MAX_SVC_REALS, XLVS_MAX_TABLE } from '../../src/gen/abi.js';
import { mulberry32 } from '../../src/model/prng.js';

/** fitWeights and buildRing take the size as a parameter: a small one makes rounding bite
 * with small weights, so the scaling branch is exercised cheaply. The data plane uses MAX_RING. */
const SMALL = 256;
/** Weights the config accepts (src/config/schema.ts, src/model/types.ts). */
const MAX_WEIGHT = 65535;
const TABLE_OPTS = { seed: 1, mhTableSize: 65537 };

const prng = mulberry32;

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
  assert.deepEqual(buildRing('wrr', [3, 1, 1], MAX_RING), [0, 0, 0, 1, 2]);
  assert.deepEqual(buildRing('wrr', [3, 1, 1], SMALL), [0, 0, 0, 1, 2]);
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
  assert.deepEqual(buildRing('wrr', [0, 0], MAX_RING), []);
  assert.deepEqual(buildRing('rr', [0, 0], MAX_RING), []);
  assert.deepEqual(buildRing('rr', [], MAX_RING), []);
  assert.deepEqual(fitWeights([0, 0, 0], MAX_RING), [0, 0, 0]);
  assert.deepEqual(fitWeights([0, 0, 0], SMALL), [0, 0, 0]);
});

test('rr ignores weights except that 0 leaves a real out', () => {
  assert.deepEqual(buildRing('rr', [3, 1, 1], MAX_RING), [0, 1, 2]);
  assert.deepEqual(buildRing('rr', [1000, 0, 7, 65535], MAX_RING), [0, 2, 3]);
  assert.deepEqual(buildRing('rr', [0, 5], MAX_RING), [1]);
});

test('the ring the reconciler builds fits the data plane: MAX_RING slots, any service size', () => {
  assert.equal(MAX_RING, 65536);
  // one service's inner table (svc_tables) must hold the whole ring
  assert.ok(MAX_RING <= XLVS_MAX_TABLE, `MAX_RING ${MAX_RING} > XLVS_MAX_TABLE ${XLVS_MAX_TABLE}`);
  // a service has at most XLVS_MAX_SVC_REALS reals, so fitting never runs out of slots
  assert.ok(XLVS_MAX_SVC_REALS <= MAX_RING, `${XLVS_MAX_SVC_REALS} reals > ${MAX_RING} slots`);
  // the worst a config can ask for: every real of a full service at the heaviest distinct weights
  const weights = Array.from({ length: XLVS_MAX_SVC_REALS }, (_, i) => MAX_WEIGHT - i);
  const reals = weights.map((weight, i) => ({ id: `r${i}`, weight }));
  const ring = buildTable('wrr', reals, TABLE_OPTS);
  assert.ok(ring.length > 0 && ring.length <= MAX_RING, `ring length ${ring.length}`);
  assert.deepEqual(ring, buildRing('wrr', weights, MAX_RING), 'buildTable builds the MAX_RING ring');
  assert.ok(counts(ring, weights.length).every((c) => c >= 1), 'every real has a slot');
  assert.deepEqual(buildTable('rr', reals, TABLE_OPTS), weights.map((_, i) => i));
});

test('fitWeights is exact (divided by the gcd) when the cycle fits', () => {
  assert.deepEqual(fitWeights([3, 1, 1], SMALL), [3, 1, 1]);
  assert.deepEqual(fitWeights([200, 0, 100], SMALL), [2, 0, 1]);
  assert.deepEqual(fitWeights([128, 128], SMALL), [1, 1]);
  assert.deepEqual(fitWeights([255, 1], SMALL), [255, 1]);
  assert.deepEqual(fitWeights([256], SMALL), [1]);
  // at the data plane's size: a cycle of exactly MAX_RING is kept as is, config weights too
  assert.deepEqual(fitWeights([65535, 1], MAX_RING), [65535, 1]);
  assert.deepEqual(fitWeights([1000, 1, 500], MAX_RING), [1000, 1, 500]);
  assert.deepEqual(fitWeights([65535, 65535, 0], MAX_RING), [1, 1, 0]);
});

/** Checks that w is `weights` fitted into size: integers, fits, no live real lost, and each
 * heavy real's share of the ring within 2% of its share of the weight. */
function assertFitted(weights: number[], w: number[], size: number, heavy: number[]): void {
  const label = `${JSON.stringify(weights)} into ${size}`;
  assert.equal(w.length, weights.length, label);
  assert.ok(sum(w) <= size, `${label}: sum ${sum(w)} > ${size}`);
  assert.ok(w.every((x) => Number.isInteger(x)), `${label}: non-integer weights ${w}`);
  weights.forEach((x, i) => {
    if (x > 0) assert.ok(w[i]! >= 1, `${label}: non-zero weight ${i} (${x}) dropped to ${w[i]}`);
    else assert.equal(w[i], 0, `${label}: zero weight ${i} became ${w[i]}`);
  });
  const total = sum(w);
  const wantTotal = sum(weights);
  for (const i of heavy) {
    const want = weights[i]! / wantTotal;
    const got = w[i]! / total;
    assert.ok(Math.abs(got / want - 1) <= 0.02, `${label}: real ${i}: share ${got} vs ${want}`);
  }
}

test('fitWeights [1000, 1, 500] into 256 keeps the ratio, keeps the 1, and fits', () => {
  const weights = [1000, 1, 500];
  const w = fitWeights(weights, SMALL);
  assert.ok(sum(weights) > SMALL, 'the scaling branch is taken');
  assertFitted(weights, w, SMALL, [0, 2]);
  const ratio = w[0]! / w[2]!;
  assert.ok(Math.abs(ratio / 2 - 1) <= 0.02, `1000:500 became ${w[0]}:${w[2]}`);
  const ring = buildRing('wrr', weights, SMALL);
  assert.deepEqual(counts(ring, 3), w);
});

test('fitWeights of config-sized weights into MAX_RING keeps every share within 2%', () => {
  // heavy weights near the config maximum, next to light ones: one cycle is 2.1x MAX_RING
  const weights = [MAX_WEIGHT, 1, 32768, 40000, 3, 0, 1000];
  assert.ok(sum(weights) > MAX_RING, 'the scaling branch is taken');
  const w = fitWeights(weights, MAX_RING);
  assertFitted(weights, w, MAX_RING, [0, 2, 3, 6]);
  const ratio = w[0]! / w[2]!;
  assert.ok(Math.abs(ratio / (MAX_WEIGHT / 32768) - 1) <= 0.02, `${MAX_WEIGHT}:32768 became ${w[0]}:${w[2]}`);
  // the ring the reconciler writes is one wrr cycle of exactly these fitted weights
  const ring = buildTable('wrr', weights.map((weight, i) => ({ id: `r${i}`, weight })), TABLE_OPTS);
  assert.ok(ring.length <= MAX_RING, `ring length ${ring.length}`);
  assert.deepEqual(counts(ring, weights.length), w);
  // and a full service of such reals too
  const full = Array.from({ length: XLVS_MAX_SVC_REALS }, (_, i) => (i % 10 === 0 ? MAX_WEIGHT : 1 + ((i * 977) % 5000)));
  const heavy = full.flatMap((x, i) => (x === MAX_WEIGHT ? [i] : []));
  assertFitted(full, fitWeights(full, MAX_RING), MAX_RING, heavy);
});

test('fitWeights never drops a non-zero weight to 0 even next to huge ones', () => {
  const cases: [number[], number][] = [
    [[65535, ...new Array<number>(200).fill(1), 0, 65535], SMALL],
    // a full service: two reals at the maximum and 253 at 1, at the data plane's size
    [[65535, ...new Array<number>(XLVS_MAX_SVC_REALS - 3).fill(1), 0, 65535], MAX_RING],
  ];
  for (const [weights, size] of cases) {
    assert.ok(sum(weights) > size, 'the scaling branch is taken');
    const w = fitWeights(weights, size);
    assert.ok(sum(w) <= size, `sum ${sum(w)} > ${size}`);
    weights.forEach((x, i) => {
      if (x > 0) assert.ok(w[i]! >= 1, `weight ${i} (${x}) became ${w[i]} in ${size}`);
      else assert.equal(w[i], 0, `zero weight ${i} became ${w[i]} in ${size}`);
    });
    const last = weights.length - 1;
    assert.equal(w[0], w[last], 'equal weights scale equally');
  }
});

test('fitWeights with more live reals than slots throws RangeError', () => {
  assert.throws(() => fitWeights(new Array<number>(SMALL + 1).fill(2).map((x, i) => x + (i % 3)), SMALL), RangeError);
  // exactly as many live reals as slots fits, one slot each
  const w = fitWeights(new Array<number>(SMALL).fill(0).map((_, i) => 1 + (i % 7) * 1000), SMALL);
  assert.deepEqual(w, new Array<number>(SMALL).fill(1));
});

/**
 * Builds the wrr ring for `cases` random weight lists and checks it against the weights
 * (exact when one reduced cycle fits, else the fitted weights) and against the IPVS model.
 * Returns how many cases took each branch.
 */
function checkWrrRings(size: number, seed: number, cases: number, gen: (rnd: () => number, c: number) => number[]): { exact: number; scaled: number } {
  const rnd = prng(seed);
  let exact = 0;
  let scaled = 0;
  for (let c = 0; c < cases; c++) {
    const weights = gen(rnd, c);
    const n = weights.length;
    const ring = buildRing('wrr', weights, size);
    const label = `size ${size} case ${c}: weights ${JSON.stringify(weights)}`;
    const live = weights.filter((w) => w > 0);
    if (live.length === 0) {
      assert.deepEqual(ring, [], label);
      continue;
    }
    assert.ok(ring.length > 0 && ring.length <= size, `${label}: ring length ${ring.length}`);
    const got = counts(ring, n);
    weights.forEach((w, i) => {
      if (w > 0) assert.ok(got[i]! >= 1, `${label}: real ${i} missing from the ring`);
      else assert.equal(got[i], 0, `${label}: quiescent real ${i} in the ring`);
    });
    const g = gcdOf(weights);
    if (sum(weights) / g <= size) {
      exact++;
      assert.deepEqual(got, weights.map((w) => w / g), `${label}: counts not weights/gcd`);
      assert.equal(ring.length, sum(weights) / g, label);
    } else {
      scaled++;
      // the ring is one cycle of the fitted weights, which wrr reduces by their own gcd again
      const fitted = fitWeights(weights, size);
      const fg = gcdOf(fitted);
      assert.deepEqual(got, fitted.map((w) => w / fg), `${label}: counts differ from the fitted weights`);
    }
    // the ring is one cycle of the kernel's scheduler run on the fitted weights
    const pick = ipvsWrr(got);
    const twoCycles = Array.from({ length: 2 * ring.length }, pick);
    assert.deepEqual(twoCycles, [...ring, ...ring], `${label}: order differs from ip_vs_wrr`);
  }
  return { exact, scaled };
}

test('property: wrr rings for random weights match the IPVS model and the weights', () => {
  // a fifth of the weights are 0, the rest 1..100; 256 slots so both branches are common
  const { exact, scaled } = checkWrrRings(SMALL, 0x5eed1, 500, (rnd) => {
    const n = 1 + Math.floor(rnd() * 8);
    return Array.from({ length: n }, () => (rnd() < 0.2 ? 0 : 1 + Math.floor(rnd() * 100)));
  });
  // the generator must exercise both branches for this test to mean anything
  assert.ok(exact > 50 && scaled > 50, `exact ${exact}, scaled ${scaled}`);
});

test('property: at MAX_RING, rings for config-range weights match the IPVS model and the weights', () => {
  // even cases: small weights (the cycle fits); odd: anywhere in 1..65535 (it mostly does not)
  const { exact, scaled } = checkWrrRings(MAX_RING, 0x5eed2, 120, (rnd, c) => {
    const n = 1 + Math.floor(rnd() * 12);
    const top = c % 2 ? MAX_WEIGHT : 100;
    return Array.from({ length: n }, () => (rnd() < 0.2 ? 0 : 1 + Math.floor(rnd() * top)));
  });
  assert.ok(exact > 40 && scaled > 40, `exact ${exact}, scaled ${scaled}`);
});
