// SPDX-License-Identifier: Apache-2.0
// SYN checks name an ICMP error about their SYN as connect() would (health/probes/icmp-reason.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { icmpReason } from '../../src/health/probes/icmp-reason.js';

test('ICMP errors read as the errno connect() would give, with the ICMP name; others by number', () => {
  assert.equal(icmpReason(4, 3, 1), 'EHOSTUNREACH (ICMP host unreachable)');
  assert.equal(icmpReason(4, 3, 0), 'ENETUNREACH (ICMP net unreachable)');
  assert.equal(icmpReason(4, 3, 3), 'ECONNREFUSED (ICMP port unreachable)');
  assert.equal(icmpReason(4, 11, 0), 'EHOSTUNREACH (ICMP TTL exceeded in transit)');
  assert.equal(icmpReason(6, 1, 3), 'EHOSTUNREACH (ICMPv6 address unreachable)');
  assert.equal(icmpReason(6, 1, 4), 'ECONNREFUSED (ICMPv6 port unreachable)');
  // the families' numbers differ: 3/1 is not an ICMPv6 name
  assert.equal(icmpReason(6, 3, 1), 'EHOSTUNREACH (ICMPv6 type 3 code 1)');
  assert.equal(icmpReason(4, 3, 9), 'EHOSTUNREACH (ICMP type 3 code 9)');
});
