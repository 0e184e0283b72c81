// SPDX-License-Identifier: Apache-2.0
// Frames for another host's MAC (bpf/l2.h), through the real xlvs_public / xlvs_private programs
// (BPF_PROG_TEST_RUN in a lab router namespace, the per-packet bench's environment):
//  - with if_macs naming the ingress interfaces (written as Dataplane.load writes them, from
//    netlink): a unicast frame to another MAC, a SYN to a VIP, an established flow's ACK or a
//    real's reply, is handed to the kernel untouched (XDP_PASS, event otherhost, once) and makes
//    no flow; the same frame to the interface's MAC is balanced; a broadcast ARP request and a
//    multicast frame go on as before (event pass);
//  - without (ifindex 0) nothing is checked: the SYN to another MAC is balanced, as it always was.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { XdpTestRunner, inNetns, verdictName } from '../../src/kernel/test-run.js';
import { buildFrame, ETH_P_ARP, type FrameSpec } from '../../testing/frames.js';
import { PerPacketEnv, VIP, CLIENT } from '../../bench/per-packet/per-packet-env.js';
import { clearIfMacs, macBytes, readIfMacs, writeIfMacs } from '../../src/dataplane/if-macs.js';
import * as abi from '../../src/gen/abi.js';

const log = pino({ level: 'warn' }, pino.destination(2));
/** A unicast MAC no interface of the lab has (locally administered, I/G bit clear). */
const OTHER = '02:00:5e:00:77:01';

let env: PerPacketEnv | undefined;
let pub: XdpTestRunner;
let priv: XdpTestRunner;

before(async () => {
  env = await PerPacketEnv.create(log);
  pub = new XdpTestRunner(env.dp.progFd('xlvs_public'));
  priv = new XdpTestRunner(env.dp.progFd('xlvs_private'));
});

after(async () => {
  await env?.close(log);
});

const sum = (m: 'events' | 'drops', i: number): bigint => (env!.dp.maps[m].lookup(i) ?? []).reduce((a, b) => a + b, 0n);
const counted = (): bigint => {
  let n = 0n;
  for (let i = 0; i < abi.XLVS_EVENT.MAX; i++) n += sum('events', i);
  for (let i = 0; i < abi.XLVS_DROP.MAX; i++) n += sum('drops', i);
  return n;
};

/** The verdict and the output frame, in hex. */
interface Sent { verdict: string; out: string }

function send(side: 'client' | 'real', frame: Buffer): Sent {
  const e = env!;
  const r = side === 'client' ? pub : priv;
  const verdict = verdictName(inNetns(e.rtr, () => r.run(frame, undefined, { ingressIfindex: side === 'client' ? e.pub0 : e.priv0 })));
  return { verdict, out: r.out.toString('hex', 0, r.outLength) };
}

const fromClient = (dst: string, sport: number, flags: string): Buffer => buildFrame({
  eth: { src: env!.macs.client, dst },
  l3: { kind: 'ipv4', src: CLIENT, dst: VIP, ttl: 64, l4: { kind: 'tcp', sport, dport: 80, seq: flags.includes('SYN') ? 1 : 2, ack: flags.includes('ACK') ? 10 : 0, flags } },
});

/** The real's reply of the client port's flow (its reply entry's key). */
function fromReal(dst: string, sport: number): Buffer {
  const rp = [...env!.dp.maps.flows.entries()].find(([k, v]) => v.dir === abi.XLVS_DIR_REPLY && k.dport === sport);
  assert.ok(rp, `the reply entry of client port ${sport}`);
  const real = [...rp[0].src.subarray(0, 4)].join('.');
  return buildFrame({
    eth: { src: env!.macs.rs1, dst },
    l3: { kind: 'ipv4', src: real, dst: CLIENT, ttl: 64, l4: { kind: 'tcp', sport: rp[0].sport, dport: sport, seq: 100, ack: 2, flags: 'SYN,ACK' } },
  });
}

function arpRequest(): Buffer {
  const b = Buffer.alloc(28);
  b.writeUInt16BE(1, 0);
  b.writeUInt16BE(0x0800, 2);
  b[4] = 6;
  b[5] = 4;
  b.writeUInt16BE(1, 6);
  macBytes(env!.macs.client)!.forEach((x, i) => { b[8 + i] = x; });
  CLIENT.split('.').forEach((o, i) => { b[14 + i] = Number(o); });
  VIP.split('.').forEach((o, i) => { b[24 + i] = Number(o); });
  const spec: FrameSpec = { eth: { src: env!.macs.client, dst: 'ff:ff:ff:ff:ff:ff' }, l3: { kind: 'raw', proto: ETH_P_ARP, data: b } };
  return buildFrame(spec);
}

const hasFlow = (sport: number): boolean => [...env!.dp.maps.flows.entries()].some(([k, v]) => v.dir === abi.XLVS_DIR_FORWARD && k.sport === sport);

/** Sends frame; asserts verdict and the one counter it must bump (and nothing else). */
function expect(side: 'client' | 'real', frame: Buffer, verdict: string, counter: ['events' | 'drops', number], label: string): Sent {
  const [m, i] = counter;
  const c0 = sum(m, i);
  const all0 = counted();
  const s = send(side, frame);
  assert.equal(s.verdict, verdict, label);
  assert.equal(sum(m, i) - c0, 1n, `${label}: counted in ${m}[${i}]`);
  assert.equal(counted() - all0, 1n, `${label}: counted exactly once`);
  return s;
}

test('if_macs written from netlink as Dataplane.load does', () => {
  const e = env!;
  const read = inNetns(e.rtr, () => readIfMacs({ public: 'pub0', private: 'priv0' }));
  assert.deepEqual(read, { public: { ifindex: e.pub0, mac: e.macs.pub0 }, private: { ifindex: e.priv0, mac: e.macs.priv0 } });
  writeIfMacs(e.dp.maps.ifMacs, { ...read, private: { ifindex: 7777, mac: undefined } }, log);
  const slot = (i: number): [number, string] => { const v = e.dp.maps.ifMacs.lookup(i)!; return [v.ifindex, v.mac.toString('hex')]; };
  assert.deepEqual(slot(abi.XLVS_IF_PUBLIC), [e.pub0, e.macs.pub0.replaceAll(':', '')]);
  assert.deepEqual(slot(abi.XLVS_IF_PRIVATE), [0, '000000000000'], 'no Ethernet address: not checked');
  assert.equal(macBytes('00:11:22:33:44'), undefined);
  assert.equal(macBytes('zz:11:22:33:44:55'), undefined);
});

test('with if_macs: unicast to another MAC passes untouched and makes no flow; to ours, balanced', () => {
  const e = env!;
  writeIfMacs(e.dp.maps.ifMacs, { public: { ifindex: e.pub0, mac: e.macs.pub0 }, private: { ifindex: e.priv0, mac: e.macs.priv0 } }, log);
  e.clearFlows();
  const OTHERHOST: ['events', number] = ['events', abi.XLVS_EV_OTHERHOST];

  // A SYN to the VIP flooded to us: the kernel's (which drops it), no flow, no scheduling.
  const syn = fromClient(OTHER, 43001, 'SYN');
  const s = expect('client', syn, 'XDP_PASS', OTHERHOST, 'SYN for another MAC');
  assert.equal(s.out, syn.toString('hex'), 'handed over untouched');
  assert.equal(hasFlow(43001), false, 'no flow');
  assert.equal(e.dp.maps.flows.entries().next().done, true, 'the flow table is still empty');

  // The same SYN to our MAC: balanced.
  expect('client', fromClient(e.macs.pub0, 43001, 'SYN'), 'XDP_REDIRECT', ['events', abi.XLVS_EV_FWD], 'SYN for our MAC');
  assert.ok(hasFlow(43001), 'a flow');

  // The flow's packets for another MAC are not forwarded either, in both directions.
  const ack = fromClient(OTHER, 43001, 'ACK');
  assert.deepEqual(expect('client', ack, 'XDP_PASS', OTHERHOST, 'established ACK for another MAC').out, ack.toString('hex'));
  const reply = fromReal(OTHER, 43001);
  assert.deepEqual(expect('real', reply, 'XDP_PASS', OTHERHOST, 'reply for another MAC').out, reply.toString('hex'));
  expect('real', fromReal(e.macs.priv0, 43001), 'XDP_REDIRECT', ['events', abi.XLVS_EV_FWD], 'reply for our MAC');

  // Broadcast and multicast are not checked: they go on as before.
  expect('client', arpRequest(), 'XDP_PASS', ['events', abi.XLVS_EV_PASS], 'broadcast ARP request');
  expect('client', fromClient('01:00:5e:00:00:01', 43002, 'SYN'), 'XDP_REDIRECT', ['events', abi.XLVS_EV_FWD], 'a multicast destination is not checked');
});

test('without an if_macs entry nothing is checked', () => {
  const e = env!;
  clearIfMacs(e.dp.maps.ifMacs);
  e.clearFlows();
  expect('client', fromClient(OTHER, 43101, 'SYN'), 'XDP_REDIRECT', ['events', abi.XLVS_EV_FWD], 'SYN for another MAC, unchecked');
  assert.ok(hasFlow(43101), 'a flow, as before');
});
