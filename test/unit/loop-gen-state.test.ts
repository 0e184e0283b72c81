// SPDX-License-Identifier: Apache-2.0
// The packet loop's bookkeeping (bench/traffic/loop-gen-state.ts): struct gen_state decoded, a run's
// bounds, why it ended, the CPUs it ran on, its result, and a veth's xmit counters.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  cpuList, decodeGenState, endOf, GEN_END, GEN_STATE_SIZE, loopRate, MAX_RUN_SECONDS, parseVethXmit, runBounds, runResult,
} from '../../bench/traffic/loop-gen-state.js';
import { InvalidArgumentError } from '../../src/errors.js';

const field = (f: string) => (e: unknown): boolean => e instanceof InvalidArgumentError && e.field === f;

test('decodeGenState reads struct gen_state at its offsets', () => {
  const b = Buffer.alloc(GEN_STATE_SIZE + 8);
  [1000, 5, 7, 16, 2, 0b110].forEach((v, i) => b.writeBigUInt64LE(BigInt(v), 8 + 8 * i));
  b.writeUInt32LE(1, 8 + 48);
  b.writeUInt32LE(GEN_END.deadline, 8 + 52);
  assert.deepEqual(decodeGenState(b, 8), { next: 1000, firstNs: 5, lastNs: 7, rounds: 16, foreign: 2, cpus: 6, ended: 1, why: 2 });
});

test('runBounds: the kernel deadline, a wall clock beyond it, a default that grows with the count', () => {
  assert.deepEqual(runBounds(10, 0.5), { maxNs: 500_000_000, wallNs: 2_500_000_000, stallNs: 1e9 });
  assert.equal(runBounds(100_000).maxNs, 2e9, '1 s + count / 100,000 per second');
  assert.equal(runBounds(Number.MAX_SAFE_INTEGER).maxNs, MAX_RUN_SECONDS * 1e9, 'capped');
  assert.throws(() => runBounds(0), field('count'));
  assert.throws(() => runBounds(1.5), field('count'));
  assert.throws(() => runBounds(10, 0), field('seconds'));
  assert.throws(() => runBounds(10, MAX_RUN_SECONDS + 1), field('seconds'));
  assert.throws(() => runBounds(10, Number.NaN), field('seconds'));
});

test('endOf names why the loop ended; a loop that has not ended is an error', () => {
  assert.equal(endOf(GEN_END.count), 'count');
  assert.equal(endOf(GEN_END.deadline), 'deadline');
  assert.equal(endOf(GEN_END.stopped), 'stopped');
  assert.throws(() => endOf(0), field('gen_state.why'));
});

test('cpuList: the bits of the mask, low CPU first, beyond 32 bits too', () => {
  assert.deepEqual(cpuList(0), []);
  assert.deepEqual(cpuList(0b1011), [0, 1, 3]);
  assert.deepEqual(cpuList(2 ** 40 + 1), [0, 40]);
});

test('runResult: frames generated are capped at the count (the last round\'s surplus is dropped), time first round to last', () => {
  const st = { next: 1010, firstNs: 1_000, lastNs: 1_001_000, rounds: 17, foreign: 0, cpus: 2, ended: 1, why: GEN_END.count };
  const r = runResult(st, 1000, 5e6);
  assert.deepEqual(r, { sent: 1000, elapsedNs: 1_000_000, wallNs: 5e6, rounds: 17, ended: 'count', cpus: [1], foreign: 0 });
  assert.equal(loopRate(r), 1e6);
  assert.equal(loopRate({ ...r, elapsedNs: 0 }), 0);
});

test('parseVethXmit sums the xdp_xmit counters over queues', () => {
  const text = [
    'NIC statistics:', '     peer_ifindex: 5', '     rx_queue_0_xdp_packets: 9', '     tx_queue_0_xdp_xmit: 100',
    '     tx_queue_0_xdp_xmit_errors: 3', '     tx_queue_1_xdp_xmit: 50', '     tx_queue_1_xdp_xmit_errors: 1',
  ].join('\n');
  assert.deepEqual(parseVethXmit(text), { xmit: 150, xmitErrors: 4 });
  assert.throws(() => parseVethXmit('NIC statistics:\n     rx_packets: 1\n'), field('ethtool -S'));
});
