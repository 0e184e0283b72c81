// SPDX-License-Identifier: Apache-2.0
// The forwarding benchmark's pure parts: /proc/stat parsing and CPU deltas, the peers' setup and
// the nftables rule set of the kube-proxy style peer.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpuBetween, parseProcStat } from '../../bench/forwarding-cpu.js';
import { nftRuleset, PEERS } from '../../bench/forwarding-peers.js';
import { InvalidArgumentError } from '../../src/errors.js';

const STAT = `cpu  557786 0 399002 1046702 2270 0 7936 2314 0 0
cpu0 100 1 200 1000 5 3 40 7 0 0
cpu1 10 0 20 2000 0 0 4 900 0 0
intr 1 2 3
ctxt 42
`;

test('parseProcStat: busy = user + nice + system + irq + softirq; idle, iowait and steal are not ours', () => {
  assert.deepEqual(parseProcStat(STAT), [
    { busy: 100 + 1 + 200 + 3 + 40, total: 100 + 1 + 200 + 1000 + 5 + 3 + 40 + 7 },
    { busy: 10 + 20 + 4, total: 10 + 20 + 2000 + 4 + 900 },
  ]);
});

test('parseProcStat refuses a text without per-CPU lines, or a short line', () => {
  assert.throws(() => parseProcStat('cpu  1 2 3 4 5 6 7 8\nintr 1\n'), (e: unknown) => e instanceof InvalidArgumentError && e.field === '/proc/stat');
  assert.throws(() => parseProcStat('cpu0 1 2 3\n'), (e: unknown) => e instanceof InvalidArgumentError && e.field === '/proc/stat line');
});

test('cpuBetween: ticks of 10 ms become ns, per CPU and summed', () => {
  const a = [{ busy: 100, total: 1000 }, { busy: 50, total: 1000 }];
  const b = [{ busy: 150, total: 1100 }, { busy: 51, total: 1100 }];
  assert.deepEqual(cpuBetween(a, b), { busyNs: [500_000_000, 10_000_000], totalBusyNs: 510_000_000 });
  assert.throws(() => cpuBetween(a, [b[0]!]), (e: unknown) => e instanceof InvalidArgumentError && e.field === 'CPU count');
});

test('the nftables peer balances the VIP over the four reals with numgen inc, in a prerouting nat chain', () => {
  const r = nftRuleset();
  assert.match(r, /type nat hook prerouting priority dstnat;/);
  assert.match(r, /ip daddr 203\.0\.113\.100 udp dport 5353 dnat to numgen inc mod 4 map \{ 0 : 10\.77\.0\.11, 1 : 10\.77\.0\.12, 2 : 10\.77\.0\.13, 3 : 10\.77\.0\.14 \}/);
});

test('every peer names its setup and expected destinations; NAT peers expect the four reals', () => {
  assert.deepEqual(PEERS.map((p) => p.id), ['baseline', 'xlvs', 'xlvs-16', 'nftables', 'kernel', 'xdp-fwd']);
  for (const p of PEERS) {
    assert.ok(p.setup.length > 40, p.id);
    assert.ok(p.expect.length === (['xlvs', 'xlvs-16', 'nftables'].includes(p.id) ? 4 : 1), p.id);
  }
});
