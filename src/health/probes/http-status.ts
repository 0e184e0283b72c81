// SPDX-License-Identifier: Apache-2.0
// The status codes an http health check accepts (issue 5): a list of codes and "lo-hi" ranges,
// 200-299 when not given. Parsed once, when the check is set up, so a bad entry is an
// InvalidArgumentError naming its index ("check.status[1]") and value, never a failed probe.

import { InvalidArgumentError } from '../../errors.js';

/** Codes outside this range are not HTTP status codes (RFC 9110 section 15). */
export const MIN_STATUS = 100;
export const MAX_STATUS = 599;

export interface StatusSet {
  /** Inclusive ranges; a single code is [code, code]. */
  readonly ranges: readonly (readonly [number, number])[];
  /** The list as a reason quotes it: "200-299", "200, 301-302". */
  readonly text: string;
}

export const DEFAULT_STATUS: StatusSet = Object.freeze({ ranges: Object.freeze([Object.freeze([200, 299] as const)]), text: '200-299' });

const RANGE = /^(\d{3})-(\d{3})$/;
const CODE = /^\d{3}$/;

function code(field: string, item: unknown, n: number): number {
  if (!Number.isInteger(n) || n < MIN_STATUS || n > MAX_STATUS) {
    throw new InvalidArgumentError(field, item, `must be a status code from ${MIN_STATUS} to ${MAX_STATUS}`);
  }
  return n;
}

function parseItem(field: string, item: unknown): readonly [number, number] {
  if (typeof item === 'number') {
    const c = code(field, item, item);
    return [c, c];
  }
  if (typeof item !== 'string') throw new InvalidArgumentError(field, item, 'must be a status code or a "lo-hi" range');
  const s = item.trim();
  if (CODE.test(s)) {
    const c = code(field, item, Number(s));
    return [c, c];
  }
  const m = RANGE.exec(s);
  if (!m) throw new InvalidArgumentError(field, item, 'must be a status code or a "lo-hi" range such as "200-299"');
  const lo = code(field, item, Number(m[1]));
  const hi = code(field, item, Number(m[2]));
  if (lo > hi) throw new InvalidArgumentError(field, item, `range starts after it ends (${lo} > ${hi})`);
  return [lo, hi];
}

/**
 * A list of codes (200) and ranges ("200-299"); a single code or range alone is a list of one.
 * `undefined` is the default 200-299. An empty list is refused: it would fail every probe.
 */
export function parseStatusList(field: string, value: unknown): StatusSet {
  if (value === undefined) return DEFAULT_STATUS;
  if (!Array.isArray(value)) {
    const range = parseItem(field, value);
    return { ranges: [range], text: describeRange(range) };
  }
  if (value.length === 0) throw new InvalidArgumentError(field, value, 'must list at least one status code or range');
  const ranges = value.map((item, i) => parseItem(`${field}[${i}]`, item));
  return { ranges, text: ranges.map(describeRange).join(', ') };
}

function describeRange([lo, hi]: readonly [number, number]): string {
  return lo === hi ? String(lo) : `${lo}-${hi}`;
}

export function statusAllowed(set: StatusSet, status: number): boolean {
  return set.ranges.some(([lo, hi]) => status >= lo && status <= hi);
}
