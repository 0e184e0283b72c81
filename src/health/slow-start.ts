// SPDX-License-Identifier: Apache-2.0
// Slow start: a real that just came back gets a small share of new connections first, growing
// linearly to its configured weight, so a cold cache or a fresh JIT is not hit by a full share.

import { InvalidArgumentError } from '../errors.js';
import { MAX_WEIGHT } from './types.js';

/**
 * The weight to program at `now` for a real with weight `configured` that has been up since
 * `upSince` (null = down). The ramp starts at max(1, ceil(configured * fraction)) and reaches
 * `configured` after slow_start_ms. Integer result; never above `configured`.
 */
export function effectiveWeight(
  configured: number,
  upSince: number | null,
  now: number,
  slow_start_ms: number,
  fraction: number,
): number {
  if (!Number.isInteger(configured) || configured < 0 || configured > MAX_WEIGHT) {
    throw new InvalidArgumentError('configured', configured, `must be an integer between 0 and ${MAX_WEIGHT}`);
  }
  if (!Number.isInteger(slow_start_ms) || slow_start_ms < 0) {
    throw new InvalidArgumentError('slow_start_ms', slow_start_ms, 'must be a non-negative integer');
  }
  if (typeof fraction !== 'number' || !Number.isFinite(fraction) || fraction < 0 || fraction > 1) {
    throw new InvalidArgumentError('fraction', fraction, 'must be a number between 0 and 1');
  }
  if (upSince !== null && Number.isNaN(upSince)) throw new InvalidArgumentError('upSince', upSince, 'must be a time or null');
  if (!Number.isFinite(now)) throw new InvalidArgumentError('now', now, 'must be a finite time');
  if (upSince === null || configured === 0) return 0;
  const elapsed = now - upSince;
  if (slow_start_ms === 0 || elapsed >= slow_start_ms) return configured;
  const floor = Math.min(configured, Math.max(1, Math.ceil(configured * fraction)));
  // a clock that went backwards keeps the real at the floor rather than below it
  const progress = Math.max(0, elapsed) / slow_start_ms;
  return Math.min(configured, Math.floor(floor + (configured - floor) * progress));
}
