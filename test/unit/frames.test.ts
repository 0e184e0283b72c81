// SPDX-License-Identifier: Apache-2.0
// The frame builder and parser against bytes they did not make: frames the Linux kernel sent
// between two namespaces (captured with tcpdump -xx, offloads off, so every checksum on the wire
// is the kernel's), the RFC 1071 example and a textbook IPv4 header. Then round trips for what
// the kernel did not send us (ICMP errors with MTUs, encapsulation, extension headers, fragments).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  buildFrame, buildPacket, parseFrame, badChecksums, checksums, parseIPv6, formatIPv6, ICMP, ICMPV6, ICMP_CODE, IPPROTO,
  type FrameSpec, type ParsedIcmp, type ParsedIpv4, type ParsedIpv6, type ParsedTcp, type ParsedUdp, type ParsedRaw,
} from '../../testing/frames.js';
import { sum16, finish } from '../../testing/frame-checksum.js';
import { InvalidArgumentError } from '../../src/errors.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const A = '02:00:00:00:0a:01';
const B = '02:00:00:00:0b:01';
const AtoB = { src: A, dst: B };
const BtoA = { src: B, dst: A };

// Captured on veths between two namespaces (kernel 6.18): 192.0.2.1/2001:db8::1 (A) <-> .2/::2 (B).
const CAP = {
  icmpEchoRequest: '020000000b01020000000a0108004500002c2ac0400040018c0dc0000201c0000202080070190a0b00017211076b00000000fe5d060000000000',
  udp4: '020000000b01020000000a01080045000026ef1940004011c7a9c0000201c00002029c4014e9001297ca68656c6c6f20786c7673',
  icmpPortUnreach: '020000000a01020000000b01080045c00042e52f0000400110c8c0000202c0000201030381240000000045000026ef1940004011c7a9c0000201c00002029c4014e9001297ca68656c6c6f20786c7673',
  tcp4Syn: '020000000b01020000000a0108004500003c184f400040069e69c0000201c00002029dbc00508d7a1fe400000000a002faf052120000020405b40402080a0ac320c8000000000103030a',
  tcp4Rst: '020000000a01020000000b01080045000028000040004006b6ccc0000202c000020100509dbc000000008d7a1fe550140000e0600000',
  udp6: '020000000b01020000000a0186dd600672a00010114020010db800000000000000000000000120010db80000000000000000000000029c4114e90010390668656c6c6f207636',
  icmp6PortUnreach: '020000000a01020000000b0186dd600cb4a200403a4020010db800000000000000000000000220010db80000000000000000000000010104bf3600000000600672a00010114020010db800000000000000000000000120010db80000000000000000000000029c4114e90010390668656c6c6f207636',
  tcp6Syn: '020000000b01020000000a0186dd60080c0d0028064020010db800000000000000000000000120010db8000000000000000000000002b76a01bb5ce0936100000000a002fd20b8eb0000020405a00402080a365e56ca000000000103030a',
  icmp6EchoRequest: '020000000b01020000000a0186dd600f1b8500103a4020010db800000000000000000000000120010db800000000000000000000000280000dfa0a3500010001020304050607',
  mldReport: '333300000016020000000a0186dd6000000000380001fe80000000000000000000fffe000a01ff0200000000000000000000000000163a000502000001008f005bec0000000204000000ff0200000000000000000001ff000a0104000000ff0200000000000000000001ff000001',
};

const udp4Spec: FrameSpec = {
  eth: AtoB,
  l3: { kind: 'ipv4', src: '192.0.2.1', dst: '192.0.2.2', id: 0xef19, df: true, l4: { kind: 'udp', sport: 40000, dport: 5353, payload: Buffer.from('hello xlvs') } },
};
const udp6Spec: FrameSpec = {
  eth: AtoB,
  l3: { kind: 'ipv6', src: '2001:db8::1', dst: '2001:db8::2', flowLabel: 0x672a0, l4: { kind: 'udp', sport: 40001, dport: 5353, payload: Buffer.from('hello v6') } },
};

/** Each capture, and the spec that must build exactly its bytes. */
const VECTORS: Array<[keyof typeof CAP, FrameSpec]> = [
  ['icmpEchoRequest', { eth: AtoB, l3: { kind: 'ipv4', src: '192.0.2.1', dst: '192.0.2.2', id: 0x2ac0, df: true, l4: { kind: 'icmp', type: ICMP.ECHO_REQUEST, id: 2571, seq: 1, payload: hex('7211076b00000000fe5d060000000000') } } }],
  ['udp4', udp4Spec],
  ['icmpPortUnreach', { eth: BtoA, l3: { kind: 'ipv4', src: '192.0.2.2', dst: '192.0.2.1', tos: 0xc0, id: 0xe52f, l4: { kind: 'icmp', type: ICMP.DEST_UNREACH, code: ICMP_CODE.PORT_UNREACH, original: udp4Spec.l3 as never, originalLength: 38 } } }],
  ['tcp4Syn', { eth: AtoB, l3: { kind: 'ipv4', src: '192.0.2.1', dst: '192.0.2.2', id: 0x184f, df: true, l4: { kind: 'tcp', sport: 40380, dport: 80, seq: 2373591012, flags: 'SYN', window: 64240, options: hex('020405b40402080a0ac320c8000000000103030a') } } }],
  ['tcp4Rst', { eth: BtoA, l3: { kind: 'ipv4', src: '192.0.2.2', dst: '192.0.2.1', df: true, l4: { kind: 'tcp', sport: 80, dport: 40380, ack: 2373591013, flags: 'RST,ACK', window: 0 } } }],
  ['udp6', udp6Spec],
  ['icmp6PortUnreach', { eth: BtoA, l3: { kind: 'ipv6', src: '2001:db8::2', dst: '2001:db8::1', flowLabel: 0xcb4a2, l4: { kind: 'icmpv6', type: ICMPV6.DEST_UNREACH, code: 4, original: udp6Spec.l3 as never } } }],
  ['tcp6Syn', { eth: AtoB, l3: { kind: 'ipv6', src: '2001:db8::1', dst: '2001:db8::2', flowLabel: 0x80c0d, l4: { kind: 'tcp', sport: 46954, dport: 443, seq: 1558221665, flags: 'SYN', window: 64800, options: hex('020405a00402080a365e56ca000000000103030a') } } }],
  ['icmp6EchoRequest', { eth: AtoB, l3: { kind: 'ipv6', src: '2001:db8::1', dst: '2001:db8::2', flowLabel: 0xf1b85, l4: { kind: 'icmpv6', type: ICMPV6.ECHO_REQUEST, id: 0x0a35, seq: 1, payload: hex('0001020304050607') } } }],
  ['mldReport', {
    eth: { src: A, dst: '33:33:00:00:00:16' },
    l3: {
      kind: 'ipv6', src: 'fe80::ff:fe00:a01', dst: 'ff02::16', hopLimit: 1, ext: [{ kind: 'hop-by-hop', options: hex('05020000') }],
      l4: { kind: 'icmpv6', type: 143, rest: 2, payload: hex('04000000ff0200000000000000000001ff000a0104000000ff0200000000000000000001ff000001') },
    },
  }],
];

test('the checksum is RFC 1071 section 3\'s example and a textbook IPv4 header\'s', () => {
  assert.equal(sum16(hex('0001f203f4f5f6f7'), 0, 8), 0x2ddf0); // the RFC's unfolded sum
  assert.equal(finish(sum16(hex('0001f203f4f5f6f7'), 0, 8)), 0x220d);
  const h = hex('450000730000400040110000c0a80001c0a800c7');
  assert.equal(finish(sum16(h, 0, h.length)), 0xb861);
  assert.equal(finish(sum16(hex('01'), 0, 1)), 0xfeff, 'an odd byte is padded with zero');
});

test('IPv6 text: RFC 5952 canonical output, RFC 4291 input forms, bad input refused', () => {
  const canon: Array<[string, string]> = [
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // first of two equal runs
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'], // the longest run
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // one zero group is not compressed
    ['2001:DB8::AbCd', '2001:db8::abcd'],
    ['::', '::'],
    ['::1', '::1'],
    ['1::', '1::'],
    ['fe80::ff:fe00:a01', 'fe80::ff:fe00:a01'],
    ['::ffff:192.0.2.1', '::ffff:192.0.2.1'],
    ['64:ff9b::192.0.2.33', '64:ff9b::c000:221'],
    ['1:2:3:4:5:6::8', '1:2:3:4:5:6:0:8'],
  ];
  for (const [input, want] of canon) {
    const b = parseIPv6(input);
    assert.ok(b, `${input} parses`);
    assert.equal(formatIPv6(b), want, input);
  }
  assert.equal(parseIPv6('2001:db8::1')!.toString('hex'), '20010db8000000000000000000000001');
  for (const bad of ['', ':', ':::', '1::2::3', '12345::', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7:8::', 'g::1', '::1.2.3', '::256.1.1.1', '1:2:3:4:5:6:7', '::01.2.3.4']) {
    assert.equal(parseIPv6(bad), null, JSON.stringify(bad));
  }
});

test('every captured kernel frame parses with every checksum valid, and its spec builds the same bytes', () => {
  for (const [name, spec] of VECTORS) {
    const wire = hex(CAP[name]);
    const parsed = parseFrame(wire);
    const sums = checksums(parsed);
    assert.ok(sums.length > 0, `${name}: has checksums`);
    assert.deepEqual(badChecksums(parsed), [], `${name}: checksums ${JSON.stringify(sums)}`);
    assert.equal(parsed.trailer, '', `${name}: no trailer`);
    assert.equal(buildFrame(spec).toString('hex'), wire.toString('hex'), `${name}: built bytes`);
    assert.deepEqual(parseFrame(buildFrame(spec)), parsed, `${name}: parse(build(spec))`);
  }
});

test('captured frames parse into the right fields', () => {
  const syn = parseFrame(hex(CAP.tcp4Syn));
  assert.deepEqual(syn.eth, { dst: B, src: A, type: 0x0800 });
  const ip = syn.l3 as ParsedIpv4;
  assert.equal(ip.kind, 'ipv4');
  assert.deepEqual([ip.src, ip.dst, ip.ttl, ip.id, ip.df, ip.mf, ip.totalLength, ip.checksum], ['192.0.2.1', '192.0.2.2', 64, 0x184f, true, false, 60, 0x9e69]);
  const tcp = ip.l4 as ParsedTcp;
  assert.deepEqual([tcp.sport, tcp.dport, tcp.seq, tcp.flags, tcp.doff, tcp.window, tcp.checksum, tcp.checksumValid], [40380, 80, 2373591012, 'SYN', 10, 64240, 0x5212, true]);

  const unreach = (parseFrame(hex(CAP.icmpPortUnreach)).l3 as ParsedIpv4).l4 as ParsedIcmp;
  assert.deepEqual([unreach.kind, unreach.type, unreach.code, unreach.checksumValid], ['icmp', 3, 3, true]);
  const quoted = unreach.original as ParsedIpv4;
  assert.deepEqual([quoted.src, quoted.dst, quoted.proto, quoted.checksumValid, quoted.truncated], ['192.0.2.1', '192.0.2.2', 17, true, false]);
  assert.deepEqual([(quoted.l4 as ParsedUdp).sport, (quoted.l4 as ParsedUdp).dport, (quoted.l4 as ParsedUdp).checksumValid], [40000, 5353, true]);

  const mld = parseFrame(hex(CAP.mldReport)).l3 as ParsedIpv6;
  assert.deepEqual(mld.ext, [{ kind: 'hop-by-hop', nextHeader: 58, length: 8, data: '050200000100' }]);
  assert.deepEqual([mld.src, mld.dst, mld.hopLimit, (mld.l4 as ParsedIcmp).type, (mld.l4 as ParsedIcmp).checksumValid], ['fe80::ff:fe00:a01', 'ff02::16', 1, 143, true]);

  const echo6 = (parseFrame(hex(CAP.icmp6EchoRequest)).l3 as ParsedIpv6).l4 as ParsedIcmp;
  assert.deepEqual([echo6.kind, echo6.id, echo6.seq, echo6.payload], ['icmpv6', 0x0a35, 1, '0001020304050607']);
});

test('one flipped bit in a captured frame makes exactly the covering checksum invalid', () => {
  const cases: Array<[keyof typeof CAP, number, string[]]> = [
    ['tcp4Syn', 14 + 8, ['l3.checksum']], // TTL: IP header only
    ['tcp4Syn', 14 + 12, ['l3.checksum', 'l3.l4.checksum']], // source address: header and pseudo-header
    ['tcp4Syn', 14 + 20 + 30, ['l3.l4.checksum']], // a TCP option byte
    ['udp6', 14 + 8, ['l3.l4.checksum']], // v6 source address: pseudo-header
    ['icmp6PortUnreach', 14 + 48 + 50, ['l3.l4.checksum', 'l3.l4.original.l4.checksum']], // quoted UDP payload
    ['icmpPortUnreach', 14 + 20 + 8 + 8, ['l3.l4.checksum', 'l3.l4.original.checksum']], // quoted IP TTL
  ];
  for (const [name, at, want] of cases) {
    const b = hex(CAP[name]);
    b[at]! ^= 0x10;
    assert.deepEqual(badChecksums(parseFrame(b)).sort(), want.sort(), `${name} byte ${at}`);
  }
});

test('ICMP errors: frag-needed, time-exceeded, packet-too-big carry MTU and the quoted packet', () => {
  const tcp = { kind: 'tcp', sport: 1234, dport: 80, seq: 7, flags: 'SYN' } as const;
  const orig4 = { kind: 'ipv4', src: '203.0.113.2', dst: '10.77.0.11', df: true, l4: { ...tcp, payload: Buffer.alloc(1400, 7) } } as const;
  const fragNeeded = parseFrame(buildFrame({ l3: { kind: 'ipv4', src: '10.77.0.1', dst: '203.0.113.2', l4: { kind: 'icmp', type: ICMP.DEST_UNREACH, code: ICMP_CODE.FRAG_NEEDED, mtu: 1280, original: orig4 } } }));
  const m = (fragNeeded.l3 as ParsedIpv4).l4 as ParsedIcmp;
  assert.deepEqual([m.type, m.code, m.mtu, m.checksumValid], [3, 4, 1280, true]);
  const q = m.original as ParsedIpv4;
  assert.deepEqual([q.src, q.dst, q.totalLength, q.truncated, q.checksumValid], ['203.0.113.2', '10.77.0.11', 1440, true, true]);
  const qt = q.l4 as ParsedTcp;
  assert.deepEqual([qt.sport, qt.dport, qt.seq, qt.truncated, qt.checksumValid, qt.flags], [1234, 80, 7, true, null, undefined], 'only the first 8 bytes were quoted');
  assert.deepEqual(badChecksums(fragNeeded), []);

  const ttl = parseFrame(buildFrame({ l3: { kind: 'ipv4', src: '10.0.0.1', dst: '203.0.113.2', l4: { kind: 'icmp', type: ICMP.TIME_EXCEEDED, original: { ...orig4, ttl: 1 }, originalLength: 48 } } }));
  const t = (ttl.l3 as ParsedIpv4).l4 as ParsedIcmp;
  assert.deepEqual([t.type, t.code, t.rest, (t.original as ParsedIpv4).ttl, ((t.original as ParsedIpv4).l4 as ParsedTcp).flags], [11, 0, 0, 1, 'SYN']);

  const orig6 = { kind: 'ipv6', src: '2001:db8:1::2', dst: '2001:db8:2::11', l4: { kind: 'udp', sport: 5000, dport: 53, payload: Buffer.alloc(1300) } } as const;
  const ptb = parseFrame(buildFrame({ l3: { kind: 'ipv6', src: '2001:db8:2::1', dst: '2001:db8:1::2', l4: { kind: 'icmpv6', type: ICMPV6.PACKET_TOO_BIG, mtu: 1280, original: orig6, originalLength: 1232 } } }));
  const p = (ptb.l3 as ParsedIpv6).l4 as ParsedIcmp;
  assert.deepEqual([p.type, p.mtu, p.checksumValid, (p.original as ParsedIpv6).truncated, ((p.original as ParsedIpv6).l4 as ParsedUdp).dport], [2, 1280, true, true, 53]);
  assert.deepEqual(badChecksums(ptb), []);
  const te6 = parseFrame(buildFrame({ l3: { kind: 'ipv6', src: '2001:db8:2::1', dst: '2001:db8:1::2', l4: { kind: 'icmpv6', type: ICMPV6.TIME_EXCEEDED, original: orig6 } } }));
  const e6 = (te6.l3 as ParsedIpv6).l4 as ParsedIcmp;
  assert.deepEqual([e6.type, e6.checksumValid, ((e6.original as ParsedIpv6).l4 as ParsedUdp).checksumValid], [3, true, true], 'whole packet quoted: its checksum is checkable');
});

test('encapsulation: 4in4, 6in6, 4in6 and 6in4 nest the inner packet', () => {
  const inner4 = { kind: 'ipv4', src: '203.0.113.2', dst: '203.0.113.100', l4: { kind: 'tcp', sport: 1, dport: 80, flags: 'SYN' } } as const;
  const inner6 = { kind: 'ipv6', src: '2001:db8::2', dst: '2001:db8::100', l4: { kind: 'udp', sport: 1, dport: 53 } } as const;
  const outers = [
    { kind: 'ipv4', src: '10.77.0.1', dst: '10.77.0.11', l4: inner4 },
    { kind: 'ipv6', src: 'fd00::1', dst: 'fd00::11', l4: inner6 },
    { kind: 'ipv6', src: 'fd00::1', dst: 'fd00::11', l4: inner4 },
    { kind: 'ipv4', src: '10.77.0.1', dst: '10.77.0.11', l4: inner6 },
  ] as const;
  for (const outer of outers) {
    const f = parseFrame(buildFrame({ l3: outer }));
    const o = f.l3 as ParsedIpv4 | ParsedIpv6;
    assert.equal(o.kind, outer.kind);
    assert.equal(o.kind === 'ipv4' ? o.proto : o.nextHeader, outer.l4.kind === 'ipv4' ? IPPROTO.IPIP : IPPROTO.IPV6);
    const inner = o.l4 as ParsedIpv4 | ParsedIpv6;
    assert.equal(inner.kind, outer.l4.kind);
    assert.equal(inner.dst, outer.l4.dst);
    assert.equal((inner.l4 as ParsedTcp | ParsedUdp).dport, outer.l4.l4.dport);
    assert.deepEqual(badChecksums(f), []);
    assert.equal(checksums(f).filter((c) => c.valid === true).length, outer.l4.kind === 'ipv4' ? 2 + (outer.kind === 'ipv4' ? 1 : 0) : 1 + (outer.kind === 'ipv4' ? 1 : 0));
  }
});

test('IPv6 extension headers and IPv4 options parse back; fragments leave L4 checksums unknowable', () => {
  const f = parseFrame(buildFrame({
    l3: {
      kind: 'ipv6', src: '2001:db8::1', dst: '2001:db8::2', hopLimit: 9,
      ext: [
        { kind: 'hop-by-hop', options: hex('05020000') },
        { kind: 'routing', routingType: 0, segmentsLeft: 0, data: hex('00000000') },
        { kind: 'dest-opts' },
      ],
      l4: { kind: 'tcp', sport: 10, dport: 20, flags: 'FIN,ACK', payload: Buffer.from('x') },
    },
  }));
  const ip6 = f.l3 as ParsedIpv6;
  assert.deepEqual(ip6.ext.map((e) => [e.kind, e.nextHeader, e.length]), [['hop-by-hop', 43, 8], ['routing', 60, 8], ['dest-opts', 6, 8]]);
  assert.deepEqual([ip6.nextHeader, ip6.payloadLength, ip6.hopLimit, (ip6.l4 as ParsedTcp).flags, (ip6.l4 as ParsedTcp).checksumValid], [0, 24 + 21, 9, 'FIN,ACK', true]);

  const first6 = parseFrame(buildFrame({ l3: { kind: 'ipv6', src: '::1', dst: '::2', ext: [{ kind: 'fragment', more: true, id: 0xabcdef01 }], l4: { kind: 'udp', sport: 1, dport: 2, payload: Buffer.alloc(16) } } }));
  const fr = (first6.l3 as ParsedIpv6);
  assert.deepEqual(fr.ext, [{ kind: 'fragment', nextHeader: 17, length: 8, offset: 0, more: true, id: 0xabcdef01 }]);
  assert.deepEqual([(fr.l4 as ParsedUdp).dport, (fr.l4 as ParsedUdp).checksumValid], [2, null]);
  const later6 = parseFrame(buildFrame({ l3: { kind: 'ipv6', src: '::1', dst: '::2', ext: [{ kind: 'fragment', offset: 1280 }], l4: { kind: 'raw', proto: 17, data: hex('aabb') } } }));
  assert.deepEqual((later6.l3 as ParsedIpv6).l4, { kind: 'raw', proto: 17, note: 'fragment at offset 1280', data: 'aabb' });

  const opts = parseFrame(buildFrame({ l3: { kind: 'ipv4', src: '1.2.3.4', dst: '5.6.7.8', ttl: 3, id: 99, options: hex('94040000'), l4: { kind: 'udp', sport: 7, dport: 9, checksum: 'zero' } } }));
  const ip4 = opts.l3 as ParsedIpv4;
  assert.deepEqual([ip4.ihl, ip4.options, ip4.ttl, ip4.id, ip4.checksumValid, (ip4.l4 as ParsedUdp).checksum, (ip4.l4 as ParsedUdp).checksumValid], [6, '94040000', 3, 99, true, 0, true]);
  const zero6 = parseFrame(buildFrame({ l3: { kind: 'ipv6', src: '::1', dst: '::2', l4: { kind: 'udp', sport: 7, dport: 9, checksum: 'zero' } } }));
  assert.deepEqual(badChecksums(zero6), ['l3.l4.checksum'], 'a zero UDP checksum is invalid over IPv6');

  const frag4 = parseFrame(buildFrame({ l3: { kind: 'ipv4', src: '1.2.3.4', dst: '5.6.7.8', mf: true, l4: { kind: 'tcp', sport: 1, dport: 2 } } }));
  assert.deepEqual([(frag4.l3 as ParsedIpv4).mf, ((frag4.l3 as ParsedIpv4).l4 as ParsedTcp).checksumValid], [true, null]);
  const later4 = parseFrame(buildFrame({ l3: { kind: 'ipv4', src: '1.2.3.4', dst: '5.6.7.8', fragOffset: 1480, l4: { kind: 'raw', proto: 6, data: hex('00') } } }));
  assert.deepEqual([(later4.l3 as ParsedIpv4).fragOffset, ((later4.l3 as ParsedIpv4).l4 as ParsedRaw).note], [1480, 'fragment at offset 1480']);
});

test('overrides build broken frames on purpose; the parser reports rather than throws', () => {
  const bad = parseFrame(buildFrame({ l3: { kind: 'ipv4', src: '1.2.3.4', dst: '5.6.7.8', checksum: 0x1234, l4: { kind: 'tcp', sport: 1, dport: 2, checksum: 0 } } }));
  assert.deepEqual(badChecksums(bad).sort(), ['l3.checksum', 'l3.l4.checksum']);
  const longer = buildFrame({ l3: { kind: 'ipv4', src: '1.2.3.4', dst: '5.6.7.8', totalLength: 1000, l4: { kind: 'udp', sport: 1, dport: 2 } } });
  const p = parseFrame(longer).l3 as ParsedIpv4;
  assert.deepEqual([p.truncated, (p.l4 as ParsedUdp).checksumValid], [true, null]);
  const padded = parseFrame(buildFrame({ l3: { kind: 'ipv4', src: '1.2.3.4', dst: '5.6.7.8', l4: { kind: 'udp', sport: 1, dport: 2 } }, trailer: Buffer.alloc(18) }));
  assert.equal(padded.trailer, '00'.repeat(18));
  assert.deepEqual(badChecksums(padded), []);
  // every prefix of a full-featured frame parses without throwing
  const full = buildFrame({ l3: { kind: 'ipv4', src: '1.2.3.4', dst: '5.6.7.8', l4: { kind: 'icmp', type: 3, code: 4, mtu: 1400, original: { kind: 'ipv4', src: '5.6.7.8', dst: '1.2.3.4', l4: { kind: 'tcp', sport: 1, dport: 2, options: hex('01010101') } }, originalLength: 48 } } });
  for (let n = 0; n <= full.length; n++) parseFrame(full.subarray(0, n));
  assert.equal(parseFrame(full.subarray(0, 20)).l3!.kind, 'raw');
  assert.equal((parseFrame(buildFrame({ l3: { kind: 'raw', proto: 0x0806, data: hex('0001') } })).l3 as ParsedRaw).proto, 0x0806);
});

test('bad spec values throw InvalidArgumentError naming the field and value', () => {
  const cases: Array<[FrameSpec, string, unknown]> = [
    [{ l3: { kind: 'ipv4', src: '1.2.3.4', dst: '5.6.7.8', l4: { kind: 'tcp', sport: 70000, dport: 1 } } }, 'l3.l4.sport', 70000],
    [{ l3: { kind: 'ipv4', src: '1.2.3', dst: '5.6.7.8', l4: { kind: 'udp', sport: 1, dport: 1 } } }, 'l3.src', '1.2.3'],
    [{ l3: { kind: 'ipv6', src: '::1', dst: '::g', l4: { kind: 'udp', sport: 1, dport: 1 } } }, 'l3.dst', '::g'],
    [{ eth: { dst: '02:00:00:00:00' }, l3: { kind: 'raw', proto: 1, data: hex('') } }, 'eth.dst', '02:00:00:00:00'],
    [{ l3: { kind: 'ipv4', src: '1.2.3.4', dst: '5.6.7.8', fragOffset: 100, l4: { kind: 'raw', proto: 1, data: hex('') } } }, 'l3.fragOffset', 100],
    [{ l3: { kind: 'ipv4', src: '1.2.3.4', dst: '5.6.7.8', l4: { kind: 'tcp', sport: 1, dport: 1, flags: 'SYN,NOPE' } } }, 'l3.l4.flags', 'SYN,NOPE'],
    [{ l3: { kind: 'ipv6', src: '::1', dst: '::2', ext: [{ kind: 'fragment', id: -1 }], l4: { kind: 'udp', sport: 1, dport: 1 } } }, 'l3.ext[0].id', -1],
    [{ l3: { kind: 'ipv4', src: '1.2.3.4', dst: '5.6.7.8', l4: { kind: 'icmp', type: 3, original: { kind: 'ipv4', src: '1.2.3.4', dst: 'x', l4: { kind: 'udp', sport: 1, dport: 1 } } } } }, 'l3.l4.original.dst', 'x'],
  ];
  for (const [spec, field, value] of cases) {
    assert.throws(() => buildFrame(spec), (e: unknown) => {
      assert.ok(e instanceof InvalidArgumentError, String(e));
      assert.equal(e.code, 'E_INVALID_ARGUMENT');
      assert.equal(e.field, field);
      assert.ok(e.message.includes(JSON.stringify(value)), e.message);
      return true;
    });
  }
  assert.equal(buildPacket({ kind: 'ipv4', src: '1.2.3.4', dst: '5.6.7.8', l4: { kind: 'udp', sport: 1, dport: 1 } }).length, 28);
});
