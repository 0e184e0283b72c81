// SPDX-License-Identifier: Apache-2.0
// Interface addresses over netlink (src/host/addresses.ts) and sysctls through /proc/sys
// (src/host/sysctl.ts), against `ip` and `sysctl` in a namespace of the test's own.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { HostNetns } from './host-netns.js';
import type { Netlink } from '../../src/host/netlink.js';
import { addAddress, deleteAddress, listAddresses } from '../../src/host/addresses.js';
import { interfaceSysctl, readSysctl, writeSysctl } from '../../src/host/sysctl.js';
import { NetlinkError, SysctlError } from '../../src/errors.js';

let ns: HostNetns;
let nl: Netlink;

before(() => {
  ns = HostNetns.create();
  nl = ns.netlink();
});

after(() => ns?.destroy());

type AddrInfo = Record<string, unknown>;
/** ip -j addr show dev a0's addr_info entries. */
const addrInfo = (): AddrInfo[] => (ns.ipJson<Array<{ addr_info: AddrInfo[] }>>('addr', 'show', 'dev', 'a0')[0]?.addr_info ?? []);
const infoOf = (local: string): AddrInfo | undefined => addrInfo().find((a) => a.local === local);
/** All ip says of an address but which one it is (and its label, which names the device). */
const withoutLocal = (a: AddrInfo | undefined): AddrInfo => Object.fromEntries(Object.entries(a ?? {}).filter(([k]) => k !== 'local'));

test('addresses added over netlink are those ip addr add makes: IPv4, and IPv6 with nodad (usable at once)', () => {
  addAddress(nl, { address: '198.51.100.10', prefixlen: 32, dev: 'a0' });
  ns.ip('addr', 'add', '198.51.100.11/32', 'dev', 'a0');
  assert.deepEqual(withoutLocal(infoOf('198.51.100.10')), withoutLocal(infoOf('198.51.100.11')));

  addAddress(nl, { address: '2001:db8:5::10', prefixlen: 128, dev: 'a0', nodad: true });
  ns.ip('addr', 'add', '2001:db8:5::11/128', 'dev', 'a0', 'nodad');
  const ours = infoOf('2001:db8:5::10');
  assert.deepEqual(withoutLocal(ours), withoutLocal(infoOf('2001:db8:5::11')));
  assert.equal(ours?.nodad, true);
  assert.equal(ours?.tentative, undefined, 'no duplicate address detection: not tentative');
});

test('listAddresses is ip -j addr show, per family and both', () => {
  const ip = addrInfo().map((a) => [a.family === 'inet' ? 4 : 6, a.local, a.prefixlen]);
  assert.deepEqual(listAddresses(nl, 'a0').map((a) => [a.family, a.address, a.prefixlen]), ip);
  assert.deepEqual(listAddresses(nl, 'a0', 6).map((a) => a.address), ip.filter(([f]) => f === 6).map(([, a]) => a));
  assert.equal(listAddresses(nl, 'a0', 4).find((a) => a.address === '198.51.100.10')?.label, 'a0');
});

test('deleteAddress is ip addr del; the kernel\'s refusals name the request and the errno', () => {
  deleteAddress(nl, { address: '198.51.100.10', prefixlen: 32, dev: 'a0' });
  deleteAddress(nl, { address: '2001:db8:5::10', prefixlen: 128, dev: 'a0' });
  assert.equal(infoOf('198.51.100.10'), undefined);
  assert.equal(infoOf('2001:db8:5::10'), undefined);
  assert.ok(infoOf('198.51.100.11'), 'the others stay');

  const refused = (fn: () => unknown, request: RegExp, errnoName: string) =>
    assert.throws(fn, (e: unknown) => e instanceof NetlinkError && e.code === 'E_NETLINK' && request.test(e.message) && e.message.includes(`failed: ${errnoName} (errno ${e.errno})`));
  refused(() => addAddress(nl, { address: '198.51.100.11', prefixlen: 32, dev: 'a0' }), /^ip addr add 198\.51\.100\.11\/32 dev a0 \(RTM_NEWADDR\)/, 'EEXIST');
  refused(() => deleteAddress(nl, { address: '198.51.100.10', prefixlen: 32, dev: 'a0' }), /^ip addr del 198\.51\.100\.10\/32 dev a0 \(RTM_DELADDR\)/, 'EADDRNOTAVAIL');
  refused(() => addAddress(nl, { address: '198.51.100.12', prefixlen: 32, dev: 'nosuch0' }), /^ip link show dev nosuch0 \(RTM_GETLINK\)/, 'ENODEV');
});

test('sysctls: written and read through /proc/sys of the namespace, as sysctl(8) sees them; a dot in a device name', () => {
  const name = interfaceSysctl(4, 'a0', 'accept_local');
  assert.equal(name, 'net.ipv4.conf.a0.accept_local');
  ns.run(() => writeSysctl(name, '1'));
  assert.equal(ns.sysctl(name), '1');
  assert.equal(ns.run(() => readSysctl(name)), '1');
  assert.equal(readSysctl('net.ipv4.conf.all.accept_local'), readSysctl('net.ipv4.conf.all.accept_local'), 'readable outside too');

  // sysctl(8) writes a dot inside a device name as '/'.
  ns.ip('link', 'add', 'v.1', 'type', 'veth', 'peer', 'name', 'v.2');
  const dotted = interfaceSysctl(4, 'v.1', 'rp_filter');
  assert.equal(dotted, 'net.ipv4.conf.v/1.rp_filter');
  ns.run(() => writeSysctl(dotted, '2'));
  assert.equal(ns.sysctl(dotted), '2');
});

test('sysctl errors name the sysctl, the value and the errno', () => {
  assert.throws(() => ns.run(() => writeSysctl('net.ipv4.conf.nosuch0.rp_filter', '0')),
    (e: unknown) => e instanceof SysctlError && e.code === 'E_SYSCTL' && e.message === 'writing "0" to sysctl net.ipv4.conf.nosuch0.rp_filter failed: ENOENT (errno 2)');
  assert.throws(() => ns.run(() => writeSysctl('net.ipv4.conf.a0.rp_filter', 'abc')),
    (e: unknown) => e instanceof SysctlError && /writing "abc" to sysctl net\.ipv4\.conf\.a0\.rp_filter failed: EINVAL/.test(e.message));
  assert.throws(() => readSysctl('net.nosuch.thing'), (e: unknown) => e instanceof SysctlError && /reading sysctl net\.nosuch\.thing failed: ENOENT/.test(e.message));
  assert.throws(() => readSysctl('net..ipv4'), /sysctl: must be dot-separated names/);
});
