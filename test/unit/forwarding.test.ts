// SPDX-License-Identifier: Apache-2.0
// The forwarding benchmark's pure parts: the peers' setup and the nftables rule set of the
// kube-proxy style peer (/proc/stat: bench-cpu.test.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NFT_SPEC, PEERS } from '../../bench/forwarding/forwarding-peers.js';
import { nftRuleset } from '../../bench/peers/nftables.js';
import { InvalidArgumentError } from '../../src/errors.js';

test('the nftables peer balances the VIP over the four reals with numgen inc, in a prerouting nat chain', () => {
  const r = nftRuleset(NFT_SPEC);
  assert.match(r, /type nat hook prerouting priority dstnat;/);
  assert.match(r, /ip daddr 203\.0\.113\.100 udp dport 5353 dnat to numgen inc mod 4 map \{ 0 : 10\.77\.0\.11, 1 : 10\.77\.0\.12, 2 : 10\.77\.0\.13, 3 : 10\.77\.0\.14 \}$/m, 'udp, port kept: no `: port` after the map');
  assert.throws(() => nftRuleset({ ...NFT_SPEC, reals: [] }), (e: unknown) => e instanceof InvalidArgumentError && e.field === 'reals');
});

test('every peer names its setup and expected destinations; NAT peers expect the four reals', () => {
  assert.deepEqual(PEERS.map((p) => p.id), ['baseline', 'xlvs', 'xlvs-16', 'nftables', 'kernel', 'xdp-fwd']);
  for (const p of PEERS) {
    assert.ok(p.setup.length > 40, p.id);
    assert.ok(p.expect.length === (['xlvs', 'xlvs-16', 'nftables'].includes(p.id) ? 4 : 1), p.id);
  }
});
