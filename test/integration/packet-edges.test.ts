// SPDX-License-Identifier: Apache-2.0
// The edges of a packet (issue 14) through the real xlvs_public / xlvs_private programs
// (BPF_PROG_TEST_RUN), Katran style: input frame -> verdict, output frame and the one counter
// that moved.
//  - fragments of a nat/fullnat real's reply are translated (the later ones by their first
//    fragment's flow), never passed with the real's address; other fragments pass;
//  - TTL / hop limit 1 through the router: ICMP time exceeded built from the packet as it came
//    in (from the VIP toward a client), never the kernel's error about the translated packet;
//  - IPv4 without DF over the next hop's MTU: need_frag where the kernel cannot fragment it;
//    a tun outer header that may be fragmented carries a non-zero ID;
//  - an IPv6 routing header with segments left: not for the VIP yet, passed untouched;
//  - transport headers are read within the IP length, never from Ethernet padding.
// The test is the control plane: it writes vips and flows with the generated codecs. Programs
// run inside a namespace made here (routes, permanent neighbours, the real's link at MTU 1400).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BpfMap, PerCpuMap } from '../../src/kernel/map.js';
import { diff, FixtureRunner, type Fixture } from '../../testing/fixture.js';
import { buildFrame, parseFrame, ICMP, ICMP_CODE, ICMPV6, type FrameSpec, type PacketSpec, type L4Spec, type Ipv6Ext } from '../../testing/frames.js';
import * as abi from '../../src/gen/abi.js';
import { abiAddr as addr, abiFamily as fam, PRIV_MTU, ROUTER, ROUTER_MAC as MAC, RouterFixture } from '../../testing/router-fixture.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

const { vip: VIP, client: CLIENT, real: REAL, local: LOCAL, vip6: VIP6, client6: CLIENT6, real6: REAL6 } = ROUTER;
const ELSEWHERE6 = '2001:db8:5::5'; // a routing header's final destination

let fixture: RouterFixture | undefined;
let runner: FixtureRunner;
let flows: BpfMap<abi.XlvsFlowKey, abi.XlvsFlow>;
let events: PerCpuMap<number, bigint>;
let drops: PerCpuMap<number, bigint>;

before(() => {
  fixture = RouterFixture.create(join(ROOT, 'build/xlvs.bpf.o'), { tag: 'edges' });
  ({ runner, flows, events, drops } = fixture);
});

after(() => fixture?.destroy('packet edges cleanup'));

interface FlowSpec {
  src: string; sport: number; dst: string; dport: number; proto: 'tcp' | 'udp';
  dir: 'forward' | 'reply'; method: 'nat' | 'dr' | 'tun' | 'fullnat';
  snat?: [string, number]; dnat?: [string, number];
}

/** Writes one flow entry, alive for an hour (dr/tun entries name the real without rewriting). */
function putFlow(f: FlowSpec): void {
  const none = Buffer.alloc(16);
  const proto = f.proto === 'tcp' ? 6 : 17;
  const rewrites = f.method === 'nat' || f.method === 'fullnat';
  flows.update(
    { src: addr(f.src), dst: addr(f.dst), sport: f.sport, dport: f.dport, proto, family: fam(f.src) },
    {
      expires_ns: process.hrtime.bigint() + 3600n * 1_000_000_000n,
      nat_src: f.snat ? addr(f.snat[0]) : none,
      nat_sport: f.snat ? f.snat[1] : 0,
      nat_dst: f.dnat ? addr(f.dnat[0]) : none,
      nat_dport: f.dnat ? f.dnat[1] : 0,
      state: proto === 6 ? abi.XLVS_FLOW_TCP_EST : abi.XLVS_FLOW_UDP,
      real_id: 1,
      svc_id: 0,
      dir: f.dir === 'forward' ? abi.XLVS_DIR_FORWARD : abi.XLVS_DIR_REPLY,
      flags: (f.snat && rewrites ? abi.XLVS_FLOW_F_SNAT : 0) | (f.dnat && rewrites ? abi.XLVS_FLOW_F_DNAT : 0),
      method: { nat: abi.XLVS_METHOD_NAT, dr: abi.XLVS_METHOD_DR, tun: abi.XLVS_METHOD_TUN, fullnat: abi.XLVS_METHOD_FULLNAT }[f.method],
      nh_ifindex: 0, nh_expires_ns: 0n, nh_len: 0, nh_dmac: Buffer.alloc(6), nh_smac: Buffer.alloc(6), sync_s: 0,
      // no sequence known: these fixtures send no RST, FIN or SYN on the flows they write
      tcp: 0, seq_next: 0, ack: 0,
    },
  );
}

/** Every counter, summed over CPUs, by name ("event:PASS", "drop:REPLY_FRAGMENT"). */
function counters(): Map<string, bigint> {
  const out = new Map<string, bigint>();
  const sum = (m: PerCpuMap<number, bigint>, i: number): bigint => (m.lookup(i) ?? []).reduce((a, b) => a + b, 0n);
  for (const [k, v] of Object.entries(abi)) {
    if (typeof v !== 'number' || k.endsWith('_MAX')) continue;
    if (k.startsWith('XLVS_EV_')) out.set(`event:${k.slice(8)}`, sum(events, v));
    if (k.startsWith('XLVS_DROP_')) out.set(`drop:${k.slice(10)}`, sum(drops, v));
  }
  return out;
}

/** Runs one fixture and checks that exactly `counted` moved, by one. */
function check(f: Fixture, counted: string): void {
  const before = counters();
  runner.check([f]);
  const after = counters();
  const moved = [...after].filter(([k, v]) => v !== before.get(k)).map(([k, v]) => `${k} +${v - (before.get(k) ?? 0n)}`);
  assert.deepEqual(moved, [`${counted} +1`], `${f.name}: counters that moved`);
}

const fromClient = (l3: PacketSpec, trailer?: Buffer): FrameSpec => ({ eth: { src: MAC.client, dst: MAC.pub0 }, l3, ...(trailer ? { trailer } : {}) });
const fromReal = (l3: PacketSpec): FrameSpec => ({ eth: { src: MAC.real, dst: MAC.priv0 }, l3 });
const toReal = (l3: PacketSpec, trailer?: Buffer): FrameSpec => ({ eth: { src: MAC.priv0, dst: MAC.real }, l3, ...(trailer ? { trailer } : {}) });
const toClient = (l3: PacketSpec): FrameSpec => ({ eth: { src: MAC.pub0, dst: MAC.client }, l3 });
const v4 = (src: string, dst: string, l4: L4Spec, ttl = 64, extra: object = {}): PacketSpec => ({ kind: 'ipv4', src, dst, id: 0x4242, ttl, l4, ...extra });
const v6 = (src: string, dst: string, l4: L4Spec, hopLimit = 64, extra: object = {}): PacketSpec => ({ kind: 'ipv6', src, dst, hopLimit, l4, ...extra });
const tcp = (sport: number, dport: number, payload = 100): L4Spec => ({ kind: 'tcp', sport, dport, seq: 1000, ack: 2000, flags: 'ACK', payload: Buffer.alloc(payload, 0x61) });
const udp = (sport: number, dport: number, payload = 64): L4Spec => ({ kind: 'udp', sport, dport, payload: Buffer.alloc(payload, 0x64) });
const rawUdp = (n: number): L4Spec => ({ kind: 'raw', proto: 17, data: Buffer.alloc(n, 0x64) });
const pub = (name: string, input: FrameSpec, expect: Fixture['expect']): Fixture => ({ name, prog: 'xlvs_public', ingress: 'pub0', input, expect });
const priv = (name: string, input: FrameSpec, expect: Fixture['expect']): Fixture => ({ name, prog: 'xlvs_private', ingress: 'priv0', input, expect });
const unchanged: Fixture['expect'] = { verdict: 'XDP_PASS', frame: 'unchanged' };
const frag6 = (id: number, offset: number, more: boolean): Ipv6Ext => ({ kind: 'fragment', id, offset, more });

test('fragments of a nat/fullnat real\'s reply are translated: the first by its flow, the later ones by the first; none leaves with the real\'s address', () => {
  putFlow({ src: REAL, sport: 5353, dst: CLIENT, dport: 40200, proto: 'udp', dir: 'reply', method: 'nat', snat: [VIP, 53] });
  // A large DNS answer: the first fragment carries the ports (and the datagram's checksum), the second only data.
  const first = (src: string, sport: number, ttl: number): PacketSpec => v4(src, CLIENT, udp(sport, 40200, 1000), ttl, { id: 0x7001, mf: true });
  const second = (src: string, ttl: number, id = 0x7001): PacketSpec => v4(src, CLIENT, rawUdp(300), ttl, { id, fragOffset: 1008 });
  check(priv('first fragment of a nat reply', fromReal(first(REAL, 5353, 64)), { verdict: 'XDP_REDIRECT', frame: toClient(first(VIP, 53, 63)) }), 'event:FWD');
  check(priv('its later fragment', fromReal(second(REAL, 64)), { verdict: 'XDP_REDIRECT', frame: toClient(second(VIP, 63)) }), 'event:FWD');
  // A later fragment of a datagram whose first fragment was not seen: nothing says it is ours.
  check(priv('a later fragment of another datagram passes', fromReal(second(REAL, 64, 0x7002)), unchanged), 'event:PASS');
  // The router's own traffic and other hosts' fragments: not ours.
  check(priv('a first fragment no flow knows passes', fromReal(v4(REAL, '198.51.100.77', udp(123, 123, 1000), 64, { id: 0x7003, mf: true })), unchanged), 'event:PASS');
  // dr/tun replies already come from the VIP: nothing to translate, the kernel decides.
  putFlow({ src: VIP, sport: 53, dst: CLIENT, dport: 40201, proto: 'udp', dir: 'reply', method: 'dr' });
  check(priv('a dr reply\'s fragment passes', fromReal(v4(VIP, CLIENT, udp(53, 40201, 1000), 64, { id: 0x7004, mf: true })), unchanged), 'event:PASS');

  putFlow({ src: REAL, sport: 8080, dst: LOCAL, dport: 50200, proto: 'udp', dir: 'reply', method: 'fullnat', snat: [VIP, 53], dnat: [CLIENT, 40202] });
  check(priv('first fragment of a fullnat reply: source and destination', fromReal(v4(REAL, LOCAL, udp(8080, 50200, 1000), 64, { id: 0x7005, mf: true })), {
    verdict: 'XDP_REDIRECT', frame: toClient(v4(VIP, CLIENT, udp(53, 40202, 1000), 63, { id: 0x7005, mf: true })),
  }), 'event:FWD');
  check(priv('its later fragment', fromReal(v4(REAL, LOCAL, rawUdp(300), 64, { id: 0x7005, fragOffset: 1008 })), {
    verdict: 'XDP_REDIRECT', frame: toClient(v4(VIP, CLIENT, rawUdp(300), 63, { id: 0x7005, fragOffset: 1008 })),
  }), 'event:FWD');

  // The flow ends between the fragments: the rest cannot be translated, and must not leak.
  putFlow({ src: REAL, sport: 5353, dst: CLIENT, dport: 40203, proto: 'udp', dir: 'reply', method: 'nat', snat: [VIP, 53] });
  check(priv('first fragment', fromReal(v4(REAL, CLIENT, udp(5353, 40203, 1000), 64, { id: 0x7006, mf: true })), { verdict: 'XDP_REDIRECT' }), 'event:FWD');
  flows.delete({ src: addr(REAL), dst: addr(CLIENT), sport: 5353, dport: 40203, proto: 17, family: abi.XLVS_AF_INET });
  check(priv('a later fragment after its flow ended', fromReal(v4(REAL, CLIENT, rawUdp(300), 64, { id: 0x7006, fragOffset: 1008 })), { verdict: 'XDP_DROP' }), 'drop:REPLY_FRAGMENT');

  putFlow({ src: REAL6, sport: 5353, dst: CLIENT6, dport: 40200, proto: 'udp', dir: 'reply', method: 'nat', snat: [VIP6, 53] });
  const first6 = (src: string, sport: number, hop: number): PacketSpec => v6(src, CLIENT6, udp(sport, 40200, 1000), hop, { ext: [frag6(0x12345678, 0, true)] });
  const second6 = (src: string, hop: number, id = 0x12345678): PacketSpec => v6(src, CLIENT6, rawUdp(300), hop, { ext: [frag6(id, 1008, false)] });
  check(priv('IPv6: first fragment of a nat reply', fromReal(first6(REAL6, 5353, 64)), { verdict: 'XDP_REDIRECT', frame: toClient(first6(VIP6, 53, 63)) }), 'event:FWD');
  check(priv('IPv6: its later fragment', fromReal(second6(REAL6, 64)), { verdict: 'XDP_REDIRECT', frame: toClient(second6(VIP6, 63)) }), 'event:FWD');
  check(priv('IPv6: a later fragment of another datagram passes', fromReal(second6(REAL6, 64, 0x12345679)), unchanged), 'event:PASS');
});

test('TTL / hop limit 1 through the router: time exceeded from the VIP about the packet as the client sent it', () => {
  putFlow({ src: CLIENT, sport: 40500, dst: VIP, dport: 80, proto: 'tcp', dir: 'forward', method: 'nat', dnat: [REAL, 8080] });
  const last = v4(CLIENT, VIP, tcp(40500, 80), 1);
  const timeExceeded = (original: PacketSpec): FrameSpec => toClient({
    kind: 'ipv4', src: VIP, dst: CLIENT, tos: 0xc0, id: 0, ttl: 64,
    l4: { kind: 'icmp', type: ICMP.TIME_EXCEEDED, code: 0, original, originalLength: 28 },
  });
  check(pub('nat, TTL 1', fromClient(last), { verdict: 'XDP_TX', frame: timeExceeded(last) }), 'event:ICMP_TIME_EXCEEDED');

  putFlow({ src: CLIENT, sport: 40501, dst: VIP, dport: 80, proto: 'tcp', dir: 'forward', method: 'fullnat', dnat: [REAL, 8080], snat: [LOCAL, 50501] });
  const lastFull = v4(CLIENT, VIP, tcp(40501, 80), 1);
  check(pub('fullnat, TTL 1', fromClient(lastFull), { verdict: 'XDP_TX', frame: timeExceeded(lastFull) }), 'event:ICMP_TIME_EXCEEDED');

  // dr and tun deliver to a host that holds the VIP: no hop, no TTL spent.
  putFlow({ src: CLIENT, sport: 40502, dst: VIP, dport: 80, proto: 'tcp', dir: 'forward', method: 'dr', dnat: [REAL, 80] });
  const drLast = fromClient(v4(CLIENT, VIP, tcp(40502, 80), 1));
  check(pub('dr, TTL 1: delivered as it is', drLast, { verdict: 'XDP_REDIRECT', frame: { ...drLast, eth: { src: MAC.priv0, dst: MAC.real } } }), 'event:FWD');

  putFlow({ src: CLIENT6, sport: 40500, dst: VIP6, dport: 80, proto: 'tcp', dir: 'forward', method: 'nat', dnat: [REAL6, 8080] });
  const last6 = v6(CLIENT6, VIP6, tcp(40500, 80), 1);
  check(pub('IPv6 nat, hop limit 1: the whole packet quoted', fromClient(last6), {
    verdict: 'XDP_TX',
    frame: toClient(v6(VIP6, CLIENT6, { kind: 'icmpv6', type: ICMPV6.TIME_EXCEEDED, code: 0, original: last6 })),
  }), 'event:ICMP_TIME_EXCEEDED');
  const big6 = v6(CLIENT6, VIP6, tcp(40500, 80, 1300), 1);
  check(pub('IPv6 nat, hop limit 1, 1360 bytes: quoted up to 1280 bytes in all', fromClient(big6), {
    verdict: 'XDP_TX',
    frame: toClient(v6(VIP6, CLIENT6, { kind: 'icmpv6', type: ICMPV6.TIME_EXCEEDED, code: 0, original: big6, originalLength: 1232 })),
  }), 'event:ICMP_TIME_EXCEEDED');
});

test('a real\'s reply with TTL 1: time exceeded back to the real from the local address (else the VIP), quoting the reply', () => {
  putFlow({ src: REAL, sport: 8080, dst: CLIENT, dport: 40510, proto: 'tcp', dir: 'reply', method: 'nat', snat: [VIP, 80] });
  const last = v4(REAL, CLIENT, tcp(8080, 40510), 1);
  check(priv('nat reply, TTL 1', fromReal(last), {
    verdict: 'XDP_TX',
    frame: toReal({ kind: 'ipv4', src: LOCAL, dst: REAL, tos: 0xc0, id: 0, ttl: 64, l4: { kind: 'icmp', type: ICMP.TIME_EXCEEDED, code: 0, original: last, originalLength: 28 } }),
  }), 'event:ICMP_TIME_EXCEEDED');

  putFlow({ src: REAL6, sport: 8080, dst: CLIENT6, dport: 40510, proto: 'tcp', dir: 'reply', method: 'nat', snat: [VIP6, 80] });
  const last6 = v6(REAL6, CLIENT6, tcp(8080, 40510), 1);
  check(priv('IPv6 nat reply, hop limit 1, no local6: from the VIP', fromReal(last6), {
    verdict: 'XDP_TX',
    frame: toReal(v6(VIP6, REAL6, { kind: 'icmpv6', type: ICMPV6.TIME_EXCEEDED, code: 0, original: last6 })),
  }), 'event:ICMP_TIME_EXCEEDED');
});

test('IPv4 without DF over the MTU: need_frag where the kernel cannot fragment it; tun gives such packets a real outer ID', () => {
  const big = (sport: number, df: boolean): PacketSpec => v4(CLIENT, VIP, tcp(sport, 80, 1400 - 40), 64, { df });
  putFlow({ src: CLIENT, sport: 40600, dst: VIP, dport: 80, proto: 'tcp', dir: 'forward', method: 'tun', dnat: [REAL, 80], snat: [LOCAL, 0] });
  check(pub('tun, 1400 bytes + 20 of IPIP, no DF', fromClient(big(40600, false)), { verdict: 'XDP_DROP' }), 'drop:NEED_FRAG');
  check(pub('tun, the same with DF: frag needed, MTU 1380', fromClient(big(40600, true)), {
    verdict: 'XDP_TX',
    frame: toClient({ kind: 'ipv4', src: VIP, dst: CLIENT, tos: 0xc0, id: 0, ttl: 64, l4: { kind: 'icmp', type: ICMP.DEST_UNREACH, code: ICMP_CODE.FRAG_NEEDED, mtu: PRIV_MTU - 20, original: big(40600, true), originalLength: 28 } }),
  }), 'event:ICMP_TOO_BIG');
  putFlow({ src: CLIENT, sport: 40601, dst: VIP, dport: 80, proto: 'tcp', dir: 'forward', method: 'fullnat', dnat: [REAL, 8080], snat: [LOCAL, 50601] });
  const bigger = (df: boolean): PacketSpec => v4(CLIENT, VIP, tcp(40601, 80, 1500 - 40), 64, { df });
  check(pub('fullnat, 1500 bytes, no DF', fromClient(bigger(false)), { verdict: 'XDP_DROP' }), 'drop:NEED_FRAG');

  // A reply over the client side's MTU (1500): the real hears it from the router's local address.
  putFlow({ src: REAL, sport: 8080, dst: CLIENT, dport: 40602, proto: 'tcp', dir: 'reply', method: 'nat', snat: [VIP, 80] });
  const reply = (df: boolean): PacketSpec => v4(REAL, CLIENT, tcp(8080, 40602, 1600 - 40), 64, { df });
  check(priv('nat reply, 1600 bytes, no DF', fromReal(reply(false)), { verdict: 'XDP_DROP' }), 'drop:NEED_FRAG');
  check(priv('nat reply, 1600 bytes, DF: frag needed, MTU 1500, from the local address', fromReal(reply(true)), {
    verdict: 'XDP_TX',
    frame: toReal({ kind: 'ipv4', src: LOCAL, dst: REAL, tos: 0xc0, id: 0, ttl: 64, l4: { kind: 'icmp', type: ICMP.DEST_UNREACH, code: ICMP_CODE.FRAG_NEEDED, mtu: 1500, original: reply(true), originalLength: 28 } }),
  }), 'event:ICMP_TOO_BIG');

  // RFC 6864: DF set (atomic): ID 0 is fine; DF clear: the outer packet may be fragmented.
  const small = (df: boolean): PacketSpec => v4(CLIENT, VIP, tcp(40600, 80), 64, { df });
  check(pub('tun with DF: outer DF, ID 0', fromClient(small(true)), {
    verdict: 'XDP_REDIRECT', frame: toReal(v4(LOCAL, REAL, small(true), 64, { id: 0, df: true })),
  }), 'event:FWD');
  const ids = new Set<number>();
  for (let i = 0; i < 4; i++) {
    check(pub('tun without DF: outer ID not 0', fromClient(small(false)), {
      verdict: 'XDP_REDIRECT',
      frame: (got) => {
        const id = got.l3?.kind === 'ipv4' ? got.l3.id : 0;
        assert.notEqual(id, 0, 'outer IP ID');
        ids.add(id);
        assert.deepEqual(diff(parseFrame(buildFrame(toReal(v4(LOCAL, REAL, small(false), 64, { id, df: false })))), got, ''), []);
      },
    }), 'event:FWD');
  }
  assert.ok(ids.size > 1, `outer IDs vary: ${[...ids]}`);
});

test('an IPv6 routing header with segments left is not for the VIP yet: passed untouched; with none left, forwarded', () => {
  putFlow({ src: CLIENT6, sport: 40300, dst: VIP6, dport: 80, proto: 'tcp', dir: 'forward', method: 'nat', dnat: [REAL6, 8080] });
  // A segment routing header (type 4): last entry, flags, tag, then the final segment.
  const srhData = Buffer.alloc(20);
  srhData.set(addr(ELSEWHERE6), 4);
  const srh = (left: number): Ipv6Ext => ({ kind: 'routing', routingType: 4, segmentsLeft: left, data: srhData });
  check(pub('segments left 1', fromClient(v6(CLIENT6, VIP6, tcp(40300, 80), 64, { ext: [srh(1)] })), unchanged), 'event:PASS');
  check(pub('segments left 0', fromClient(v6(CLIENT6, VIP6, tcp(40300, 80), 64, { ext: [srh(0)] })), {
    verdict: 'XDP_REDIRECT',
    frame: toReal(v6(CLIENT6, REAL6, tcp(40300, 8080), 63, { ext: [srh(0)] })),
  }), 'event:FWD');
});

test('transport headers end where the IP packet ends: Ethernet padding is never read as ports or flags', () => {
  putFlow({ src: CLIENT, sport: 40400, dst: VIP, dport: 53, proto: 'udp', dir: 'forward', method: 'nat', dnat: [REAL, 5353] });
  putFlow({ src: CLIENT, sport: 40401, dst: VIP, dport: 80, proto: 'tcp', dir: 'forward', method: 'nat', dnat: [REAL, 8080] });
  // The IP length covers 4 bytes of UDP; the frame goes on with what looks like the rest.
  check(pub('UDP header past the IP length', fromClient(v4(CLIENT, VIP, udp(40400, 53, 8), 64, { totalLength: 24 })), unchanged), 'event:PASS');
  // 12 bytes of TCP (ports, seq, ack) inside the IP length; offset and flags only in the padding.
  check(pub('TCP header past the IP length', fromClient(v4(CLIENT, VIP, tcp(40401, 80, 0), 64, { totalLength: 32 })), unchanged), 'event:PASS');
  // The TCP data offset says 60 bytes of header; the IP packet has 20.
  check(pub('TCP options past the IP length', fromClient(v4(CLIENT, VIP, { kind: 'tcp', sport: 40401, dport: 80, flags: 'ACK', payload: Buffer.alloc(40, 0x61), doff: 15 }, 64, { totalLength: 40 })), unchanged), 'event:PASS');
  check(pub('IPv6: UDP header past the payload length', fromClient(v6(CLIENT6, VIP6, udp(40400, 53, 8), 64, { payloadLength: 4 })), unchanged), 'event:PASS');
  // An IP length beyond the frame: broken, the kernel's to drop.
  check(pub('IP length beyond the frame', fromClient(v4(CLIENT, VIP, udp(40400, 53, 8), 64, { totalLength: 60 })), unchanged), 'event:PASS');
  // Padding after a whole packet changes nothing: translated, padding carried, checksums right.
  const pad = Buffer.alloc(12, 0xee);
  check(pub('a short UDP datagram in a padded frame', fromClient(v4(CLIENT, VIP, udp(40400, 53, 2), 64), pad), {
    verdict: 'XDP_REDIRECT',
    frame: toReal(v4(CLIENT, REAL, udp(40400, 5353, 2), 63), pad),
  }), 'event:FWD');
});
