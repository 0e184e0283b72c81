// SPDX-License-Identifier: Apache-2.0
// Slow start's linear ramp (src/health/slow-start.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../../src/errors.js';
import { effectiveWeight } from '../../src/health/slow-start.js';
import { UP_FROM_START } from '../../src/health/state.js';

test('effectiveWeight: 0 while down, whatever the configuration', () => {
  assert.equal(effectiveWeight(100, null, 5000, 10000, 0.1), 0);
  assert.equal(effectiveWeight(100, null, 5000, 0, 1), 0);
});

test('effectiveWeight: linear from ceil(configured*fraction) to configured over slow_start_ms', () => {
  const w = (t: number): number => effectiveWeight(100, 1000, 1000 + t, 10000, 0.1);
  assert.equal(w(0), 10);
  assert.equal(w(1000), 19); // 10 + 90 * 0.1
  assert.equal(w(5000), 55);
  assert.equal(w(9999), 99); // floor: the configured weight only once the ramp is over
  assert.equal(w(10000), 100);
  assert.equal(w(1e9), 100);
  let last = 0;
  for (let t = 0; t <= 10000; t += 37) {
    const v = w(t);
    assert.ok(v >= last && v >= 10 && v <= 100, `monotonic and bounded at ${t}: ${v}`);
    last = v;
  }
  assert.equal(effectiveWeight(7, 0, 0, 1000, 0.5), 4); // ceil(3.5)
});

test('effectiveWeight: the floor is at least 1 and at most configured', () => {
  assert.equal(effectiveWeight(100, 0, 0, 1000, 0), 1);
  assert.equal(effectiveWeight(3, 0, 0, 1000, 0.001), 1);
  assert.equal(effectiveWeight(1, 0, 0, 1000, 0), 1);
  assert.equal(effectiveWeight(50, 0, 0, 1000, 1), 50);
  assert.equal(effectiveWeight(0, 0, 500, 1000, 0.5), 0); // configured quiescent stays quiescent
});

test('effectiveWeight: no slow start, trusted-from-start targets, a clock going backwards', () => {
  assert.equal(effectiveWeight(100, 1000, 1000, 0, 0.1), 100);
  assert.equal(effectiveWeight(100, UP_FROM_START, 0, 60000, 0.1), 100);
  assert.equal(effectiveWeight(100, 5000, 4000, 10000, 0.1), 10);
});

test('effectiveWeight: bad arguments are named', () => {
  const cases: [() => number, string][] = [
    [() => effectiveWeight(-1, 0, 0, 1, 0.1), 'configured'],
    [() => effectiveWeight(65536, 0, 0, 1, 0.1), 'configured'],
    [() => effectiveWeight(1.5, 0, 0, 1, 0.1), 'configured'],
    [() => effectiveWeight(1, 0, 0, -1, 0.1), 'slow_start_ms'],
    [() => effectiveWeight(1, 0, 0, 1, 1.5), 'fraction'],
    [() => effectiveWeight(1, 0, 0, 1, NaN), 'fraction'],
    [() => effectiveWeight(1, NaN, 0, 1, 0.1), 'upSince'],
    [() => effectiveWeight(1, 0, Infinity, 1, 0.1), 'now'],
  ];
  for (const [f, field] of cases) {
    assert.throws(f, (e: unknown) => e instanceof InvalidArgumentError && e.field === field, field);
  }
});
