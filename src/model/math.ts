// SPDX-License-Identifier: Apache-2.0
// Small number theory shared by the model's rules and the schedulers' tables: Maglev needs a
// prime table size (model/rules.ts, sched/maglev.ts), wrr and Maglev reduce weights by their
// gcd (sched/ring.ts, sched/maglev.ts). One copy each, so the rule and the table agree.

/** Trial division: table sizes stay below 2^20, so at most ~512 odd divisors. */
export function isPrime(n: number): boolean {
  if (!Number.isInteger(n) || n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

/** The largest prime <= n (n >= 2): the biggest Maglev table a table of n slots can hold. */
export function largestPrimeAtMost(n: number): number {
  if (!Number.isInteger(n) || n < 2) throw new RangeError(`no prime <= ${n}`);
  while (!isPrime(n)) n--;
  return n;
}

/** Greatest common divisor of two non-negative integers (gcd(a, 0) = a). */
export function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}
