// SPDX-License-Identifier: Apache-2.0
// The fuzz source is deterministic per seed, replays any frame by index, mixes every kind of
// frame, and its templates are valid frames.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FrameFuzzer, Prng, replay, defaultTemplates, FUZZ_KINDS } from '../../testing/fuzz.js';
import { buildFrame, parseFrame, badChecksums } from '../../testing/frames.js';

test('Prng: the same seed gives the same sequence, another seed another; below() stays in range', () => {
  const a = new Prng(1);
  const b = new Prng(1);
  const c = new Prng(2);
  const sa = Array.from({ length: 100 }, () => a.u32());
  assert.deepEqual(Array.from({ length: 100 }, () => b.u32()), sa);
  assert.notDeepEqual(Array.from({ length: 100 }, () => c.u32()), sa);
  const hist = new Array<number>(10).fill(0);
  for (let i = 0; i < 100_000; i++) hist[a.below(10)]!++;
  for (const h of hist) assert.ok(h > 9_000 && h < 11_000, `bucket ${h} of 100,000 over 10`);
});

test('FrameFuzzer: deterministic, replayable by index, every kind in the mix, lengths within an Ethernet frame', () => {
  const opts = { seed: 77, targets: ['203.0.113.100'] };
  const f = new FrameFuzzer(opts);
  const g = new FrameFuzzer(opts);
  const kinds = new Map<string, number>();
  let lenMin = Infinity;
  let lenMax = 0;
  for (let i = 0; i < 50_000; i++) {
    const n = f.next();
    assert.equal(g.next(), n);
    assert.equal(f.buf.subarray(0, n).toString('hex'), g.buf.subarray(0, n).toString('hex'));
    kinds.set(f.kind, (kinds.get(f.kind) ?? 0) + 1);
    lenMin = Math.min(lenMin, n);
    lenMax = Math.max(lenMax, n);
  }
  assert.deepEqual([...kinds.keys()].sort(), [...FUZZ_KINDS].sort());
  assert.ok(lenMin >= 14 && lenMax <= 1514, `${lenMin}..${lenMax}`);
  const again = new FrameFuzzer(opts);
  for (let i = 0; i <= 4321; i++) again.next();
  const r = replay(opts, 4321);
  assert.equal(r.kind, again.kind);
  assert.equal(r.frame.toString('hex'), again.buf.subarray(0, again.length).toString('hex'));
  assert.notEqual(replay({ seed: 78 }, 10).frame.toString('hex'), replay({ seed: 77 }, 10).frame.toString('hex'));
});

test('the default templates are valid frames with every checksum right', () => {
  const specs = defaultTemplates();
  assert.ok(specs.length >= 20);
  for (const s of specs) assert.deepEqual(badChecksums(parseFrame(buildFrame(s))), [], JSON.stringify(s.l3.kind));
});
