// SPDX-License-Identifier: Apache-2.0
// The reference model of the dynamic schedulers (src/sched/reference.ts) against IPVS's rules
// worked out by hand for known connection counts. The fixture tests then hold the data plane to
// this model (test/integration/sched-fixtures.test.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  pickLeast, pickLblc, pickLblcr, localityOverloaded, pickSpread, pickRing, pickRendezvous, type RealState, type LblcrSet,
} from '../../src/sched/reference.js';

/** Reals from [weight, active, inactive] triples. */
const R = (...rs: Array<[number, number, number]>): RealState[] => rs.map(([weight, active, inactive]) => ({ weight, active, inactive }));

test('lc: least (active << 8) + inactive; weights ignored but 0 skipped; first on ties', () => {
  // overheads 512, 556, 266
  assert.equal(pickLeast('lc', R([1, 2, 0], [1, 1, 300], [1, 1, 10])), 2);
  // one active outweighs 255 inactive: 256 vs 255
  assert.equal(pickLeast('lc', R([1, 1, 0], [1, 0, 255])), 1);
  assert.equal(pickLeast('lc', R([1, 1, 0], [1, 0, 256])), 0);
  assert.equal(pickLeast('lc', R([5, 1, 0], [1, 1, 0])), 0, 'tie: first');
  assert.equal(pickLeast('lc', R([0, 0, 0], [100, 9, 0])), 1, 'weight 0 is quiescent');
  const over = R([1, 0, 0], [1, 5, 0]);
  over[0]!.overloaded = true;
  assert.equal(pickLeast('lc', over), 1, 'over its upper threshold');
  assert.equal(pickLeast('lc', R([0, 0, 0])), -1);
  assert.equal(pickLeast('lc', []), -1);
});

test('wlc: least overhead/weight by cross-multiplication; the first available real starts', () => {
  // 2560/1, 2560/2, 2560/3
  assert.equal(pickLeast('wlc', R([1, 10, 0], [2, 10, 0], [3, 10, 0])), 2);
  // 256/1 == 512/2: equal, the first stays
  assert.equal(pickLeast('wlc', R([1, 1, 0], [2, 2, 0])), 0);
  // 256/1 > 511/2 (255.5): the second
  assert.equal(pickLeast('wlc', R([1, 1, 0], [2, 1, 255])), 1);
  // inactive counts too: 0+10 vs 0+1 with weights 1 and 1
  assert.equal(pickLeast('wlc', R([1, 0, 10], [1, 0, 1])), 1);
  assert.equal(pickLeast('wlc', R([0, 0, 0], [1, 50, 0], [0, 0, 0])), 1, 'quiescent reals never start nor win');
});

test('sed: least (active + 1)/weight, inactive ignored', () => {
  // 1/1 vs 3/3: equal, first
  assert.equal(pickLeast('sed', R([1, 0, 0], [3, 2, 0])), 0);
  // 1/1 vs 2/3
  assert.equal(pickLeast('sed', R([1, 0, 0], [3, 1, 0])), 1);
  assert.equal(pickLeast('sed', R([1, 0, 0], [1, 0, 500])), 0, 'inactive does not count');
});

test('nq: the first idle available real wins outright, else sed', () => {
  // real 0 is loaded but light per weight (2/100); real 2 is idle: nq takes the idle one
  assert.equal(pickLeast('nq', R([100, 1, 0], [1, 5, 0], [1, 0, 0])), 2);
  assert.equal(pickLeast('sed', R([100, 1, 0], [1, 5, 0], [1, 0, 0])), 0, 'sed would not');
  assert.equal(pickLeast('nq', R([5, 0, 0], [1, 0, 0])), 0, 'first idle');
  // nobody idle: sed, 2/1 vs 2/3
  assert.equal(pickLeast('nq', R([1, 1, 0], [3, 1, 0])), 1);
  // an idle but quiescent real does not count
  assert.equal(pickLeast('nq', R([0, 0, 0], [1, 3, 0], [2, 3, 0])), 2);
});

test('fo: the heaviest available real, first on ties; ovf: the same among active <= weight', () => {
  assert.equal(pickLeast('fo', R([5, 0, 0], [9, 100, 0], [9, 0, 0])), 1);
  const fo = R([5, 0, 0], [9, 0, 0], [9, 0, 0]);
  fo[1]!.overloaded = true;
  assert.equal(pickLeast('fo', fo), 2);
  // ovf: active == weight still takes flows (IPVS skips only active > weight)
  assert.equal(pickLeast('ovf', R([3, 3, 0], [2, 0, 0])), 0);
  assert.equal(pickLeast('ovf', R([3, 4, 0], [2, 0, 0])), 1);
  assert.equal(pickLeast('ovf', R([3, 4, 0], [2, 3, 0])), -1, 'every real overflowing: none');
  assert.equal(pickLeast('ovf', R([3, 0, 1000], [2, 0, 0])), 0, 'inactive does not count');
});

test('lblc overload: more active than weight AND some real below half its weight', () => {
  const rs = R([4, 5, 0], [4, 1, 0]);
  assert.ok(localityOverloaded(rs[0]!, rs), '5 > 4 and 1*2 < 4');
  assert.ok(!localityOverloaded(rs[1]!, rs), '1 <= 4');
  const busy = R([4, 5, 0], [4, 2, 0]);
  assert.ok(!localityOverloaded(busy[0]!, busy), 'nobody below half: 2*2 is not < 4');
});

test('lblc: keeps the cached real until it is overloaded in lblc\'s sense or unavailable', () => {
  assert.deepEqual(pickLblc(undefined, R([1, 3, 0], [1, 1, 0])), { pick: 1, cached: 1 }, 'no entry: wlc');
  assert.deepEqual(pickLblc(0, R([1, 1, 0], [1, 0, 0])), { pick: 0, cached: 0 }, 'not overloaded (1 <= 1): kept although real 1 is idler');
  assert.deepEqual(pickLblc(0, R([1, 2, 0], [1, 2, 0])), { pick: 0, cached: 0 }, '2 > 1 but nobody below half: kept');
  assert.deepEqual(pickLblc(0, R([1, 2, 0], [4, 1, 0])), { pick: 1, cached: 1 }, 'overloaded: moved to the wlc pick');
  assert.deepEqual(pickLblc(0, R([0, 0, 0], [1, 7, 0])), { pick: 1, cached: 1 }, 'quiesced: moved');
  assert.deepEqual(pickLblc(0, R([0, 0, 0])), { pick: -1, cached: 0 }, 'nothing available: no real, entry unchanged');
});

test('lblcr: the set grows on overload, shrinks after shrink time, drops stale members, holds 8', () => {
  const SHRINK = 1000n;
  // first flow: a set of the wlc pick
  let rs = R([2, 3, 0], [2, 0, 0], [2, 5, 0]);
  let r = pickLblcr(undefined, rs, 10n, SHRINK);
  assert.equal(r.pick, 1);
  const set = r.set as LblcrSet;
  assert.deepEqual(set, { members: [1], modifiedNs: 10n });
  // member 1 overloaded (3 > 2) while real 0 is below half (0*2 < 2): wlc over all joins the set
  rs = R([2, 0, 0], [2, 3, 0], [2, 5, 0]);
  r = pickLblcr(set, rs, 20n, SHRINK);
  assert.equal(r.pick, 0);
  assert.deepEqual(set.members, [1, 0]);
  assert.equal(set.modifiedNs, 20n);
  // the least loaded member serves; no change, no new time
  rs = R([2, 1, 0], [2, 2, 0], [2, 5, 0]);
  r = pickLblcr(set, rs, 30n, SHRINK);
  assert.equal(r.pick, 0);
  assert.deepEqual(set.members, [1, 0]);
  assert.equal(set.modifiedNs, 20n);
  // after the shrink time the most loaded member (1) goes; the pick was chosen before, as in IPVS
  r = pickLblcr(set, rs, 20n + SHRINK + 1n, SHRINK);
  assert.equal(r.pick, 0);
  assert.deepEqual(set.members, [0]);
  // a member removed from the service is dropped
  const stale = { members: [2, 0], modifiedNs: 5000n };
  rs = R([2, 0, 0], [2, 0, 0], [2, 0, 0]);
  rs[2]!.member = false;
  r = pickLblcr(stale, rs, 5001n, SHRINK);
  assert.equal(r.pick, 0);
  assert.deepEqual(stale.members, [0]);
  // a full set makes room by dropping its most loaded member
  const many = R(...Array.from({ length: 10 }, (_, i): [number, number, number] => [1, i === 3 ? 9 : 2, 0]));
  many[9]!.active = 0; // the one wlc picks, not yet in the set
  many[0]!.active = 5; // the set's least loaded members are all overloaded (2 > 1) and real 9 is idle
  const full = { members: [0, 1, 2, 3, 4, 5, 6, 7], modifiedNs: 10_000n };
  r = pickLblcr(full, many, 10_001n, SHRINK);
  assert.equal(r.pick, 9);
  assert.equal(full.members.length, 8);
  assert.ok(!full.members.includes(3), `the most loaded (3) left: ${full.members}`);
  assert.ok(full.members.includes(9));
});

test('pickSpread: past the ring, the available reals take turns in config order, by weight for wrr', () => {
  const rs = R([100, 0, 0], [3, 0, 0], [1, 0, 0], [2, 0, 0]);
  rs[0]!.overloaded = true;
  // wrr: turns 3:1:2 -> tickets 0..5 go 1,1,1,2,3,3 and then again
  assert.deepEqual(Array.from({ length: 8 }, (_, t) => pickSpread(rs, t, true)), [1, 1, 1, 2, 3, 3, 1, 1]);
  // rr: one turn each
  assert.deepEqual(Array.from({ length: 4 }, (_, t) => pickSpread(rs, t, false)), [1, 2, 3, 1]);
  assert.equal(pickSpread(R([0, 0, 0], [0, 0, 0]), 5, true), -1, 'quiescent reals take no turn');
});

test('pickRing: the next available slot within XLVS_RING_TRIES, else a turn of the spread', () => {
  const ring = [...Array(100).fill(0), 1];
  const rs = R([100, 0, 0], [1, 0, 0]);
  assert.deepEqual(pickRing(ring, rs, 0, true), { pick: 0, cursor: 1 });
  rs[0]!.overloaded = true;
  // slots 0..15 are all real 0: the spread decides, the cursor moved past the tries
  assert.deepEqual(pickRing(ring, rs, 0, true), { pick: 1, cursor: 16 });
  // slot 100 is within the tries from 90: taken from the ring
  assert.deepEqual(pickRing(ring, rs, 90, true), { pick: 1, cursor: 101 });
  assert.deepEqual(pickRing(ring, R([1, 0, 0]).map((r) => ({ ...r, overloaded: true })), 0, false).pick, -1);
  // the cursor wraps at 32 bits
  assert.equal(pickRing(ring, rs, 0xfffffff8, true).cursor, 8);
});

test('pickRendezvous: the highest score among the available reals; only the clients of a real that leaves move', () => {
  const addr = (i: number): Buffer => {
    const b = Buffer.alloc(16);
    b.writeUInt32BE((10 << 24) | i, 0);
    return b;
  };
  const rs: RealState[] = Array.from({ length: 6 }, (_, i) => ({ weight: 1, active: 0, inactive: 0, addr: { addr: addr(i), family: 4, port: 80 } }));
  const picks = Array.from({ length: 600 }, (_, h) => pickRendezvous(rs, h * 2654435761));
  assert.equal(new Set(picks).size, 6, 'every real wins for some clients');
  const down = rs.map((r, i) => (i === 2 ? { ...r, weight: 0 } : r));
  picks.forEach((p, h) => {
    const q = pickRendezvous(down, h * 2654435761);
    if (p === 2) assert.notEqual(q, 2);
    else assert.equal(q, p, `client ${h}`);
  });
  assert.throws(() => pickRendezvous([{ weight: 1, active: 0, inactive: 0 }], 1), /addr/);
  assert.equal(pickRendezvous(R([0, 0, 0]), 1), -1);
});
