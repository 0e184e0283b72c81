// SPDX-License-Identifier: Apache-2.0
// Slot allocation (src/dataplane/ids.ts): distinct ids, rotating reuse of freed
// ids, take() of ids already in the maps, and the capacity limit.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IdAllocator } from '../../src/dataplane/ids.js';
import { CapacityError, XlvsError } from '../../src/errors.js';

function isCapacity(what: string, limit: number) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof CapacityError, `not a CapacityError: ${String(e)}`);
    assert.ok(e instanceof XlvsError);
    assert.equal(e.code, 'E_CAPACITY');
    assert.ok(e.message.includes(what), e.message);
    assert.ok(e.message.includes(String(limit)), e.message);
    return true;
  };
}

test('allocates distinct ids from 0 up to the capacity', () => {
  const a = new IdAllocator('reals', 1000);
  const ids = Array.from({ length: 1000 }, () => a.alloc());
  assert.equal(new Set(ids).size, 1000);
  assert.ok(ids.every((id) => Number.isInteger(id) && id >= 0 && id < 1000));
  assert.deepEqual(ids.slice(0, 5), [0, 1, 2, 3, 4]);
  assert.equal(a.size, 1000);
});

test('a freed id is reused only after every other free id', () => {
  const a = new IdAllocator('services', 5);
  assert.deepEqual([a.alloc(), a.alloc(), a.alloc()], [0, 1, 2]);
  a.free(0);
  assert.equal(a.size, 2);
  assert.equal(a.alloc(), 3, 'not 0, freed just now');
  assert.equal(a.alloc(), 4);
  assert.equal(a.alloc(), 0, 'the cursor wraps to the freed id');
  assert.equal(a.size, 5);
});

test('reuse rotates: freed ids come back in the order the cursor reaches them', () => {
  const a = new IdAllocator('services', 8);
  for (let i = 0; i < 8; i++) a.alloc();
  a.free(6);
  a.free(1);
  a.free(4);
  // the cursor is at 0 (wrapped): next free ids in order from there
  assert.deepEqual([a.alloc(), a.alloc(), a.alloc()], [1, 4, 6]);
  a.free(2);
  a.free(7);
  // the cursor is now past 6: 7 before 2
  assert.deepEqual([a.alloc(), a.alloc()], [7, 2]);
});

test('a long free/alloc churn never hands out an id in use and cycles through all ids', () => {
  const cap = 16;
  const a = new IdAllocator('reals', cap);
  const live = new Set<number>();
  for (let i = 0; i < 10; i++) live.add(a.alloc());
  const seen = new Set<number>();
  for (let i = 0; i < 200; i++) {
    const victim = [...live][i % live.size]!;
    a.free(victim);
    live.delete(victim);
    const id = a.alloc();
    assert.ok(!live.has(id), `id ${id} handed out twice`);
    live.add(id);
    seen.add(id);
    assert.equal(a.size, live.size);
  }
  assert.equal(seen.size, cap, 'every id eventually used');
});

test('take() marks ids used (adopted from pinned maps) so alloc() skips them, and starts after the last one', () => {
  const a = new IdAllocator('services', 6);
  a.take(2);
  a.take(0);
  a.take(2); // twice is the same as once
  assert.equal(a.size, 2);
  // The slots after the highest adopted one come first: a slot freed just before the restart
  // (below it) is reused last.
  assert.deepEqual([a.alloc(), a.alloc(), a.alloc(), a.alloc()], [3, 4, 5, 1]);
  assert.equal(a.size, 6);
  assert.throws(() => a.alloc(), isCapacity('services', 6));
  a.free(2);
  assert.equal(a.alloc(), 2);
});

test('alloc() at capacity throws CapacityError; freeing one makes room for exactly one', () => {
  const a = new IdAllocator('reals', 3);
  a.alloc();
  a.alloc();
  a.alloc();
  assert.throws(() => a.alloc(), isCapacity('reals', 3));
  assert.equal(a.size, 3, 'a failed alloc changes nothing');
  a.free(1);
  assert.equal(a.alloc(), 1);
  assert.throws(() => a.alloc(), isCapacity('reals', 3));
});

test('take() up to capacity also fills it', () => {
  const a = new IdAllocator('services', 2);
  a.take(1);
  a.take(0);
  assert.throws(() => a.alloc(), isCapacity('services', 2));
});

test('freeing an id that is not in use changes nothing', () => {
  const a = new IdAllocator('reals', 4);
  a.alloc();
  a.free(3);
  a.free(1);
  assert.equal(a.size, 1);
  assert.deepEqual([a.alloc(), a.alloc(), a.alloc()], [1, 2, 3]);
});

test('a zero-capacity allocator always refuses', () => {
  const a = new IdAllocator('services', 0);
  assert.throws(() => a.alloc(), isCapacity('services', 0));
});

test('take() refuses an id outside the capacity', () => {
  const a = new IdAllocator('x', 4);
  assert.throws(() => a.take(4), RangeError);
  assert.throws(() => a.take(-1), RangeError);
  assert.equal(a.size, 0);
});

test('alloc(accept) skips the free ids it refuses, and fails when it refuses them all', () => {
  const a = new IdAllocator('reals', 4);
  assert.equal(a.alloc((id) => id !== 0), 1);
  assert.equal(a.alloc((id) => id % 2 === 1), 3);
  assert.equal(a.alloc(), 0, 'a refused id stays free');
  assert.throws(() => a.alloc(() => false), isCapacity('reals', 4));
  assert.equal(a.size, 3, 'a failed alloc changes nothing');
});
