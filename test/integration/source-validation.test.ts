// SPDX-License-Identifier: Apache-2.0
// Source validation on the public side (bpf/srcval.h) through the real xlvs_public
// (BPF_PROG_TEST_RUN), configured by the Reconciler as the daemon does: a SYN or a first UDP
// datagram to a VIP from a martian source, one of the router's own addresses or a host the route
// back does not reach by the ingress interface is dropped, counted as martian, and makes no flow;
// a client's is forwarded. Programs run inside a namespace made here (pub0 with a default route,
// a second uplink pub1, priv0 to the real servers) so the reverse route lookup has routes to judge.
// The VIP and the local addresses are not addresses of the namespace: their refusal comes from
// xlvs's own lists, not from the FIB.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { FixtureRunner, TestDataplane, type Fixture } from '../../testing/fixture.js';
import { ICMP, ICMP_CODE, ICMPV6, type FrameSpec, type L4Spec, type PacketSpec } from '../../testing/frames.js';
import { Reconciler } from '../../src/dataplane/reconcile.js';
import { ifindexIn } from '../../src/kernel/test-run.js';
import type { PerCpuMap } from '../../src/kernel/map.js';
import type { SourceValidation } from '../../src/model/types.js';
import { desired, service } from '../../testing/desired.js';
import { removeStaleFixtures } from '../../testing/stale.js';
import * as abi from '../../src/gen/abi.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const log = pino({ level: 'warn' }, pino.destination(2));

// Addresses: documentation and namespace ranges only.
const VIP = '203.0.113.100';
const CLIENT = '203.0.113.2'; // on the public link
const FAR = '198.51.100.9'; // behind the default route, on the public side
const GW = '203.0.113.254'; // the public side's default gateway
const UPLINK2 = '192.0.2.9'; // reached by the second uplink, pub1
const ROUTER = '203.0.113.1'; // the router's own public address (not known to xlvs)
const REAL = '10.77.0.11';
const LAN = '10.77.0.50'; // another host of the private LAN
const LOCAL = '100.64.0.1'; // fullnat/tun local address: not on any interface here
const VIP6 = '2001:db8:1::100';
const CLIENT6 = '2001:db8:1::2';
const REAL6 = '2001:db8:77::11';
const LAN6 = '2001:db8:77::50';
const LOCAL6 = '2001:db8:64::1';

const MAC = { pub0: '02:00:5e:00:03:01', client: '02:00:5e:00:03:02', priv0: '02:00:5e:00:03:03', real: '02:00:5e:00:03:04' };

const ns = `xlvs-srcval-${process.pid}-${randomBytes(3).toString('hex')}`;
const nsPath = `/run/netns/${ns}`;
const pinDir = `/sys/fs/bpf/xlvs-test-srcval-${process.pid}-${randomBytes(3).toString('hex')}`;

let dp: TestDataplane | undefined;
let rec: Reconciler;
let runner: FixtureRunner;
let privIfindex: number;

const ip = (...args: string[]): void => {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
};
const inNs = (...args: string[]): void => ip('-n', ns, ...args);

function makeNamespace(): void {
  ip('netns', 'add', ns);
  for (const k of ['net.ipv4.ip_forward', 'net.ipv6.conf.all.forwarding']) execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', `${k}=1`]);
  inNs('link', 'set', 'lo', 'up');
  // Both ends of each veth stay in the namespace: the far ends only give the links a carrier.
  inNs('link', 'add', 'pub0', 'address', MAC.pub0, 'type', 'veth', 'peer', 'name', 'pubx', 'address', MAC.client);
  inNs('link', 'add', 'pub1', 'type', 'veth', 'peer', 'name', 'pub1x');
  inNs('link', 'add', 'priv0', 'address', MAC.priv0, 'type', 'veth', 'peer', 'name', 'privx', 'address', MAC.real);
  for (const dev of ['pub0', 'pubx', 'pub1', 'pub1x', 'priv0', 'privx']) inNs('link', 'set', dev, 'up');
  inNs('addr', 'add', `${ROUTER}/24`, 'dev', 'pub0');
  inNs('addr', 'add', '192.0.2.1/24', 'dev', 'pub1');
  inNs('addr', 'add', '10.77.0.1/24', 'dev', 'priv0');
  inNs('addr', 'add', '2001:db8:1::1/64', 'dev', 'pub0', 'nodad');
  inNs('addr', 'add', '2001:db8:77::1/64', 'dev', 'priv0', 'nodad');
  inNs('route', 'add', 'default', 'via', GW, 'dev', 'pub0');
  inNs('-6', 'route', 'add', 'default', 'via', '2001:db8:1::fe', 'dev', 'pub0');
  inNs('neigh', 'add', REAL, 'lladdr', MAC.real, 'dev', 'priv0', 'nud', 'permanent');
  inNs('neigh', 'add', REAL6, 'lladdr', MAC.real, 'dev', 'priv0', 'nud', 'permanent');
}

function state(sv: Partial<SourceValidation> = {}) {
  return desired([
    service(VIP, 80, 'tcp', 'rr', [{ address: REAL, port: 8080 }]),
    service(VIP, 53, 'udp', 'rr', [{ address: REAL, port: 53 }]),
    service(VIP6, 80, 'tcp', 'rr', [{ address: REAL6, port: 8080 }]),
  ], { local: { v4: LOCAL, v6: LOCAL6 }, source_validation: { mode: 'strict', allow: [], deny: [], ...sv } });
}

before(async () => {
  removeStaleFixtures('xlvs-srcval', 'xlvs-test-srcval');
  makeNamespace();
  privIfindex = ifindexIn(nsPath, 'priv0');
  dp = TestDataplane.load(join(ROOT, 'build/xlvs.bpf.o'), pinDir);
  rec = new Reconciler(dp.maps, log, { privateIfindex: privIfindex });
  await rec.apply(state());
  runner = new FixtureRunner({ xlvs_public: dp.progFd('xlvs_public') }, { netns: nsPath });
});

after(() => {
  const steps: Array<[string, () => void]> = [
    ['close data plane', () => dp?.close()],
    ['delete namespace', () => ip('netns', 'del', ns)],
  ];
  for (const [what, step] of steps) {
    try {
      step();
    } catch (e) {
      console.error(`source validation fixtures cleanup: ${what} failed`, e);
    }
  }
});

/** Every drop and event counter that is not zero, summed over CPUs, by name. */
function counters(): Map<string, bigint> {
  const out = new Map<string, bigint>();
  const sum = (m: PerCpuMap<number, bigint>, i: number): bigint => (m.lookup(i) ?? []).reduce((a, b) => a + b, 0n);
  for (const [name, i] of Object.entries(abi.XLVS_DROP)) if (name !== 'MAX') out.set(`drop:${name}`, sum(dp!.maps.drops, i));
  for (const [name, i] of Object.entries(abi.XLVS_EVENT)) if (name !== 'MAX') out.set(`event:${name}`, sum(dp!.maps.events, i));
  return out;
}

const flowCount = (): number => [...dp!.maps.flows.entries()].length;

let sport = 20000;
const syn = (): L4Spec => ({ kind: 'tcp', sport: sport++, dport: 80, flags: 'SYN' });
const v4 = (src: string, l4: L4Spec = syn(), dst = VIP): PacketSpec => ({ kind: 'ipv4', src, dst, id: 1, ttl: 64, l4 });
const v6 = (src: string, l4: L4Spec = syn(), dst = VIP6): PacketSpec => ({ kind: 'ipv6', src, dst, hopLimit: 64, l4 });
const frame = (l3: PacketSpec): FrameSpec => ({ eth: { src: MAC.client, dst: MAC.pub0 }, l3 });

/** Runs one frame in on `ingress`; returns the verdict, the counters that moved, and the flows made. */
function run(l3: PacketSpec, ingress = 'pub0'): { verdict: string; moved: string[]; flows: number } {
  const before = counters();
  const flowsBefore = flowCount();
  const f: Fixture = { name: `${l3.src} -> ${l3.dst}`, prog: 'xlvs_public', ingress, input: frame(l3), expect: { verdict: 'XDP_DROP' } };
  const [r] = runner.runAll([f]);
  const moved = [...counters()].filter(([k, v]) => v !== before.get(k)).map(([k, v]) => `${k} +${v - before.get(k)!}`);
  return { verdict: r!.verdict, moved, flows: flowCount() - flowsBefore };
}

function assertMartian(l3: PacketSpec, why: string, ingress?: string): void {
  const r = run(l3, ingress);
  assert.deepEqual(r, { verdict: 'XDP_DROP', moved: ['drop:MARTIAN +1'], flows: 0 }, `${why}: ${l3.src} is refused, counted as martian, no flow`);
}

function assertForwarded(l3: PacketSpec, why: string, ingress?: string): void {
  const r = run(l3, ingress);
  assert.deepEqual(r, { verdict: 'XDP_REDIRECT', moved: ['event:FWD +1'], flows: 2 }, `${why}: ${l3.src} opens a flow and is forwarded`);
}

test('strict: IPv4 martian, own and private-side sources open no flow and are counted as martian', async () => {
  await rec.apply(state());
  const cases: Array<[string, string]> = [
    ['127.0.0.1', 'loopback'],
    ['0.0.0.0', 'this network'],
    ['0.1.2.3', '0/8'],
    ['224.0.0.5', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['240.0.0.1', 'reserved'],
    ['255.255.255.255', 'limited broadcast'],
    ['169.254.10.20', 'link-local'],
    [VIP, 'the VIP itself'],
    [LOCAL, 'the full-NAT/tun local address'],
    [ROUTER, 'an address of the router xlvs does not know (the FIB: local)'],
    ['203.0.113.255', 'the public subnet\'s broadcast (the FIB: broadcast)'],
    [REAL, 'a real server'],
    [LAN, 'another host of the private LAN (route back by priv0)'],
    [UPLINK2, 'a source the route back reaches by another uplink (strict)'],
  ];
  for (const [src, why] of cases) assertMartian(v4(src), why);
  // UDP opens flows too: the same check.
  assertMartian(v4(LAN, { kind: 'udp', sport: sport++, dport: 53 }), 'UDP from the private LAN');
  assertMartian(v4('127.0.0.1', { kind: 'udp', sport: sport++, dport: 53 }), 'UDP from loopback');
});

test('strict: IPv6 martian, own and private-side sources open no flow and are counted as martian', async () => {
  await rec.apply(state());
  const cases: Array<[string, string]> = [
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['::203.0.113.2', 'IPv4-compatible (deprecated)'],
    ['::ffff:203.0.113.2', 'IPv4-mapped'],
    ['ff02::1', 'multicast'],
    ['ff0e::1', 'multicast'],
    ['fe80::1', 'link-local'],
    [VIP6, 'the VIP itself'],
    [LOCAL6, 'the local address'],
    ['2001:db8:1::1', 'an address of the router xlvs does not know'],
    [REAL6, 'a real server'],
    [LAN6, 'another host of the private LAN'],
  ];
  for (const [src, why] of cases) assertMartian(v6(src), why);
});

test('strict: clients on the public link and behind the default route open flows', async () => {
  await rec.apply(state());
  assertForwarded(v4(CLIENT), 'a client on the public link');
  assertForwarded(v4(FAR), 'a client behind the default route');
  assertForwarded(v4(FAR, { kind: 'udp', sport: sport++, dport: 53 }), 'a UDP client');
  assertForwarded(v6(CLIENT6), 'an IPv6 client');
  assertForwarded(v6('2001:db8:5::9'), 'an IPv6 client behind the default route');
});

test('loose: a route back by another uplink is fine; the private side, martians and own addresses are not', async () => {
  await rec.apply(state({ mode: 'loose' }));
  try {
    assertForwarded(v4(UPLINK2), 'route back by pub1');
    assertForwarded(v4(CLIENT), 'a client on the public link');
    assertMartian(v4(LAN), 'private LAN (route back by the private interface)');
    assertMartian(v6(LAN6), 'private LAN, IPv6');
    assertMartian(v4('127.0.0.1'), 'loopback');
    assertMartian(v4(VIP), 'the VIP');
    assertMartian(v4(ROUTER), 'the router\'s own address');
  } finally {
    await rec.apply(state());
  }
});

test('off: nothing is checked, the same SYNs open flows', async () => {
  await rec.apply(state({ mode: 'off' }));
  try {
    for (const src of ['127.0.0.1', '0.0.0.0', VIP, LOCAL, LAN, '224.0.0.5']) assertForwarded(v4(src), 'off');
    for (const src of [LAN6, VIP6]) assertForwarded(v6(src), 'off');
    // The route lookup to the real refuses a loopback source: xlvs hands the translated packet
    // to the kernel (which drops it as martian), as it did before source validation existed.
    assert.deepEqual(run(v6('::1')), { verdict: 'XDP_PASS', moved: ['event:FWD_KERNEL +1'], flows: 2 }, 'off: ::1 opens a flow');
  } finally {
    await rec.apply(state());
  }
});

test('allow and deny: the longest matching prefix decides before any other check', async () => {
  await rec.apply(state({
    allow: [{ address: LAN, prefix: 32 }, { address: '198.51.100.7', prefix: 32 }, { address: '127.0.0.0', prefix: 8 }, { address: LAN6, prefix: 128 }],
    deny: [{ address: '198.51.100.0', prefix: 24 }, { address: '2001:db8:5::', prefix: 48 }],
  }));
  try {
    assertForwarded(v4(LAN), 'an allowed host of the private LAN');
    assertForwarded(v6(LAN6), 'an allowed IPv6 host of the private LAN');
    assertForwarded(v4('127.0.0.1'), 'allowed loopback (the admin said so)');
    assertMartian(v4('10.77.0.51'), 'the rest of the private LAN');
    assertMartian(v4(FAR), 'a denied prefix, though its route back is fine');
    assertForwarded(v4('198.51.100.7'), 'an allowed host inside a denied prefix');
    assertMartian(v6('2001:db8:5::9'), 'a denied IPv6 prefix');
  } finally {
    await rec.apply(state());
  }
  assertMartian(v4(LAN), 'the allow entry is gone with the config');
  assertForwarded(v4('198.51.100.8'), 'the deny entry is gone with the config');
});

test('a flow made before is not checked again: validation is for packets that open flows', async () => {
  await rec.apply(state());
  const port = sport++;
  assertForwarded(v4(FAR, { kind: 'tcp', sport: port, dport: 80, flags: 'SYN' }), 'the SYN');
  await rec.apply(state({ deny: [{ address: FAR, prefix: 32 }] }));
  try {
    const r = run(v4(FAR, { kind: 'tcp', sport: port, dport: 80, flags: 'ACK' }));
    assert.deepEqual(r, { verdict: 'XDP_REDIRECT', moved: ['event:FWD +1'], flows: 0 }, 'the established flow goes on');
    assertMartian(v4(FAR), 'a new SYN of the now denied source');
  } finally {
    await rec.apply(state());
  }
});

test('ICMP to a VIP: echo requests and errors about a flow from refused sources are dropped as martian', async () => {
  await rec.apply(state());
  const echo: L4Spec = { kind: 'icmp', type: ICMP.ECHO_REQUEST, id: 1, seq: 1, payload: Buffer.from('ping') };
  const echo6: L4Spec = { kind: 'icmpv6', type: ICMPV6.ECHO_REQUEST, id: 1, seq: 1, payload: Buffer.from('ping') };
  assert.deepEqual(run(v4(CLIENT, echo)), { verdict: 'XDP_TX', moved: ['event:ICMP_ECHO +1'], flows: 0 }, 'a client\'s echo is answered');
  assert.deepEqual(run(v4(LAN, echo)), { verdict: 'XDP_DROP', moved: ['drop:MARTIAN +1'], flows: 0 }, 'an echo from the private LAN is not');
  assert.deepEqual(run(v4('127.0.0.1', echo)), { verdict: 'XDP_DROP', moved: ['drop:MARTIAN +1'], flows: 0 }, 'nor one from loopback');
  assert.deepEqual(run(v6(LAN6, echo6)), { verdict: 'XDP_DROP', moved: ['drop:MARTIAN +1'], flows: 0 }, 'nor an IPv6 one from the private LAN');

  const port = sport++;
  assertForwarded(v4(FAR, { kind: 'tcp', sport: port, dport: 80, flags: 'SYN' }), 'the flow the errors are about');
  const fragNeeded: L4Spec = {
    kind: 'icmp', type: ICMP.DEST_UNREACH, code: ICMP_CODE.FRAG_NEEDED, mtu: 1300,
    original: { kind: 'ipv4', src: VIP, dst: FAR, id: 2, ttl: 61, l4: { kind: 'tcp', sport: 80, dport: port, flags: 'ACK' } },
  };
  assert.deepEqual(run(v4('198.51.100.1', fragNeeded)), { verdict: 'XDP_REDIRECT', moved: ['event:ICMP_XLATE +1'], flows: 0 }, 'from a hop on the public side: to the real');
  assert.deepEqual(run(v4(LAN, fragNeeded)), { verdict: 'XDP_DROP', moved: ['drop:MARTIAN +1'], flows: 0 }, 'from the private LAN: dropped');
  assert.deepEqual(run(v4(VIP, fragNeeded)), { verdict: 'XDP_DROP', moved: ['drop:MARTIAN +1'], flows: 0 }, 'from the VIP: dropped');
});

test('the srcval maps are reconciled: unchanged lists write nothing, a restart adopts them, a change writes only the difference', async () => {
  const lists = { allow: [{ address: LAN, prefix: 32 }], deny: [{ address: '198.51.100.0', prefix: 24 }, { address: '2001:db8:5::', prefix: 48 }] };
  await rec.apply(state(lists));
  const again = await rec.apply(state(lists));
  assert.equal(again.writes['srcval'], undefined, 'mode unchanged: not written');
  assert.equal(again.writes['srcval_prefixes'], undefined, 'prefixes unchanged: not written');
  const entries = (): string[] => [...dp!.maps.srcvalPrefixes.entries()].map(([k, v]) => `${k.family}/${k.addr.toString('hex')}/${k.prefixlen - 32}=${v.action}`).sort();
  assert.equal(entries().length, 3);
  assert.deepEqual(dp!.maps.srcval.lookup(0), { mode: abi.XLVS_SRCVAL_STRICT, private_ifindex: privIfindex });

  // A restarted daemon: a new reconciler adopts what the maps hold.
  const second = new Reconciler(dp!.maps, log, { privateIfindex: privIfindex });
  second.adopt();
  const same = await second.apply(state(lists));
  assert.equal(same.writes['srcval'], undefined);
  assert.equal(same.writes['srcval_prefixes'], undefined);
  const changed = await second.apply(state({ mode: 'loose', allow: lists.allow, deny: [{ address: '198.51.100.0', prefix: 24 }] }));
  assert.equal(changed.writes['srcval'], 1, 'the mode');
  assert.equal(changed.writes['srcval_prefixes'], 1, 'one prefix deleted');
  assert.equal(entries().length, 2);
  const off = await second.apply(state({ mode: 'off' }));
  assert.equal(off.writes['srcval_prefixes'], 2, 'off: every prefix goes');
  assert.deepEqual(entries(), []);
  assert.deepEqual(dp!.maps.srcval.lookup(0), { mode: abi.XLVS_SRCVAL_OFF, private_ifindex: privIfindex });
  rec = second;
  await rec.apply(state());
});
