// SPDX-License-Identifier: Apache-2.0
// Health check options and probe results: defaults and every validation rule (src/health/types.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../../src/errors.js';
import { CHECK_DEFAULTS, validateCheckOptions, validateProbeResult } from '../../src/health/types.js';

function rejects(input: unknown, field: string, value: unknown, path?: string): void {
  assert.throws(
    () => validateCheckOptions(input, path),
    (e: unknown) => e instanceof InvalidArgumentError && e.code === 'E_INVALID_ARGUMENT' && e.field === field &&
      e.message.includes(JSON.stringify(value)),
    `${JSON.stringify(input)} must be rejected on ${field}`,
  );
}

test('validateCheckOptions: an empty object gets the defaults; given values are kept', () => {
  assert.deepEqual(validateCheckOptions({}), { ...CHECK_DEFAULTS });
  const full = {
    interval_ms: 2000, timeout_ms: 500, rise: 1, fall: 1, initial: 'up', jitter: 1,
    reentry_ms: 30000, slow_start_ms: 60000, on_failure: 'remove',
  };
  assert.deepEqual(validateCheckOptions(full), full);
  assert.equal(validateCheckOptions({ jitter: 0 }).jitter, 0);
});

test('validateCheckOptions: a short interval lowers the default timeout instead of failing', () => {
  const o = validateCheckOptions({ interval_ms: 200 });
  assert.equal(o.timeout_ms, 200);
});

test('validateCheckOptions: timeout must not exceed interval', () => {
  rejects({ interval_ms: 1000, timeout_ms: 1001 }, 'check.timeout_ms', 1001);
  assert.equal(validateCheckOptions({ interval_ms: 1000, timeout_ms: 1000 }).timeout_ms, 1000);
});

test('validateCheckOptions: integers and their ranges, named with the path', () => {
  rejects({ interval_ms: 0 }, 'check.interval_ms', 0);
  rejects({ interval_ms: 1.5 }, 'check.interval_ms', 1.5);
  rejects({ interval_ms: '1000' }, 'check.interval_ms', '1000');
  rejects({ interval_ms: 86_400_001 }, 'check.interval_ms', 86_400_001);
  rejects({ timeout_ms: 0 }, 'check.timeout_ms', 0);
  rejects({ rise: 0 }, 'check.rise', 0);
  rejects({ fall: 0 }, 'check.fall', 0);
  rejects({ fall: -2 }, 'check.fall', -2);
  rejects({ rise: 1001 }, 'check.rise', 1001);
  rejects({ reentry_ms: -1 }, 'check.reentry_ms', -1);
  rejects({ slow_start_ms: NaN }, 'check.slow_start_ms', null); // JSON.stringify(NaN) is null
  rejects({ rise: 0 }, 'services[3].check.rise', 0, 'services[3].check');
});

test('validateCheckOptions: jitter is a fraction 0..1', () => {
  rejects({ jitter: -0.1 }, 'check.jitter', -0.1);
  rejects({ jitter: 1.01 }, 'check.jitter', 1.01);
  rejects({ jitter: Infinity }, 'check.jitter', null);
  rejects({ jitter: '0.5' }, 'check.jitter', '0.5');
});

test('validateCheckOptions: enums, unknown options, non-objects', () => {
  rejects({ initial: 'maybe' }, 'check.initial', 'maybe');
  rejects({ on_failure: 'drop' }, 'check.on_failure', 'drop');
  rejects({ intervall_ms: 5 }, 'check.intervall_ms', 5);
  rejects(null, 'check', null);
  rejects([1], 'check', [1]);
  rejects('fast', 'check', 'fast');
});

test('validateProbeResult: weight, ms, ok, reason', () => {
  const good = { ok: true, weight: 5, reason: 'exit 7', ms: 3 };
  assert.equal(validateProbeResult(good), good);
  assert.equal(validateProbeResult({ ok: false, reason: 'refused', ms: 0 }).ok, false);
  const bad: [object, string][] = [
    [{ ok: true, weight: -1, reason: '', ms: 1 }, 'probe.weight'],
    [{ ok: true, weight: 65536, reason: '', ms: 1 }, 'probe.weight'],
    [{ ok: true, weight: 1.5, reason: '', ms: 1 }, 'probe.weight'],
    [{ ok: true, reason: '', ms: -1 }, 'probe.ms'],
    [{ ok: 'yes', reason: '', ms: 1 }, 'probe.ok'],
    [{ ok: true, reason: 5, ms: 1 }, 'probe.reason'],
  ];
  for (const [r, field] of bad) {
    assert.throws(() => validateProbeResult(r as never), (e: unknown) => e instanceof InvalidArgumentError && e.field === field, field);
  }
});
