// SPDX-License-Identifier: Apache-2.0
// The number theory shared by the rules and the schedulers (src/model/math.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gcd, isPrime, largestPrimeAtMost } from '../../src/model/math.js';
import { MAX_MH_TABLE_SIZE } from '../../src/model/types.js';

test('isPrime: small cases, the default and largest mh table sizes, squares of primes', () => {
  const small = Array.from({ length: 30 }, (_, n) => n).filter(isPrime);
  assert.deepEqual(small, [2, 3, 5, 7, 11, 13, 17, 19, 23, 29]);
  assert.equal(isPrime(65537), true);
  assert.equal(isPrime(MAX_MH_TABLE_SIZE), true);
  assert.equal(isPrime(65536), false);
  // p*p: trial division must reach the square root itself
  assert.equal(isPrime(1021 * 1021), false);
  assert.equal(isPrime(1048573 + 2), false);
  for (const bad of [-7, 0, 1, 2.5, NaN, Infinity]) assert.equal(isPrime(bad), false, `isPrime(${bad})`);
});

test('gcd: coprime, common factors, zero, and as a reducer over weights', () => {
  assert.equal(gcd(7, 5), 1);
  assert.equal(gcd(12, 18), 6);
  assert.equal(gcd(18, 12), 6);
  assert.equal(gcd(9, 0), 9);
  assert.equal(gcd(0, 9), 9);
  assert.equal([400, 200, 600].reduce(gcd), 200);
  assert.equal([65535, 3].reduce(gcd), 3);
});

test('largestPrimeAtMost: the largest mh table size the data plane holds', () => {
  assert.equal(largestPrimeAtMost(2), 2);
  assert.equal(largestPrimeAtMost(30), 29);
  assert.equal(largestPrimeAtMost(2 ** 20), 1048573);
  assert.equal(MAX_MH_TABLE_SIZE, 1048573);
  assert.throws(() => largestPrimeAtMost(1), RangeError);
});
