// SPDX-License-Identifier: Apache-2.0
// overlayService: health applied to one service, as the reconciler will program it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { overlayService, type RealHealth } from '../../src/health/overlay.js';
import { CHECK_DEFAULTS } from '../../src/health/types.js';
import type { CheckSpec } from '../../src/health/spec.js';
import type { RealSpec, ServiceSpec } from '../../src/model/types.js';

const check = (more: Partial<CheckSpec['options']> = {}, remove_flows: CheckSpec['remove_flows'] = 'drop'): CheckSpec =>
  ({ type: 'tcp', options: { ...CHECK_DEFAULTS, ...more }, remove_flows, params: {} });
const real = (h: number, weight = 1): RealSpec => ({ address: `10.77.0.${h}`, port: 80, weight, method: 'nat', upper_threshold: 0, lower_threshold: 0 });
const service = (reals: RealSpec[], more: Partial<ServiceSpec> = {}): ServiceSpec => ({
  vip: '203.0.113.100', port: 80, protocol: 'tcp', family: 4, frontends: [{ vip: '203.0.113.100', port: 80, protocol: 'tcp' }],
  scheduler: 'wrr', hash: { fallback: false, port: false }, mh_table_size: 65537, reals, check: check(), ...more,
});
const up = (c = check(), weight?: number, upSince: number | null = Number.NEGATIVE_INFINITY): RealHealth => ({ status: 'up', upSince, weight, check: c });
const down = (c = check()): RealHealth => ({ status: 'down', upSince: null, weight: undefined, check: c });

test('all healthy: the very same object (the reconciler skips it by identity)', () => {
  const s = service([real(11), real(12)]);
  const o = overlayService(s, () => up(), 0);
  assert.equal(o.spec, s);
  assert.deepEqual(o.health, { healthyWeight: 2, quorum: 1, sorryActive: false, ramping: false });
});

test('down + quiesce: weight 0, no eviction; down + remove: weight 0 and the configured eviction', () => {
  const s = service([real(11, 3), real(12, 2), real(13)]);
  const o = overlayService(s, (i) => [down(), down(check({ on_failure: 'remove' }, 'reset')), undefined][i], 0);
  assert.deepEqual(o.spec.reals.map((r) => [r.weight, r.evict]), [[0, undefined], [0, 'reset'], [1, undefined]]);
  assert.equal(o.health.healthyWeight, 1, 'a real without a check counts as healthy');
  assert.deepEqual(s.reals.map((r) => r.weight), [3, 2, 1], 'the configured service is untouched');
});

test('slow start ramps from 10% to the configured weight; an exec weight replaces the configured one', () => {
  const c = check({ slow_start_ms: 10_000 });
  const s = service([real(11, 100), real(12, 100)]);
  const at = (now: number) => overlayService(s, (i) => (i === 0 ? up(c, undefined, 0) : up(c, 5)), now);
  assert.equal(at(0).spec.reals[0]!.weight, 10);
  assert.equal(at(5_000).spec.reals[0]!.weight, 55);
  assert.equal(at(10_000).spec.reals[0]!.weight, 100);
  assert.equal(at(0).health.ramping, true);
  assert.equal(at(10_000).health.ramping, false);
  assert.equal(at(0).spec.reals[1]!.weight, 5, 'misc_dynamic weight');
  assert.equal(at(0).health.healthyWeight, 105, 'quorum counts full weights, not the ramp');
});

test('sorry server: weight 0 while the quorum holds, takes every new flow when it is lost', () => {
  const sorry = real(99);
  const s = service([real(11, 2), real(12, 1)], { sorry_server: sorry, quorum: 2 });
  const fine = overlayService(s, () => up(), 0);
  assert.deepEqual(fine.spec.reals.map((r) => [r.address, r.weight, r.sorry ?? false]), [['10.77.0.11', 2, false], ['10.77.0.12', 1, false], ['10.77.0.99', 0, true]]);
  assert.equal(fine.health.sorryActive, false);
  const lost = overlayService(s, (i) => (i === 0 ? down() : up()), 0);
  assert.deepEqual(lost.spec.reals.map((r) => [r.address, r.weight]), [['10.77.0.11', 0], ['10.77.0.12', 0], ['10.77.0.99', 1]]);
  assert.deepEqual(lost.health, { healthyWeight: 1, quorum: 2, sorryActive: true, ramping: false });
});

test('quorum lost without a sorry server: the healthy reals keep serving', () => {
  const s = service([real(11), real(12)], { quorum: 5 });
  const o = overlayService(s, (i) => (i === 0 ? down() : up()), 0);
  assert.deepEqual(o.spec.reals.map((r) => r.weight), [0, 1]);
  assert.equal(o.health.sorryActive, false);
});

test('a real with the sorry server\'s address and port (added over the API) is a real: no second entry', () => {
  const s = service([real(11), real(99)], { sorry_server: real(99) });
  const o = overlayService(s, (i) => (i === 0 ? down() : undefined), 0);
  assert.deepEqual(o.spec.reals.map((r) => [r.address, r.weight]), [['10.77.0.11', 0], ['10.77.0.99', 1]]);
  assert.equal(o.health.sorryActive, false);
});
