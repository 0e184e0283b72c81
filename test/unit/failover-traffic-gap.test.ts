// SPDX-License-Identifier: Apache-2.0
// GapTracker (lab/failover-traffic-report.ts): the longest time without an answer, the open gap
// included, and what a mark forgets.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GapTracker } from '../../lab/failover-traffic-report.js';

test('the longest gap between answers, and when it began', () => {
  const g = new GapTracker(0);
  for (const t of [1, 2, 3, 503, 504]) g.answer(t);
  assert.deepEqual(g.longestAt(505), { ms: 500, from: 3 });
  assert.equal(g.lastAnswer, 504);
});

test('a gap still open counts once it is the longest', () => {
  const g = new GapTracker(0);
  g.answer(100);
  assert.deepEqual(g.longestAt(150), { ms: 100, from: 0 });
  assert.deepEqual(g.longestAt(400), { ms: 300, from: 100 }, 'no answer since 100');
});

test('mark forgets the maxima; the gap open at the mark counts from its last answer', () => {
  const g = new GapTracker(0);
  g.answer(1000);
  g.mark();
  assert.deepEqual(g.longestAt(1001), { ms: 1, from: 1000 });
  g.answer(1010);
  g.answer(1011);
  assert.deepEqual(g.longestAt(1012), { ms: 10, from: 1000 });
});
