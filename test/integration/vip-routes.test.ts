// SPDX-License-Identifier: Apache-2.0
// VipRoutes (src/health/vip-routes.ts), the policy routing of checks at the VIP, over netlink
// and /proc/sys in a namespace of the test's own, held against `ip` and `sysctl`: a restart
// removes an earlier run's rules, each (VIP, real) gets its rule and onlink route, pairs that
// go take theirs along, too many pairs is a CapacityError (RESOURCE_EXHAUSTED over the API)
// that changes nothing, and removeVipRoutes (xlvsd --teardown) leaves nothing behind.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { HostNetns } from './host-netns.js';
import { VipRoutes, VIP_MARK_BASE, VIP_RULE_PREF, removeVipRoutes, type VipPair } from '../../src/health/vip-routes.js';
import { CapacityError } from '../../src/errors.js';
import { errorToStatus } from '../../src/api/status.js';

let ns: HostNetns;
let routes: VipRoutes | undefined;

before(() => {
  ns = HostNetns.create();
});

after(() => {
  routes?.close();
  ns?.destroy();
});

const VIP = '203.0.113.100';
const rules = (): string[] => ns.ip('rule', 'show', 'pref', String(VIP_RULE_PREF)).split('\n').filter((l) => l.trim() !== '');
const table = (t: number): string => ns.ip('route', 'show', 'table', String(t)).trim();
const hex = (n: number): string => `0x${n.toString(16)}`;

test('the first sync removes an earlier run\'s rules and tables, then installs one rule and one onlink route per pair', () => {
  const stale = VIP_MARK_BASE | 7;
  ns.ip('rule', 'add', 'pref', String(VIP_RULE_PREF), 'fwmark', hex(stale), 'lookup', String(stale));
  ns.ip('route', 'replace', `${VIP}/32`, 'via', '10.9.0.3', 'dev', 'a0', 'onlink', 'table', String(stale));

  routes = new VipRoutes('a0', pino({ level: 'silent' }));
  const pairs: VipPair[] = [{ vip: VIP, real: '10.9.0.2' }, { vip: VIP, real: '10.9.0.3' }];
  // In the namespace: the socket opens there at the first sync, and /proc/sys/net is its.
  ns.run(() => routes!.sync(pairs));

  const m1 = routes.markOf(pairs[0]!)!;
  const m2 = routes.markOf(pairs[1]!)!;
  assert.deepEqual([m1, m2], [VIP_MARK_BASE | 1, VIP_MARK_BASE | 2]);
  assert.deepEqual(rules(), [m1, m2].map((m) => `${VIP_RULE_PREF}:\tfrom all fwmark ${hex(m)} lookup ${m}`));
  assert.equal(table(stale), '', 'the earlier run\'s table was flushed');
  assert.equal(table(m1), `${VIP} via 10.9.0.2 dev a0 onlink`);
  assert.equal(table(m2), `${VIP} via 10.9.0.3 dev a0 onlink`);
  // What the rules are for: a packet with the pair's mark goes to that real.
  const [viaMark] = ns.ipJson('route', 'get', VIP, 'mark', hex(m2));
  assert.equal(viaMark?.gateway, '10.9.0.3');
  for (const [name, value] of [['net.ipv4.conf.a0.accept_local', '1'], ['net.ipv4.conf.a0.rp_filter', '0'], ['net.ipv4.conf.all.rp_filter', '0']]) {
    assert.equal(ns.sysctl(name!), value, name);
  }
});

test('a pair that goes takes its rule and table along; the others stay', () => {
  const keep = { vip: VIP, real: '10.9.0.2' };
  const gone = routes!.markOf({ vip: VIP, real: '10.9.0.3' })!;
  ns.run(() => routes!.sync([keep]));
  assert.deepEqual(rules(), [`${VIP_RULE_PREF}:\tfrom all fwmark ${hex(routes!.markOf(keep)!)} lookup ${routes!.markOf(keep)}`]);
  assert.equal(table(gone), '');
  assert.equal(routes!.markOf({ vip: VIP, real: '10.9.0.3' }), undefined);
});

test('more pairs than marks: a CapacityError, RESOURCE_EXHAUSTED over the API, and nothing changed', () => {
  const keep = { vip: VIP, real: '10.9.0.2' };
  const many: VipPair[] = [keep, ...Array.from({ length: 65535 }, (_, i) => ({ vip: VIP, real: `10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}` }))];
  let caught: unknown;
  try {
    ns.run(() => routes!.sync(many));
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof CapacityError, `a CapacityError, got ${String(caught)}`);
  assert.equal(caught.code, 'E_CAPACITY');
  assert.match(caught.message, /too many \(VIP, real\) pairs checked at the VIP: .* at most 65535 \(the change needs 65536\)/);
  const status = errorToStatus(caught);
  assert.equal(status.code, grpc.status.RESOURCE_EXHAUSTED, 'an AddReal refused for it is RESOURCE_EXHAUSTED, not INTERNAL');
  assert.equal(status.xlvsCode, 'E_CAPACITY');
  assert.equal(rules().length, 1, 'the installed pair is untouched');
  assert.ok(routes!.markOf(keep) !== undefined);
});

test('removeVipRoutes (xlvsd --teardown, its own socket in the caller\'s namespace) removes every rule at our preference and flushes its table', () => {
  const mark = routes!.markOf({ vip: VIP, real: '10.9.0.2' })!;
  ns.ip('rule', 'add', 'pref', String(VIP_RULE_PREF), 'fwmark', '0x1', 'lookup', '4242');
  assert.equal(ns.run(() => removeVipRoutes()), 2);
  assert.deepEqual(rules(), []);
  assert.equal(table(mark), '');
  assert.equal(ns.run(() => removeVipRoutes()), 0, 'nothing left: nothing to do');
});
