// SPDX-License-Identifier: Apache-2.0
// The announcement frames against the kernel's own: a gratuitous ARP (arp_notify on link up) and
// an unsolicited NA (ndisc_notify, forwarding on) that Linux 6.18 sent from 02:00:00:00:0a:01
// between two namespaces, captured with tcpdump -xx. Then the fields one by one and the errors.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  announceFrame, garpFrame, icmpv6Checksum, macBytes, unsolicitedNaFrame,
  GARP_FRAME_LEN, NA_FRAME_LEN, NA_OVERRIDE, NA_ROUTER, NA_SOLICITED,
} from '../../src/ha/announce.js';
import { InvalidArgumentError } from '../../src/errors.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const MAC = '02:00:00:00:0a:01';
const KERNEL_GARP_192_0_2_100 = hex('ffffffffffff020000000a01080600010800060400010200 00000a01c0000264000000000000c0000264');
const KERNEL_NA_2001_DB8__100 = hex(`3333000000010200 00000a0186dd6000 000000203aff2001 0db8000000000000
  0000000001 00ff02 0000000000000000 0000000000018800 6d2ca00000002001 0db8000000000000 0000000001000201 020000000a01`);

test('GARP: the kernel\'s bytes, padded with zeros to 60', () => {
  const f = garpFrame(MAC, '192.0.2.100');
  assert.equal(f.length, GARP_FRAME_LEN);
  assert.deepEqual(f.subarray(0, 42), KERNEL_GARP_192_0_2_100);
  assert.ok(f.subarray(42).every((b) => b === 0));
});

test('GARP fields: broadcast, ARP request, sender = target = the address, target MAC zero', () => {
  const f = garpFrame('aa:bb:cc:dd:ee:0f', '203.0.113.100');
  assert.deepEqual(f.subarray(0, 6), hex('ffffffffffff'));
  assert.deepEqual(f.subarray(6, 12), hex('aabbccddee0f'));
  assert.equal(f.readUInt16BE(12), 0x0806);
  assert.equal(f.readUInt16BE(14), 1); // Ethernet
  assert.equal(f.readUInt16BE(16), 0x0800);
  assert.equal(f[18], 6);
  assert.equal(f[19], 4);
  assert.equal(f.readUInt16BE(20), 1); // request
  assert.deepEqual(f.subarray(22, 28), hex('aabbccddee0f'));
  assert.deepEqual(f.subarray(28, 32), hex('cb007164'));
  assert.deepEqual(f.subarray(32, 38), hex('000000000000'));
  assert.deepEqual(f.subarray(38, 42), hex('cb007164'));
});

test('unsolicited NA: the kernel\'s bytes (Router + Override, from the address to ff02::1)', () => {
  const f = unsolicitedNaFrame(MAC, '2001:db8::100');
  assert.equal(f.length, NA_FRAME_LEN);
  assert.deepEqual(f, KERNEL_NA_2001_DB8__100);
});

test('NA fields: hop limit 255, O set, S clear, R optional, target option, checksum verifies', () => {
  const f = unsolicitedNaFrame('aa:bb:cc:dd:ee:0f', 'fd00:77::1', { router: false });
  assert.deepEqual(f.subarray(0, 6), hex('333300000001'));
  assert.deepEqual(f.subarray(6, 12), hex('aabbccddee0f'));
  assert.equal(f.readUInt16BE(12), 0x86dd);
  assert.equal(f[14]! >> 4, 6);
  assert.equal(f.readUInt16BE(18), 32);
  assert.equal(f[20], 58);
  assert.equal(f[21], 255);
  const src = f.subarray(22, 38);
  const dst = f.subarray(38, 54);
  assert.deepEqual(src, hex('fd000077000000000000000000000001'));
  assert.deepEqual(dst, hex('ff020000000000000000000000000001'));
  const icmp = f.subarray(54);
  assert.equal(icmp[0], 136);
  assert.equal(icmp[1], 0);
  assert.equal(icmp[4], NA_OVERRIDE);
  assert.equal(icmp[4]! & NA_SOLICITED, 0);
  assert.equal(icmp[4]! & NA_ROUTER, 0);
  assert.deepEqual(icmp.subarray(8, 24), src);
  assert.deepEqual(icmp.subarray(24, 32), hex('0201aabbccddee0f'));
  // A message with its checksum in place sums to 0 (the function then returns 0xffff for ~0).
  const zeroed = Buffer.alloc(icmp.length);
  zeroed.set(icmp);
  zeroed.writeUInt16BE(0, 2);
  assert.equal(icmpv6Checksum(src, dst, zeroed), icmp.readUInt16BE(2));
  assert.equal(icmpv6Checksum(src, dst, icmp), 0xffff);
});

test('announceFrame picks by family; bad input names the field', () => {
  assert.deepEqual(announceFrame(MAC, '192.0.2.100'), garpFrame(MAC, '192.0.2.100'));
  assert.deepEqual(announceFrame(MAC, '2001:db8::100'), unsolicitedNaFrame(MAC, '2001:db8::100'));
  assert.throws(() => announceFrame(MAC, 'vip'), (e: unknown) => e instanceof InvalidArgumentError && e.field === 'address');
  assert.throws(() => garpFrame(MAC, '2001:db8::1'), InvalidArgumentError);
  assert.throws(() => unsolicitedNaFrame(MAC, '192.0.2.1'), InvalidArgumentError);
  assert.throws(() => macBytes('02:00:00:00:0a'), (e: unknown) => e instanceof InvalidArgumentError && e.field === 'mac');
});
