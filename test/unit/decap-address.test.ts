// SPDX-License-Identifier: Apache-2.0
// Allow-list addresses (src/decap/address.ts): strict parsing of both families, the
// IPv4-mapped key, canonical text, and the error naming the field and value.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDecapKey, parseDecapAddress } from '../../src/decap/address.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { XlvsDecapAddr } from '../../src/gen/decap-abi.js';

test('IPv4 is keyed as ::ffff:a.b.c.d, bytes in network order', () => {
  const a = parseDecapAddress('--allow', '10.99.0.1');
  assert.equal(a.family, 4);
  assert.equal(a.text, '10.99.0.1');
  const b = Buffer.alloc(16);
  XlvsDecapAddr.encode(a.key, b, 0);
  assert.equal(b.toString('hex'), '00000000000000000000ffff0a630001');
  assert.equal(formatDecapKey(XlvsDecapAddr.decode(b, 0)), '10.99.0.1');
});

test('IPv6 in every spelling gives the same key and RFC 5952 text', () => {
  const spellings = ['2001:db8:0:0:0:0:0:1', '2001:DB8::1', '2001:0db8:0000::0001', '2001:db8::0:1'];
  const keys = spellings.map((s) => parseDecapAddress('--allow', s));
  for (const k of keys) {
    assert.equal(k.family, 6);
    assert.equal(k.text, '2001:db8::1');
    assert.deepEqual(k.key, keys[0]!.key);
  }
  const b = Buffer.alloc(16);
  XlvsDecapAddr.encode(keys[0]!.key, b, 0);
  assert.equal(b.toString('hex'), '20010db8000000000000000000000001');
});

test('canonical text: longest zero run compressed, first on a tie, single zero group kept', () => {
  const cases: [string, string][] = [
    ['fd00:99:0:0:1:0:0:0', 'fd00:99:0:0:1::'],
    ['1:0:0:2:0:0:3:4', '1::2:0:0:3:4'],
    ['1:0:2:3:4:5:6:7', '1:0:2:3:4:5:6:7'],
    ['::', '::'],
    ['::1', '::1'],
    ['fe80::', 'fe80::'],
    ['64:ff9b::192.0.2.33', '64:ff9b::c000:221'],
    ['::ffff:203.0.113.1', '203.0.113.1'],
  ];
  for (const [input, want] of cases) assert.equal(parseDecapAddress('--allow', input).text, want, input);
  assert.equal(parseDecapAddress('--allow', '::ffff:203.0.113.1').family, 4, 'an IPv4-mapped address is the IPv4 source');
});

test('bad addresses are refused with the field and the value', () => {
  const bad = ['', '1.2.3', '010.0.0.1', '256.1.1.1', '1::2::3', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', ':::', '12345::',
    'g::1', '1.2.3.4::', '::1.2.3', 'fe80::1%eth0', ' ::1', '1:2:3:4:5:6:7::8'];
  for (const s of bad) {
    assert.throws(
      () => parseDecapAddress('--allow', s),
      (e: unknown) => e instanceof InvalidArgumentError && e.code === 'E_INVALID_ARGUMENT' && e.field === '--allow' && e.message.includes(JSON.stringify(s)),
      JSON.stringify(s),
    );
  }
});
