// SPDX-License-Identifier: Apache-2.0
// TCP flow states through the real xlvs_public / xlvs_private programs (BPF_PROG_TEST_RUN in a
// lab router namespace, the per-packet bench's environment): a bare SYN makes a half-open flow
// (TCP_SYN, counted inactive, IPVS's 60 s SYN_RECV timeout), the real's SYN-ACK and a
// retransmitted SYN keep it, the client's ACK of the SYN-ACK makes it established (active, tcp
// timeout), FIN/RST in their sender's window close it (flow-integrity.test.ts has the windows); the reaper deletes an expired half-open flow and counts it down.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { XdpTestRunner, inNetns, verdictName } from '../../src/kernel/test-run.js';
import { buildFrame, parseFrame, type ParsedIpv4, type ParsedTcp } from '../../testing/frames.js';
import { monotonicNs } from '../../src/dataplane/reaper.js';
import { PerPacketEnv, VIP, CLIENT } from '../../bench/per-packet/per-packet-env.js';
import { XLVS_DIR_FORWARD, XLVS_DIR_REPLY, XLVS_FLOW_TCP_CLOSE, XLVS_FLOW_TCP_EST, XLVS_FLOW_TCP_FIN, XLVS_FLOW_TCP_SYN, type XlvsFlow } from '../../src/gen/abi.js';

const log = pino({ level: 'warn' }, pino.destination(2));
const SEC = 1_000_000_000n;
const SYN_TIMEOUT_S = 60n; // flow.h XLVS_FLOW_SYN_TIMEOUT_NS, IPVS's tcp_synrecv
const TCP_TIMEOUT_S = 900n; // DEFAULT_TIMEOUTS.tcp, what the env's desired state sets

let env: PerPacketEnv;
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

interface Flow {
  fw: XlvsFlow;
  rp: XlvsFlow;
}

/** Runs one frame from the client (pub0) or the real (priv0) inside the router namespace. */
function send(side: 'client' | 'real', frame: Buffer): string {
  const r = side === 'client' ? pub : priv;
  const ifindex = side === 'client' ? env.pub0 : env.priv0;
  return verdictName(inNetns(env.rtr, () => r.run(frame, undefined, { ingressIfindex: ifindex })));
}

/** A segment of the client's: its SYN at ISN 1, later segments at 2 acknowledging the real's
 * SYN-ACK (ISN 9, see open()), as a real stack sends them (the windows of bpf/tcpwin.h). */
const fromClient = (sport: number, flags: string): Buffer => buildFrame({
  eth: { src: env.macs.client, dst: env.macs.pub0 },
  l3: { kind: 'ipv4', src: CLIENT, dst: VIP, ttl: 64, l4: { kind: 'tcp', sport, dport: 80, seq: flags.includes('SYN') ? 1 : 2, ack: flags.includes('ACK') ? 10 : 0, flags } },
});

/** Opens a flow with a SYN; returns the frame the real would answer with (SYN-ACK by default). */
function open(sport: number): { real: string; reply: (flags: string) => Buffer } {
  assert.equal(send('client', fromClient(sport, 'SYN')), 'XDP_REDIRECT', 'SYN forwarded');
  const ip = parseFrame(pub.out.subarray(0, pub.outLength)).l3 as ParsedIpv4;
  const tcp = ip.l4 as ParsedTcp;
  return {
    real: ip.dst,
    reply: (flags) => buildFrame({
      eth: { src: env.macs.rs1, dst: env.macs.priv0 },
      l3: { kind: 'ipv4', src: ip.dst, dst: CLIENT, ttl: 64, l4: { kind: 'tcp', sport: tcp.dport!, dport: sport, seq: 9, ack: 2, flags } },
    }),
  };
}

/** The two entries of the connection from CLIENT:sport (forward and reply), from the kernel's map. */
function flowOf(sport: number): Flow | undefined {
  const all = [...env.dp.maps.flows.entries()];
  const fw = all.find(([k, v]) => v.dir === XLVS_DIR_FORWARD && k.sport === sport);
  if (!fw) return undefined;
  const rp = all.find(([k, v]) => v.dir === XLVS_DIR_REPLY && k.dport === sport);
  assert.ok(rp, `reply entry of client port ${sport}`);
  return { fw: fw[1], rp: rp[1] };
}

function stateOf(sport: number): number {
  const f = flowOf(sport);
  assert.ok(f, `flow of client port ${sport}`);
  assert.equal(f.rp.state, f.fw.state, 'the reply entry follows the forward entry\'s state');
  return f.fw.state;
}

/** [active, inactive] of a real slot. */
function counts(realId: number): [number, number] {
  const c = env.dp.maps.realConns.lookup(realId);
  assert.ok(c, `real_conns[${realId}]`);
  return [c.active, c.inactive];
}

/** Seconds left before the forward entry's deadline. */
function secondsLeft(sport: number): number {
  const f = flowOf(sport)!;
  return Number(f.fw.expires_ns - monotonicNs()) / 1e9;
}

test('SYN: half-open, inactive, 60 s; SYN-ACK and a retransmitted SYN keep it; the client\'s ACK makes it active for the tcp timeout; FIN makes it inactive', () => {
  env.clearFlows();
  const o = open(40001);
  const real = flowOf(40001)!.fw.real_id;
  assert.equal(stateOf(40001), XLVS_FLOW_TCP_SYN);
  assert.deepEqual(counts(real), [0, 1], 'a half-open flow counts inactive, as IPVS SYN_RECV');
  const left = secondsLeft(40001);
  assert.ok(left > Number(SYN_TIMEOUT_S) - 2 && left <= Number(SYN_TIMEOUT_S), `half-open deadline in ${left} s`);

  assert.equal(send('real', o.reply('SYN,ACK')), 'XDP_REDIRECT', 'the real\'s SYN-ACK goes back to the client');
  assert.equal(stateOf(40001), XLVS_FLOW_TCP_SYN, 'SYN-ACK does not establish');
  assert.equal(send('client', fromClient(40001, 'SYN')), 'XDP_REDIRECT', 'retransmitted SYN');
  assert.equal(flowOf(40001)!.fw.real_id, real, 'the retransmitted SYN stays on its flow');
  assert.equal([...env.dp.maps.flows.entries()].length, 2, 'still one connection (two entries)');
  assert.deepEqual(counts(real), [0, 1], 'the retransmission is not counted again');

  assert.equal(send('client', fromClient(40001, 'ACK')), 'XDP_REDIRECT');
  assert.equal(stateOf(40001), XLVS_FLOW_TCP_EST);
  assert.deepEqual(counts(real), [1, 0], 'the client\'s ACK makes it active');
  const est = secondsLeft(40001);
  assert.ok(est > Number(TCP_TIMEOUT_S) - 2 && est <= Number(TCP_TIMEOUT_S), `established deadline in ${est} s`);

  assert.equal(send('client', fromClient(40001, 'FIN,ACK')), 'XDP_REDIRECT');
  assert.equal(stateOf(40001), XLVS_FLOW_TCP_FIN);
  assert.deepEqual(counts(real), [0, 1]);
  env.clearFlows();
  // clearFlows deletes from userspace and does not count down: put the count back for the next tests.
  env.dp.maps.realConns.update(real, { ...env.dp.maps.realConns.lookup(real)!, inactive: 0 });
});

test('RST on a half-open flow closes it without counting it active; a closed flow\'s 4-tuple reopens on a new SYN', () => {
  env.clearFlows();
  open(40002);
  const real = flowOf(40002)!.fw.real_id;
  assert.equal(send('client', fromClient(40002, 'RST')), 'XDP_REDIRECT');
  assert.equal(stateOf(40002), XLVS_FLOW_TCP_CLOSE);
  assert.deepEqual(counts(real), [0, 1]);
  open(40002);
  assert.equal(stateOf(40002), XLVS_FLOW_TCP_SYN, 'a SYN on a closed flow starts a new half-open one');
  const now = flowOf(40002)!.fw.real_id;
  assert.deepEqual(counts(real), now === real ? [0, 1] : [0, 0], 'the closed flow was counted down when it was replaced');
  assert.deepEqual(counts(now), [0, 1]);
  env.clearFlows();
  env.dp.maps.realConns.update(now, { ...env.dp.maps.realConns.lookup(now)!, inactive: 0 });
});

test('the reaper deletes expired half-open flows and counts them down', () => {
  env.clearFlows();
  const cfg = env.dp.maps.cfg.lookup(0)!;
  // The half-open timeout is min(60 s, tcp): a 50 ms tcp timeout expires a SYN flood at once.
  env.dp.maps.cfg.update(0, { ...cfg, timeout_tcp_ns: 50_000_000n });
  try {
    for (let p = 41000; p < 41008; p++) open(p);
    const reals = new Set([...env.dp.maps.flows.entries()].map(([, v]) => v.real_id));
    const inactive = (): number => [...reals].reduce((a, r) => a + counts(r)[1], 0);
    const active = (): number => [...reals].reduce((a, r) => a + counts(r)[0], 0);
    assert.equal(inactive(), 8);
    assert.equal(active(), 0, 'eight bare SYNs make no active connection');
    const left = secondsLeft(41000);
    assert.ok(left <= 0.05, `half-open deadline follows a shorter tcp timeout: ${left} s`);
    const t0 = Date.now();
    while (Date.now() - t0 < 60) { /* let the 50 ms deadline pass; bounded busy wait */ }
    const reap = new XdpTestRunner(env.dp.progFd('xlvs_reap'));
    assert.equal(reap.run(Buffer.alloc(64)), 16, 'xlvs_reap deleted both entries of the eight flows');
    assert.equal([...env.dp.maps.flows.entries()].length, 0);
    assert.equal(inactive(), 0, 'and counted them down');
  } finally {
    env.dp.maps.cfg.update(0, cfg);
  }
});

test('the reaper\'s recount takes out of the counts the flows whose entries vanished uncounted (LRU eviction)', () => {
  env.clearFlows();
  const opened = new Map<number, ReturnType<typeof open>>();
  for (let p = 42000; p < 42012; p++) opened.set(p, open(p));
  // The real's SYN-ACK, then the client's ACK of it: established (bpf/tcpwin.h).
  const establish = (p: number): void => {
    assert.equal(send('real', opened.get(p)!.reply('SYN,ACK')), 'XDP_REDIRECT');
    assert.equal(send('client', fromClient(p, 'ACK')), 'XDP_REDIRECT');
  };
  establish(42000);
  establish(42001);
  const entries = [...env.dp.maps.flows.entries()];
  const reals = new Set(entries.map(([, v]) => v.real_id));
  const total = (): [number, number] => [...reals].reduce<[number, number]>((a, r) => [a[0] + counts(r)[0], a[1] + counts(r)[1]], [0, 0]);
  assert.deepEqual(total(), [2, 10]);
  // What the LRU does when the table is full: entries vanish and nobody counts them down. Here
  // from userspace: one established and four half-open flows lose their forward entry.
  const gone = entries.filter(([k, v]) => v.dir === XLVS_DIR_FORWARD && [42000, 42002, 42003, 42004, 42005].includes(k.sport));
  assert.equal(gone.length, 5);
  for (const [k] of gone) env.dp.maps.flows.delete(k);
  assert.deepEqual(total(), [2, 10], 'nothing counted the vanished flows down');
  const reap = new XdpTestRunner(env.dp.progFd('xlvs_reap'));
  assert.equal(reap.run(Buffer.alloc(64)), 0, 'nothing was past its deadline');
  assert.deepEqual(total(), [1, 6], 'the recount matches the flows that are left');
  assert.equal(reap.run(Buffer.alloc(64)), 0);
  assert.deepEqual(total(), [1, 6], 'and a second pass changes nothing');
  // The flows left keep counting as before: the established one closes, a half-open one is acked.
  assert.equal(send('client', fromClient(42001, 'FIN,ACK')), 'XDP_REDIRECT');
  establish(42006);
  assert.deepEqual(total(), [1, 6]);
  env.clearFlows();
  for (const r of reals) env.dp.maps.realConns.update(r, { active: 0, inactive: 0, overloaded: 0, seq: 0 });
});
