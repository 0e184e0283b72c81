// SPDX-License-Identifier: Apache-2.0
// The per-target health state machine (src/health/state.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../../src/errors.js';
import { HealthState, UP_FROM_START } from '../../src/health/state.js';
import { validateCheckOptions, type ProbeResult } from '../../src/health/types.js';

const ok = (reason = 'connected', weight?: number): ProbeResult => ({ ok: true, reason, ms: 1, weight });
const fail = (reason = 'refused'): ProbeResult => ({ ok: false, reason, ms: 1 });
const opts = (o: object) => validateCheckOptions(o);

test('HealthState: initial down needs rise successes; failures in between restart the count', () => {
  const h = new HealthState(opts({ rise: 3, fall: 2, initial: 'down' }), 0);
  assert.equal(h.status, 'down');
  assert.equal(h.upSince, null);
  assert.equal(h.record(ok(), 1), null);
  assert.equal(h.record(ok(), 2), null);
  assert.equal(h.record(fail(), 3), null);
  assert.equal(h.failures, 1);
  assert.equal(h.successes, 0);
  assert.equal(h.record(ok(), 4), null);
  assert.equal(h.record(ok(), 5), null);
  const t = h.record(ok('200 OK'), 6);
  assert.deepEqual(t, { from: 'down', to: 'up', at: 6, reason: '200 OK', successes: 3, failures: 0, weight: undefined });
  assert.equal(h.status, 'up');
  assert.equal(h.upSince, 6);
  assert.equal(h.record(ok(), 7), null, 'more successes while up change nothing');
});

test('HealthState: fall consecutive failures take an up target down; successes reset the count', () => {
  const h = new HealthState(opts({ rise: 1, fall: 3, initial: 'up' }), 100);
  assert.equal(h.status, 'up');
  assert.equal(h.upSince, UP_FROM_START, 'trusted from the start: no slow start');
  assert.equal(h.record(fail(), 1), null);
  assert.equal(h.record(fail(), 2), null);
  assert.equal(h.record(ok(), 3), null);
  assert.equal(h.record(fail(), 4), null);
  assert.equal(h.record(fail(), 5), null);
  const t = h.record(fail('timeout after 1000 ms'), 6);
  assert.deepEqual(t, { from: 'up', to: 'down', at: 6, reason: 'timeout after 1000 ms', successes: 0, failures: 3, weight: undefined });
  assert.equal(h.status, 'down');
  assert.equal(h.record(fail(), 7), null, 'more failures while down change nothing');
});

test('HealthState: rise 1 and fall 1 flip on every change', () => {
  const h = new HealthState(opts({ rise: 1, fall: 1, initial: 'down' }), 0);
  assert.equal(h.record(ok(), 1)?.to, 'up');
  assert.equal(h.record(fail(), 2)?.to, 'down');
  assert.equal(h.record(ok(), 3)?.to, 'up');
});

test('HealthState: reentry delay holds a target that went down, even after rise successes', () => {
  const h = new HealthState(opts({ rise: 2, fall: 1, initial: 'up', reentry_ms: 10000 }), 0);
  assert.equal(h.reentryAt, Number.NEGATIVE_INFINITY);
  assert.equal(h.record(fail(), 1000)?.to, 'down');
  assert.equal(h.reentryAt, 11000);
  for (let t = 2000; t < 11000; t += 1000) assert.equal(h.record(ok(), t), null, `still down at ${t}`);
  assert.equal(h.successes, 9);
  const up = h.record(ok(), 11000);
  assert.equal(up?.to, 'up');
  assert.equal(up?.successes, 10);
  assert.equal(h.upSince, 11000);
});

test('HealthState: reentry delay does not apply to a target that was never up', () => {
  const h = new HealthState(opts({ rise: 1, fall: 1, initial: 'down', reentry_ms: 10000 }), 0);
  assert.equal(h.record(ok(), 1)?.to, 'up');
});

test('HealthState: reentry counts from the latest time the target went down', () => {
  const h = new HealthState(opts({ rise: 1, fall: 1, initial: 'up', reentry_ms: 5000 }), 0);
  h.record(fail(), 0);
  assert.equal(h.record(ok(), 5000)?.to, 'up');
  assert.equal(h.record(fail(), 6000)?.to, 'down');
  assert.equal(h.record(ok(), 10999), null);
  assert.equal(h.record(ok(), 11000)?.to, 'up');
});

test('HealthState: dynamic weight comes from the probe; a change while up is reported', () => {
  const h = new HealthState(opts({ rise: 1, fall: 1, initial: 'down' }), 0);
  const up = h.record(ok('exit 7', 5), 1);
  assert.equal(up?.to, 'up');
  assert.equal(up?.weight, 5);
  assert.equal(h.weight, 5);
  assert.equal(h.record(ok('exit 7', 5), 2), null, 'same weight: nothing to report');
  const w = h.record(ok('exit 12', 10), 3);
  assert.deepEqual(w, { from: 'up', to: 'up', at: 3, reason: 'exit 12', successes: 3, failures: 0, weight: 10 });
  const back = h.record(ok('exit 0'), 4);
  assert.equal(back?.weight, undefined, 'no weight: back to the configured one');
  assert.equal(h.weight, undefined);
  assert.equal(h.record(fail('exit 1'), 5)?.to, 'down');
});

test('HealthState: a failed probe does not change the dynamic weight', () => {
  const h = new HealthState(opts({ rise: 1, fall: 2, initial: 'down' }), 0);
  h.record(ok('exit 7', 5), 1);
  assert.equal(h.record(fail(), 2), null);
  assert.equal(h.weight, 5);
});

test('HealthState: invalid options are rejected at construction', () => {
  assert.throws(
    () => new HealthState({ ...opts({}), fall: 0 }, 0),
    (e: unknown) => e instanceof InvalidArgumentError && e.field === 'check.fall',
  );
});
