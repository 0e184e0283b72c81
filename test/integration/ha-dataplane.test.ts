// SPDX-License-Identifier: Apache-2.0
// The data plane's side of active/backup HA (bpf/ha.h) through the real programs
// (BPF_PROG_TEST_RUN):
//  - the ARP/ND gate, in xlvs_public and xlvs_private: an ARP request or IPv6 neighbour
//    solicitation for a floating address is dropped (ha_standby) while HA is enabled and the
//    lease has run out; passed with a valid lease, with HA not enabled, and for other targets;
//  - the sync ring: with XLVS_HA_F_SYNC, a new flow writes NEW (its two entries as the map holds
//    them), the handshake's ACK an UPDATE to EST, a RST an UPDATE to CLOSE, the reaper's end END;
//    without it, nothing.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { u32, u64 } from '../../src/kernel/codec.js';
import type { BpfMap, PerCpuMap } from '../../src/kernel/map.js';
import { RingBuf } from '../../src/kernel/ringbuf.js';
import { XdpTestRunner, inNetns, verdictName } from '../../src/kernel/test-run.js';
import { FixtureRunner, type Fixture } from '../../testing/fixture.js';
import { buildFrame, ETH_P_ARP, type FrameSpec } from '../../testing/frames.js';
import { ROUTER, ROUTER_MAC as MAC, RouterFixture } from '../../testing/router-fixture.js';
import { PerPacketEnv, VIP, CLIENT } from '../../bench/per-packet/per-packet-env.js';
import { dropLease, leaseValid, readFloating, readHa, setFloating, setHaFlags, writeLease } from '../../src/ha/lease.js';
import { decodeSyncRecord, type XlvsSyncRec } from '../../src/ha/sync-record.js';
import * as abi from '../../src/gen/abi.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const log = pino({ level: 'warn' }, pino.destination(2));

const FLOAT4 = '203.0.113.50';
const FLOAT6 = '2001:db8:1::50';
const OTHER4 = '203.0.113.51';
const OTHER6 = '2001:db8:1::51';

let fixture: RouterFixture | undefined;
let runner: FixtureRunner;
let drops: PerCpuMap<number, bigint>;
let haMaps: { ha: BpfMap<number, abi.XlvsHa>; haFloating: BpfMap<abi.XlvsHaAddr, number> };

let env: PerPacketEnv | undefined;

before(async () => {
  fixture = RouterFixture.create(join(ROOT, 'build/xlvs.bpf.o'), { tag: 'ha' });
  ({ runner, drops } = fixture);
  haMaps = { ha: fixture.obj.map('ha', u32, abi.XlvsHa), haFloating: fixture.obj.map('ha_floating', abi.XlvsHaAddr, u32) };
  env = await PerPacketEnv.create(log);
});

after(async () => {
  fixture?.destroy('ha fixture cleanup');
  await env?.close(log);
});

/** An ARP request (who has target? tell sender) as a host on the segment sends it. */
function arpRequest(target: string, op = 1): FrameSpec {
  const b = Buffer.alloc(28);
  b.writeUInt16BE(1, 0); // Ethernet
  b.writeUInt16BE(0x0800, 2);
  b[4] = 6;
  b[5] = 4;
  b.writeUInt16BE(op, 6);
  macBytes(MAC.client).forEach((x, i) => { b[8 + i] = x; });
  ROUTER.client.split('.').forEach((o, i) => { b[14 + i] = Number(o); });
  target.split('.').forEach((o, i) => { b[24 + i] = Number(o); });
  return { eth: { src: MAC.client, dst: 'ff:ff:ff:ff:ff:ff' }, l3: { kind: 'raw', proto: ETH_P_ARP, data: b } };
}

/** An IPv6 neighbour solicitation for target (its solicited-node multicast destination). */
function neighSolicit(target: string): FrameSpec {
  const t = haKey(target).addr;
  const payload = Buffer.alloc(24); // target, then the source link-layer address option
  for (let i = 0; i < 16; i++) payload[i] = t[i]!;
  payload[16] = 1;
  payload[17] = 1;
  macBytes(MAC.client).forEach((x, i) => { payload[18 + i] = x; });
  const hex = t.toString('hex');
  const dst = `ff02::1:ff${hex.slice(26, 28)}:${hex.slice(28, 32)}`;
  return {
    eth: { src: MAC.client, dst: '33:33:ff:00:00:50' },
    l3: { kind: 'ipv6', src: ROUTER.client6, dst, hopLimit: 255, l4: { kind: 'icmpv6', type: 135, code: 0, rest: 0, payload } },
  };
}

const macBytes = (m: string): number[] => m.split(':').map((h) => parseInt(h, 16));
const haKey = (a: string): abi.XlvsHaAddr => ({ addr: a.includes(':') ? v6(a) : v4(a), family: a.includes(':') ? abi.XLVS_AF_INET6 : abi.XLVS_AF_INET });
const v4 = (a: string): Buffer => { const b = Buffer.alloc(16); a.split('.').forEach((o, i) => { b[i] = Number(o); }); return b; };
const v6 = (a: string): Buffer => {
  const [h, t] = a.split('::');
  const hs = h ? h.split(':') : [];
  const ts = t ? t.split(':') : [];
  const g = [...hs, ...Array(8 - hs.length - ts.length).fill('0'), ...ts];
  const b = Buffer.alloc(16);
  g.forEach((x, i) => b.writeUInt16BE(parseInt(x, 16), 2 * i));
  return b;
};

const standbyDrops = (): bigint => (drops.lookup(abi.XLVS_DROP_HA_STANDBY) ?? []).reduce((a, b) => a + b, 0n);

/** The four requests through both programs: expected verdict for the floating ones, PASS for the others. */
function gate(floating: 'XDP_DROP' | 'XDP_PASS', label: string): void {
  const fx: Fixture[] = [];
  for (const prog of ['xlvs_public', 'xlvs_private']) {
    const ingress = prog === 'xlvs_public' ? 'pub0' : 'priv0';
    fx.push({ name: `${label}: ${prog} ARP for floating`, prog, ingress, input: arpRequest(FLOAT4), expect: { verdict: floating } });
    fx.push({ name: `${label}: ${prog} NS for floating`, prog, ingress, input: neighSolicit(FLOAT6), expect: { verdict: floating } });
    fx.push({ name: `${label}: ${prog} ARP for another`, prog, ingress, input: arpRequest(OTHER4), expect: { verdict: 'XDP_PASS' } });
    fx.push({ name: `${label}: ${prog} NS for another`, prog, ingress, input: neighSolicit(OTHER6), expect: { verdict: 'XDP_PASS' } });
    fx.push({ name: `${label}: ${prog} ARP reply for floating`, prog, ingress, input: arpRequest(FLOAT4, 2), expect: { verdict: 'XDP_PASS' } });
  }
  const d0 = standbyDrops();
  runner.check(fx);
  assert.equal(standbyDrops() - d0, floating === 'XDP_DROP' ? 4n : 0n, `${label}: ha_standby counted once per dropped request`);
}

test('ARP/ND gate: floating set and lease through src/ha/lease.ts', () => {
  setFloating(haMaps, [FLOAT4, '2001:DB8:1:0::50', '198.51.100.9']);
  setFloating(haMaps, [FLOAT4, FLOAT6]);
  assert.deepEqual(readFloating(haMaps), [FLOAT6, FLOAT4].sort(), 'setFloating replaces the set');
  assert.throws(() => setFloating(haMaps, ['not an address']), /E_INVALID_ARGUMENT|address/);
  assert.deepEqual(readFloating(haMaps).length, 2, 'a refused set writes nothing');

  setHaFlags(haMaps, 0);
  dropLease(haMaps);
  gate('XDP_PASS', 'not enabled, no lease');

  setHaFlags(haMaps, abi.XLVS_HA_F_ENABLED);
  assert.equal(leaseValid(haMaps), false);
  gate('XDP_DROP', 'enabled, lease expired');

  writeLease(haMaps, 60_000);
  assert.equal(leaseValid(haMaps), true);
  assert.equal(readHa(haMaps).flags, abi.XLVS_HA_F_ENABLED, 'writeLease keeps the flags');
  gate('XDP_PASS', 'enabled, valid lease');

  setHaFlags(haMaps, abi.XLVS_HA_F_ENABLED | abi.XLVS_HA_F_SYNC);
  assert.equal(leaseValid(haMaps), true, 'setHaFlags keeps the lease');

  writeLease(haMaps, 0);
  const t0 = Date.now();
  while (Date.now() - t0 < 20) { /* the coarse clock passes the 0 ms lease within a tick */ }
  gate('XDP_DROP', 'enabled, lease of 0 ms run out');

  dropLease(haMaps);
  setHaFlags(haMaps, 0);
  gate('XDP_PASS', 'disabled again');
  setFloating(haMaps, []);
  assert.deepEqual(readFloating(haMaps), []);
});

// ---- the sync ring ----

function send(side: 'client' | 'real', frame: Buffer, r: XdpTestRunner): string {
  const ifindex = side === 'client' ? env!.pub0 : env!.priv0;
  return verdictName(inNetns(env!.rtr, () => r.run(frame, undefined, { ingressIfindex: ifindex })));
}

const fromClient = (sport: number, flags: string, seq?: number): Buffer => buildFrame({
  eth: { src: env!.macs.client, dst: env!.macs.pub0 },
  l3: { kind: 'ipv4', src: CLIENT, dst: VIP, ttl: 64, l4: { kind: 'tcp', sport, dport: 80, seq: seq ?? (flags.includes('SYN') ? 1 : 2), ack: flags.includes('ACK') ? 10 : 0, flags } },
});

function drain(ring: RingBuf): XlvsSyncRec[] {
  const out: XlvsSyncRec[] = [];
  ring.consume((rec, len) => out.push(decodeSyncRecord(rec, len)));
  return out;
}

function entries(sport: number): { fk: abi.XlvsFlowKey; fv: abi.XlvsFlow; rk: abi.XlvsFlowKey; rv: abi.XlvsFlow } {
  const all = [...env!.dp.maps.flows.entries()];
  const fw = all.find(([k, v]) => v.dir === abi.XLVS_DIR_FORWARD && k.sport === sport);
  const rp = all.find(([k, v]) => v.dir === abi.XLVS_DIR_REPLY && k.dport === sport);
  assert.ok(fw && rp, `both entries of client port ${sport}`);
  return { fk: fw[0], fv: fw[1], rk: rp[0], rv: rp[1] };
}

const noNh = (f: abi.XlvsFlow): Partial<abi.XlvsFlow> => {
  const { nh_ifindex: _i, nh_expires_ns: _e, nh_len: _l, nh_dmac: _d, nh_smac: _s, ...rest } = f;
  return rest;
};
const ZERO_FLOW = abi.XlvsFlow.decode(Buffer.alloc(abi.XlvsFlow.size), 0);
const syncCount = (i: number): bigint => (env!.dp.maps.haStats.lookup(i) ?? []).reduce((a, b) => a + b, 0n);

test('sync ring: NEW, UPDATE (EST, CLOSE), END by the reaper; nothing without XLVS_HA_F_SYNC', () => {
  const e = env!;
  const pub = new XdpTestRunner(e.dp.progFd('xlvs_public'));
  const ring = RingBuf.open(e.dp.mapFd('sync_ring'));
  const cfg = e.dp.maps.cfg.lookup(0)!;
  try {
    e.clearFlows();
    drain(ring);
    setHaFlags(e.dp.maps, abi.XLVS_HA_F_SYNC);
    const sent0 = syncCount(abi.XLVS_HA_STAT_SYNC_SENT);

    // NEW: the two entries as the map holds them.
    assert.equal(send('client', fromClient(42001, 'SYN'), pub), 'XDP_REDIRECT');
    let recs = drain(ring);
    assert.equal(recs.length, 1, 'one record for the new flow');
    const n = recs[0]!;
    assert.equal(n.kind, abi.XLVS_SYNC_NEW);
    const m = entries(42001);
    assert.deepEqual({ fk: n.fk, fv: n.fv, rk: n.rk, rv: n.rv }, m, 'NEW carries the forward and reply entries');
    assert.equal(n.fv.state, abi.XLVS_FLOW_TCP_SYN);
    assert.ok(n.at_ns > 0n);

    // The real's SYN-ACK teaches its ISN (no state change, no record); the client's ACK establishes.
    const priv = new XdpTestRunner(e.dp.progFd('xlvs_private'));
    const real = m.fv.nat_dst;
    const realIp = `${real[0]}.${real[1]}.${real[2]}.${real[3]}`;
    const synAck = buildFrame({
      eth: { src: e.macs.rs1, dst: e.macs.priv0 },
      l3: { kind: 'ipv4', src: realIp, dst: CLIENT, ttl: 64, l4: { kind: 'tcp', sport: m.rk.sport, dport: 42001, seq: 9, ack: 2, flags: 'SYN,ACK' } },
    });
    assert.equal(send('real', synAck, priv), 'XDP_REDIRECT');
    recs = drain(ring);
    assert.ok(recs.every((r) => r.kind === abi.XLVS_SYNC_UPDATE), 'nothing but UPDATEs');
    assert.equal(send('client', fromClient(42001, 'ACK'), pub), 'XDP_REDIRECT');
    recs = drain(ring);
    const est = recs.filter((r) => r.kind === abi.XLVS_SYNC_UPDATE && r.fv.state === abi.XLVS_FLOW_TCP_EST);
    assert.equal(est.length, 1, `the handshake's ACK: one UPDATE to EST (${recs.length} records)`);
    const m2 = entries(42001);
    assert.deepEqual(est[0]!.fk, m2.fk);
    assert.deepEqual(est[0]!.rk, m2.rk);
    // As flow_touch wrote it: the next-hop cache (nh_*) is filled after it, by xmit, and is this
    // router's own (a receiver looks its next hop up afresh).
    assert.deepEqual(noNh(est[0]!.fv), noNh(m2.fv), 'the UPDATE carries the forward entry as written');
    assert.equal(est[0]!.rv.state, abi.XLVS_FLOW_TCP_EST);

    // RST in window: UPDATE to CLOSE.
    assert.equal(send('client', fromClient(42001, 'RST', 2), pub), 'XDP_REDIRECT');
    recs = drain(ring);
    assert.equal(recs.length, 1, 'one record for the RST');
    assert.equal(recs[0]!.kind, abi.XLVS_SYNC_UPDATE);
    assert.equal(recs[0]!.fv.state, abi.XLVS_FLOW_TCP_CLOSE);
    assert.equal(recs[0]!.rv.state, abi.XLVS_FLOW_TCP_CLOSE);

    // The reaper ends the dead flow: END with the keys, zero values.
    const fk = m2.fk;
    const rk = m2.rk;
    for (const [k, v] of [[fk, m2.fv], [rk, m2.rv]] as const) e.dp.maps.flows.update(k, { ...e.dp.maps.flows.lookup(k)!, expires_ns: 1n, state: v.dir === abi.XLVS_DIR_FORWARD ? abi.XLVS_FLOW_TCP_CLOSE : abi.XLVS_FLOW_TCP_CLOSE });
    const reap = new XdpTestRunner(e.dp.progFd('xlvs_reap'));
    assert.equal(reap.run(Buffer.alloc(64)), 2, 'the reaper deleted both entries');
    recs = drain(ring);
    assert.equal(recs.length, 1, 'one END');
    assert.equal(recs[0]!.kind, abi.XLVS_SYNC_END);
    assert.deepEqual(recs[0]!.fk, fk);
    assert.deepEqual(recs[0]!.rk, rk);
    assert.deepEqual(recs[0]!.fv, ZERO_FLOW);
    assert.deepEqual(recs[0]!.rv, ZERO_FLOW);
    assert.ok(syncCount(abi.XLVS_HA_STAT_SYNC_SENT) - sent0 >= 4n, 'ha_stats counts the records sent');
    assert.equal(syncCount(abi.XLVS_HA_STAT_SYNC_LOST), 0n);

    // SYNC off: a new flow, its handshake and its end write nothing.
    setHaFlags(e.dp.maps, 0);
    const sent1 = syncCount(abi.XLVS_HA_STAT_SYNC_SENT);
    assert.equal(send('client', fromClient(42002, 'SYN'), pub), 'XDP_REDIRECT');
    assert.equal(send('client', fromClient(42002, 'RST', 2), pub), 'XDP_REDIRECT');
    assert.equal(drain(ring).length, 0, 'nothing written without XLVS_HA_F_SYNC');
    assert.equal(syncCount(abi.XLVS_HA_STAT_SYNC_SENT), sent1);
  } finally {
    setHaFlags(e.dp.maps, 0);
    e.dp.maps.cfg.update(0, cfg);
    ring.close();
    e.clearFlows();
  }
});
