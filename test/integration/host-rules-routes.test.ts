// SPDX-License-Identifier: Apache-2.0
// Policy rules and table routes over netlink (src/host/rules.ts, routes.ts) against `ip` in a
// namespace of the test's own: what we add is what `ip rule add` / `ip route replace ... onlink`
// add (ip -d -j shows the same), our listings are ip's, flushing empties a table as
// `ip route flush table` does, and the kernel's refusals name the request and the errno.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { HostNetns } from './host-netns.js';
import type { Netlink } from '../../src/host/netlink.js';
import { addRule, deleteRule, listRules } from '../../src/host/rules.js';
import { addRoute, flushTable, listRoutes, replaceRoute } from '../../src/host/routes.js';
import { NetlinkError } from '../../src/errors.js';

let ns: HostNetns;
let nl: Netlink;

before(() => {
  ns = HostNetns.create();
  nl = ns.netlink();
});

after(() => ns?.destroy());

const PREF = 30806;
const OURS = 0x78560001;
const IPS = 0x78560002;

type Row = Record<string, unknown>;
/** ip -d -j rule show rows at PREF, keyed by table; without the fields that name the table. */
function rulesByTable(): Map<string, Row> {
  const rows = ns.ipJson('-d', 'rule', 'show', 'pref', String(PREF));
  return new Map(rows.map((r) => [String(r.table), Object.fromEntries(Object.entries(r).filter(([k]) => k !== 'table' && k !== 'fwmark'))]));
}

function expectNetlinkError(fn: () => unknown, request: RegExp, errnoName: string, kernelSays?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof NetlinkError, `a NetlinkError, got ${String(e)}`);
    assert.match(e.message, request);
    assert.match(e.message, new RegExp(`failed: ${errnoName} \\(errno ${e.errno}\\)`));
    if (kernelSays) assert.match(e.kernelMessage, kernelSays);
    return true;
  });
}

test('a fwmark rule added over netlink is the rule ip rule add makes; listRules is ip rule show', () => {
  addRule(nl, { family: 4, priority: PREF, fwmark: OURS, table: OURS });
  ns.ip('rule', 'add', 'pref', String(PREF), 'fwmark', `0x${IPS.toString(16)}`, 'lookup', String(IPS));
  const rows = rulesByTable();
  assert.deepEqual(rows.get(String(OURS)), rows.get(String(IPS)));
  assert.equal(ns.ip('rule', 'show', 'pref', String(PREF)).split('\n')[0], `${PREF}:\tfrom all fwmark 0x${OURS.toString(16)} lookup ${OURS} `.trimEnd());

  const ip = ns.ipJson('rule', 'show');
  const ours = listRules(nl, 4);
  assert.deepEqual(ours.map((r) => r.priority), ip.map((r) => r.priority));
  assert.deepEqual(ours.map((r) => String(r.table)), ip.map((r) => String(r.table)).map((t) => ({ local: '255', main: '254', default: '253' })[t] ?? t));
  assert.deepEqual(listRules(nl, 4, PREF).map((r) => [r.fwmark, r.table]), [[OURS, OURS], [IPS, IPS]]);
});

test('an onlink route in a numbered table is the route ip route replace ... onlink makes; listRoutes is ip route show table', () => {
  replaceRoute(nl, { dst: '203.0.113.100/32', gateway: '10.9.0.2', dev: 'a0', onlink: true, table: OURS });
  ns.ip('route', 'replace', '203.0.113.100/32', 'via', '10.9.0.2', 'dev', 'a0', 'onlink', 'table', String(IPS));
  const [o] = ns.ipJson('-d', 'route', 'show', 'table', String(OURS));
  const [i] = ns.ipJson('-d', 'route', 'show', 'table', String(IPS));
  assert.deepEqual(o, i);
  assert.deepEqual(o?.flags, ['onlink']);
  // replace is idempotent, and moves the route to another gateway.
  replaceRoute(nl, { dst: '203.0.113.100/32', gateway: '10.9.0.3', dev: 'a0', onlink: true, table: OURS });
  replaceRoute(nl, { dst: '203.0.113.100/32', gateway: '10.9.0.3', dev: 'a0', onlink: true, table: OURS });
  addRoute(nl, { dst: '198.51.100.0/24', gateway: '10.9.0.2', dev: 'a0', onlink: false, table: OURS });
  const ip = ns.ipJson('route', 'show', 'table', String(OURS)).map((r) => [r.dst, r.gateway, r.dev]);
  assert.deepEqual(listRoutes(nl, 4, OURS).map((r) => [`${r.dst}${r.dstLen === 32 ? '' : `/${r.dstLen}`}`, r.gateway, 'a0']), ip);
  assert.deepEqual(ip, [['198.51.100.0/24', '10.9.0.2', 'a0'], ['203.0.113.100', '10.9.0.3', 'a0']]);
});

test('flushTable empties a table as ip route flush table does; deleteRule removes exactly one rule', () => {
  assert.equal(flushTable(nl, 4, OURS), 2);
  assert.equal(ns.ip('route', 'show', 'table', String(OURS)).trim(), '');
  assert.equal(flushTable(nl, 4, OURS), 0, 'an empty table: nothing to do');
  assert.deepEqual(listRoutes(nl, 4, 4242), [], 'a table never used: empty (the kernel says ENOENT)');
  assert.equal(ns.ipJson('route', 'show', 'table', String(IPS)).length, 1, 'the other table is untouched');

  deleteRule(nl, { family: 4, priority: PREF, fwmark: OURS, table: OURS });
  assert.deepEqual([...rulesByTable().keys()], [String(IPS)]);
});

test('refusals name the request and errno: an unreachable gateway without onlink, a rule twice, a missing rule, a missing device', () => {
  expectNetlinkError(
    () => addRoute(nl, { dst: '203.0.113.101/32', gateway: '10.99.0.7', dev: 'a0', onlink: false, table: OURS }),
    /^ip route add 203\.0\.113\.101\/32 via 10\.99\.0\.7 dev a0 table 2018902017 \(RTM_NEWROUTE\)/, 'ENETUNREACH', /Nexthop has invalid gateway/,
  );
  // `add` of a destination the table has (ip's route in its table) is refused; `replace` would not be.
  expectNetlinkError(() => addRoute(nl, { dst: '203.0.113.100/32', gateway: '10.9.0.2', dev: 'a0', onlink: true, table: IPS }), /^ip route add 203\.0\.113\.100\/32 .* \(RTM_NEWROUTE\)/, 'EEXIST');
  expectNetlinkError(() => addRule(nl, { family: 4, priority: PREF, fwmark: IPS, table: IPS }), /^ip -4 rule add pref 30806 fwmark 0x78560002 lookup 2018902018 \(RTM_NEWRULE\)/, 'EEXIST');
  expectNetlinkError(() => deleteRule(nl, { family: 4, priority: PREF, fwmark: OURS, table: OURS }), /^ip -4 rule del pref 30806 fwmark 0x78560001 lookup 2018902017 \(RTM_DELRULE\)/, 'ENOENT');
  expectNetlinkError(() => replaceRoute(nl, { dst: '203.0.113.100/32', gateway: '10.9.0.2', dev: 'nosuch0', onlink: true, table: OURS }), /^ip link show dev nosuch0 \(RTM_GETLINK\)/, 'ENODEV');
  expectNetlinkError(() => replaceRoute(nl, { dst: '203.0.113.100/32', gateway: '10.9.0.2', dev: { index: 9999, name: 'gone0' }, onlink: true, table: OURS }), /dev gone0 onlink table 2018902017 \(RTM_NEWROUTE\)/, 'ENODEV');
});
