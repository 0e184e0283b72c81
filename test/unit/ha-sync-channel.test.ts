// SPDX-License-Identifier: Apache-2.0
// SyncChannel's watch on the data plane's ring-lost counter: it triggers a resync bulk whenever
// the count grew since the last look, and only then.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GrowthWatch } from '../../src/ha/sync-channel.js';

test('GrowthWatch: grew() is true once per growth, false while the counter stays', () => {
  let n = 5;
  const w = new GrowthWatch(() => n);
  assert.equal(w.grew(), false, 'what was lost before the start is no news');
  n = 9;
  assert.equal(w.grew(), true);
  assert.equal(w.grew(), false);
  n = 10;
  assert.equal(w.grew(), true);
});
