// SPDX-License-Identifier: Apache-2.0
// Address helpers (src/model/ip.ts): strict IPv4, RFC 4291 IPv6 in / RFC 5952 out, the data
// plane's 16-byte form, prefix masks, and the id formats built on them.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  addressBytes, addressFromBytes, canonicalAddress, familyOf, formatIPv6, isV4Mapped, joinHostPort, maskPrefix, parseIPv6,
} from '../../src/model/ip.js';
import { realId, serviceId } from '../../src/model/types.js';

test('IPv6 is written back per RFC 5952', () => {
  const cases: [string, string][] = [
    ['::', '::'],
    ['::1', '::1'],
    ['1::', '1::'],
    ['2001:DB8::1', '2001:db8::1'], // upper case normalised
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'], // leading zeros dropped
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // equal runs: the first is compressed
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // a single zero group is not compressed
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'], // the longest run wins
    ['fe80:0:0:0:0:0:0:0', 'fe80::'],
    ['::ffff:1.2.3.4', '::ffff:1.2.3.4'],
    ['::FFFF:0102:0304', '::ffff:1.2.3.4'], // v4-mapped is shown dotted
    ['::1.2.3.4', '::102:304'], // deprecated v4-compatible: plain hex
    ['1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:102:304'],
    ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
  ];
  for (const [input, want] of cases) assert.equal(canonicalAddress(input), want, input);
});

test('IPv6 text that is not an address is refused', () => {
  for (const bad of [
    '', ':', ':::', '1:::2', '1::2::3', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', '12345::', 'g::1', '::1%eth0', 'fe80::1%1',
    '[::1]', ' ::1', '::1 ', '1:2:3:4:5:6:7:1.2.3.4', '::1.2.3.04', '::256.0.0.1', ':1::', '::1:', '1.2.3.4',
  ]) {
    assert.equal(parseIPv6(bad), null, bad);
  }
});

test('IPv4 is strict: no leading zeros, no short or hex forms', () => {
  assert.equal(canonicalAddress('10.77.0.11'), '10.77.0.11');
  for (const bad of ['010.0.0.1', '10.0.0.01', '10.1', '0x0a.0.0.1', '10.0.0.256', '10.0.0.1/24']) {
    assert.equal(canonicalAddress(bad), null, bad);
    assert.equal(familyOf(bad), null, bad);
  }
  assert.equal(canonicalAddress(42), null);
});

test('familyOf and isV4Mapped', () => {
  assert.equal(familyOf('203.0.113.100'), 4);
  assert.equal(familyOf('2001:db8::1'), 6);
  assert.equal(familyOf('::ffff:1.2.3.4'), 6);
  assert.equal(isV4Mapped('::ffff:1.2.3.4'), true);
  assert.equal(isV4Mapped('::1.2.3.4'), false);
  assert.equal(isV4Mapped('1.2.3.4'), false);
});

test('16-byte form: IPv4 in the first 4 bytes, the rest zero; IPv6 as is; and back', () => {
  assert.equal(addressBytes('10.77.0.11').toString('hex'), '0a4d000b' + '00'.repeat(12));
  assert.equal(addressBytes('2001:db8::1').toString('hex'), '20010db8' + '00'.repeat(11) + '01');
  assert.equal(addressFromBytes(addressBytes('10.77.0.11'), 4), '10.77.0.11');
  assert.equal(addressFromBytes(addressBytes('fd00:77::1'), 6), 'fd00:77::1');
  assert.equal(formatIPv6(addressBytes('::ffff:10.0.0.1')), '::ffff:10.0.0.1');
  assert.throws(() => addressBytes('10.0.0'), RangeError);
  assert.throws(() => addressFromBytes(Buffer.alloc(4), 4), RangeError);
});

test('prefix masking for persistence netmasks', () => {
  assert.equal(maskPrefix('203.0.113.100', 24), '203.0.113.0');
  assert.equal(maskPrefix('203.0.113.100', 25), '203.0.113.0');
  assert.equal(maskPrefix('203.0.113.200', 25), '203.0.113.128');
  assert.equal(maskPrefix('203.0.113.100', 32), '203.0.113.100');
  assert.equal(maskPrefix('203.0.113.100', 0), '0.0.0.0');
  assert.equal(maskPrefix('2001:db8:1:2:3:4:5:6', 64), '2001:db8:1:2::');
  assert.equal(maskPrefix('2001:db8:ffff::1', 36), '2001:db8:f000::');
  assert.equal(maskPrefix('2001:db8::1', 128), '2001:db8::1');
  assert.throws(() => maskPrefix('10.0.0.1', 33), /0\.\.32 for IPv4, got 33/);
  assert.throws(() => maskPrefix('::1', 129), /0\.\.128 for IPv6, got 129/);
});

test('ids: v6 in brackets, port 0 of a service as *', () => {
  assert.equal(serviceId({ vip: '203.0.113.100', port: 80, protocol: 'tcp' }), 'tcp/203.0.113.100:80');
  assert.equal(serviceId({ vip: '2001:db8::1', port: 80, protocol: 'tcp' }), 'tcp/[2001:db8::1]:80');
  assert.equal(serviceId({ vip: '203.0.113.100', port: 0, protocol: 'udp' }), 'udp/203.0.113.100:*');
  assert.equal(realId({ address: '10.77.0.11', port: 80 }), '10.77.0.11:80');
  assert.equal(realId({ address: 'fd00::11', port: 80 }), '[fd00::11]:80');
  assert.equal(realId({ address: 'fd00::11', port: 0 }), '[fd00::11]:0');
  assert.equal(joinHostPort('::1', '*'), '[::1]:*');
});
