// SPDX-License-Identifier: Apache-2.0
// When an API override is worth keeping and which file edits it shadows (src/state/override-rules.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeShadow, overrideStatuses, settleOverrides, shadowedChanges } from '../../src/state/override-rules.js';
import type { Override } from '../../src/state/overrides.js';
import { DEFAULT_SOURCE_VALIDATION, DEFAULT_TIMEOUTS, type DesiredState, type RealSpec, type ServiceKey, type ServiceSpec } from '../../src/model/types.js';

const real = (address: string, weight = 1, more: Partial<RealSpec> = {}): RealSpec =>
  ({ address, port: 80, weight, method: 'nat', upper_threshold: 0, lower_threshold: 0, ...more });
const WEB: ServiceKey = { vip: '203.0.113.100', port: 80, protocol: 'tcp' };
const WEB_ID = 'tcp/203.0.113.100:80';
const SPEC = { family: 4 as const, hash: { fallback: false, port: false }, mh_table_size: 65537 };
const state = (...reals: RealSpec[]): DesiredState => ({
  services: [{ ...WEB, ...SPEC, frontends: [WEB], scheduler: 'wrr', reals } satisfies ServiceSpec],
  timeouts: DEFAULT_TIMEOUTS, hash_seed: 0, local: {}, source_validation: DEFAULT_SOURCE_VALIDATION,
});
const set = (r: RealSpec, service = WEB_ID): Override => ({ op: 'set', service, real: r });
const remove = (address: string, service = WEB_ID): Override => ({ op: 'remove', service, address, port: 80 });

test('a set equal to the config in weight, method and thresholds is dropped; one differing in any is kept', () => {
  const config = state(real('10.0.0.1', 2, { upper_threshold: 10, lower_threshold: 5 }));
  const same = set(real('10.0.0.1', 2, { upper_threshold: 10, lower_threshold: 5 }));
  const { kept, dropped } = settleOverrides(config, [same]);
  assert.deepEqual(kept, []);
  assert.deepEqual(dropped, [{ override: same, why: 'it equals the config' }]);
  for (const differs of [real('10.0.0.1', 3, { upper_threshold: 10, lower_threshold: 5 }), real('10.0.0.1', 2, { method: 'dr', upper_threshold: 10, lower_threshold: 5 }),
    real('10.0.0.1', 2, { upper_threshold: 11, lower_threshold: 5 }), real('10.0.0.1', 2, { upper_threshold: 10, lower_threshold: 4 })]) {
    assert.deepEqual(settleOverrides(config, [set(differs)]).kept, [set(differs)], JSON.stringify(differs));
  }
});

test('the config\'s own health check of a real does not make a set differ', () => {
  const config = state(real('10.0.0.1', 2, { check: { type: 'tcp' } } as Partial<RealSpec>));
  assert.deepEqual(settleOverrides(config, [set(real('10.0.0.1', 2))]).kept, []);
});

test('a set of a real the config lacks is kept; a remove of one is dropped, of a real it has kept', () => {
  const config = state(real('10.0.0.1'));
  const { kept, dropped } = settleOverrides(config, [set(real('10.0.0.9')), remove('10.0.0.8'), remove('10.0.0.1')]);
  assert.deepEqual(kept, [set(real('10.0.0.9')), remove('10.0.0.1')]);
  assert.deepEqual(dropped.map((d) => d.why), ['it removes a real the config does not have']);
});

test('overrides of a service the config does not have are dropped', () => {
  const o = set(real('10.0.0.1', 5), 'tcp/203.0.113.101:80');
  assert.deepEqual(settleOverrides(state(real('10.0.0.1')), [o]).dropped, [{ override: o, why: 'its service is not in the config' }]);
});

test('a file edit is shadowed when it changes an overridden real, appears or disappears; not otherwise', () => {
  const list = [set(real('10.0.0.1', 5)), remove('10.0.0.2'), set(real('10.0.0.3', 7))];
  const before = state(real('10.0.0.1', 1), real('10.0.0.2', 1), real('10.0.0.4'));
  const after = state(real('10.0.0.1', 3), real('10.0.0.2', 1), real('10.0.0.3'));
  const shadows = shadowedChanges(before, after, list);
  assert.deepEqual(shadows.map((s) => s.override), [list[0], list[2]]);
  assert.equal(describeShadow(shadows[0]!),
    'the file changes 10.0.0.1:80 of tcp/203.0.113.100:80 (weight 1 nat -> weight 3 nat) but an API override keeps it (tcp/203.0.113.100:80: set 10.0.0.1:80 weight 5 nat); xlvsctl overrides clear tcp/203.0.113.100:80 gives the file its say');
  assert.match(describeShadow(shadows[1]!), /\(absent -> weight 1 nat\)/);
  assert.deepEqual(shadowedChanges(before, before, list), []);
});

test('each override is listed with the file\'s real beside it', () => {
  const list = [set(real('10.0.0.1', 5)), set(real('10.0.0.9'))];
  assert.deepEqual(overrideStatuses(state(real('10.0.0.1')), list), [{ override: list[0], file: real('10.0.0.1') }, { override: list[1], file: undefined }]);
});
