// SPDX-License-Identifier: Apache-2.0
// The netlink codec against iproute2's own bytes: each request below is what `ip` 6.1 sent for
// the command named (captured with `strace -e write=3` on this kernel, device a0 = ifindex 3),
// and each reply what the kernel answered it (`strace -e read=3`). Our builders must produce
// the same bytes, and our decoders must read the kernel's. No root needed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  attr, decodeAttrs, decodeDone, decodeError, decodeMessages, encodeRequest,
  NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR, type Request,
} from '../../src/host/netlink-codec.js';
import * as msg from '../../src/host/rtnl-messages.js';
import { NetlinkError } from '../../src/errors.js';

/** Hex with spaces between fields (as annotated) → bytes. */
const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const a0 = { index: 3, name: 'a0' };

/** Encodes as ip sent it: the request's own flags plus `extra` (REQUEST|ACK for changes). */
const encoded = (req: Request, seq: number, extra = NLM_F_REQUEST | NLM_F_ACK): string => encodeRequest({ ...req, flags: req.flags | extra }, seq).toString('hex');

test('neighbour requests: ip neigh replace ... managed [use], ... nud none use, ip neigh get, ip neigh del', () => {
  //                    nlmsghdr: len      type flags seq      pid      | ndmsg: fam pad ifindex  state flags type | NDA_DST           | NDA_FLAGS_EXT: MANAGED
  const managed = hex('2c000000 1c00 0505 0762166b 00000000 02 00 0000 03000000 0000 00 00 0800 0100 0a090007 0800 0f00 01000000');
  assert.equal(encoded(msg.replaceManagedNeighbour('10.9.0.7', a0, false), 0x6b166207), managed.toString('hex'));
  const use = hex('2c000000 1c00 0505 0c62166b 00000000 02 00 0000 03000000 0000 01 00 0800 0100 0a090007 0800 0f00 01000000');
  assert.equal(encoded(msg.replaceManagedNeighbour('10.9.0.7', a0, true), 0x6b16620c), use.toString('hex'));
  // ip neigh replace 10.9.0.7 dev a0 nud none use (a0 was ifindex 2 in that capture).
  const kick = hex('24000000 1c00 0505 8f72166b 00000000 02 00 0000 02000000 0000 01 00 0800 0100 0a090007');
  assert.equal(encoded(msg.useNeighbour('10.9.0.7', { index: 2, name: 'a0' }), 0x6b16728f), kick.toString('hex'));
  // ip neigh get 10.9.0.7 dev a0: a GET of one entry, REQUEST only (ours adds ACK).
  const get = hex('24000000 1e00 0100 e977166b 00000000 02 00 0000 03000000 0000 00 00 0800 0100 0a090007');
  assert.equal(encoded(msg.getNeighbour('10.9.0.7', a0), 0x6b1677e9, NLM_F_REQUEST), get.toString('hex'));
  const del = hex('24000000 1d00 0500 8b63166b 00000000 02 00 0000 03000000 8000 00 00 0800 0100 0a090008');
  assert.equal(encoded(msg.deleteNeighbour('10.9.0.8', a0), 0x6b16638b), del.toString('hex'));
  // ip -4 neigh show dev a0: a dump filtered by NDA_IFINDEX.
  const dump = hex('24000000 1e00 0103 1062166b 00000000 02 00 0000 00000000 0000 00 00 0800 0800 03000000');
  assert.equal(encoded(msg.dumpNeighbours(4, a0), 0x6b166210, NLM_F_REQUEST | NLM_F_DUMP), dump.toString('hex'));
});

test('route requests: ip route get (v4, v6), ip route replace ... onlink table T, ip route add', () => {
  //                 rtmsg: fam dst src tos table proto scope type flags
  const get4 = hex('2c000000 1a00 0100 8a63166b 00000000 02 20 00 00 00 00 00 00 00100000 0800 0100 0a090007 0800 0400 03000000');
  assert.equal(encoded(msg.getRoute('10.9.0.7', a0), 0x6b16638a, NLM_F_REQUEST), get4.toString('hex'));
  const get6 = hex('38000000 1a00 0100 8a63166b 00000000 0a 80 00 00 00 00 00 00 00000000 1400 0100 fd000000000000000000000000000007 0800 0400 03000000');
  assert.equal(encoded(msg.getRoute('fd00::7', a0), 0x6b16638a, NLM_F_REQUEST), get6.toString('hex'));
  const onlink = hex('3c000000 1800 0505 8b63166b 00000000 02 20 00 00 00 03 00 01 04000000 0800 0100 cb007164 0800 0500 0a090007 0800 0f00 01005678 0800 0400 03000000');
  const route = { dst: '203.0.113.100/32', gateway: '10.9.0.7', dev: a0, table: 0x78560001, onlink: true };
  assert.equal(encoded(msg.putRoute(route, 'replace'), 0x6b16638b), onlink.toString('hex'));
  const add = hex('3c000000 1800 0506 8a63166b 00000000 02 20 00 00 00 03 00 01 00000000 0800 0100 cb007165 0800 0500 0a630007 0800 0f00 01005678 0800 0400 03000000');
  assert.equal(encoded(msg.putRoute({ ...route, dst: '203.0.113.101/32', gateway: '10.99.0.7', onlink: false }, 'add'), 0x6b16638a), add.toString('hex'));
});

test('rule requests: ip rule add/del pref P fwmark M lookup T (a table above 255), ip rule show', () => {
  const rule = { family: 4 as const, priority: 30806, fwmark: 0x78560001, table: 0x78560001 };
  //                 fib_rule_hdr: fam dst src tos table res1 res2 action flags | FRA_PRIORITY | FRA_FWMARK | FRA_TABLE
  const add = hex('34000000 2000 0506 8a63166b 00000000 02 00 00 00 00 00 00 01 00000000 0800 0600 56780000 0800 0a00 01005678 0800 0f00 01005678');
  assert.equal(encoded(msg.addRule(rule), 0x6b16638a), add.toString('hex'));
  const del = hex('34000000 2100 0500 8a63166b 00000000 02 00 00 00 00 00 00 00 00000000 0800 0600 56780000 0800 0a00 01005678 0800 0f00 01005678');
  assert.equal(encoded(msg.deleteRule(rule), 0x6b16638a), del.toString('hex'));
  const dump = hex('1c000000 2200 0103 0f62166b 00000000 02 00 00 00 00 00 00 00 00000000');
  assert.equal(encoded(msg.dumpRules(4), 0x6b16620f, NLM_F_REQUEST | NLM_F_DUMP), dump.toString('hex'));
});

test('address requests: ip addr add ADDR/64 dev a0 nodad (IPv6), and its delete', () => {
  //                 ifaddrmsg: fam len flags scope index | IFA_LOCAL | IFA_ADDRESS
  const add = hex('40000000 1400 0506 8a63166b 00000000 0a 40 02 00 03000000 1400 0200 fd000000000000000000000000000005 1400 0100 fd000000000000000000000000000005');
  assert.equal(encoded(msg.addAddress({ address: 'fd00::5', prefixlen: 64, dev: a0, nodad: true }), 0x6b16638a), add.toString('hex'));
  // ip addr del 10.9.1.1/32 dev a0 (decoded by strace): DELADDR, REQUEST|ACK, no flags.
  const del = hex('28000000 1500 0500 01000000 00000000 02 20 00 00 03000000 0800 0200 0a090101 0800 0100 0a090101');
  assert.equal(encoded(msg.deleteAddress({ address: '10.9.1.1', prefixlen: 32, dev: a0 }), 1), del.toString('hex'));
});

// The kernel's answer to `ip -4 neigh show dev a0`: a managed entry being resolved, a permanent one, DONE.
const NEIGH_DUMP = hex(
  '48000000 1c00 2200 1062166b 9a760000 02 00 0000 03000000 0100 00 01 0800 0100 0a090007 0800 0400 05000000 1400 0300 491b00006b0000006b00000001000000 0800 0f00 01000000' +
  '4c000000 1c00 2200 1062166b 9a760000 02 00 0000 03000000 8000 00 01 0800 0100 0a090014 0a00 0200 020000000014 0000 0800 0400 00000000 1400 0300 00000000000000000000000000000000' +
  '14000000 0300 0200 1062166b 9a760000 00000000',
);

test('a neighbour dump decodes to what ip -j neigh show printed: managed INCOMPLETE, PERMANENT with its MAC', () => {
  const ms = decodeMessages(NEIGH_DUMP);
  assert.deepEqual(ms.map((m) => m.type), [28, 28, NLMSG_DONE]);
  assert.deepEqual(decodeDone(ms[2]!), { errno: 0, kernelMessage: '' });
  assert.deepEqual(ms.slice(0, 2).map(msg.decodeNeighbour), [
    { family: 4, ifindex: 3, address: '10.9.0.7', state: 0x01, states: ['INCOMPLETE'], flags: 0, extFlags: 1, managed: true },
    { family: 4, ifindex: 3, address: '10.9.0.20', lladdr: '02:00:00:00:00:14', state: 0x80, states: ['PERMANENT'], flags: 0, extFlags: 0, managed: false },
  ]);
});

test('route lookup answers decode: on-link IPv4 (table main, prefsrc) and IPv6', () => {
  const v4 = decodeMessages(hex('68000000180000008a63166b6034000002200000fe0000010002000008000f00fe000000080001000a0900070800040003000000080007000a090001080019000000000024000c000200000000000000000000000000000000000000000000000000000000000000'));
  assert.deepEqual(msg.decodeRoute(v4[0]!), { family: 4, table: 254, dstLen: 32, dst: '10.9.0.7', oif: 3, prefsrc: '10.9.0.1', type: 1, protocol: 0, scope: 0, flags: 0x200 });
  const v6 = decodeMessages(hex('9c000000180000008a63166b653400000a808000fe0200010000000008000f00fe00000014000100fd000000000000000000000000000007140002000000000000000000000000000000000014000700fd0000000000000000000000000000010800060000010000080004000300000024000c0002000000264000000000000000000000000000000000000000000000000000000500140000000000'));
  assert.deepEqual(msg.decodeRoute(v6[0]!), { family: 6, table: 254, dstLen: 128, dst: 'fd00::7', oif: 3, prefsrc: 'fd00::1', type: 1, protocol: 2, scope: 0, flags: 0 });
});

test('a rule dump decodes: local, ours (fwmark, mask, table above 255), main, default', () => {
  const ms = decodeMessages(hex('34000000200002000f62166ba076000002000000ff0000010000000008000f00ff00000008000e00ffffffff05001500020000004c000000200002000f62166ba076000002000000fc0000010000000008000f000100567808000e00ffffffff0500150000000000080006005678000008000a000100567808001000ffffffff3c000000200002000f62166ba076000002000000fe0000010000000008000f00fe00000008000e00ffffffff050015000200000008000600fe7f00003c000000200002000f62166ba076000002000000fd0000010000000008000f00fd00000008000e00ffffffff050015000200000008000600ff7f000014000000030002000f62166ba076000000000000'));
  assert.deepEqual(ms.filter((m) => m.type !== NLMSG_DONE).map(msg.decodeRule), [
    { family: 4, priority: 0, table: 255, action: 1 },
    { family: 4, priority: 30806, table: 0x78560001, action: 1, fwmark: 0x78560001, fwmask: 0xffffffff },
    { family: 4, priority: 32766, table: 254, action: 1 },
    { family: 4, priority: 32767, table: 253, action: 1 },
  ]);
});

test('an address dump decodes: a nodad global IPv6 address and the link-local one', () => {
  const ms = decodeMessages(hex('48000000140022001062166ba57600000a4082000300000014000100fd00000000000000000000000000000114000600ffffffffffffffff1cf70a001cf70a00080008008200000050000000140022001062166ba57600000a4080fd0300000014000100fe8000000000000050e2c9fffefea4b714000600ffffffffffffffff6cf50a006cf50a00080008008000000005000b000300000014000000030022001062166ba576000000000000'));
  assert.deepEqual(ms.filter((m) => m.type !== NLMSG_DONE).map(msg.decodeAddress), [
    { family: 6, ifindex: 3, address: 'fd00::1', prefixlen: 64, scope: 0, flags: 0x82 },
    { family: 6, ifindex: 3, address: 'fe80::50e2:c9ff:fefe:a4b7', prefixlen: 64, scope: 253, flags: 0x80 },
  ]);
});

test('errors: the errno and the kernel\'s words, whether the request is echoed whole or capped; an ack is errno 0', () => {
  // ip route add ... via an unreachable gateway: ENETUNREACH, the request echoed whole, ext-ack message.
  const [uncapped] = decodeMessages(hex('70000000020000028a63166b6a3400009bffffff3c000000180005068a63166b0000000002200000000300010000000008000100cb007165080005000a63000708000f00010056780800040003000000200001004e657874686f702068617320696e76616c6964206761746577617900'));
  assert.equal(uncapped!.type, NLMSG_ERROR);
  assert.deepEqual(decodeError(uncapped!), { errno: 101, kernelMessage: 'Nexthop has invalid gateway' });
  // The same, as our socket gets it (NETLINK_CAP_ACK): header only, flags CAPPED|ACK_TLVS, plus the offset attribute.
  const [capped] = decodeMessages(hex('34000000 0200 0003 01000000 00000000 9bffffff 3c000000 1800 0506 01000000 00000000 0800 0100 6e6f7065 0800 0200 24000000'));
  assert.deepEqual(decodeError(capped!), { errno: 101, kernelMessage: 'nope', offset: 36 });
  const [ack] = decodeMessages(hex('24000000 0200 0001 8a63166b 6f340000 00000000 34000000 2100 0500 8a63166b 00000000'));
  assert.deepEqual(decodeError(ack!), { errno: 0, kernelMessage: '' });
});

test('attributes are padded to 4 bytes; nested ones carry NLA_F_NESTED; both read back', () => {
  const req: Request = { what: 't', type: 16, flags: 0, header: Buffer.alloc(16), attrs: [attr.str(3, 'lo'), attr.u8(16, 2), attr.nested(18, [attr.str(1, 'veth'), attr.u32(2, 7)])] };
  const b = encodeRequest(req, 9);
  //                                 IFLA_IFNAME "lo\0" + pad | u8 2 + pad   | nested 0x8012: "veth\0" + pad, u32 7
  assert.equal(b.subarray(32).toString('hex'), hex('0700 0300 6c6f0000 0500 1000 02000000 1800 1280 0900 0100 7665746800000000 0800 0200 07000000').toString('hex'));
  assert.equal(b.readUInt32LE(0), b.length);
  const attrs = decodeAttrs(b, 32);
  assert.equal(attrs.get(3)!.toString(), 'lo\0');
  assert.deepEqual([...decodeAttrs(attrs.get(18)!).keys()], [1, 2], 'the nested type is read without NLA_F_NESTED');
});

test('a reply whose lengths do not fit is refused as a NetlinkError, not read past its end', () => {
  const bad = (e: unknown) => e instanceof NetlinkError && e.code === 'E_NETLINK' && e.errno === 74 && /claims 64 bytes/.test(e.message);
  assert.throws(() => decodeMessages(hex('40000000 0300 0200 01000000 00000000 00000000')), bad);
  assert.throws(() => decodeAttrs(hex('4000 0100 00000000')), (e: unknown) => e instanceof NetlinkError && /attribute at byte 0 claims 64 bytes of 8/.test(e.message));
});
