// SPDX-License-Identifier: Apache-2.0
// The HA role state machine: every rule of the design's "Roles", alone and between two machines
// exchanging the adverts each would send.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HaError } from '../../src/errors.js';
import type { Heartbeat } from '../../src/ha/heartbeat.js';
import { RoleMachine, type RoleMachineOptions, type RoleUpdate } from '../../src/ha/roles.js';
import type { HaPath } from '../../src/ha/types.js';

const T0 = 1_765_000_000_000;
const DEAD = 300; // 100 ms x 3

const machine = (over: Partial<RoleMachineOptions> = {}) => new RoleMachine({
  node: 'r1', priority: 150, peer: 'r2', intervalMs: 100, deadIntervals: 3, preempt: true, preemptDelayMs: 0, nowMs: T0, ...over,
});
/** r2's side of the pair. */
const machine2 = (over: Partial<RoleMachineOptions> = {}) => machine({ node: 'r2', priority: 100, peer: 'r1', ...over });

let seq = 0;
const msg = (over: Partial<Heartbeat> = {}): Heartbeat => ({
  type: 'advert', name: 'r2', priority: 100, role: 'backup', hold: false, inSync: true, bulkDone: true, path: 'public',
  epoch: T0, seq: ++seq, timeMs: T0, holdMs: 0, syncLagMs: 0, ...over,
});
/** The advert `m` would send now. */
const advertOf = (m: RoleMachine, name: string, type: Heartbeat['type'] = 'advert', holdMs = 0): Heartbeat => {
  const s = m.status(0);
  return msg({ type, name, priority: m.effectivePriority(), role: s.role, hold: s.hold, inSync: s.inSync, holdMs });
};
const to = (u: RoleUpdate) => u.transition?.to;
const why = (u: RoleUpdate) => u.transition?.reason;

test('start: backup, master after one dead time of silence (not before)', () => {
  const m = machine();
  assert.equal(m.current, 'backup');
  assert.equal(m.tick(T0 + DEAD - 1).transition, undefined);
  const u = m.tick(T0 + DEAD);
  assert.deepEqual(u.transition, { from: 'backup', to: 'master', reason: 'peer r2 silent for 300 ms on both paths since start' });
  assert.equal(m.status(T0 + DEAD).sinceMs, T0 + DEAD);
});

test('start with a valid lease: master at once; and silence takes master from a live peer after a dead time', () => {
  const m = machine({ resumeMaster: true });
  assert.equal(m.current, 'master');
  assert.equal(m.status(T0).reason, 'resumed master: the lease was still valid at start');
  const b = machine2();
  b.heard(advertOf(m, 'r1'), 'public', T0 + 50);
  assert.equal(b.current, 'backup');
  assert.equal(b.tick(T0 + 50 + DEAD - 1).transition, undefined);
  assert.equal(why(b.tick(T0 + 50 + DEAD)), 'peer r1 silent for 300 ms on both paths');
});

test('both start backup: the higher precedence becomes master at once on hearing the lower one', () => {
  const [a, b] = [machine(), machine2()];
  const ua = a.heard(advertOf(b, 'r2'), 'private', T0 + 10);
  assert.deepEqual(ua.transition, { from: 'backup', to: 'master', reason: 'peer r2 is backup with lower precedence' });
  assert.equal(b.heard(advertOf(a, 'r1'), 'private', T0 + 20).transition, undefined);
  assert.deepEqual([a.current, b.current], ['master', 'backup']);
  // Ties of priority: the greater name wins.
  const [x, y] = [machine({ node: 'b', peer: 'a' }), machine({ node: 'a', peer: 'b' })];
  assert.equal(to(x.heard(advertOf(y, 'a'), 'public', T0)), 'master');
  assert.equal(y.heard(advertOf(x, 'b'), 'public', T0).transition, undefined);
  assert.equal(y.current, 'backup');
});

test('preempt: the higher priority takes master from a master peer at once, only when in sync', () => {
  const a = machine();
  assert.equal(a.heard(msg({ role: 'master' }), 'public', T0).transition, undefined); // not in sync
  assert.equal(a.heard(msg({ role: 'master' }), 'public', T0 + 1000).transition, undefined);
  const u = a.setInSync(true, T0 + 1001);
  assert.deepEqual(u.transition, { from: 'backup', to: 'master', reason: "preempt: priority 150 > peer r2's 100" });
  // The old master hears the new one: split brain rules, it has the lower precedence.
  const b = machine2({ resumeMaster: true });
  assert.deepEqual(b.heard(advertOf(a, 'r1'), 'public', T0 + 1002).transition, { from: 'master', to: 'backup', reason: 'split brain: peer r1 is master with higher precedence' });
});

test('preempt with a delay: counted from when it first held, restarted when it stops holding', () => {
  const a = machine({ preemptDelayMs: 500 });
  a.setInSync(true, T0);
  /** The master peer's adverts every 100 ms from `from` to `until` (both included); the first change. */
  const adverts = (from: number, until: number) => {
    for (let t = from; t <= until; t += 100) {
      const u = a.heard(msg({ role: 'master' }), 'public', T0 + t);
      if (u.transition) return { at: t, ...u.transition };
    }
    return undefined;
  };
  assert.equal(adverts(100, 500), undefined); // eligible since +100
  a.setInSync(false, T0 + 550); // not eligible for a moment: the delay starts again
  a.setInSync(true, T0 + 560);
  assert.equal(adverts(600, 1000), undefined); // eligible again since +560
  assert.equal(a.tick(T0 + 1059).transition, undefined);
  assert.deepEqual(a.tick(T0 + 1060).transition, { from: 'backup', to: 'master', reason: "preempt: priority 150 > peer r2's 100" });
});

test('no preempt: preempt off, equal or lower priority', () => {
  const off = machine({ preempt: false });
  off.setInSync(true, T0);
  off.heard(msg({ role: 'master' }), 'public', T0);
  assert.equal(off.heard(msg({ role: 'master' }), 'public', T0 + 10_000).transition, undefined);
  assert.equal(off.current, 'backup');
  for (const priority of [150, 200]) {
    const m = machine();
    m.setInSync(true, T0);
    assert.equal(m.heard(msg({ role: 'master', priority }), 'public', T0).transition, undefined, `peer priority ${priority}`);
    assert.equal(m.current, 'backup');
  }
});

test('fault: fault from either role, effective priority 0; cleared: decided again', () => {
  const m = machine({ resumeMaster: true });
  m.heard(msg(), 'public', T0);
  assert.deepEqual(m.setFault('priv0 is down', T0 + 1).transition, { from: 'master', to: 'fault', reason: 'fault: priv0 is down' });
  assert.equal(m.effectivePriority(), 0);
  assert.equal(m.heard(msg({ role: 'master' }), 'public', T0 + 2).transition, undefined); // still fault
  assert.equal(m.tick(T0 + 10_000).transition, undefined); // peer dead: still fault
  assert.deepEqual(m.setFault(undefined, T0 + 10_001).transition, { from: 'fault', to: 'master', reason: 'peer r2 silent for 9999 ms on both paths' });
  const b = machine();
  b.setFault('data plane not loaded', T0);
  b.heard(msg({ role: 'master' }), 'public', T0 + 1);
  assert.deepEqual(b.setFault(undefined, T0 + 2).transition, { from: 'fault', to: 'backup', reason: 'peer r2 is master' });
  // The peer in fault: master.
  const c = machine();
  c.heard(msg({ role: 'master' }), 'public', T0);
  assert.deepEqual(c.heard(msg({ role: 'fault', priority: 0 }), 'public', T0 + 1).transition, { from: 'backup', to: 'master', reason: 'peer r2 is in fault' });
});

test('hold: backup whatever the peer, priority 0; the peer holding: master', () => {
  const m = machine({ resumeMaster: true });
  assert.deepEqual(m.setHold(true, T0 + 1).transition, { from: 'master', to: 'backup', reason: 'held as backup' });
  assert.equal(m.effectivePriority(), 0);
  assert.equal(m.tick(T0 + 10_000).transition, undefined); // the peer dead: still held
  assert.equal(to(m.setHold(false, T0 + 10_001)), 'master');
  const held = machine({ hold: true, resumeMaster: true });
  assert.equal(held.current, 'backup');
  const p = machine();
  p.heard(msg({ role: 'master' }), 'public', T0);
  assert.deepEqual(p.heard(msg({ role: 'backup', hold: true, priority: 0 }), 'public', T0 + 1).transition, { from: 'backup', to: 'master', reason: 'peer r2 is held as backup' });
});

test('goodbye: master at once; the peer\'s adverts resume: normal again', () => {
  const m = machine2();
  m.heard(msg({ name: 'r1', priority: 150, role: 'master' }), 'public', T0);
  assert.deepEqual(m.heard(msg({ name: 'r1', type: 'goodbye', priority: 150, role: 'master' }), 'public', T0 + 1).transition, { from: 'backup', to: 'master', reason: 'peer r1 said goodbye' });
  assert.equal(m.peerAlive(T0 + 1), false);
  m.setInSync(true, T0 + 2);
  // r1 comes back as backup with the higher priority: both backup is not the case (r2 master); it stays.
  assert.equal(m.heard(msg({ name: 'r1', priority: 150, role: 'backup' }), 'public', T0 + 5000).transition, undefined);
  assert.equal(m.peerAlive(T0 + 5000), true);
  // r1 preempts: r2 hears r1 master with the higher precedence.
  assert.equal(to(m.heard(msg({ name: 'r1', priority: 150, role: 'master' }), 'public', T0 + 5100)), 'backup');
});

test('yield: the peer takes master; the yielder does not preempt back (sticky) until the peer fails or hold is set', () => {
  const [a, b] = [machine({ resumeMaster: true }), machine2()];
  a.setInSync(true, T0);
  b.heard(advertOf(a, 'r1'), 'public', T0);
  a.heard(advertOf(b, 'r2'), 'public', T0);
  assert.throws(() => b.failover(T0), (e: unknown) => e instanceof HaError && e.code === 'E_HA_NOT_MASTER');
  assert.deepEqual(a.failover(T0 + 10).transition, { from: 'master', to: 'backup', reason: 'failover: handed the master role to peer r2' });
  // b's advert sent before the YIELD reached it still says backup: a does not take master back.
  assert.equal(a.heard(advertOf(b, 'r2'), 'private', T0 + 11).transition, undefined);
  assert.deepEqual(b.heard(advertOf(a, 'r1', 'yield'), 'public', T0 + 11).transition, { from: 'backup', to: 'master', reason: 'peer r1 handed the master role over' });
  // Adverts both ways for a while: no ping-pong.
  for (let t = T0 + 100; t < T0 + 5000; t += 100) {
    assert.equal(a.heard(advertOf(b, 'r2'), 'private', t).transition, undefined);
    assert.equal(b.heard(advertOf(a, 'r1'), 'private', t).transition, undefined);
    assert.equal(a.tick(t + 50).transition, undefined);
  }
  assert.deepEqual([a.current, b.current], ['backup', 'master']);
  // hold on/off forgets the yield: a preempts again.
  a.setHold(true, T0 + 5000);
  b.heard(advertOf(a, 'r1'), 'private', T0 + 5001);
  assert.equal(to(a.setHold(false, T0 + 5002)), 'master');
  // The peer restarts without taking over (its lease ran out: backup, the YIELD forgotten): after
  // one dead time the yielder does not leave the pair without a master.
  const [e, f] = [machine({ resumeMaster: true }), machine2()];
  e.heard(advertOf(f, 'r2'), 'public', T0);
  e.failover(T0 + 1);
  const g = machine2({ nowMs: T0 + 100 });
  for (let t = T0 + 100; t < T0 + 1 + DEAD; t += 50) assert.equal(e.heard(advertOf(g, 'r2'), 'public', t).transition, undefined);
  assert.deepEqual(e.heard(advertOf(g, 'r2'), 'public', T0 + 1 + DEAD).transition, { from: 'backup', to: 'master', reason: 'peer r2 is backup with lower precedence' });
  // A second yielder, whose peer then dies: it takes master back.
  const [c, d] = [machine({ resumeMaster: true }), machine2()];
  c.heard(advertOf(d, 'r2'), 'public', T0);
  c.failover(T0 + 1);
  c.heard(msg({ role: 'master' }), 'public', T0 + 50);
  assert.equal(c.tick(T0 + 50 + DEAD - 1).transition, undefined);
  assert.equal(why(c.tick(T0 + 50 + DEAD)), 'peer r2 silent for 300 ms on both paths');
  // No one to hand over to.
  assert.throws(() => c.failover(T0 + 50 + DEAD + 1), (e: unknown) => e instanceof HaError && e.code === 'E_HA_PEER_DOWN' && /silent/.test(e.message));
});

test('split brain: exactly one master after one exchange; the winner re-announces on the loser\'s master advert', () => {
  for (const [pa, pb] of [[150, 100], [100, 150], [120, 120]]) {
    const [a, b] = [machine({ priority: pa!, resumeMaster: true }), machine2({ priority: pb!, resumeMaster: true })];
    const [fromA, fromB] = [advertOf(a, 'r1'), advertOf(b, 'r2')];
    const ua = a.heard(fromB, 'public', T0 + 1);
    const ub = b.heard(fromA, 'public', T0 + 1);
    const masters = [a.current, b.current].filter((r) => r === 'master');
    assert.equal(masters.length, 1, `${pa}/${pb}`);
    const [winner, loser] = a.current === 'master' ? [ua, ub] : [ub, ua];
    assert.deepEqual(winner, { reannounce: true });
    assert.equal(loser.transition?.to, 'backup');
    assert.match(loser.transition!.reason, /^split brain: peer r[12] is master with higher precedence$/);
    assert.equal(a.current, pa! > pb! ? 'master' : 'backup'); // a tie: r2, the greater name
  }
});

test('split brain healed, the winner heard first: the loser steps down before it says master; the winner announces again on its first message', () => {
  const [a, b] = [machine({ resumeMaster: true }), machine2()];
  b.heard(advertOf(a, 'r1'), 'public', T0);
  a.heard(advertOf(b, 'r2'), 'public', T0);
  // Both paths cut: b takes over for silence, a stays master.
  assert.equal(to(b.tick(T0 + DEAD)), 'master');
  assert.equal(a.tick(T0 + DEAD).transition, undefined);
  // Healed: a's advert reaches b first, b goes backup at once and its next advert says backup.
  assert.equal(why(b.heard(advertOf(a, 'r1'), 'public', T0 + 1000)), 'split brain: peer r1 is master with higher precedence');
  const back = advertOf(b, 'r2');
  assert.equal(back.role, 'backup');
  // a never hears b say master, yet the neighbours may point at b: a announces again.
  assert.deepEqual(a.heard(back, 'public', T0 + 1001), { reannounce: true });
  // Once only: the peer is alive again.
  assert.deepEqual(a.heard(advertOf(b, 'r2'), 'private', T0 + 1002), { reannounce: false });
  assert.deepEqual([a.current, b.current], ['master', 'backup']);
  // A backup hearing its peer again announces nothing.
  const c = machine2();
  c.heard(advertOf(a, 'r1'), 'public', T0);
  assert.deepEqual(c.heard(advertOf(a, 'r1'), 'public', T0 + 2 * DEAD), { reannounce: false });
});

test('either path alive = peer alive; both silent = dead', () => {
  const m = machine2();
  const at = (path: HaPath, t: number) => m.heard(msg({ name: 'r1', priority: 150, role: 'master' }), path, t);
  at('private', T0);
  for (let t = T0 + 100; t <= T0 + 2000; t += 100) assert.equal(at('public', t).transition, undefined);
  assert.deepEqual(m.paths(T0 + 2000), [{ path: 'public', alive: true, lastHeardMs: 0 }, { path: 'private', alive: false, lastHeardMs: 2000 }]);
  assert.equal(m.peerAlive(T0 + 2000), true);
  assert.equal(m.tick(T0 + 2299).transition, undefined);
  assert.equal(why(m.tick(T0 + 2300)), 'peer r1 silent for 300 ms on both paths');
  assert.equal(m.status(T0 + 2300).peer.role, 'unknown');
});

test('restart hold: not taken over for silence until it runs out; adverts resumed: normal', () => {
  const m = machine2();
  m.heard(msg({ name: 'r1', priority: 150, role: 'master' }), 'public', T0);
  m.heard(msg({ name: 'r1', type: 'restarting', priority: 150, role: 'master', holdMs: 10_000 }), 'public', T0 + 100);
  assert.equal(m.status(T0 + 200).peer.restartHoldUntilMs, T0 + 10_100);
  for (let t = T0 + 200; t < T0 + 10_100; t += 100) assert.equal(m.tick(t).transition, undefined, `at +${t - T0}`);
  assert.deepEqual(m.tick(T0 + 10_100).transition, { from: 'backup', to: 'master', reason: 'peer r1 silent for 10000 ms on both paths (its restart hold ran out)' });
  // Resumed adverts end the hold: silence counts again from the last one.
  const n = machine2();
  n.heard(msg({ name: 'r1', type: 'restarting', priority: 150, role: 'master', holdMs: 60_000 }), 'public', T0);
  n.heard(msg({ name: 'r1', priority: 150, role: 'master' }), 'public', T0 + 2000);
  assert.equal(n.status(T0 + 2000).peer.restartHoldUntilMs, 0);
  assert.equal(n.tick(T0 + 2299).transition, undefined);
  assert.equal(why(n.tick(T0 + 2300)), 'peer r1 silent for 300 ms on both paths');
});

test('restart hold bounded: a peer asking for weeks is held to maxRestartHoldMs (default 120 s)', () => {
  const m = machine2();
  m.heard(msg({ name: 'r1', type: 'restarting', priority: 150, role: 'master', holdMs: 0xffffffff }), 'public', T0);
  assert.equal(m.status(T0).peer.restartHoldUntilMs, T0 + 120_000);
  assert.equal(m.tick(T0 + 119_999).transition, undefined);
  assert.equal(to(m.tick(T0 + 120_000)), 'master');
  const short = machine2({ maxRestartHoldMs: 1000 });
  short.heard(msg({ name: 'r1', type: 'restarting', priority: 150, role: 'master', holdMs: 10_000 }), 'public', T0);
  assert.equal(short.tick(T0 + 999).transition, undefined);
  assert.equal(why(short.tick(T0 + 1000)), 'peer r1 silent for 1000 ms on both paths (its restart hold ran out)');
});

test('status: the role part of HaStatus', () => {
  const m = machine();
  m.setInSync(true, T0);
  m.heard(msg({ role: 'master' }), 'private', T0 + 10);
  assert.deepEqual(m.status(T0 + 20), {
    node: 'r1', role: 'master', priority: 150, reason: "preempt: priority 150 > peer r2's 100", sinceMs: T0 + 10, hold: false, inSync: true,
    peer: {
      name: 'r2', role: 'master', priority: 100, alive: true, restartHoldUntilMs: 0,
      paths: [{ path: 'public', alive: false, lastHeardMs: -1 }, { path: 'private', alive: true, lastHeardMs: 10 }],
    },
  });
});
