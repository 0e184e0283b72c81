// SPDX-License-Identifier: Apache-2.0
// Order statistics for benchmark figures: medians resist the odd interrupt inside a run.

import { InvalidArgumentError } from '../../src/errors.js';

export interface Spread {
  median: number;
  min: number;
  max: number;
}

export function median(xs: ArrayLike<number>): number {
  if (xs.length === 0) throw new InvalidArgumentError('samples', xs.length, 'a median needs at least one sample');
  const s = Float64Array.from(xs).sort();
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function spread(xs: readonly number[]): Spread {
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs) };
}
