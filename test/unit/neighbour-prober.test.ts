// SPDX-License-Identifier: Apache-2.0
// The lab's ARP / ND prober (testing/neighbour-prober.ts): the frames it asks with, the tcpdump
// lines it reads answers from, and the hand-over arithmetic the HA lab tests assert on.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { arpRequest, handOver, neighborSolicitation, parseAnswer } from '../../testing/neighbour-prober.js';
import { icmpv6Checksum } from '../../src/ha/announce.js';

const MAC = '02:00:00:00:00:02';

test('ARP request: broadcast who-has target tell me', () => {
  const f = arpRequest(MAC, '203.0.113.2', '203.0.113.100');
  assert.equal(f.length, 60);
  assert.equal(f.subarray(0, 6).toString('hex'), 'ffffffffffff');
  assert.equal(f.subarray(6, 12).toString('hex'), '020000000002');
  assert.equal(f.readUInt16BE(12), 0x0806);
  assert.equal(f.readUInt16BE(20), 1);
  assert.equal(f.subarray(28, 32).join('.'), '203.0.113.2');
  assert.equal(f.subarray(32, 38).toString('hex'), '000000000000');
  assert.equal(f.subarray(38, 42).join('.'), '203.0.113.100');
});

test('Neighbor Solicitation: to the solicited-node group, hop limit 255, a valid checksum, my link-layer address', () => {
  const f = neighborSolicitation(MAC, '2001:db8:1::2', '2001:db8:1::100');
  assert.equal(f.subarray(0, 6).toString('hex'), '3333ff000100');
  assert.equal(f.readUInt16BE(12), 0x86dd);
  assert.equal(f[20], 58);
  assert.equal(f[21], 255);
  assert.equal(f.subarray(38, 54).toString('hex'), 'ff0200000000000000000001ff000100');
  const icmp = f.subarray(54);
  assert.equal(icmp[0], 135);
  assert.equal(icmp.subarray(8, 24).toString('hex'), '20010db8000100000000000000000100');
  assert.equal(icmp.subarray(26, 32).toString('hex'), '020000000002');
  // Summed with its checksum in place, a valid message gives 0 (reported as 0xffff).
  assert.equal(icmpv6Checksum(f.subarray(22, 38), f.subarray(38, 54), icmp), 0xffff);
});

test('answers are read from tcpdump -e -tt lines: ARP replies and NAs, nothing else', () => {
  assert.deepEqual(
    parseAnswer('1796646400.123456 0e:b3:06:29:0e:e7 > 02:00:00:00:00:02, ethertype ARP (0x0806), length 42: Reply 203.0.113.100 is-at 0e:b3:06:29:0e:e7, length 28'),
    { atMs: 1796646400123.456, mac: '0e:b3:06:29:0e:e7', target: '203.0.113.100' },
  );
  assert.deepEqual(
    parseAnswer('1796646400.000001 0e:b3:06:29:0e:e7 > 02:00:00:00:00:02, ethertype IPv6 (0x86dd), length 86: 2001:db8:1::100 > 2001:db8:1::2: ICMP6, neighbor advertisement, tgt is 2001:db8:1::100, length 32'),
    { atMs: 1796646400000.001, mac: '0e:b3:06:29:0e:e7', target: '2001:db8:1::100' },
  );
  assert.equal(parseAnswer('1796646400.1 02:00:00:00:00:02 > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806), length 60: Request who-has 203.0.113.100 tell 203.0.113.2, length 46'), undefined);
  assert.equal(parseAnswer('listening on eth0, link-type EN10MB (Ethernet)'), undefined);
});

test('hand-over: both / neither answering, and a stranger refused', () => {
  const a = (atMs: number, mac: string) => ({ atMs, mac, target: 'x' });
  const h = handOver([a(0, 'old'), a(10, 'old'), a(15, 'new'), a(20, 'old'), a(25, 'new')], 'old', 'new');
  assert.deepEqual(h, { lastFromMs: 20, firstToMs: 15, fromCount: 3, toCount: 2, bothMs: 5, neitherMs: 0 });
  const g = handOver([a(0, 'old'), a(30, 'new')], 'old', 'new');
  assert.deepEqual([g.bothMs, g.neitherMs], [0, 30]);
  assert.throws(() => handOver([a(0, 'other')], 'old', 'new'), /unexpected MAC/);
});
