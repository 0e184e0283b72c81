// SPDX-License-Identifier: Apache-2.0
// bench/common/bytes-codec.ts: the fixed-size byte-array codec of the restore wrapper's frame and the
// generator's config.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { byteArrayCodec } from '../../bench/common/bytes-codec.js';
import { InvalidArgumentError } from '../../src/errors.js';

test('byteArrayCodec zero-pads a shorter value over the whole size, at its offset, and reads the size back', () => {
  const c = byteArrayCodec('struct t', 6);
  assert.equal(c.size, 6);
  const b = Buffer.alloc(10, 0xee);
  c.encode(Buffer.from([1, 2, 3]), b, 2);
  assert.deepEqual([...b], [0xee, 0xee, 1, 2, 3, 0, 0, 0, 0xee, 0xee]);
  const d = c.decode(b, 2);
  assert.deepEqual([...d], [1, 2, 3, 0, 0, 0]);
  b[2] = 9;
  assert.equal(d[0], 1, 'decode returns a copy, not a view of the map buffer');
});

test('byteArrayCodec refuses a value longer than its size, naming the struct', () => {
  const c = byteArrayCodec('struct t', 4);
  assert.throws(() => c.encode(Buffer.alloc(5), Buffer.alloc(4), 0), (e: unknown) => e instanceof InvalidArgumentError && e.field === 'struct t length' && e.value === 5);
});
