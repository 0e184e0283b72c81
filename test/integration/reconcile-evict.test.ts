// SPDX-License-Identifier: Apache-2.0
// AppliedReal.evict (health checks, on_failure: remove) through the reconciler into a real loaded
// data plane's reals map (temporary pin dir, nothing attached): the flag bit it becomes, a change
// of evict alone rewriting exactly that real's entry in its slot, and a restarted daemon (a new
// Reconciler adopting the pinned maps) reading it back so that nothing is rewritten needlessly.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { TestDataplane } from '../../testing/fixture.js';
import { Reconciler } from '../../src/dataplane/reconcile.js';
import { desired, service } from '../../testing/desired.js';
import type { AppliedReal } from '../../src/model/types.js';
import { XLVS_REAL_F_USED, XLVS_REAL_F_EVICT_DROP, XLVS_REAL_F_EVICT_RESET } from '../../src/gen/abi.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const log = pino({ level: 'warn' }, pino.destination(2));
const SVC = 'tcp/203.0.113.100:80';
let dp: TestDataplane;

before(async () => {
  dp = TestDataplane.load(join(ROOT, 'build/xlvs.bpf.o'), `/sys/fs/bpf/xlvs-test-${process.pid}-${randomBytes(4).toString('hex')}`);
});
after(() => dp?.close());

/** Two reals; the first one's weight and evict as given (a health layer sets both). */
const state = (weight: number, evict?: AppliedReal['evict']) => desired([
  service('203.0.113.100', 80, 'tcp', 'rr', [
    { address: '10.77.0.11', port: 8080, weight, ...(evict ? { evict } : {}) },
    { address: '10.77.0.12', port: 8080 },
  ]),
]);

const slotOf = (r: Reconciler, addr: string): number => r.slotsOf(SVC)!.reals.get(`${addr}:8080`)!.id;
const flagsOf = (id: number): number => dp.maps.reals.lookup(id)!.flags;
/** Entries written per map, but cfg (every apply writes the settings entry). */
function written(res: { writes: Record<string, number> }): Record<string, number> {
  const { cfg: _cfg, ...rest } = res.writes;
  return rest;
}

test('evict becomes the reals entry\'s flag bit; a change of evict alone rewrites that one entry, in its slot', async () => {
  const r = new Reconciler(dp.maps, log);
  await r.apply(state(1));
  const a = slotOf(r, '10.77.0.11');
  const b = slotOf(r, '10.77.0.12');
  assert.equal(flagsOf(a), XLVS_REAL_F_USED);

  // The health layer's on_failure: remove: weight 0 and evict, in one change.
  let res = await r.apply(state(0, 'drop'));
  assert.equal(flagsOf(a), XLVS_REAL_F_USED | XLVS_REAL_F_EVICT_DROP);
  assert.equal(dp.maps.reals.lookup(a)!.weight, 0);
  assert.equal(flagsOf(b), XLVS_REAL_F_USED, 'the other real is untouched');

  // evict alone changes: the entry is rewritten (one write), the table is not.
  res = await r.apply(state(0, 'reset'));
  assert.equal(flagsOf(a), XLVS_REAL_F_USED | XLVS_REAL_F_EVICT_RESET);
  assert.equal(res.changed, 1);
  assert.deepEqual(written(res), { reals: 1 }, `only the reals entry is written: ${JSON.stringify(res.writes)}`);
  assert.equal(slotOf(r, '10.77.0.11'), a, 'the real keeps its slot (its flows point at it)');

  res = await r.apply(state(0, 'drop'));
  assert.equal(flagsOf(a), XLVS_REAL_F_USED | XLVS_REAL_F_EVICT_DROP);
  assert.deepEqual(written(res), { reals: 1 });

  // Cleared (the real recovered): back to a plain entry, same slot.
  res = await r.apply(state(0));
  assert.equal(flagsOf(a), XLVS_REAL_F_USED);
  assert.deepEqual(written(res), { reals: 1 });
  assert.equal(slotOf(r, '10.77.0.11'), a);

  // The same evict again writes nothing.
  res = await r.apply(state(0));
  assert.equal(res.changed, 0);
  assert.deepEqual(written(res), {});
  await r.apply(desired([]));
});

test('a restarted daemon reads evict back from the pinned reals map: the same state writes nothing, another one rewrites the entry', async () => {
  const first = new Reconciler(dp.maps, log);
  await first.apply(state(0, 'reset'));
  const a = slotOf(first, '10.77.0.11');
  assert.equal(flagsOf(a), XLVS_REAL_F_USED | XLVS_REAL_F_EVICT_RESET);

  const second = new Reconciler(dp.maps, log);
  second.adopt();
  // A fresh desired-state object: the reconciler diffs it real by real against what it adopted.
  let res = await second.apply(state(0, 'reset'));
  assert.equal(res.writes.reals ?? 0, 0, `evict was adopted, nothing to rewrite: ${JSON.stringify(res.writes)}`);
  assert.equal(flagsOf(a), XLVS_REAL_F_USED | XLVS_REAL_F_EVICT_RESET);

  const third = new Reconciler(dp.maps, log);
  third.adopt();
  res = await third.apply(state(0));
  assert.equal(res.writes.reals, 1, 'evict cleared over a restart: the entry is rewritten');
  assert.equal(flagsOf(a), XLVS_REAL_F_USED);
  await third.apply(desired([]));
});
