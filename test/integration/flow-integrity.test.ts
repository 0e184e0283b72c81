// SPDX-License-Identifier: Apache-2.0
// What a flow may not lose, through the real xlvs_public / xlvs_private programs (BPF_PROG_TEST_RUN
// in a lab router namespace, the per-packet bench's environment; issue 14):
//  - its reply key: a new NAT flow whose reply key (real:port -> client:port) belongs to another
//    live connection is refused (drop flow_taken), where it used to overwrite the entry and steal
//    the replies (two VIPs to one real:port, one client port used for both);
//  - its other half: the two entries live and die together, so a client that keeps sending keeps
//    the real's reply entry alive, and the reaper deletes a pair only when both are dead;
//  - its state to forged segments: RST, FIN and a re-SYN count only inside their sender's
//    sequence window (bpf/tcpwin.h), a half-open flow is established only by a proven handshake
//    (nat: the client acknowledges the real's SYN-ACK; dr: its ACK at ISN+1 and then progress).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { XdpTestRunner, inNetns, verdictName } from '../../src/kernel/test-run.js';
import { buildFrame, parseFrame, type ParsedIpv4, type ParsedTcp, type ParsedUdp } from '../../testing/frames.js';
import { PerPacketEnv, VIP, CLIENT, REALS, REAL_PORT } from '../../bench/per-packet/per-packet-env.js';
import { Reconciler } from '../../src/dataplane/reconcile.js';
import { desired, service } from '../../testing/desired.js';
import {
  XLVS_DIR_FORWARD, XLVS_DIR_REPLY, XLVS_DROP_FLOW_TAKEN, XLVS_DROP_OUT_OF_WINDOW,
  XLVS_FLOW_TCP_CLOSE, XLVS_FLOW_TCP_EST, XLVS_FLOW_TCP_FIN, XLVS_FLOW_TCP_SYN, type XlvsFlow, type XlvsFlowKey,
} from '../../src/gen/abi.js';

const log = pino({ level: 'warn' }, pino.destination(2));

/** Ports of this file's services, all on VIP, all to REALS:REAL_PORT (rr) but the dr one. */
const NAT_A = 80;
const NAT_B = 81; // a second frontend NATing to the same reals and port
const UDP = 53;
const DR = 90;

let env: PerPacketEnv;
let pub: XdpTestRunner;
let priv: XdpTestRunner;
let reap: XdpTestRunner;

before(async () => {
  env = await PerPacketEnv.create(log);
  const reals = REALS.map((address) => ({ address, port: REAL_PORT }));
  await new Reconciler(env.dp.maps, log).apply(desired([
    service(VIP, NAT_A, 'tcp', 'rr', reals),
    service(VIP, NAT_B, 'tcp', 'rr', reals),
    service(VIP, UDP, 'udp', 'rr', reals),
    service(VIP, DR, 'tcp', 'rr', [{ address: REALS[0]!, port: DR, method: 'dr' }]),
  ]));
  pub = new XdpTestRunner(env.dp.progFd('xlvs_public'));
  priv = new XdpTestRunner(env.dp.progFd('xlvs_private'));
  reap = new XdpTestRunner(env.dp.progFd('xlvs_reap'));
});

after(async () => {
  await env?.close(log);
});

interface Sent {
  verdict: string;
  out?: ParsedIpv4;
}

function send(side: 'client' | 'real', frame: Buffer): Sent {
  const r = side === 'client' ? pub : priv;
  const ifindex = side === 'client' ? env.pub0 : env.priv0;
  const verdict = verdictName(inNetns(env.rtr, () => r.run(frame, undefined, { ingressIfindex: ifindex })));
  const out = verdict === 'XDP_REDIRECT' || verdict === 'XDP_PASS' ? parseFrame(r.out.subarray(0, r.outLength)).l3 as ParsedIpv4 : undefined;
  return { verdict, out };
}

interface Seg {
  flags: string;
  seq: number;
  ack?: number;
  payload?: Buffer;
}

const client = (sport: number, dport: number, s: Seg): Buffer => buildFrame({
  eth: { src: env.macs.client, dst: env.macs.pub0 },
  l3: { kind: 'ipv4', src: CLIENT, dst: VIP, ttl: 64, l4: { kind: 'tcp', sport, dport, seq: s.seq, ack: s.ack ?? 0, flags: s.flags, payload: s.payload } },
});

const fromReal = (real: string, cport: number, s: Seg, rport = REAL_PORT): Buffer => buildFrame({
  eth: { src: env.macs.rs1, dst: env.macs.priv0 },
  l3: { kind: 'ipv4', src: real, dst: CLIENT, ttl: 64, l4: { kind: 'tcp', sport: rport, dport: cport, seq: s.seq, ack: s.ack ?? 0, flags: s.flags, payload: s.payload } },
});

const udpClient = (sport: number): Buffer => buildFrame({
  eth: { src: env.macs.client, dst: env.macs.pub0 },
  l3: { kind: 'ipv4', src: CLIENT, dst: VIP, ttl: 64, l4: { kind: 'udp', sport, dport: UDP, payload: Buffer.from('q') } },
});

const udpReal = (real: string, cport: number): Buffer => buildFrame({
  eth: { src: env.macs.rs1, dst: env.macs.priv0 },
  l3: { kind: 'ipv4', src: real, dst: CLIENT, ttl: 64, l4: { kind: 'udp', sport: REAL_PORT, dport: cport, payload: Buffer.from('a') } },
});

const CISN = 1_000_000; // the client's ISN in these tests
const RISN = 7_000_000; // the real's

/** A SYN from CLIENT:sport to VIP:dport; returns the real it went to. */
function syn(sport: number, dport: number, isn = CISN): string {
  const r = send('client', client(sport, dport, { flags: 'SYN', seq: isn }));
  assert.equal(r.verdict, 'XDP_REDIRECT', `SYN ${sport} -> ${dport} forwarded`);
  return r.out!.dst;
}

/** A whole NAT handshake: SYN, the real's SYN-ACK, the client's ACK. Returns the real. */
function handshake(sport: number, dport: number): string {
  const real = syn(sport, dport);
  assert.equal(send('real', fromReal(real, sport, { flags: 'SYN,ACK', seq: RISN, ack: CISN + 1 })).verdict, 'XDP_REDIRECT');
  assert.equal(send('client', client(sport, dport, { flags: 'ACK', seq: CISN + 1, ack: RISN + 1 })).verdict, 'XDP_REDIRECT');
  return real;
}

function entries(): Array<[XlvsFlowKey, XlvsFlow]> {
  return [...env.dp.maps.flows.entries()];
}

function forward(sport: number, dport: number): XlvsFlow | undefined {
  return entries().find(([k, v]) => v.dir === XLVS_DIR_FORWARD && k.sport === sport && k.dport === dport)?.[1];
}

function replyOf(cport: number): XlvsFlow | undefined {
  return entries().find(([k, v]) => v.dir === XLVS_DIR_REPLY && k.dport === cport)?.[1];
}

function drops(reason: number): bigint {
  return (env.dp.maps.drops.lookup(reason) ?? []).reduce((a, b) => a + b, 0n);
}

/** [active, inactive] summed over the reals. */
function counts(): [number, number] {
  let a = 0;
  let i = 0;
  for (let r = 0; r < 16; r++) {
    const c = env.dp.maps.realConns.lookup(r);
    if (c) {
      a += c.active;
      i += c.inactive;
    }
  }
  return [a, i];
}

/** Forgets every flow and count (userspace deletes count nothing down). */
function reset(): void {
  env.clearFlows();
  for (let r = 0; r < 16; r++) {
    if (env.dp.maps.realConns.lookup(r)) env.dp.maps.realConns.update(r, { active: 0, inactive: 0, overloaded: 0, seq: 0 });
  }
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

test('defect 2: a new NAT flow may not take the reply key of another live connection', () => {
  reset();
  const taken0 = drops(XLVS_DROP_FLOW_TAKEN);
  // Connection 1: CLIENT:5000 -> VIP:81, established. Connection 2: the same client port to VIP:80,
  // which NATs to the same reals and port; rr on a fresh service picks the same first real.
  const real = handshake(5000, NAT_B);
  // rr cursors, put back after the refused SYN moved one: the retake below goes to `real` again.
  const cursors = Array.from({ length: 16 }, (_, i) => env.dp.maps.svcRr.lookup(i) ?? 0);
  assert.equal(send('client', client(5000, NAT_A, { flags: 'SYN', seq: 42 })).verdict, 'XDP_DROP', 'the second flow is refused');
  cursors.forEach((c, i) => env.dp.maps.svcRr.update(i, c));
  assert.equal(drops(XLVS_DROP_FLOW_TAKEN) - taken0, 1n, 'and counted as flow_taken');
  assert.equal(forward(5000, NAT_A), undefined, 'no forward entry for the refused flow');
  assert.deepEqual(counts(), [1, 0], 'only connection 1 is counted');
  // Connection 1's replies still leave as VIP:81 (before the fix: VIP:80, from the overwritten entry).
  const r = send('real', fromReal(real, 5000, { flags: 'ACK', seq: RISN + 1, ack: CISN + 1, payload: Buffer.from('hi') }));
  assert.equal(r.verdict, 'XDP_REDIRECT');
  assert.equal(r.out!.src, VIP);
  assert.equal((r.out!.l4 as ParsedTcp).sport, NAT_B, 'the reply keeps its own VIP port');

  // Once connection 1 is closed (a RST in its window), its key may be taken: it is ended (both
  // entries, counted down) and connection 2 made.
  assert.equal(send('client', client(5000, NAT_B, { flags: 'RST', seq: CISN + 1 })).verdict, 'XDP_REDIRECT');
  assert.deepEqual(counts(), [0, 1]);
  assert.equal(syn(5000, NAT_A, 42), real);
  assert.equal(forward(5000, NAT_B), undefined, 'connection 1 ended');
  assert.equal(forward(5000, NAT_A)?.state, XLVS_FLOW_TCP_SYN);
  assert.deepEqual(counts(), [0, 1], 'connection 1 counted down, connection 2 up');
  assert.equal(entries().length, 2);
  const back = send('real', fromReal(real, 5000, { flags: 'SYN,ACK', seq: 5, ack: 43 }));
  assert.equal((back.out!.l4 as ParsedTcp).sport, NAT_A, 'replies now belong to connection 2');
  reset();
});

test('defect 3: a flow\'s two entries live and die together', () => {
  reset();
  const cfg = env.dp.maps.cfg.lookup(0)!;
  env.dp.maps.cfg.update(0, { ...cfg, timeout_udp_ns: 1_500_000_000n });
  try {
    assert.equal(send('client', udpClient(6000)).verdict, 'XDP_REDIRECT');
    const real = send('client', udpClient(6000)).out!.dst;
    sleep(1200);
    // The client keeps sending; the real is silent. The forward entry's deadline moves on...
    assert.equal(send('client', udpClient(6000)).verdict, 'XDP_REDIRECT');
    sleep(600);
    // ...and 1.8 s after the first datagram the real answers: its reply entry must still be there.
    assert.equal(reap.run(Buffer.alloc(64)), 0, 'the reaper keeps the pair while the client keeps it alive');
    assert.ok(replyOf(6000), 'the reply entry is still there');
    const late = send('real', udpReal(real, 6000));
    assert.equal(late.verdict, 'XDP_REDIRECT', 'the late reply is translated, not passed with its private source');
    assert.equal(late.out!.src, VIP);
    assert.equal((late.out!.l4 as ParsedUdp).sport, UDP);
    assert.deepEqual(counts(), [0, 1]);
    sleep(1600);
    assert.equal(reap.run(Buffer.alloc(64)), 2, 'both dead: the reaper deletes both entries');
    assert.equal(entries().length, 0);
    assert.deepEqual(counts(), [0, 0], 'and counts the flow down once');
  } finally {
    env.dp.maps.cfg.update(0, cfg);
    reset();
  }
});

test('defect 3: the reaper keeps a dead reply entry whose forward entry lives, and the other way round', () => {
  reset();
  assert.equal(send('client', udpClient(6001)).verdict, 'XDP_REDIRECT');
  const all = entries();
  const [fk, fv] = all.find(([, v]) => v.dir === XLVS_DIR_FORWARD)!;
  const [rk, rv] = all.find(([, v]) => v.dir === XLVS_DIR_REPLY)!;
  // Deadlines written apart, as they were when only the entry hit was refreshed.
  env.dp.maps.flows.update(rk, { ...rv, expires_ns: 1n });
  assert.equal(reap.run(Buffer.alloc(64)), 0, 'a dead reply entry with a live forward entry stays');
  assert.equal(entries().length, 2);
  env.dp.maps.flows.update(rk, { ...rv });
  env.dp.maps.flows.update(fk, { ...fv, expires_ns: 1n });
  assert.equal(reap.run(Buffer.alloc(64)), 0, 'a dead forward entry with a live reply entry stays');
  assert.deepEqual(counts(), [0, 1], 'and stays counted (the recount sees the pair as live)');
  env.dp.maps.flows.update(rk, { ...rv, expires_ns: 1n });
  assert.equal(reap.run(Buffer.alloc(64)), 2);
  assert.deepEqual(counts(), [0, 0]);
  reset();
});

test('defect 4: a blind RST outside the window changes nothing and is dropped; the SYN after it stays on the flow', () => {
  reset();
  const oow0 = drops(XLVS_DROP_OUT_OF_WINDOW);
  const real = handshake(7000, NAT_A);
  assert.equal(forward(7000, NAT_A)?.state, XLVS_FLOW_TCP_EST);
  // The forger knows the 4-tuple, not the sequence numbers.
  assert.equal(send('client', client(7000, NAT_A, { flags: 'RST', seq: CISN + 1 + 0x40000000 })).verdict, 'XDP_DROP');
  assert.equal(drops(XLVS_DROP_OUT_OF_WINDOW) - oow0, 1n, 'counted as out_of_window');
  assert.equal(forward(7000, NAT_A)?.state, XLVS_FLOW_TCP_EST, 'still established');
  assert.deepEqual(counts(), [1, 0]);
  // The forged SYN that followed it used to reschedule the 4-tuple to another real.
  const r = send('client', client(7000, NAT_A, { flags: 'SYN', seq: 99 }));
  assert.equal(r.verdict, 'XDP_REDIRECT');
  assert.equal(r.out!.dst, real, 'the SYN stays on the established flow');
  assert.equal(forward(7000, NAT_A)?.state, XLVS_FLOW_TCP_EST);
  // A RST of the real out of its window too.
  assert.equal(send('real', fromReal(real, 7000, { flags: 'RST', seq: RISN + 0x10000000 })).verdict, 'XDP_DROP');
  assert.equal(forward(7000, NAT_A)?.state, XLVS_FLOW_TCP_EST);
  // A FIN out of window goes on but does not count.
  assert.equal(send('client', client(7000, NAT_A, { flags: 'FIN,ACK', seq: CISN + 0x20000000, ack: RISN + 1 })).verdict, 'XDP_REDIRECT');
  assert.equal(forward(7000, NAT_A)?.state, XLVS_FLOW_TCP_EST);
  // The client's own data moves its window; its RST there counts.
  const data = Buffer.alloc(1000, 0x61);
  let seq = CISN + 1;
  for (let i = 0; i < 100; i++, seq += data.length) {
    assert.equal(send('client', client(7000, NAT_A, { flags: 'ACK', seq, ack: RISN + 1, payload: data })).verdict, 'XDP_REDIRECT');
  }
  assert.equal(send('client', client(7000, NAT_A, { flags: 'RST', seq })).verdict, 'XDP_REDIRECT', '100 kB on, the real RST is in window');
  assert.equal(forward(7000, NAT_A)?.state, XLVS_FLOW_TCP_CLOSE);
  assert.deepEqual(counts(), [0, 1]);
  reset();
});

test('defect 4: a closed port\'s RST,ACK from the real counts when it acknowledges the client\'s SYN', () => {
  reset();
  const real = syn(7100, NAT_A);
  assert.equal(send('real', fromReal(real, 7100, { flags: 'RST,ACK', seq: 0, ack: 12345 })).verdict, 'XDP_DROP', 'not the SYN\'s ack: forged');
  assert.equal(forward(7100, NAT_A)?.state, XLVS_FLOW_TCP_SYN);
  assert.equal(send('real', fromReal(real, 7100, { flags: 'RST,ACK', seq: 0, ack: CISN + 1 })).verdict, 'XDP_REDIRECT');
  assert.equal(forward(7100, NAT_A)?.state, XLVS_FLOW_TCP_CLOSE);
  reset();
});

test('defect 4: nat: only an ACK of the real\'s SYN-ACK establishes a half-open flow', () => {
  reset();
  const real = syn(7200, NAT_A);
  // A forged SYN and bare ACK (the forger never saw a SYN-ACK): nothing to acknowledge.
  assert.equal(send('client', client(7200, NAT_A, { flags: 'ACK', seq: CISN + 1, ack: 0xdead })).verdict, 'XDP_REDIRECT');
  assert.equal(forward(7200, NAT_A)?.state, XLVS_FLOW_TCP_SYN);
  assert.equal(send('real', fromReal(real, 7200, { flags: 'SYN,ACK', seq: RISN, ack: CISN + 1 })).verdict, 'XDP_REDIRECT');
  assert.equal(send('client', client(7200, NAT_A, { flags: 'ACK', seq: CISN + 1, ack: RISN + 0x30000000 })).verdict, 'XDP_REDIRECT');
  assert.equal(forward(7200, NAT_A)?.state, XLVS_FLOW_TCP_SYN, 'an ACK of something the real never sent');
  assert.deepEqual(counts(), [0, 1]);
  assert.equal(send('client', client(7200, NAT_A, { flags: 'ACK', seq: CISN + 1, ack: RISN + 1 })).verdict, 'XDP_REDIRECT');
  assert.equal(forward(7200, NAT_A)?.state, XLVS_FLOW_TCP_EST);
  assert.deepEqual(counts(), [1, 0]);
  reset();
});

test('defect 4: dr: a SYN and a bare ACK stay half-open; ACK at ISN+1 and then progress establish', () => {
  reset();
  const dr = (s: Seg): Sent => send('client', client(7300, DR, s));
  assert.equal(dr({ flags: 'SYN', seq: CISN }).verdict, 'XDP_REDIRECT');
  // The forger's bare ACK, any numbers.
  assert.equal(dr({ flags: 'ACK', seq: 5, ack: 77 }).verdict, 'XDP_REDIRECT');
  assert.equal(forward(7300, DR)?.state, XLVS_FLOW_TCP_SYN, 'an ACK out of the client\'s window is no handshake');
  assert.equal(dr({ flags: 'ACK', seq: CISN + 1, ack: RISN + 1 }).verdict, 'XDP_REDIRECT');
  assert.equal(forward(7300, DR)?.state, XLVS_FLOW_TCP_SYN, 'one ACK at ISN+1 is not enough: its ack number can be anything');
  assert.equal(dr({ flags: 'ACK', seq: CISN + 1, ack: RISN + 1 }).verdict, 'XDP_REDIRECT');
  assert.equal(forward(7300, DR)?.state, XLVS_FLOW_TCP_SYN, 'nor a repeat of it');
  assert.deepEqual(counts(), [0, 1], 'still inactive');
  const f = forward(7300, DR)!;
  assert.ok(f.expires_ns - process.hrtime.bigint() <= 60_000_000_000n, 'with the half-open timeout');
  // The client sends its request: data at ISN+1, then its next segment is past it.
  assert.equal(dr({ flags: 'PSH,ACK', seq: CISN + 1, ack: RISN + 1, payload: Buffer.from('GET / HTTP/1.0\r\n\r\n') }).verdict, 'XDP_REDIRECT');
  assert.equal(forward(7300, DR)?.state, XLVS_FLOW_TCP_SYN);
  assert.equal(dr({ flags: 'ACK', seq: CISN + 19, ack: RISN + 1 + 500 }).verdict, 'XDP_REDIRECT');
  assert.equal(forward(7300, DR)?.state, XLVS_FLOW_TCP_EST, 'progress after the handshake ACK: established');
  assert.deepEqual(counts(), [1, 0]);
  reset();
});

test('defect 4: a re-SYN on a closing flow reopens only after the client\'s own FIN, with a seq past it', () => {
  reset();
  const real = handshake(7400, NAT_A);
  // The real closes first: its FIN in window.
  assert.equal(send('real', fromReal(real, 7400, { flags: 'FIN,ACK', seq: RISN + 1, ack: CISN + 1 })).verdict, 'XDP_REDIRECT');
  assert.deepEqual(counts(), [0, 1]);
  const f0 = forward(7400, NAT_A)!;
  // The client may still send: a SYN now is no new connection of it.
  assert.equal(send('client', client(7400, NAT_A, { flags: 'SYN', seq: CISN + 0x50000000 })).verdict, 'XDP_REDIRECT');
  assert.equal(forward(7400, NAT_A)?.real_id, f0.real_id);
  assert.equal(forward(7400, NAT_A)?.state, XLVS_FLOW_TCP_FIN, 'the old flow goes on');
  // The client's FIN; then a SYN before its old seq is still not a new one, a SYN past it is.
  assert.equal(send('client', client(7400, NAT_A, { flags: 'FIN,ACK', seq: CISN + 1, ack: RISN + 2 })).verdict, 'XDP_REDIRECT');
  assert.equal(send('client', client(7400, NAT_A, { flags: 'SYN', seq: CISN - 5000 })).verdict, 'XDP_REDIRECT');
  assert.equal(forward(7400, NAT_A)?.state, XLVS_FLOW_TCP_FIN, 'a SYN before the old seq: still the old, closing flow');
  assert.equal(entries().length, 2);
  assert.deepEqual(counts(), [0, 1]);
  assert.equal(send('client', client(7400, NAT_A, { flags: 'SYN', seq: CISN + 15_600_000 })).verdict, 'XDP_REDIRECT');
  assert.equal(forward(7400, NAT_A)?.state, XLVS_FLOW_TCP_SYN, 'a new half-open flow');
  assert.deepEqual(counts(), [0, 1], 'the old one counted down, the new one up');
  reset();
});

test('defect 9e: a state change is made on the forward entry\'s state word, whatever the reply entry\'s copy says', () => {
  reset();
  const real = handshake(7500, NAT_A);
  assert.deepEqual(counts(), [1, 0]);
  // The reply entry's copy of the state left behind, as a racing CPU's change can leave it.
  const [rk, rv] = entries().find(([, v]) => v.dir === XLVS_DIR_REPLY)!;
  env.dp.maps.flows.update(rk, { ...rv, state: XLVS_FLOW_TCP_SYN });
  // The real's RST (in window) seen through that copy: SYN -> CLOSE. Before, a compare-and-swap
  // of SYN on the forward entry (EST) failed, the state was then written CLOSE anyway and nobody
  // moved the count: an active count for a closed flow.
  assert.equal(send('real', fromReal(real, 7500, { flags: 'RST', seq: RISN + 1 })).verdict, 'XDP_REDIRECT');
  assert.equal(forward(7500, NAT_A)?.state, XLVS_FLOW_TCP_CLOSE);
  assert.equal(replyOf(7500)?.state, XLVS_FLOW_TCP_CLOSE, 'the copy follows');
  assert.deepEqual(counts(), [0, 1], 'the move from active to inactive counted once, by the swap that made it');
  reset();
});

test('defect 9e: a flow whose state word another ender swapped out is not counted down again', () => {
  reset();
  assert.equal(send('client', udpClient(6100)).verdict, 'XDP_REDIRECT');
  assert.deepEqual(counts(), [0, 1]);
  for (const [k, v] of entries()) env.dp.maps.flows.update(k, { ...v, expires_ns: 1n, state: v.dir === XLVS_DIR_FORWARD ? 0xffffffff : v.state });
  // As if another CPU had swapped the state out (and counted the flow down) and not yet deleted it.
  const id = env.dp.maps.flows.entries().next().value![1].real_id;
  env.dp.maps.realConns.update(id, { active: 0, inactive: 0, overloaded: 0, seq: 0 });
  assert.equal(reap.run(Buffer.alloc(64)), 2, 'the reaper deletes both entries');
  // seq counts every count change a flow made (the recount would hide a double count down).
  assert.deepEqual(env.dp.maps.realConns.lookup(id), { active: 0, inactive: 0, overloaded: 0, seq: 0 }, 'without a second count down');
  reset();
});

test('defect 4: a half-open flow\'s SYN with a new ISN starts the handshake over', () => {
  reset();
  const real = syn(7600, NAT_A);
  assert.equal(send('real', fromReal(real, 7600, { flags: 'SYN,ACK', seq: RISN, ack: CISN + 1 })).verdict, 'XDP_REDIRECT');
  // The client gave up on that handshake and starts again from the same port with a new ISN.
  const isn2 = CISN + 0x40000000;
  assert.equal(send('client', client(7600, NAT_A, { flags: 'SYN', seq: isn2 })).verdict, 'XDP_REDIRECT');
  assert.equal(send('real', fromReal(real, 7600, { flags: 'SYN,ACK', seq: RISN + 0x20000000, ack: isn2 + 1 })).verdict, 'XDP_REDIRECT');
  assert.equal(send('client', client(7600, NAT_A, { flags: 'ACK', seq: isn2 + 1, ack: RISN + 0x20000001 })).verdict, 'XDP_REDIRECT');
  assert.equal(forward(7600, NAT_A)?.state, XLVS_FLOW_TCP_EST, 'the new handshake establishes it');
  assert.equal(send('client', client(7600, NAT_A, { flags: 'RST', seq: isn2 + 1 })).verdict, 'XDP_REDIRECT', 'and its RST is in window');
  assert.equal(forward(7600, NAT_A)?.state, XLVS_FLOW_TCP_CLOSE);
  reset();
});

test('a client port reused after a whole connection (server closes first, as HTTP with Connection: close) opens a new flow at once', () => {
  reset();
  const sport = 7700;
  const real = handshake(sport, NAT_A);
  const req = Buffer.alloc(100, 0x61);
  const resp = Buffer.alloc(200, 0x62);
  assert.equal(send('client', client(sport, NAT_A, { flags: 'PSH,ACK', seq: CISN + 1, ack: RISN + 1, payload: req })).verdict, 'XDP_REDIRECT');
  assert.equal(send('real', fromReal(real, sport, { flags: 'PSH,ACK', seq: RISN + 1, ack: CISN + 101, payload: resp })).verdict, 'XDP_REDIRECT');
  assert.equal(send('real', fromReal(real, sport, { flags: 'FIN,ACK', seq: RISN + 201, ack: CISN + 101 })).verdict, 'XDP_REDIRECT');
  assert.equal(send('client', client(sport, NAT_A, { flags: 'ACK', seq: CISN + 101, ack: RISN + 202 })).verdict, 'XDP_REDIRECT');
  assert.equal(send('client', client(sport, NAT_A, { flags: 'FIN,ACK', seq: CISN + 101, ack: RISN + 202 })).verdict, 'XDP_REDIRECT');
  assert.equal(send('real', fromReal(real, sport, { flags: 'ACK', seq: RISN + 202, ack: CISN + 102 })).verdict, 'XDP_REDIRECT');
  // The same port again a little later: the client's ISN has moved on (Linux: hash + clock).
  const isn2 = CISN + 4_000_000;
  const s2 = send('client', client(sport, NAT_A, { flags: 'SYN', seq: isn2 }));
  assert.equal(s2.verdict, 'XDP_REDIRECT', 'the new SYN is forwarded');
  const real2 = s2.out!.dst;
  assert.equal(forward(sport, NAT_A)?.state, XLVS_FLOW_TCP_SYN, 'a new half-open flow');
  const sa = send('real', fromReal(real2, sport, { flags: 'SYN,ACK', seq: RISN + 9_000_000, ack: isn2 + 1 }));
  assert.equal(sa.verdict, 'XDP_REDIRECT', 'the real\'s SYN-ACK reaches the client, translated');
  assert.equal(sa.out!.src, VIP);
  reset();
});

test('a half-open flow\'s client RST outside the window (its answer to the ACK of the real\'s TIME_WAIT) reaches the real and changes nothing', () => {
  reset();
  const sport = 7800;
  const isn = CISN + 9_000_000;
  const real = syn(sport, NAT_A, isn);
  // The real still holds the port's previous connection in TIME_WAIT: it answers the SYN with a
  // bare ACK of that connection's sequence, and the client answers that with a RST at its ack.
  const oldNext = 123_456;
  assert.equal(send('real', fromReal(real, sport, { flags: 'ACK', seq: 555_000, ack: oldNext })).verdict, 'XDP_REDIRECT');
  const rst = send('client', client(sport, NAT_A, { flags: 'RST', seq: oldNext }));
  assert.equal(rst.verdict, 'XDP_REDIRECT', 'the RST goes on to the real (it ends its TIME_WAIT)');
  assert.equal(rst.out!.dst, real);
  assert.equal(forward(sport, NAT_A)?.state, XLVS_FLOW_TCP_SYN, 'the half-open flow is unchanged');
  // The SYN sent again then opens the connection on the same flow.
  assert.equal(syn(sport, NAT_A, isn), real);
  assert.equal(send('real', fromReal(real, sport, { flags: 'SYN,ACK', seq: RISN, ack: isn + 1 })).verdict, 'XDP_REDIRECT');
  reset();
});
