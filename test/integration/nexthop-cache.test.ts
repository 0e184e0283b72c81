// SPDX-License-Identifier: Apache-2.0
// The next hop cached in a flow entry (bpf/fwd.h fwd_lookup_flow): after its first lookup, a
// flow's packets skip bpf_fib_lookup for XLVS_NH_TTL_NS (1 s) as long as they are no longer than
// a length the FIB passed. What it promises, checked with real frames through xlvs_public in a
// lab router: a neighbour change reaches an established flow within a second, at once for a
// longer packet, and a packet over the route's MTU still gets "fragmentation needed".

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import pino from 'pino';
import { PerPacketEnv, VIP, CLIENT } from '../../bench/per-packet/per-packet-env.js';
import { XdpTestRunner, inNetns, verdictName } from '../../src/kernel/test-run.js';
import { buildFrame, parseFrame } from '../../testing/frames.js';
import { addressFromBytes } from '../../src/model/ip.js';
import * as abi from '../../src/gen/abi.js';

const log = pino({ level: 'warn' }, pino.destination(2));
const SPORT = 41000;
let env: PerPacketEnv;
let pub: XdpTestRunner;

before(async () => {
  env = await PerPacketEnv.create(log);
  pub = new XdpTestRunner(env.dp.progFd('xlvs_public'));
});

after(async () => {
  await env?.close(log);
});

const frame = (flags: string, payload = 0, df = true): Buffer => buildFrame({
  eth: { src: env.macs.client, dst: env.macs.pub0 },
  l3: { kind: 'ipv4', src: CLIENT, dst: VIP, id: 9, df, ttl: 64, l4: { kind: 'tcp', sport: SPORT, dport: 80, seq: 1, ack: flags.includes('ACK') ? 1 : 0, flags, payload: Buffer.alloc(payload) } },
});

/** Runs one frame in the router namespace; the verdict and, for a redirect, the new dst MAC. */
function send(f: Buffer): { verdict: string; dstMac: string } {
  const v = inNetns(env.rtr, () => pub.run(f, undefined, { ingressIfindex: env.pub0 }));
  const out = parseFrame(pub.out.subarray(0, pub.outLength));
  return { verdict: verdictName(v), dstMac: out.eth.dst };
}

function forwardEntry(): abi.XlvsFlow {
  for (const [k, v] of env.dp.maps.flows.entries()) if (k.sport === SPORT && v.dir === abi.XLVS_DIR_FORWARD) return v;
  throw new Error(`no forward entry for source port ${SPORT}`);
}

const mac = (b: Buffer): string => [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');

const neigh = (addr: string, mac: string): void =>
  void execFileSync('ip', ['-n', env.lab.ns.router, 'neigh', 'replace', addr, 'lladdr', mac, 'dev', 'priv0', 'nud', 'permanent']);

test('a flow caches its next hop; a neighbour change reaches it within 1 s, at once for a longer packet', async () => {
  assert.equal(send(frame('SYN')).verdict, 'XDP_REDIRECT');
  const real = addressFromBytes(forwardEntry().nat_dst, 4);
  const first = send(frame('ACK'));
  assert.deepEqual(first, { verdict: 'XDP_REDIRECT', dstMac: env.macs.rs1 });
  let e = forwardEntry();
  assert.equal(e.nh_ifindex, env.priv0);
  assert.equal(e.nh_len, 40, 'the IP length the FIB passed');
  assert.equal(mac(e.nh_dmac), env.macs.rs1);

  const B = '02:00:00:00:0b:0b', C = '02:00:00:00:0c:0c';
  neigh(real, B);
  assert.equal(send(frame('ACK')).dstMac, env.macs.rs1, 'within the second: the cached next hop');
  assert.equal(send(frame('ACK', 100)).dstMac, B, 'longer than any length the FIB passed: asked again');
  assert.equal(send(frame('ACK')).dstMac, B, 'and the new answer is cached');
  e = forwardEntry();
  assert.equal(e.nh_len, 140, 'the longest length passed');

  neigh(real, C);
  assert.equal(send(frame('ACK')).dstMac, B);
  await new Promise((r) => setTimeout(r, 1100));
  assert.equal(send(frame('ACK')).dstMac, C, 'after the second: asked again');
  neigh(real, env.macs.rs1);
});

test('a packet over the route MTU is answered with fragmentation needed although the flow has a cached next hop', () => {
  execFileSync('ip', ['-n', env.lab.ns.router, 'link', 'set', 'priv0', 'mtu', '1400']);
  try {
    assert.equal(send(frame('ACK', 1000)).verdict, 'XDP_REDIRECT');
    const big = inNetns(env.rtr, () => pub.run(frame('ACK', 1400), undefined, { ingressIfindex: env.pub0 }));
    assert.equal(verdictName(big), 'XDP_TX', 'an ICMP error back to the client');
    const icmp = parseFrame(pub.out.subarray(0, pub.outLength));
    assert.equal(icmp.eth.dst, env.macs.client);
  } finally {
    execFileSync('ip', ['-n', env.lab.ns.router, 'link', 'set', 'priv0', 'mtu', '1500']);
  }
});
