// SPDX-License-Identifier: Apache-2.0
// The options of one health check and the result of one probe, shared by the state machine, the
// scheduler and the probes. Validation lives here so every entry point (config, gRPC) rejects the
// same inputs with the same field-naming errors.

import { InvalidArgumentError } from '../errors.js';
import type { CheckOptions } from '../model/check.js';

export type { CheckOptions, InitialState, OnFailure } from '../model/check.js';

export interface ProbeResult {
  ok: boolean;
  weight?: number; // dynamic weight reported by the probe (exec's exit code - 2)
  reason: string; // why, in a few words, for logs and the watch stream
  ms: number; // how long the probe took
  /** It failed because it ran out of time (no answer), not on an answer that failed it. */
  timedOut?: boolean;
}

/** The largest weight a real can have in the data plane (src/model/types.ts). */
export const MAX_WEIGHT = 65535;
/** Thresholds beyond this are configuration mistakes, not intent. */
export const MAX_THRESHOLD = 1000;
/** One day: longer intervals or delays are mistakes (and would overflow setTimeout's range). */
export const MAX_DURATION_MS = 86_400_000;

export const CHECK_DEFAULTS: Readonly<CheckOptions> = Object.freeze({
  interval_ms: 1000,
  timeout_ms: 1000,
  rise: 2,
  fall: 3,
  initial: 'down',
  jitter: 0.1,
  reentry_ms: 0,
  slow_start_ms: 0,
  on_failure: 'quiesce',
});

function integer(field: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new InvalidArgumentError(field, value, 'must be an integer');
  }
  if (value < min || value > max) {
    throw new InvalidArgumentError(field, value, `must be between ${min} and ${max}`);
  }
  return value;
}

function oneOf<T extends string>(field: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(field, value, `must be one of ${allowed.join(', ')}`);
  }
  return value as T;
}

/**
 * Checks untrusted options (config file, gRPC) and returns them typed, defaults filled in.
 * `path` prefixes every field name in errors (e.g. "services[0].check").
 */
export function validateCheckOptions(input: unknown, path = 'check'): CheckOptions {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new InvalidArgumentError(path, input, 'must be an object');
  }
  const raw = input as Record<string, unknown>;
  for (const key of Object.keys(raw)) {
    if (!(key in CHECK_DEFAULTS)) throw new InvalidArgumentError(`${path}.${key}`, raw[key], 'unknown option');
  }
  const get = (key: keyof CheckOptions): unknown => (raw[key] === undefined ? CHECK_DEFAULTS[key] : raw[key]);
  const f = (key: string): string => `${path}.${key}`;

  const interval_ms = integer(f('interval_ms'), get('interval_ms'), 1, MAX_DURATION_MS);
  // a default timeout follows a shorter configured interval rather than rejecting it
  const timeoutRaw = raw.timeout_ms === undefined ? Math.min(CHECK_DEFAULTS.timeout_ms, interval_ms) : raw.timeout_ms;
  const timeout_ms = integer(f('timeout_ms'), timeoutRaw, 1, MAX_DURATION_MS);
  if (timeout_ms > interval_ms) {
    throw new InvalidArgumentError(f('timeout_ms'), timeout_ms, `must not exceed interval_ms (${interval_ms})`);
  }
  const jitter = get('jitter');
  if (typeof jitter !== 'number' || !Number.isFinite(jitter) || jitter < 0 || jitter > 1) {
    throw new InvalidArgumentError(f('jitter'), jitter, 'must be a number between 0 and 1');
  }
  return {
    interval_ms,
    timeout_ms,
    rise: integer(f('rise'), get('rise'), 1, MAX_THRESHOLD),
    fall: integer(f('fall'), get('fall'), 1, MAX_THRESHOLD),
    initial: oneOf(f('initial'), get('initial'), ['up', 'down'] as const),
    jitter,
    reentry_ms: integer(f('reentry_ms'), get('reentry_ms'), 0, MAX_DURATION_MS),
    slow_start_ms: integer(f('slow_start_ms'), get('slow_start_ms'), 0, MAX_DURATION_MS),
    on_failure: oneOf(f('on_failure'), get('on_failure'), ['quiesce', 'remove'] as const),
  };
}

/** Checks a probe's result; a probe is code we call, so a bad result is its bug, named here. */
export function validateProbeResult(r: ProbeResult, path = 'probe'): ProbeResult {
  if (typeof r.ok !== 'boolean') throw new InvalidArgumentError(`${path}.ok`, r.ok, 'must be a boolean');
  if (r.weight !== undefined) integer(`${path}.weight`, r.weight, 0, MAX_WEIGHT);
  if (typeof r.ms !== 'number' || !Number.isFinite(r.ms) || r.ms < 0) {
    throw new InvalidArgumentError(`${path}.ms`, r.ms, 'must be a non-negative number');
  }
  if (typeof r.reason !== 'string') throw new InvalidArgumentError(`${path}.reason`, r.reason, 'must be a string');
  return r;
}
