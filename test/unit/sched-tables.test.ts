// SPDX-License-Identifier: Apache-2.0
// Scheduling tables (src/sched/table.ts and what it builds): the packet hash, IPVS's sh/dh
// buckets, the maglev table's balance and its disruption bounds on real removal and weight
// change, and wrr ring ratios for weights that must be scaled to fit.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hashAddr, hashString, hashRound, hashFmix } from '../../src/sched/hash.js';
import { shBuckets, dhBuckets, HASH_BUCKETS } from '../../src/sched/hash-table.js';
import { maglevTable, maglevTurns, type MaglevReal } from '../../src/sched/maglev.js';
import { buildTable, MAX_RING } from '../../src/sched/table.js';
import { pickHashed, type RealState } from '../../src/sched/reference.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { mulberry32 } from '../../src/model/prng.js';

const prng = mulberry32;

function v4(a: string): Buffer {
  const b = Buffer.alloc(16);
  a.split('.').forEach((o, i) => b.writeUInt8(Number(o), i));
  return b;
}

const counts = (t: number[], n: number): number[] => {
  const c = new Array<number>(n).fill(0);
  for (const i of t) c[i]!++;
  return c;
};

test('murmur3 pieces: the published finaliser and block round constants', () => {
  // fmix32(0) = 0 and fmix32 is a bijection; the MurmurHash3_x86_32 of the empty input with
  // seed 0 is 0 and with seed 1 is 0x514E28B7 (published test vectors): fmix(seed ^ 0).
  assert.equal(hashFmix(0), 0);
  assert.equal(hashFmix(1), 0x514e28b7);
  // MurmurHash3_x86_32 of the 4 bytes 00 00 00 00 with seed 0 is 0x2362F9DE: one round + fmix(h ^ 4).
  assert.equal(hashFmix((hashRound(0, 0) ^ 4) >>> 0), 0x2362f9de);
});

test('hashAddr depends on every input and on nothing else', () => {
  const a = v4('192.0.2.7');
  const base = hashAddr(a, 4, 0, 1234, 0);
  assert.equal(hashAddr(v4('192.0.2.7'), 4, 0, 1234, 0), base, 'same inputs, same hash');
  assert.notEqual(hashAddr(v4('192.0.2.8'), 4, 0, 1234, 0), base, 'address');
  assert.notEqual(hashAddr(a, 6, 0, 1234, 0), base, 'family');
  assert.notEqual(hashAddr(a, 4, 80, 1234, 0), base, 'port');
  assert.notEqual(hashAddr(a, 4, 0, 1235, 0), base, 'seed');
  assert.notEqual(hashAddr(a, 4, 0, 1234, 1), base, 'round');
  assert.throws(() => hashAddr(Buffer.alloc(4), 4, 0, 0, 0), InvalidArgumentError);
});

test('hashAddr spreads consecutive client addresses evenly over 256 buckets', () => {
  const c = new Array<number>(256).fill(0);
  for (let i = 0; i < 256 * 400; i++) {
    const b = Buffer.alloc(16);
    b.writeUInt32BE((0x0a000000 + i) >>> 0, 0);
    c[hashAddr(b, 4, 0, 42, 0) % 256]!++;
  }
  // 400 expected per bucket; a binomial's spread is 20, so 320..480 is 4 sigma.
  assert.ok(Math.min(...c) > 320 && Math.max(...c) < 480, `buckets ${Math.min(...c)}..${Math.max(...c)}`);
});

test('hashString: the identity hash of mh depends on the identity, seed and tweak', () => {
  const h = hashString('10.77.0.11:80', 7, 1);
  assert.equal(hashString('10.77.0.11:80', 7, 1), h);
  assert.notEqual(hashString('10.77.0.11:81', 7, 1), h);
  assert.notEqual(hashString('10.77.0.11:80', 8, 1), h);
  assert.notEqual(hashString('10.77.0.11:80', 7, 2), h);
});

test('sh buckets follow ip_vs_sh_reassign: weight consecutive buckets per real, cycling', () => {
  const t = shBuckets([3, 1, 1]);
  assert.equal(t.length, HASH_BUCKETS);
  assert.deepEqual(t.slice(0, 10), [0, 0, 0, 1, 2, 0, 0, 0, 1, 2]);
  // 256 = 51 cycles of 5 + 1: real 0 gets 51*3 + 1 buckets
  assert.deepEqual(counts(t, 3), [154, 51, 51]);
  // a real of weight 0 still takes one bucket per cycle, as in IPVS
  assert.deepEqual(shBuckets([0, 2]).slice(0, 6), [0, 1, 1, 0, 1, 1]);
  // weights adding up past 256: the later reals get what is left
  assert.deepEqual(counts(shBuckets([200, 200]), 2), [200, 56]);
  assert.deepEqual(shBuckets([]), []);
});

test('dh buckets cycle through the reals, weights ignored', () => {
  assert.deepEqual(dhBuckets(3).slice(0, 7), [0, 1, 2, 0, 1, 2, 0]);
  assert.equal(dhBuckets(3).length, HASH_BUCKETS);
  assert.deepEqual(buildTable('dh', [{ id: 'a', weight: 5 }, { id: 'b', weight: 0 }], { seed: 0, mhTableSize: 7 }).slice(0, 4), [0, 1, 0, 1]);
  assert.deepEqual(dhBuckets(0), []);
});

test('sh/dh: the same key picks the same real, and two routers with the same config agree', () => {
  const reals: RealState[] = Array.from({ length: 5 }, () => ({ weight: 1, active: 0, inactive: 0 }));
  const ids = reals.map((_, i) => ({ id: `10.77.0.${11 + i}:80`, weight: 1 }));
  const rnd = prng(9);
  for (const sched of ['sh', 'dh'] as const) {
    const t1 = buildTable(sched, ids, { seed: 77, mhTableSize: 7 });
    const t2 = buildTable(sched, ids.map((r) => ({ ...r })), { seed: 77, mhTableSize: 7 });
    const spread = new Set<number>();
    for (let i = 0; i < 1000; i++) {
      const k = { src: v4(`198.51.100.${i % 250}`), dst: v4(`192.0.2.${(i * 7) % 250}`), family: 4, sport: 1024 + Math.floor(rnd() * 60000) };
      const p = pickHashed(sched, t1, reals, k, 77, { fallback: false, port: false });
      assert.equal(pickHashed(sched, t1, reals, { ...k, sport: k.sport + 1 }, 77, { fallback: false, port: false }), p, `${sched}: port ignored`);
      assert.equal(pickHashed(sched, t2, reals, k, 77, { fallback: false, port: false }), p, `${sched}: other router`);
      spread.add(p);
    }
    assert.equal(spread.size, 5, `${sched} uses every real`);
  }
});

test('sh fallback: an unavailable real sends its keys elsewhere; without fallback they get no real', () => {
  const reals: RealState[] = Array.from({ length: 4 }, () => ({ weight: 1, active: 0, inactive: 0 }));
  const t = buildTable('sh', reals.map((_, i) => ({ id: String(i), weight: 1 })), { seed: 3, mhTableSize: 7 });
  const down = reals.map((r, i) => (i === 2 ? { ...r, weight: 0 } : r));
  let lost = 0;
  for (let i = 0; i < 2000; i++) {
    const k = { src: v4(`198.51.${i >> 8}.${i & 255}`), dst: v4('192.0.2.1'), family: 4, sport: 0 };
    const before = pickHashed('sh', t, reals, k, 3, { fallback: false, port: false });
    const without = pickHashed('sh', t, down, k, 3, { fallback: false, port: false });
    const withFb = pickHashed('sh', t, down, k, 3, { fallback: true, port: false });
    if (before === 2) {
      lost++;
      assert.equal(without, -1);
      assert.ok(withFb >= 0 && withFb !== 2, `fallback picked ${withFb}`);
    } else {
      assert.equal(without, before, 'keys of other reals stay');
      assert.equal(withFb, before, 'keys of other reals stay with fallback');
    }
  }
  assert.ok(lost > 300 && lost < 700, `real 2 had ${lost} of 2000 keys`);
});

test('mh table sizes must be prime', () => {
  assert.throws(() => buildTable('mh', [{ id: 'a', weight: 1 }], { seed: 0, mhTableSize: 65536 }), InvalidArgumentError);
  assert.throws(() => buildTable('mh', [{ id: 'a', weight: 1 }], { seed: 0, mhTableSize: 1048583 }), /mh_table_size/);
  assert.throws(() => maglevTable([{ id: 'a', weight: 1 }, { id: 'b', weight: 1 }, { id: 'c', weight: 1 }], 2, 0), /exceed/);
});

test('mh turns: gcd-reduced weights, shifted so the heaviest takes about sqrt(M) a round', () => {
  assert.deepEqual(maglevTurns([2, 4, 6], 65537), [1, 2, 3]);
  assert.deepEqual(maglevTurns([0, 5], 65537), [0, 1]);
  // 65535:1 in M = 65537 (half of 16 bits = 8): 65535 has 16 bits -> shift 8 -> 255; 1 -> 0 -> 1
  assert.deepEqual(maglevTurns([65535, 1], 65537), [255, 1]);
});

test('mh table: every slot names a real, equal weights share it evenly, 2:1 gets twice the slots', () => {
  const M = 65537;
  const reals: MaglevReal[] = Array.from({ length: 10 }, (_, i) => ({ id: `10.77.0.${11 + i}:80`, weight: 1 }));
  const t = maglevTable(reals, M, 5);
  assert.equal(t.length, M);
  const c = counts(t, 10);
  assert.equal(c.reduce((a, b) => a + b, 0), M);
  assert.ok(Math.max(...c) / Math.min(...c) < 1.02, `equal weights: ${c}`);
  const w = maglevTable([{ id: 'a:1', weight: 2 }, { id: 'b:1', weight: 1 }, { id: 'c:1', weight: 1 }], M, 5);
  const wc = counts(w, 3);
  assert.ok(Math.abs(wc[0]! / M - 0.5) < 0.01, `2:1:1 gives ${wc}`);
  assert.deepEqual(maglevTable(reals, M, 5), t, 'same config, same table');
  assert.notDeepEqual(maglevTable(reals, M, 6), t, 'another seed, another table');
  assert.deepEqual(maglevTable([{ id: 'a', weight: 0 }], M, 5), []);
});

/** Fraction of keys whose real (by identity) differs between two tables. */
function moved(a: number[], aIds: string[], b: number[], bIds: string[], keys: number): number {
  let n = 0;
  for (let i = 0; i < keys; i++) {
    const h = hashAddr(Buffer.from([10, (i >> 16) & 255, (i >> 8) & 255, i & 255, ...new Array<number>(12).fill(0)]), 4, 0, 99, 0);
    if (aIds[a[h % a.length]!] !== bIds[b[h % b.length]!]) n++;
  }
  return n / keys;
}

test('mh disruption: removing one of N reals moves at most 1/N + 1% of 100k keys', () => {
  const M = 65537;
  for (const n of [5, 10, 20]) {
    const reals: MaglevReal[] = Array.from({ length: n }, (_, i) => ({ id: `10.77.1.${i}:80`, weight: 1 }));
    const before = maglevTable(reals, M, 99);
    const gone = Math.floor(n / 2);
    const after = reals.filter((_, i) => i !== gone);
    const frac = moved(before, reals.map((r) => r.id), maglevTable(after, M, 99), after.map((r) => r.id), 100_000);
    assert.ok(frac <= 1 / n + 0.01, `n=${n}: ${(frac * 100).toFixed(2)}% moved, bound ${(100 / n + 1).toFixed(2)}%`);
    assert.ok(frac >= 1 / n - 0.01, `n=${n}: only ${(frac * 100).toFixed(2)}% moved: the removed real's keys must`);
  }
});

test('mh disruption: doubling one weight of 10 moves at most its gained share + 1.5%', () => {
  const M = 65537;
  const reals: MaglevReal[] = Array.from({ length: 10 }, (_, i) => ({ id: `10.77.2.${i}:80`, weight: 2 }));
  const ids = reals.map((r) => r.id);
  const heavier = reals.map((r, i) => (i === 4 ? { ...r, weight: 4 } : r));
  const frac = moved(maglevTable(reals, M, 99), ids, maglevTable(heavier, M, 99), ids, 100_000);
  const ideal = 4 / 22 - 2 / 20;
  assert.ok(frac <= ideal + 0.015, `${(frac * 100).toFixed(2)}% moved, ideal ${(ideal * 100).toFixed(2)}%`);
  assert.ok(frac >= ideal - 0.01, `${(frac * 100).toFixed(2)}% moved, less than the share that had to move`);
});

test('mh quiesce with lastWeight keeps the table; without it the real gives up its slots', () => {
  const M = 4093;
  const reals: MaglevReal[] = Array.from({ length: 4 }, (_, i) => ({ id: `r${i}`, weight: 3 }));
  const t = maglevTable(reals, M, 1);
  assert.deepEqual(maglevTable(reals.map((r, i) => (i === 1 ? { ...r, weight: 0, lastWeight: 3 } : r)), M, 1), t);
  assert.equal(counts(maglevTable(reals.map((r, i) => (i === 1 ? { ...r, weight: 0 } : r)), M, 1), 4)[1], 0);
});

test('buildTable: no table for the schedulers that pick from live counts', () => {
  for (const s of ['lc', 'wlc', 'sed', 'nq', 'fo', 'ovf', 'lblc', 'lblcr'] as const) {
    assert.deepEqual(buildTable(s, [{ id: 'a', weight: 1 }], { seed: 0, mhTableSize: 7 }), [], s);
  }
});

test('wrr ratios: every real within 2% of its weight share, even when the cycle must be scaled', () => {
  const rnd = prng(0xabc);
  let scaled = 0;
  for (let c = 0; c < 200; c++) {
    const n = 2 + Math.floor(rnd() * 60);
    const weights = Array.from({ length: n }, () => 1 + Math.floor(rnd() * 65535));
    const ring = buildTable('wrr', weights.map((w, i) => ({ id: String(i), weight: w })), { seed: 0, mhTableSize: 7 });
    const total = weights.reduce((a, b) => a + b, 0);
    if (total > MAX_RING) scaled++;
    const got = counts(ring, n);
    weights.forEach((w, i) => {
      const want = (w / total) * ring.length;
      // rounding to whole slots costs at most one slot: only a real with >= 50 slots can be held to 2%
      if (want >= 50) assert.ok(Math.abs(got[i]! / want - 1) <= 0.02, `case ${c} real ${i}: ${got[i]} slots, want ${want.toFixed(1)}`);
      else assert.ok(Math.abs(got[i]! - want) <= 1, `case ${c} real ${i}: ${got[i]} slots, want ${want.toFixed(1)}`);
    });
  }
  assert.ok(scaled > 100, `only ${scaled} cases needed scaling`);
});
