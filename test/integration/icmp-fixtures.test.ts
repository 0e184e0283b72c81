// SPDX-License-Identifier: Apache-2.0
// ICMP and ICMPv6 through the real xlvs_public / xlvs_private programs (BPF_PROG_TEST_RUN):
// echo answered in place, errors about flows translated both ways, frag-needed / packet-too-big
// generated for a packet too big for the route to the real. The test is the control plane: it
// writes vips and flows directly with the generated codecs, as the data plane would have.
// Programs run inside a namespace made here (routes to the client and the real, permanent
// neighbours, the real's link at MTU 1400) so bpf_fib_lookup answers SUCCESS or FRAG_NEEDED.
// Every fixture also checks the counters: exactly one event or drop, the expected one.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BpfMap, PerCpuMap } from '../../src/kernel/map.js';
import { diff, FixtureRunner, type Fixture } from '../../testing/fixture.js';
import { buildFrame, parseFrame, ICMP, ICMP_CODE, ICMPV6, type FrameSpec, type PacketSpec, type L4Spec } from '../../testing/frames.js';
import * as abi from '../../src/gen/abi.js';
import { abiAddr as addr, abiFamily as fam, PRIV_MTU, ROUTER, ROUTER_MAC as MAC, RouterFixture } from '../../testing/router-fixture.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

// Addresses: documentation and namespace ranges only.
const { vip: VIP, client: CLIENT, real: REAL, local: LOCAL, vip6: VIP6, client6: CLIENT6, real6: REAL6 } = ROUTER;
const HOP = '198.51.100.1'; // a router on the client's path that reports errors
const HOP6 = '2001:db8:9::1';

let fixture: RouterFixture | undefined;
let runner: FixtureRunner;
let flows: BpfMap<abi.XlvsFlowKey, abi.XlvsFlow>;
let vips: BpfMap<abi.XlvsVipKey, abi.XlvsVip>;
let events: PerCpuMap<number, bigint>;
let drops: PerCpuMap<number, bigint>;

before(() => {
  fixture = RouterFixture.create(join(ROOT, 'build/xlvs.bpf.o'), {
    tag: 'icmp',
    // The hops that report errors sit behind the client's side.
    extra: (inNs) => {
      inNs('route', 'add', '198.51.100.0/24', 'via', CLIENT, 'dev', 'pub0');
      inNs('-6', 'route', 'add', '2001:db8:9::/64', 'via', CLIENT6, 'dev', 'pub0');
    },
  });
  ({ runner, flows, vips, events, drops } = fixture);
  // The VIP address entries (port 0, proto 0) send ICMP to icmp_public; VIP:80/tcp is a frontend.
  vips.update({ addr: addr(VIP), port: 80, proto: 6, family: abi.XLVS_AF_INET }, { svc_id: 0, flags: 0 });
});

after(() => fixture?.destroy('icmp fixtures cleanup'));

interface FlowSpec {
  src: string; sport: number; dst: string; dport: number; proto: 'tcp' | 'udp';
  dir: 'forward' | 'reply'; method: 'nat' | 'dr' | 'tun' | 'fullnat';
  snat?: [string, number]; dnat?: [string, number];
}

/** Writes one flow entry, alive for an hour. */
function putFlow(f: FlowSpec): void {
  const none = Buffer.alloc(16);
  const proto = f.proto === 'tcp' ? 6 : 17;
  const method = { nat: abi.XLVS_METHOD_NAT, dr: abi.XLVS_METHOD_DR, tun: abi.XLVS_METHOD_TUN, fullnat: abi.XLVS_METHOD_FULLNAT }[f.method];
  flows.update(
    { src: addr(f.src), dst: addr(f.dst), sport: f.sport, dport: f.dport, proto, family: fam(f.src) },
    {
      expires_ns: process.hrtime.bigint() + 3600n * 1_000_000_000n,
      nat_src: f.snat ? addr(f.snat[0]) : none,
      nat_sport: f.snat ? f.snat[1] : 0,
      // dr/tun entries name the real in nat_dst without rewriting (no DNAT flag).
      nat_dst: f.dnat ? addr(f.dnat[0]) : none,
      nat_dport: f.dnat ? f.dnat[1] : 0,
      state: proto === 6 ? abi.XLVS_FLOW_TCP_EST : abi.XLVS_FLOW_UDP,
      real_id: 1,
      svc_id: 0,
      dir: f.dir === 'forward' ? abi.XLVS_DIR_FORWARD : abi.XLVS_DIR_REPLY,
      flags: (f.snat && f.method !== 'dr' && f.method !== 'tun' ? abi.XLVS_FLOW_F_SNAT : 0) | (f.dnat && f.method !== 'dr' && f.method !== 'tun' ? abi.XLVS_FLOW_F_DNAT : 0),
      method,
      // No next hop cached: the first packet asks the FIB.
      nh_ifindex: 0, nh_expires_ns: 0n, nh_len: 0, nh_dmac: Buffer.alloc(6), nh_smac: Buffer.alloc(6), sync_s: 0,
      // No sequence numbers learned: these fixtures carry no handshake.
      tcp: 0, seq_next: 0, ack: 0,
    },
  );
}

type Counter = `event:${'PASS' | 'FWD' | 'FWD_KERNEL' | 'ICMP_ECHO' | 'ICMP_XLATE' | 'ICMP_TOO_BIG'}` | `drop:${'FIB' | 'TOO_BIG' | 'BAD_ICMP' | 'ENCAP' | 'NO_NEIGH'}`;

/** Every counter, summed over CPUs, by name. */
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
function check(f: Fixture, counted: Counter): void {
  const before = counters();
  runner.check([f]);
  const after = counters();
  const moved = [...after].filter(([k, v]) => v !== before.get(k)).map(([k, v]) => `${k} +${v - (before.get(k) ?? 0n)}`);
  assert.deepEqual(moved, [`${counted} +1`], `${f.name}: counters that moved`);
}

const fromClient = (l3: PacketSpec): FrameSpec => ({ eth: { src: MAC.client, dst: MAC.pub0 }, l3 });
const fromReal = (l3: PacketSpec): FrameSpec => ({ eth: { src: MAC.real, dst: MAC.priv0 }, l3 });
const toReal = (l3: PacketSpec): FrameSpec => ({ eth: { src: MAC.priv0, dst: MAC.real }, l3 });
const toClient = (l3: PacketSpec): FrameSpec => ({ eth: { src: MAC.pub0, dst: MAC.client }, l3 });
const v4 = (src: string, dst: string, l4: L4Spec, ttl = 64, extra: object = {}): PacketSpec => ({ kind: 'ipv4', src, dst, id: 0x4242, ttl, l4, ...extra });
const v6 = (src: string, dst: string, l4: L4Spec, hopLimit = 64): PacketSpec => ({ kind: 'ipv6', src, dst, hopLimit, l4 });
const tcp = (sport: number, dport: number): L4Spec => ({ kind: 'tcp', sport, dport, seq: 1000, ack: 2000, flags: 'ACK', payload: Buffer.alloc(100, 0x61) });
const pub = (name: string, input: FrameSpec, expect: Fixture['expect']): Fixture => ({ name, prog: 'xlvs_public', ingress: 'pub0', input, expect });
const priv = (name: string, input: FrameSpec, expect: Fixture['expect']): Fixture => ({ name, prog: 'xlvs_private', ingress: 'priv0', input, expect });

test('echo request to the VIP (v4, v6) is answered in place: MACs and addresses swapped, TTL 64, type reply, checksums valid', () => {
  const payload = Buffer.from('xlvs echo payload 0123456789');
  const echo = (type: number): L4Spec => ({ kind: 'icmp', type, id: 0x1234, seq: 7, payload });
  check(pub('echo v4', fromClient(v4(CLIENT, VIP, echo(ICMP.ECHO_REQUEST), 50, { df: true, tos: 0x10 })), {
    verdict: 'XDP_TX',
    frame: toClient(v4(VIP, CLIENT, echo(ICMP.ECHO_REPLY), 64, { df: true, tos: 0x10 })),
  }), 'event:ICMP_ECHO');
  const echo6 = (type: number): L4Spec => ({ kind: 'icmpv6', type, id: 0x1234, seq: 7, payload });
  check(pub('echo v6', fromClient(v6(CLIENT6, VIP6, echo6(ICMPV6.ECHO_REQUEST), 3)), {
    verdict: 'XDP_TX',
    frame: toClient(v6(VIP6, CLIENT6, echo6(ICMPV6.ECHO_REPLY), 64)),
  }), 'event:ICMP_ECHO');
  // Not a request: the kernel's business.
  check(pub('echo reply to the VIP passes', fromClient(v4(CLIENT, VIP, echo(ICMP.ECHO_REPLY))), { verdict: 'XDP_PASS', frame: 'unchanged' }), 'event:PASS');
  // Never answer a multicast source.
  check(pub('echo from a multicast source passes', fromClient(v4('224.0.0.9', VIP, echo(ICMP.ECHO_REQUEST))), { verdict: 'XDP_PASS', frame: 'unchanged' }), 'event:PASS');
});

test('errors to the VIP about a reply we sent are translated for the real (nat, fullnat, dr) and redirected', () => {
  putFlow({ src: CLIENT, sport: 40000, dst: VIP, dport: 80, proto: 'tcp', dir: 'forward', method: 'nat', dnat: [REAL, 8080] });
  check(pub('frag needed about VIP:80 -> client, nat', fromClient(v4(HOP, VIP, {
    kind: 'icmp', type: ICMP.DEST_UNREACH, code: ICMP_CODE.FRAG_NEEDED, mtu: 1300, original: v4(VIP, CLIENT, tcp(80, 40000), 61),
  }, 60)), {
    verdict: 'XDP_REDIRECT',
    frame: toReal(v4(HOP, REAL, {
      kind: 'icmp', type: ICMP.DEST_UNREACH, code: ICMP_CODE.FRAG_NEEDED, mtu: 1300, original: v4(REAL, CLIENT, tcp(8080, 40000), 61),
    }, 59)),
  }), 'event:ICMP_XLATE');

  putFlow({ src: CLIENT, sport: 40001, dst: VIP, dport: 80, proto: 'tcp', dir: 'forward', method: 'fullnat', dnat: [REAL, 8080], snat: [LOCAL, 50001] });
  check(pub('time exceeded about VIP:80 -> client, fullnat: the quote becomes real -> local', fromClient(v4(HOP, VIP, {
    kind: 'icmp', type: ICMP.TIME_EXCEEDED, code: 0, original: v4(VIP, CLIENT, tcp(80, 40001), 1),
  }, 60)), {
    verdict: 'XDP_REDIRECT',
    frame: toReal(v4(HOP, REAL, { kind: 'icmp', type: ICMP.TIME_EXCEEDED, code: 0, original: v4(REAL, LOCAL, tcp(8080, 50001), 1) }, 59)),
  }), 'event:ICMP_XLATE');

  putFlow({ src: CLIENT, sport: 40002, dst: VIP, dport: 80, proto: 'tcp', dir: 'forward', method: 'dr', dnat: [REAL, 80] });
  const drError = fromClient(v4(HOP, VIP, { kind: 'icmp', type: ICMP.DEST_UNREACH, code: ICMP_CODE.FRAG_NEEDED, mtu: 1280, original: v4(VIP, CLIENT, tcp(80, 40002)) }, 60));
  check(pub('frag needed about a dr flow: to the real unchanged but for the MACs', drError, {
    verdict: 'XDP_REDIRECT',
    frame: { ...drError, eth: { src: MAC.priv0, dst: MAC.real } },
  }), 'event:ICMP_XLATE');

  putFlow({ src: CLIENT, sport: 40003, dst: VIP, dport: 80, proto: 'tcp', dir: 'forward', method: 'tun', dnat: [REAL, 80] });
  const tunError = v4(HOP, VIP, { kind: 'icmp', type: ICMP.DEST_UNREACH, code: ICMP_CODE.FRAG_NEEDED, mtu: 1280, original: v4(VIP, CLIENT, tcp(80, 40003)) }, 60);
  // The inner packet may be fragmented (no DF): so may the outer one, which then needs a real ID
  // (RFC 6864), a random one; whatever it is, the rest of the frame is exactly this.
  check(pub('an error about a tun flow goes to the real unchanged, inside IPIP from the local address', fromClient(tunError), {
    verdict: 'XDP_REDIRECT',
    frame: (got) => {
      const id = got.l3?.kind === 'ipv4' ? got.l3.id : 0;
      assert.notEqual(id, 0, 'outer IP ID of a packet without DF');
      const problems = diff(parseFrame(buildFrame(toReal(v4(LOCAL, REAL, tunError, 64, { id })))), got, '');
      assert.deepEqual(problems, []);
    },
  }), 'event:ICMP_XLATE');

  putFlow({ src: CLIENT6, sport: 40000, dst: VIP6, dport: 80, proto: 'tcp', dir: 'forward', method: 'nat', dnat: [REAL6, 8080] });
  check(pub('packet too big about VIP6:80 -> client, nat (ICMPv6 checksum follows the outer destination)', fromClient(v6(HOP6, VIP6, {
    kind: 'icmpv6', type: ICMPV6.PACKET_TOO_BIG, mtu: 1280, original: v6(VIP6, CLIENT6, tcp(80, 40000)), originalLength: 48,
  }, 60)), {
    verdict: 'XDP_REDIRECT',
    frame: toReal(v6(HOP6, REAL6, { kind: 'icmpv6', type: ICMPV6.PACKET_TOO_BIG, mtu: 1280, original: v6(REAL6, CLIENT6, tcp(8080, 40000)), originalLength: 48 }, 59)),
  }), 'event:ICMP_XLATE');
});

test('errors to the VIP without a flow: dropped when about a frontend, passed when about the router\'s own traffic', () => {
  const about = (sport: number): FrameSpec => fromClient(v4(HOP, VIP, { kind: 'icmp', type: ICMP.DEST_UNREACH, code: ICMP_CODE.FRAG_NEEDED, mtu: 1300, original: v4(VIP, CLIENT, tcp(sport, 49999)) }));
  check(pub('about VIP:80 (a frontend) without flow', about(80), { verdict: 'XDP_DROP' }), 'drop:BAD_ICMP');
  check(pub('about VIP:22 (no frontend: the router\'s own)', about(22), { verdict: 'XDP_PASS', frame: 'unchanged' }), 'event:PASS');
  check(pub('a quote cut inside the IP header passes', fromClient(v4(HOP, VIP, {
    kind: 'icmp', type: ICMP.DEST_UNREACH, code: ICMP_CODE.FRAG_NEEDED, original: v4(VIP, CLIENT, tcp(80, 40000)), originalLength: 16,
  })), { verdict: 'XDP_PASS', frame: 'unchanged' }), 'event:PASS');
});

test('errors from the private side about a packet we forwarded are translated for the client (source -> VIP)', () => {
  putFlow({ src: REAL, sport: 8080, dst: CLIENT, dport: 40010, proto: 'tcp', dir: 'reply', method: 'nat', snat: [VIP, 80] });
  check(priv('frag needed from the real about client -> real:8080, nat', fromReal(v4(REAL, CLIENT, {
    kind: 'icmp', type: ICMP.DEST_UNREACH, code: ICMP_CODE.FRAG_NEEDED, mtu: 1200, original: v4(CLIENT, REAL, tcp(40010, 8080), 63),
  })), {
    verdict: 'XDP_REDIRECT',
    frame: toClient(v4(VIP, CLIENT, { kind: 'icmp', type: ICMP.DEST_UNREACH, code: ICMP_CODE.FRAG_NEEDED, mtu: 1200, original: v4(CLIENT, VIP, tcp(40010, 80), 63) }, 63)),
  }), 'event:ICMP_XLATE');

  // UDP: the quoted UDP checksum lies in the quote and stays as it was (it covers the whole
  // datagram, which the quote does not hold): the fixture pins it to one value both sides.
  putFlow({ src: REAL, sport: 5353, dst: CLIENT, dport: 40011, proto: 'udp', dir: 'reply', method: 'nat', snat: [VIP, 53] });
  const udp = (sport: number, dport: number): L4Spec => ({ kind: 'udp', sport, dport, payload: Buffer.from('query'), checksum: 0xbeef });
  check(priv('port unreachable from the real, udp, nat', fromReal(v4(REAL, CLIENT, {
    kind: 'icmp', type: ICMP.DEST_UNREACH, code: ICMP_CODE.PORT_UNREACH, original: v4(CLIENT, REAL, udp(40011, 5353), 63),
  })), {
    verdict: 'XDP_REDIRECT',
    frame: toClient(v4(VIP, CLIENT, { kind: 'icmp', type: ICMP.DEST_UNREACH, code: ICMP_CODE.PORT_UNREACH, original: v4(CLIENT, VIP, udp(40011, 53), 63) }, 63)),
  }), 'event:ICMP_XLATE');

  putFlow({ src: REAL, sport: 8080, dst: LOCAL, dport: 50020, proto: 'tcp', dir: 'reply', method: 'fullnat', snat: [VIP, 80], dnat: [CLIENT, 40020] });
  check(priv('frag needed about local:50020 -> real:8080, fullnat: outer and quote back to client and VIP', fromReal(v4(REAL, LOCAL, {
    kind: 'icmp', type: ICMP.DEST_UNREACH, code: ICMP_CODE.FRAG_NEEDED, mtu: 1200, original: v4(LOCAL, REAL, tcp(50020, 8080), 63),
  })), {
    verdict: 'XDP_REDIRECT',
    frame: toClient(v4(VIP, CLIENT, { kind: 'icmp', type: ICMP.DEST_UNREACH, code: ICMP_CODE.FRAG_NEEDED, mtu: 1200, original: v4(CLIENT, VIP, tcp(40020, 80), 63) }, 63)),
  }), 'event:ICMP_XLATE');

  putFlow({ src: REAL6, sport: 5353, dst: CLIENT6, dport: 40011, proto: 'udp', dir: 'reply', method: 'nat', snat: [VIP6, 53] });
  check(priv('port unreachable v6, nat (pseudo-header follows the new source)', fromReal(v6(REAL6, CLIENT6, {
    kind: 'icmpv6', type: ICMPV6.DEST_UNREACH, code: 4, original: v6(CLIENT6, REAL6, udp(40011, 5353), 63), originalLength: 48,
  })), {
    verdict: 'XDP_REDIRECT',
    frame: toClient(v6(VIP6, CLIENT6, { kind: 'icmpv6', type: ICMPV6.DEST_UNREACH, code: 4, original: v6(CLIENT6, VIP6, udp(40011, 53), 63), originalLength: 48 }, 63)),
  }), 'event:ICMP_XLATE');

  check(priv('an error about a packet no flow knows passes untouched', fromReal(v4(REAL, '198.51.100.77', {
    kind: 'icmp', type: ICMP.DEST_UNREACH, code: ICMP_CODE.PORT_UNREACH, original: v4('198.51.100.77', REAL, udp(123, 123)),
  })), { verdict: 'XDP_PASS', frame: 'unchanged' }), 'event:PASS');
});

test('a DF packet of a flow too big for the route to the real (MTU 1400) is answered with frag needed / packet too big, quoting it', () => {
  putFlow({ src: CLIENT, sport: 40100, dst: VIP, dport: 80, proto: 'tcp', dir: 'forward', method: 'nat', dnat: [REAL, 8080] });
  putFlow({ src: REAL, sport: 8080, dst: CLIENT, dport: 40100, proto: 'tcp', dir: 'reply', method: 'nat', snat: [VIP, 80] });
  const big: L4Spec = { kind: 'tcp', sport: 40100, dport: 80, seq: 1, ack: 1, flags: 'ACK', payload: Buffer.alloc(1500 - 40, 0x7a) };
  const input = fromClient(v4(CLIENT, VIP, big, 64, { df: true }));
  assert.equal(buildFrame(input).length, 14 + 1500);
  check(pub('1500-byte DF tcp to VIP:80 -> frag needed, MTU 1400, from the VIP', input, {
    verdict: 'XDP_TX',
    frame: toClient({
      kind: 'ipv4', src: VIP, dst: CLIENT, tos: 0xc0, id: 0, ttl: 64,
      l4: { kind: 'icmp', type: ICMP.DEST_UNREACH, code: ICMP_CODE.FRAG_NEEDED, mtu: PRIV_MTU, original: v4(CLIENT, VIP, big, 64, { df: true }), originalLength: 28 },
    }),
  }), 'event:ICMP_TOO_BIG');

  // Without DF the sender asked to be fragmented: xmit hands NAT traffic to the kernel for that.
  check(pub('1500-byte tcp without DF is left to the kernel to fragment', fromClient(v4(CLIENT, VIP, big, 64, { df: false })), { verdict: 'XDP_PASS' }), 'event:FWD_KERNEL');

  putFlow({ src: CLIENT6, sport: 40100, dst: VIP6, dport: 80, proto: 'tcp', dir: 'forward', method: 'nat', dnat: [REAL6, 8080] });
  const big6: L4Spec = { ...big, payload: Buffer.alloc(1500 - 40 - 20, 0x7a) };
  const input6 = fromClient(v6(CLIENT6, VIP6, big6));
  check(pub('1500-byte v6 tcp to VIP6:80 -> packet too big, MTU 1400, quoting 1232 bytes', input6, {
    verdict: 'XDP_TX',
    frame: toClient(v6(VIP6, CLIENT6, { kind: 'icmpv6', type: ICMPV6.PACKET_TOO_BIG, mtu: PRIV_MTU, original: v6(CLIENT6, VIP6, big6), originalLength: 1232 })),
  }), 'event:ICMP_TOO_BIG');
});
