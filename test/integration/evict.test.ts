// SPDX-License-Identifier: Apache-2.0
// Evicted reals (health checks, on_failure: remove) through the real xlvs_public / xlvs_private
// programs (BPF_PROG_TEST_RUN) in a namespace made here (routes and permanent neighbours, so
// bpf_fib_lookup answers SUCCESS). The Reconciler is the control plane: a real gets weight 0 and
// AppliedReal.evict, as the health layer will set them. A flow of an evicted real ends at its next
// packet: dropped (drop reason `evicted`), or the client's segment answered with a TCP RST
// (event evict_rst); a UDP datagram or a SYN is scheduled afresh on a healthy real; the real's
// connection count goes down exactly once.

import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { XdpTestRunner, inNetns, ifindexIn, verdictName } from '../../src/kernel/test-run.js';
import { TestDataplane } from '../../testing/fixture.js';
import type { PerCpuMap } from '../../src/kernel/map.js';
import { Reconciler } from '../../src/dataplane/reconcile.js';
import { desired, service } from '../../testing/desired.js';
import { removeStaleFixtures } from '../../testing/stale.js';
import {
  buildFrame, parseFrame, badChecksums, type Ipv6Ext, type ParsedFrame, type ParsedIpv4, type ParsedIpv6, type ParsedTcp,
  type ParsedUdp,
} from '../../testing/frames.js';
import { XLVS_DIR_FORWARD, XLVS_DIR_REPLY, XLVS_DROP, XLVS_EVENT, XLVS_FLOW_TCP_EST } from '../../src/gen/abi.js';
import type { AppliedReal, ServiceSpec } from '../../src/model/types.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const log = pino({ level: 'warn' }, pino.destination(2));

// Documentation and namespace ranges only.
const VIP = '203.0.113.100';
const CLIENT = '203.0.113.2';
const VIP6 = '2001:db8:1::100';
const CLIENT6 = '2001:db8:1::2';
const A = '10.77.0.11';
const B = '10.77.0.12';
const A6 = '2001:db8:77::11';
const B6 = '2001:db8:77::12';
const RPORT = 8080;
const MAC = { pub0: '02:00:5e:00:01:01', client: '02:00:5e:00:01:02', priv0: '02:00:5e:00:02:01', real: '02:00:5e:00:02:11' };

const ns = `xlvs-evict-${process.pid}-${randomBytes(3).toString('hex')}`;
const nsPath = `/run/netns/${ns}`;
const pinDir = `/sys/fs/bpf/xlvs-test-evict-${process.pid}-${randomBytes(3).toString('hex')}`;

let dp: TestDataplane | undefined;
let rec: Reconciler;
let pub: XdpTestRunner;
let priv: XdpTestRunner;
let pub0 = 0;
let priv0 = 0;

const inNs = (...args: string[]): void => {
  execFileSync('ip', ['-n', ns, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
};

/** Services: tcp VIP:80 and udp VIP:5353 over A and B, tcp VIP:443 persistent over A and B,
 * tcp [VIP6]:80 over A6 and B6; rr everywhere. `down` maps a real's address to its health
 * layer settings (weight 0 and evict); the others are healthy. */
function state(down: Record<string, Pick<AppliedReal, 'weight' | 'evict'>> = {}): ReturnType<typeof desired> {
  const reals = (addrs: string[], port: number) => addrs.map((address) => ({ address, port, ...(down[address] ?? {}) }));
  const svcs: ServiceSpec[] = [
    service(VIP, 80, 'tcp', 'rr', reals([A, B], RPORT)),
    service(VIP, 5353, 'udp', 'rr', reals([A, B], 5353)),
    service(VIP, 443, 'tcp', 'rr', reals([A, B], RPORT), { persistence: { timeout: 300, netmask: 32 } }),
    service(VIP6, 80, 'tcp', 'rr', reals([A6, B6], RPORT)),
  ];
  return desired(svcs);
}
const evicted = (addr: string, evict: 'drop' | 'reset') => state({ [addr]: { weight: 0, evict } });

before(async () => {
  removeStaleFixtures('xlvs-evict', 'xlvs-test-evict');
  execFileSync('ip', ['netns', 'add', ns]);
  for (const k of ['net.ipv4.ip_forward', 'net.ipv6.conf.all.forwarding']) execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', `${k}=1`]);
  inNs('link', 'set', 'lo', 'up');
  // Both ends of each veth stay in the namespace: the far ends only give the links a carrier.
  inNs('link', 'add', 'pub0', 'address', MAC.pub0, 'type', 'veth', 'peer', 'name', 'pubx', 'address', MAC.client);
  inNs('link', 'add', 'priv0', 'address', MAC.priv0, 'type', 'veth', 'peer', 'name', 'privx', 'address', MAC.real);
  for (const dev of ['pub0', 'pubx', 'priv0', 'privx']) inNs('link', 'set', dev, 'up');
  inNs('addr', 'add', '203.0.113.1/24', 'dev', 'pub0');
  inNs('addr', 'add', `${VIP}/32`, 'dev', 'pub0');
  inNs('addr', 'add', '10.77.0.1/24', 'dev', 'priv0');
  inNs('addr', 'add', '2001:db8:1::1/64', 'dev', 'pub0', 'nodad');
  inNs('addr', 'add', `${VIP6}/128`, 'dev', 'pub0', 'nodad');
  inNs('addr', 'add', '2001:db8:77::1/64', 'dev', 'priv0', 'nodad');
  for (const c of [CLIENT, CLIENT6]) inNs('neigh', 'add', c, 'lladdr', MAC.client, 'dev', 'pub0', 'nud', 'permanent');
  for (const r of [A, B, A6, B6]) inNs('neigh', 'add', r, 'lladdr', MAC.real, 'dev', 'priv0', 'nud', 'permanent');
  pub0 = ifindexIn(nsPath, 'pub0');
  priv0 = ifindexIn(nsPath, 'priv0');

  dp = TestDataplane.load(join(ROOT, 'build/xlvs.bpf.o'), pinDir);
  rec = new Reconciler(dp.maps, log);
  await rec.apply(state());
  pub = new XdpTestRunner(dp.progFd('xlvs_public'));
  priv = new XdpTestRunner(dp.progFd('xlvs_private'));
});

after(async () => {
  for (const [what, step] of [['data plane', () => dp?.close()], ['namespace', () => execFileSync('ip', ['netns', 'del', ns])]] as const) {
    try {
      step();
    } catch (e) {
      console.error(`evict test cleanup: ${what} failed`, e);
    }
  }
});

/** Every test starts healthy, with no flow and zero connection counts. */
beforeEach(async () => {
  await rec.apply(state());
  const m = dp!.maps;
  for (const [k] of [...m.flows.entries()]) m.flows.delete(k);
  for (const [id] of m.realConns.entries()) m.realConns.update(id, { active: 0, inactive: 0, overloaded: 0, seq: 0 });
});

interface Sent {
  verdict: string;
  out: ParsedFrame;
}

/** Runs one frame from the client (public side) or a real (private side) in the namespace. */
function send(side: 'client' | 'real', frame: Buffer): Sent {
  const r = side === 'client' ? pub : priv;
  const ifindex = side === 'client' ? pub0 : priv0;
  const v = inNetns(nsPath, () => r.run(frame, undefined, { ingressIfindex: ifindex }));
  // parseFrame keeps no reference to the runner's buffer (it returns text).
  return { verdict: verdictName(v), out: parseFrame(r.out.subarray(0, r.outLength)) };
}

interface Seg {
  flags: string;
  seq?: number;
  ack?: number;
  payload?: Buffer;
  ext?: Ipv6Ext[];
}

const v6 = (a: string): boolean => isIP(a) === 6;

/** A TCP segment from the client to vip:vport. */
function tcpFromClient(vip: string, vport: number, sport: number, s: Seg): Buffer {
  const l4 = { kind: 'tcp' as const, sport, dport: vport, seq: s.seq ?? 1, ack: s.ack ?? (s.flags.includes('ACK') ? 1 : 0), flags: s.flags, payload: s.payload };
  return buildFrame({
    eth: { src: MAC.client, dst: MAC.pub0 },
    l3: v6(vip) ? { kind: 'ipv6', src: CLIENT6, dst: vip, ext: s.ext, l4 } : { kind: 'ipv4', src: CLIENT, dst: vip, l4 },
  });
}

/** A TCP segment from real:RPORT back to the client's port. */
function tcpFromReal(real: string, cport: number, flags: string): Buffer {
  const l4 = { kind: 'tcp' as const, sport: RPORT, dport: cport, seq: 9, ack: 2, flags };
  return buildFrame({
    eth: { src: MAC.real, dst: MAC.priv0 },
    l3: v6(real) ? { kind: 'ipv6', src: real, dst: CLIENT6, l4 } : { kind: 'ipv4', src: real, dst: CLIENT, l4 },
  });
}

const udpFromClient = (sport: number): Buffer => buildFrame({
  eth: { src: MAC.client, dst: MAC.pub0 },
  l3: { kind: 'ipv4', src: CLIENT, dst: VIP, l4: { kind: 'udp', sport, dport: 5353, payload: Buffer.from('query') } },
});

/** Where a forwarded frame went: its IP destination (the real, after DNAT). */
function dstOf(s: Sent): string {
  assert.equal(s.verdict, 'XDP_REDIRECT', 'forwarded');
  return (s.out.l3 as ParsedIpv4 | ParsedIpv6).dst;
}

/** Opens a TCP flow from client port `sport` that lands on `real` (rr alternates: a first SYN
 * that lands elsewhere is forgotten and another port is used, at most 4 tries), then completes
 * the handshake (the real's SYN-ACK, the client's ACK of it: bpf/tcpwin.h): established.
 * Returns the client port used. */
function openOn(vip: string, vport: number, real: string, sport: number): number {
  for (let p = sport; p < sport + 4; p++) {
    if (dstOf(send('client', tcpFromClient(vip, vport, p, { flags: 'SYN' }))) === real) {
      assert.equal(send('real', tcpFromReal(real, p, 'SYN,ACK')).verdict, 'XDP_REDIRECT');
      assert.equal(dstOf(send('client', tcpFromClient(vip, vport, p, { flags: 'ACK', seq: 2, ack: 10 }))), real);
      assert.equal(flowOf(p)?.fw?.state, XLVS_FLOW_TCP_EST);
      return p;
    }
  }
  assert.fail(`no SYN from ports ${sport}..${sport + 3} landed on ${real}`);
}

/** The live entries of the connection from the client's port (forward, reply). */
function flowOf(cport: number) {
  const all = [...dp!.maps.flows.entries()];
  const fw = all.find(([k, v]) => v.dir === XLVS_DIR_FORWARD && k.sport === cport);
  const rp = all.find(([k, v]) => v.dir === XLVS_DIR_REPLY && k.dport === cport);
  return fw || rp ? { fw: fw?.[1], rp: rp?.[1] } : undefined;
}

const svcOf = (vip: string, proto: 'tcp' | 'udp', port: number): string => `${proto}/${v6(vip) ? `[${vip}]` : vip}:${port}`;
function realSlot(vip: string, proto: 'tcp' | 'udp', port: number, real: string): number {
  return rec.slotsOf(svcOf(vip, proto, port))!.reals.get(`${v6(real) ? `[${real}]` : real}:${proto === 'udp' ? 5353 : RPORT}`)!.id;
}
/** [active, inactive] of a real slot. */
function counts(id: number): [number, number] {
  const c = dp!.maps.realConns.lookup(id)!;
  return [c.active, c.inactive];
}
const total = (m: PerCpuMap<number, bigint>, i: number): bigint => (m.lookup(i) ?? []).reduce((x, y) => x + y, 0n);
const dropsOf = (reason: keyof typeof XLVS_DROP): bigint => total(dp!.maps.drops, XLVS_DROP[reason]);
const eventsOf = (ev: keyof typeof XLVS_EVENT): bigint => total(dp!.maps.events, XLVS_EVENT[ev]);

test('evict=drop: the next client segment of a flow to the evicted real is dropped (evicted), both entries go, its count goes down once; a healthy real\'s flow is unaffected', async () => {
  const pa = openOn(VIP, 80, A, 40000);
  const pb = openOn(VIP, 80, B, 40010);
  const a = realSlot(VIP, 'tcp', 80, A);
  const b = realSlot(VIP, 'tcp', 80, B);
  assert.deepEqual([counts(a), counts(b)], [[1, 0], [1, 0]]);

  await rec.apply(evicted(A, 'drop'));
  const ev0 = dropsOf('EVICTED');
  const r = send('client', tcpFromClient(VIP, 80, pa, { flags: 'ACK', seq: 100, ack: 200, payload: Buffer.from('GET / HTTP/1.0\r\n\r\n') }));
  assert.equal(r.verdict, 'XDP_DROP');
  assert.equal(dropsOf('EVICTED'), ev0 + 1n, 'counted as evicted');
  assert.equal(flowOf(pa), undefined, 'forward and reply entries deleted');
  assert.deepEqual(counts(a), [0, 0], 'A\'s active connection counted down');

  // The flow is gone: the next segment finds none (no_flow) and counts nothing down again.
  const nf0 = dropsOf('NO_FLOW');
  assert.equal(send('client', tcpFromClient(VIP, 80, pa, { flags: 'ACK' })).verdict, 'XDP_DROP');
  assert.equal(dropsOf('NO_FLOW'), nf0 + 1n);
  assert.equal(dropsOf('EVICTED'), ev0 + 1n);
  assert.deepEqual(counts(a), [0, 0], 'counted down exactly once');

  // B is not evicted: its flow goes on, both ways.
  assert.equal(dstOf(send('client', tcpFromClient(VIP, 80, pb, { flags: 'ACK' }))), B);
  assert.equal(send('real', tcpFromReal(B, pb, 'ACK')).verdict, 'XDP_REDIRECT');
  assert.equal(flowOf(pb)?.fw?.state, XLVS_FLOW_TCP_EST);
  assert.deepEqual(counts(b), [1, 0]);
});

test('a SYN on a flow of an evicted real is scheduled afresh on a healthy one (drop and reset alike)', async () => {
  for (const mode of ['drop', 'reset'] as const) {
    await rec.apply(state());
    const p = openOn(VIP, 80, A, mode === 'drop' ? 40100 : 40110);
    const a = realSlot(VIP, 'tcp', 80, A);
    const b = realSlot(VIP, 'tcp', 80, B);
    const [a0, b0] = [counts(a), counts(b)];
    await rec.apply(evicted(A, mode));
    const ev0 = [dropsOf('EVICTED'), eventsOf('EVICT_RST')];
    assert.equal(dstOf(send('client', tcpFromClient(VIP, 80, p, { flags: 'SYN' }))), B, `${mode}: the SYN goes to B`);
    assert.equal(flowOf(p)?.fw?.real_id, b, 'the 4-tuple\'s flow is now B\'s');
    assert.deepEqual(counts(a), [a0[0] - 1, a0[1]], 'A\'s flow counted down');
    assert.deepEqual(counts(b), [b0[0], b0[1] + 1], 'a half-open flow on B');
    assert.deepEqual([dropsOf('EVICTED'), eventsOf('EVICT_RST')], ev0, 'the SYN is counted as forwarded, not as evicted');
  }
});

test('a UDP datagram of a flow to an evicted real goes to another real (reset acts as drop for UDP)', async () => {
  const a = realSlot(VIP, 'udp', 5353, A);
  const b = realSlot(VIP, 'udp', 5353, B);
  for (const mode of ['drop', 'reset'] as const) {
    await rec.apply(state());
    let port = 0;
    for (let p = 41000 + (mode === 'drop' ? 0 : 10); p < 41014 + (mode === 'drop' ? 0 : 10) && !port; p++) {
      if (dstOf(send('client', udpFromClient(p))) === A) port = p;
    }
    assert.ok(port, 'a datagram landed on A');
    assert.equal(dstOf(send('client', udpFromClient(port))), A, 'and its flow stays on A while A is healthy');
    const ina = counts(a)[1];
    await rec.apply(evicted(A, mode));
    const s = send('client', udpFromClient(port));
    assert.equal(dstOf(s), B, `${mode}: the datagram goes to B`);
    assert.equal(((s.out.l3 as ParsedIpv4).l4 as ParsedUdp).dport, 5353);
    assert.equal(flowOf(port)?.fw?.real_id, b);
    assert.equal(counts(a)[1], ina - 1, 'A\'s flow counted down');
  }
});

/** The RST a client gets: to it, from the VIP, well formed. */
function assertRst(s: Sent, vip: string, cport: number, want: { flags: string; seq: number; ack: number }): void {
  assert.equal(s.verdict, 'XDP_TX', 'sent back out the ingress interface');
  const f = s.out;
  assert.deepEqual(f.eth, { dst: MAC.client, src: MAC.pub0, type: v6(vip) ? 0x86dd : 0x0800 });
  assert.deepEqual(badChecksums(f), [], 'every checksum valid');
  assert.equal(f.trailer, '', 'payload and anything after it cut off');
  const ip = f.l3 as ParsedIpv4 | ParsedIpv6;
  assert.equal(ip.src, vip);
  assert.equal(ip.dst, v6(vip) ? CLIENT6 : CLIENT);
  if (ip.kind === 'ipv4') {
    assert.equal(f.length, 14 + 20 + 20);
    assert.deepEqual([ip.ihl, ip.totalLength, ip.ttl, ip.proto, ip.options, ip.mf, ip.fragOffset], [5, 40, 64, 6, '', false, 0]);
  } else {
    assert.equal(f.length, 14 + 40 + 20);
    assert.deepEqual([ip.payloadLength, ip.nextHeader, ip.hopLimit, ip.ext], [20, 6, 64, []]);
  }
  const t = ip.l4 as ParsedTcp;
  assert.deepEqual(
    { kind: t.kind, sport: t.sport, dport: t.dport, flags: t.flags, seq: t.seq, ack: t.ack, doff: t.doff, payload: t.payload, checksumValid: t.checksumValid },
    { kind: 'tcp', sport: 80, dport: cport, flags: want.flags, seq: want.seq, ack: want.ack, doff: 5, payload: '', checksumValid: true },
  );
}

for (const vip of [VIP, VIP6]) {
  const real = v6(vip) ? A6 : A;
  const fam = v6(vip) ? 'IPv6' : 'IPv4';
  test(`evict=reset, ${fam}: a client segment is answered with a TCP RST (RFC 793 seq/ack), the flow deleted and counted down; a client RST gets none`, async () => {
    const a = realSlot(vip, 'tcp', 80, real);
    // With ACK: <SEQ=SEG.ACK><CTL=RST>.
    const p1 = openOn(vip, 80, real, 42000);
    await rec.apply(evicted(real, 'reset'));
    const rst0 = eventsOf('EVICT_RST');
    assertRst(send('client', tcpFromClient(vip, 80, p1, { flags: 'PSH,ACK', seq: 1000, ack: 0xfffffff0, payload: Buffer.alloc(100, 0x61) })), vip, p1,
      { flags: 'RST', seq: 0xfffffff0, ack: 0 });
    assert.equal(eventsOf('EVICT_RST'), rst0 + 1n);
    assert.equal(flowOf(p1), undefined);
    assert.deepEqual(counts(a), [0, 0]);

    // Without ACK: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>, FIN counting one (and, IPv6,
    // behind a destination-options header the RST leaves out).
    await rec.apply(state());
    const p2 = openOn(vip, 80, real, 42010);
    await rec.apply(evicted(real, 'reset'));
    const ext: Ipv6Ext[] | undefined = v6(vip) ? [{ kind: 'dest-opts' }] : undefined;
    assertRst(send('client', tcpFromClient(vip, 80, p2, { flags: 'FIN', seq: 0xfffffffe, payload: Buffer.from('bye'), ext })), vip, p2,
      { flags: 'RST,ACK', seq: 0, ack: (0xfffffffe + 3 + 1) % 2 ** 32 });
    assert.equal(eventsOf('EVICT_RST'), rst0 + 2n);
    assert.equal(flowOf(p2), undefined);
    assert.deepEqual(counts(a), [0, 0]);

    // A client's RST on an evicted flow: no RST back (RFC 793), dropped as evicted.
    await rec.apply(state());
    const p3 = openOn(vip, 80, real, 42020);
    await rec.apply(evicted(real, 'reset'));
    const ev0 = dropsOf('EVICTED');
    assert.equal(send('client', tcpFromClient(vip, 80, p3, { flags: 'RST', seq: 5 })).verdict, 'XDP_DROP');
    assert.equal(dropsOf('EVICTED'), ev0 + 1n);
    assert.equal(eventsOf('EVICT_RST'), rst0 + 2n);
    assert.equal(flowOf(p3), undefined);
    assert.deepEqual(counts(a), [0, 0]);
  });
}

test('a packet from the evicted real (reply direction) is dropped and its flow deleted, in both modes', async () => {
  const a = realSlot(VIP, 'tcp', 80, A);
  for (const mode of ['drop', 'reset'] as const) {
    await rec.apply(state());
    const p = openOn(VIP, 80, A, mode === 'drop' ? 43000 : 43010);
    assert.equal(send('real', tcpFromReal(A, p, 'ACK')).verdict, 'XDP_REDIRECT', 'replies flow while A is healthy');
    await rec.apply(evicted(A, mode));
    const ev0 = [dropsOf('EVICTED'), eventsOf('EVICT_RST')];
    assert.equal(send('real', tcpFromReal(A, p, 'PSH,ACK')).verdict, 'XDP_DROP', mode);
    assert.deepEqual([dropsOf('EVICTED'), eventsOf('EVICT_RST')], [ev0[0]! + 1n, ev0[1]], 'counted as evicted, no RST toward the real');
    assert.equal(flowOf(p), undefined);
    assert.deepEqual(counts(a), [0, 0]);
  }
});

test('evict cleared: the real\'s flows run as before, nothing is dropped or reset', async () => {
  await rec.apply(evicted(A, 'reset'));
  await rec.apply(state({ [A]: { weight: 0 } })); // evict cleared, still quiesced: existing flows continue
  await rec.apply(state());
  const a = realSlot(VIP, 'tcp', 80, A);
  const p = openOn(VIP, 80, A, 44000);
  await rec.apply(state({ [A]: { weight: 0 } }));
  const before = [dropsOf('EVICTED'), eventsOf('EVICT_RST')];
  for (let i = 0; i < 3; i++) {
    assert.equal(dstOf(send('client', tcpFromClient(VIP, 80, p, { flags: 'ACK', seq: 1 + i }))), A, 'quiesced, not evicted: the flow stays on A');
    assert.equal(send('real', tcpFromReal(A, p, 'ACK')).verdict, 'XDP_REDIRECT');
  }
  assert.deepEqual([dropsOf('EVICTED'), eventsOf('EVICT_RST')], before);
  assert.deepEqual(counts(a), [1, 0]);
  assert.equal(flowOf(p)?.fw?.real_id, a);
});

test('persistence: an evicted real keeps no persistent client; the client\'s next flow goes to a healthy real and the template follows it', async () => {
  const a = realSlot(VIP, 'tcp', 443, A);
  const b = realSlot(VIP, 'tcp', 443, B);
  const p = openOn(VIP, 443, A, 45000);
  // The template sends this client's next flows to A while A is healthy (even past rr's turn).
  for (const q of [45010, 45011]) assert.equal(dstOf(send('client', tcpFromClient(VIP, 443, q, { flags: 'SYN' }))), A, 'persistent on A');
  await rec.apply(evicted(A, 'drop'));
  assert.equal(dstOf(send('client', tcpFromClient(VIP, 443, 45020, { flags: 'SYN' }))), B, 'a new flow of the client leaves A');
  assert.equal(dstOf(send('client', tcpFromClient(VIP, 443, 45021, { flags: 'SYN' }))), B, 'and the template now says B');
  assert.equal(send('client', tcpFromClient(VIP, 443, p, { flags: 'ACK' })).verdict, 'XDP_DROP', 'the old flow to A ends');
  assert.deepEqual(counts(a), [0, 2], 'A: the two half-open flows made through the template remain until their next packet');
  assert.deepEqual(counts(b), [0, 2]);
});
