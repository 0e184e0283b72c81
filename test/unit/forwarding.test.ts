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
  // The report's setup line says which mechanism forwards, and where the generator's packets
  // are addressed (but for the baseline, which forwards nothing, and xlvs-16, "as above").
  const mechanism: Record<string, RegExp> = {
    baseline: /^no router: the generator's frames are counted and dropped by a second sink/,
    xlvs: /^xlvs NAT: build\/xlvs\.bpf\.o loaded/,
    'xlvs-16': /^xlvs NAT exactly as above .*a stream of only 16 source ports/,
    nftables: /^nftables DNAT load balancing, kube-proxy style: `dnat to numgen inc mod 4 map/,
    kernel: /^plain kernel forwarding: .*net\.ipv4\.ip_forward=1/,
    'xdp-fwd': /^bare XDP forwarder \(bench\/bpf\/bench_fwd\.bpf\.c\) on pub0/,
  };
  const reals = ['10.77.0.11', '10.77.0.12', '10.77.0.13', '10.77.0.14'].map((a) => `${a}:5353/17`);
  const expect: Record<string, string[]> = {
    baseline: ['203.0.113.100:5353/17'], xlvs: reals, 'xlvs-16': reals, nftables: reals, kernel: [reals[0]!], 'xdp-fwd': [reals[0]!],
  };
  for (const p of PEERS) {
    assert.match(p.setup, mechanism[p.id]!, p.id);
    if (p.id !== 'baseline' && p.id !== 'xlvs-16') assert.ok(p.setup.includes(p.dst), `${p.id}: the setup names ${p.dst}`);
    assert.deepEqual(p.expect, expect[p.id], p.id);
  }
});
