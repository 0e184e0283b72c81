// SPDX-License-Identifier: Apache-2.0
// The connection sync end to end (src/ha/sync-*.ts), over loopback TCP between two real loaded
// data planes: router A (flows made by its own xlvs_public / xlvs_private under
// BPF_PROG_TEST_RUN: SYN, SYN-ACK, ACK) and router B (the same config, its own namespace and pin
// dir, its services in other slots). A's sender walks A's flows map (bulk) to B's receiver, which
// installs them; then B forwards the flow's next packet to the same real with the same rewrites.
// Also: a wrong key installs nothing, a replayed frame or an unknown peer closes the connection,
// and 20,000 flows are bulk-synced and counted on B (the rate is printed).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { openMaps, type Maps } from '../../src/dataplane/handles.js';
import { Reconciler } from '../../src/dataplane/reconcile.js';
import { XdpTestRunner, inNetns, ifindexIn, verdictName } from '../../src/kernel/test-run.js';
import { SyncSender } from '../../src/ha/sync-sender.js';
import { SyncReceiver } from '../../src/ha/sync-receiver.js';
import { FrameReader, FrameType, FrameWriter, bytes, encodeHello } from '../../src/ha/sync-frames.js';
import { SYNC_END, SYNC_UPDATE, flowPartnerKey, wireFlow } from '../../src/ha/sync-records.js';
import { monotonicNs } from '../../src/dataplane/reaper.js';
import { SYNC_MARGIN_NS } from '../../src/ha/sync-install.js';
import { desired, service, type RealInput } from '../../testing/desired.js';
import { buildFrame, parseFrame, type ParsedIpv4, type ParsedIpv6, type ParsedTcp } from '../../testing/frames.js';
import { ROUTER, ROUTER_MAC as MAC, RouterFixture } from '../../testing/router-fixture.js';
import { XLVS_DIR_FORWARD, XLVS_FLOW_TCP_EST, XLVS_FLOW_TCP_FIN, XlvsFlow, type XlvsFlowKey } from '../../src/gen/abi.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const log = pino({ level: 'warn' }, pino.destination(2));
const KEY = randomBytes(32);
const REALS4 = ['10.77.0.11', '10.77.0.12', '10.77.0.13'];
const REALS6 = ['2001:db8:77::11', '2001:db8:77::12', '2001:db8:77::13'];
const LOCAL6 = '2001:db8:77::1';

interface Router {
  fx: RouterFixture;
  maps: Maps;
  rec: Reconciler;
  pub: XdpTestRunner;
  priv: XdpTestRunner;
  nsPath: string;
  pub0: number;
  priv0: number;
}

const reals = (addrs: string[], method: 'nat' | 'fullnat'): RealInput[] => addrs.map((address) => ({ address, port: 8080, method }));
/** The services both routers run; B has one more, first, so its slots differ from A's. */
const SERVICES = [
  service(ROUTER.vip, 80, 'tcp', 'rr', reals(REALS4, 'nat')),
  service(ROUTER.vip, 81, 'tcp', 'rr', reals(REALS4, 'fullnat')),
  service(ROUTER.vip6, 80, 'tcp', 'rr', reals(REALS6, 'nat')),
  service(ROUTER.vip6, 81, 'tcp', 'rr', reals(REALS6, 'fullnat')),
  service(ROUTER.vip, 82, 'tcp', 'rr', reals(REALS4, 'nat'), { persistence: { timeout: 600, netmask: 24 } }),
];
const ONLY_B = service(ROUTER.vip, 99, 'tcp', 'rr', reals(REALS4.slice(1), 'nat'));
/** A service B does not have: its flows are counted unknown there. */
const ONLY_A = service(ROUTER.vip, 83, 'tcp', 'rr', reals(REALS4, 'nat'));

let A: Router;
let B: Router;

async function router(tag: string, services: typeof SERVICES): Promise<Router> {
  const fx = RouterFixture.create(join(ROOT, 'build/xlvs.bpf.o'), {
    tag,
    extra: (inNs) => {
      for (const r of [...REALS4.slice(1), ...REALS6.slice(1)]) inNs('neigh', 'add', r, 'lladdr', MAC.real, 'dev', 'priv0', 'nud', 'permanent');
    },
  });
  const maps = openMaps(fx.obj);
  const rec = new Reconciler(maps, log);
  await rec.apply(desired(services, { local: { v4: ROUTER.local, v6: LOCAL6 } }));
  const nsPath = `/run/netns/${fx.ns}`;
  return {
    fx, maps, rec, nsPath, pub: new XdpTestRunner(fx.obj.programFd('xlvs_public')), priv: new XdpTestRunner(fx.obj.programFd('xlvs_private')),
    pub0: ifindexIn(nsPath, 'pub0'), priv0: ifindexIn(nsPath, 'priv0'),
  };
}

before(async () => {
  A = await router('synca', [...SERVICES, ONLY_A]);
  B = await router('syncb', [ONLY_B, ...[...SERVICES].reverse()]);
});

after(() => {
  A?.fx.destroy('ha-sync: router A');
  B?.fx.destroy('ha-sync: router B');
});

interface Tuple { src: string; dst: string; sport: number; dport: number }
type Ip = ParsedIpv4 | ParsedIpv6;

/** Runs one TCP segment through a router's program; returns the verdict and the frame out. */
function send(r: Router, side: 'client' | 'real', t: Tuple, flags: string, seq: number, ack: number, payload?: Buffer): { verdict: string; out?: Tuple } {
  const v6 = t.src.includes(':');
  const eth = side === 'client' ? { src: MAC.client, dst: MAC.pub0 } : { src: MAC.real, dst: MAC.priv0 };
  const l4 = { kind: 'tcp' as const, sport: t.sport, dport: t.dport, seq, ack, flags, payload };
  const frame = buildFrame({ eth, l3: v6 ? { kind: 'ipv6', src: t.src, dst: t.dst, hopLimit: 64, l4 } : { kind: 'ipv4', src: t.src, dst: t.dst, ttl: 64, l4 } });
  const prog = side === 'client' ? r.pub : r.priv;
  const verdict = verdictName(inNetns(r.nsPath, () => prog.run(frame, undefined, { ingressIfindex: side === 'client' ? r.pub0 : r.priv0 })));
  if (verdict !== 'XDP_REDIRECT') return { verdict };
  const l3 = parseFrame(prog.out.subarray(0, prog.outLength)).l3 as Ip;
  const tcp = l3.l4 as ParsedTcp;
  return { verdict, out: { src: l3.src, dst: l3.dst, sport: tcp.sport!, dport: tcp.dport! } };
}

const CISN = 1_000_000;
const RISN = 7_000_000;

/** A whole handshake through A; returns the tuple toward the real (what A's rewrites made). */
function handshake(client: string, vip: string, sport: number, dport: number): Tuple {
  const c = { src: client, dst: vip, sport, dport };
  const syn = send(A, 'client', c, 'SYN', CISN, 0);
  assert.equal(syn.verdict, 'XDP_REDIRECT', `SYN ${vip}:${dport} forwarded`);
  const toReal = syn.out!;
  const back = { src: toReal.dst, dst: toReal.src, sport: toReal.dport, dport: toReal.sport };
  assert.equal(send(A, 'real', back, 'SYN,ACK', RISN, CISN + 1).verdict, 'XDP_REDIRECT', 'SYN-ACK');
  assert.equal(send(A, 'client', c, 'ACK', CISN + 1, RISN + 1).verdict, 'XDP_REDIRECT', 'ACK');
  return toReal;
}

function census(m: Maps): number {
  let n = 0;
  for (const _ of m.flows.entries()) n++;
  return n;
}

function until<T>(what: string, get: () => T | undefined, ms = 10_000): Promise<T> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const poll = (): void => {
      const v = get();
      if (v !== undefined) resolve(v);
      else if (Date.now() - t0 > ms) reject(new Error(`timed out waiting for ${what}`));
      else setTimeout(poll, 5);
    };
    poll();
  });
}

function receiver(): SyncReceiver {
  return new SyncReceiver({ host: '127.0.0.1', port: 0, key: KEY, peer: 'ra', log, flows: B.maps.flows, persist: B.maps.persist, slots: () => B.rec.slotIndex() });
}

function sender(port: number, key = KEY): SyncSender {
  return new SyncSender({ host: '127.0.0.1', port, key, node: 'ra', epoch: Date.now(), flows: A.maps.flows, slots: () => A.rec.slotIndex(), log, retryMs: 50 });
}

/** Bulk-syncs A to B on a fresh connection; resolves with the records and the seconds taken. */
async function bulkSync(): Promise<{ records: number; s: number }> {
  const rx = receiver();
  await rx.start();
  const tx = sender(rx.port);
  try {
    const t0 = process.hrtime.bigint();
    const done = new Promise<number>((resolve) => rx.onBulkDone((b) => resolve(b.records)));
    tx.start();
    const records = await done;
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    await until('the sender to hear the bulk acknowledged', () => (tx.status().bulkDone ? true : undefined));
    return { records, s };
  } finally {
    await tx.stop();
    await rx.stop();
  }
}

test('a wrong key is refused (forged) and nothing is installed', async () => {
  handshake(ROUTER.client, ROUTER.vip, 41000, 80);
  const rx = receiver();
  await rx.start();
  const tx = sender(rx.port, randomBytes(32));
  try {
    tx.start();
    await until('the forged count', () => (rx.counters.rejected.forged > 0 ? true : undefined));
    assert.equal(rx.status().records, 0);
    assert.equal(census(B.maps), 0, 'B holds no flow');
  } finally {
    await tx.stop();
    await rx.stop();
  }
});

/** A raw peer: connects, reads the challenge, returns what it needs to write frames. */
async function rawPeer(port: number): Promise<{ s: Socket; w: FrameWriter; closed: Promise<void> }> {
  const s = connect({ host: '127.0.0.1', port });
  const closed = new Promise<void>((resolve) => s.once('close', () => resolve()));
  const challenge = await new Promise<Buffer>((resolve, reject) => {
    let got = Buffer.alloc(0);
    s.on('data', (c: Buffer) => {
      got = Buffer.concat([bytes(got), bytes(c)]);
      if (got.length >= 16) resolve(got.subarray(0, 16));
    });
    s.once('error', reject);
  });
  return { s, w: new FrameWriter(KEY, challenge), closed };
}

test('a replayed frame and an unknown peer close the connection, counted; a second, unauthenticated connection does not disturb the peer\'s', async () => {
  const rx = receiver();
  await rx.start();
  try {
    const p = await rawPeer(rx.port);
    const hello = p.w.frame(FrameType.HELLO, encodeHello({ name: 'ra', epoch: 1 }));
    p.s.write(bytes(hello));
    await until('the peer connected', () => (rx.status().connected ? true : undefined));
    // Garbage on a second connection: it is closed and counted, the peer's lives on.
    const second = connect({ host: '127.0.0.1', port: rx.port });
    second.on('error', () => undefined);
    second.resume(); // the challenge is read, so the close is seen
    second.write(new Uint8Array(64).fill(0xa5));
    await new Promise<void>((resolve) => second.once('close', () => resolve()));
    assert.equal(rx.counters.rejected.forged + rx.counters.rejected.malformed, 1, JSON.stringify(rx.counters.rejected));
    assert.equal(p.s.destroyed, false, 'the first connection lives on');
    assert.equal(rx.status().connected, true);
    p.s.write(bytes(hello));
    await p.closed;
    assert.equal(rx.counters.rejected.replayed, 1);

    const q = await rawPeer(rx.port);
    q.s.write(bytes(q.w.frame(FrameType.HELLO, encodeHello({ name: 'mallory', epoch: 1 }))));
    await q.closed;
    assert.equal(rx.counters.rejected.unknownPeer, 1);
    assert.equal(census(B.maps), 0);
  } finally {
    await rx.stop();
  }
});

interface Case { name: string; client: string; vip: string; port: number; sport: number }
const CASES: Case[] = [
  { name: 'nat IPv4', client: ROUTER.client, vip: ROUTER.vip, port: 80, sport: 42000 },
  { name: 'fullnat IPv4', client: ROUTER.client, vip: ROUTER.vip, port: 81, sport: 42001 },
  { name: 'nat IPv6', client: ROUTER.client6, vip: ROUTER.vip6, port: 80, sport: 42002 },
  { name: 'fullnat IPv6', client: ROUTER.client6, vip: ROUTER.vip6, port: 81, sport: 42003 },
  { name: 'persistent nat IPv4', client: ROUTER.client, vip: ROUTER.vip, port: 82, sport: 42004 },
];

const keyOf = (c: Pick<Case, 'name' | 'port' | 'sport'>): XlvsFlowKey => {
  const f = A.maps.flows.entries();
  for (const [k, v] of f) if (v.dir === XLVS_DIR_FORWARD && k.sport === c.sport && k.dport === c.port) return k;
  throw new Error(`no forward entry for ${c.name}`);
};

test('bulk sync: both entries on B with the same rewrites and state in B\'s own slots; B forwards the next packet to the same real', async () => {
  // A second flow per service first: the flows under test go to the second real (rr), not the one a fresh B would pick.
  const toReal = new Map<string, Tuple>();
  for (const c of CASES) {
    handshake(c.client, c.vip, c.sport + 100, c.port);
    toReal.set(c.name, handshake(c.client, c.vip, c.sport, c.port));
  }
  const forwardA = [...A.maps.flows.entries()].filter(([, v]) => v.dir === XLVS_DIR_FORWARD).length;
  const { records } = await bulkSync();
  assert.equal(records, forwardA, 'every forward entry of A went with its partner');
  assert.equal(census(B.maps), 2 * forwardA, 'B holds both entries of every flow');

  const idxA = A.rec.slotIndex();
  const idxB = B.rec.slotIndex();
  for (const c of CASES) {
    const fk = keyOf(c);
    const fa = A.maps.flows.lookup(fk)!;
    const rk = flowPartnerKey(fk, fa);
    const ra = A.maps.flows.lookup(rk)!;
    const fb = B.maps.flows.lookup(fk);
    const rb = B.maps.flows.lookup(rk);
    assert.ok(fb && rb, `${c.name}: both entries on B`);
    assert.equal(fa.state, XLVS_FLOW_TCP_EST, `${c.name}: established on A`);
    assert.deepEqual(wireFlow(fb), wireFlow(fa), `${c.name}: forward entry`);
    assert.deepEqual(wireFlow(rb), wireFlow(ra), `${c.name}: reply entry`);
    for (const [a, b] of [[fa, fb], [ra, rb]] as const) {
      assert.deepEqual(idxB.realAt(b.real_id), idxA.realAt(a.real_id), `${c.name}: B's real slot names the same real`);
      assert.equal(idxB.serviceAt(b.svc_id), idxA.serviceAt(a.svc_id), `${c.name}: B's service slot names the same service`);
      assert.equal(b.nh_ifindex, 0, 'next-hop cache zeroed');
      assert.ok(b.expires_ns >= a.expires_ns + SYNC_MARGIN_NS - 1_000_000_000n && b.expires_ns <= a.expires_ns + SYNC_MARGIN_NS + 1_000_000_000n, `${c.name}: deadline = remaining + margin`);
    }
    assert.notEqual(fb.svc_id, fa.svc_id, `${c.name}: B's slots are not A's (the test proves a translation)`);

    const data = send(B, 'client', { src: c.client, dst: c.vip, sport: c.sport, dport: c.port }, 'ACK,PSH', CISN + 1, RISN + 1, Buffer.from('GET / HTTP/1.0\r\n\r\n'));
    assert.equal(data.verdict, 'XDP_REDIRECT', `${c.name}: B forwards the flow's data`);
    assert.deepEqual(data.out, toReal.get(c.name), `${c.name}: to the same real, with the same rewrites`);
    const reply = send(B, 'real', { src: data.out!.dst, dst: data.out!.src, sport: data.out!.dport, dport: data.out!.sport }, 'ACK', RISN + 1, CISN + 19);
    assert.equal(reply.verdict, 'XDP_REDIRECT', `${c.name}: B translates the real's reply`);
    assert.deepEqual(reply.out, { src: c.vip, dst: c.client, sport: c.port, dport: c.sport }, `${c.name}: reply from the VIP`);
  }
  // The persistent flow's template on B: B's service slot, the client's /24, B's slot of the same real.
  const pc = CASES.find((c) => c.port === 82)!;
  const fa = A.maps.flows.lookup(keyOf(pc))!;
  const svcB = idxB.svcs.get(idxA.serviceAt(fa.svc_id)!)!;
  const t = [...B.maps.persist.entries()].find(([k]) => k.svc_id === svcB.id);
  assert.ok(t, 'a persistence template on B');
  assert.deepEqual([...t[0].client.subarray(0, 4)], [203, 0, 113, 0], 'the client masked to /24');
  assert.deepEqual(idxB.realAt(t[1].real_id), idxA.realAt(fa.real_id));
});

test('streamed records: an UPDATE changes B\'s entries, END deletes both, a service B lacks is counted unknown; the lag is reported', async () => {
  const rx = receiver();
  await rx.start();
  const tx = sender(rx.port);
  try {
    const bulk = new Promise<void>((resolve) => rx.onBulkDone(() => resolve()));
    tx.start();
    await bulk;
    const fk = keyOf(CASES[0]!);
    const fv = A.maps.flows.lookup(fk)!;
    const rk = flowPartnerKey(fk, fv);
    const rv = A.maps.flows.lookup(rk)!;
    const records = rx.status().records;
    // What the ring emits after a state change (here made up: the test is the data plane).
    tx.push({ kind: SYNC_UPDATE, atNs: monotonicNs(), fk, fv: { ...fv, state: XLVS_FLOW_TCP_FIN }, rk, rv: { ...rv, state: XLVS_FLOW_TCP_FIN } });
    await until('the UPDATE on B', () => (B.maps.flows.lookup(fk)?.state === XLVS_FLOW_TCP_FIN && B.maps.flows.lookup(rk)?.state === XLVS_FLOW_TCP_FIN ? true : undefined));

    handshake(ROUTER.client, ROUTER.vip, 43000, 83);
    const ok = keyOf({ name: 'only on A', port: 83, sport: 43000 });
    const ov = A.maps.flows.lookup(ok)!;
    const ork = flowPartnerKey(ok, ov);
    tx.push({ kind: SYNC_UPDATE, atNs: monotonicNs(), fk: ok, fv: ov, rk: ork, rv: A.maps.flows.lookup(ork)! });
    await until('the unknown count', () => (rx.counters.syncUnknown === 1 ? true : undefined));
    assert.equal(B.maps.flows.lookup(ok), undefined, 'a flow of a service B lacks is not installed');
    A.maps.flows.delete(ok);
    A.maps.flows.delete(ork);

    const zero = XlvsFlow.decode(Buffer.alloc(XlvsFlow.size), 0);
    tx.push({ kind: SYNC_END, atNs: monotonicNs(), fk, fv: zero, rk, rv: zero });
    await until('the END on B', () => (B.maps.flows.lookup(fk) === undefined && B.maps.flows.lookup(rk) === undefined ? true : undefined));
    assert.equal(rx.status().records, records + 3);
    assert.ok(rx.status().lagMs >= 0 && rx.status().lagMs < 1000, 'lag of the last batch');
    assert.equal(tx.status().connected, true);
    assert.equal(tx.status().bulkDone, true);
  } finally {
    await tx.stop();
    await rx.stop();
  }
});

test('20,000 flows bulk-synced and counted on B; the rate', async () => {
  const n = 20_000;
  const frame = (sport: number): Buffer => buildFrame({
    eth: { src: MAC.client, dst: MAC.pub0 },
    l3: { kind: 'ipv4', src: ROUTER.client, dst: ROUTER.vip, ttl: 64, l4: { kind: 'tcp', sport, dport: 80, seq: CISN, ack: 0, flags: 'SYN' } },
  });
  const frames = Array.from({ length: n }, (_, i) => frame(10_000 + i));
  inNetns(A.nsPath, () => {
    for (const f of frames) assert.equal(A.pub.run(f, undefined, { ingressIfindex: A.pub0 }), 4, 'SYN forwarded');
  });
  const forwardA = [...A.maps.flows.entries()].filter(([, v]) => v.dir === XLVS_DIR_FORWARD).length;
  assert.ok(forwardA >= n);
  const { records, s } = await bulkSync();
  assert.equal(records, forwardA);
  assert.equal(census(B.maps), 2 * forwardA, 'B holds both entries of every flow');
  console.log(`# bulk sync: ${records} flows (${2 * records} entries) in ${s.toFixed(3)} s: ${Math.round(records / s)} records/s`);
});

test('backpressure: a peer that does not read makes records wait, then counted lost; once it reads, a new bulk follows', async () => {
  const challenge = randomBytes(16);
  const reader = new FrameReader(KEY, challenge);
  const seen = { bulkEnds: 0 };
  let peer: Socket | undefined;
  const server = createServer((s) => {
    peer = s;
    s.write(bytes(challenge));
    s.pause(); // reads nothing until told
    s.on('data', (c: Buffer) => {
      for (const f of reader.push(c)) if (f.type === FrameType.BULK_END) seen.bulkEnds++;
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const tx = new SyncSender({
    host: '127.0.0.1', port, key: KEY, node: 'ra', epoch: 1, flows: A.maps.flows, slots: () => A.rec.slotIndex(), log, maxQueued: 10_000, highWaterBytes: 1 << 20,
  });
  const lost: number[] = [];
  tx.onLost((n) => lost.push(n));
  try {
    tx.start();
    await until('connected', () => (tx.status().connected ? true : undefined));
    const fk = keyOf(CASES[1]!);
    const fv = A.maps.flows.lookup(fk)!;
    const rk = flowPartnerKey(fk, fv);
    const rec = { kind: SYNC_UPDATE, atNs: 0n, fk, fv, rk, rv: A.maps.flows.lookup(rk)! } as const;
    // Bounded: 100,000 records are 28 MB, more than the loopback socket's buffers hold.
    for (let i = 0; i < 100 && lost.length === 0; i++) {
      for (let j = 0; j < 1000; j++) tx.push(rec);
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.ok(lost.length > 0 && lost[0]! > 10_000, `records counted lost (${lost.join(', ')})`);
    assert.equal(tx.lost, lost.reduce((a, b) => a + b, 0));
    peer!.resume();
    await until('a second bulk', () => (seen.bulkEnds >= 2 ? true : undefined), 30_000);
  } finally {
    await tx.stop();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});
