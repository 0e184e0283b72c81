// SPDX-License-Identifier: Apache-2.0
// The forwarding benchmark's figures from its turns (bench/forwarding/forwarding.ts summarise) and the
// report's readings of them (bench/forwarding/forwarding-report.ts): the router's share is the path minus
// the generator's (the baseline's), and the report names the generator and what it offered.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { summarise, type ForwardingResult, type Turn } from '../../bench/forwarding/forwarding.js';
import { forwardingSection, readings } from '../../bench/forwarding/forwarding-report.js';
import type { PeerId } from '../../bench/forwarding/forwarding-peers.js';

const PEERS: PeerId[] = ['baseline', 'xlvs', 'xlvs-16', 'nftables', 'kernel', 'xdp-fwd'];
/** Path ns per packet of each peer: the baseline's is the generator's and the sink's. */
const PATH: Record<PeerId, number> = { baseline: 150, xlvs: 250, 'xlvs-16': 240, nftables: 700, kernel: 550, 'xdp-fwd': 220 };

function turn(peer: PeerId, round: number, refused = 0): Turn {
  const path = PATH[peer] + round; // a little spread between rounds
  const elapsedNs = 1e9;
  const delivered = Math.round(elapsedNs / path);
  const dst = peer === 'baseline' ? '203.0.113.100:5353/17' : '10.77.0.11:5353/17';
  return {
    round, peer, sent: delivered + refused, delivered, elapsedNs, pps: delivered, lost: refused, refused, busyNs: [elapsedNs, 0.05e9],
    loopCpus: [0], loopCpuBusy: 1, cpuNsPerPacket: 1.05e9 / delivered, pathNsPerPacket: elapsedNs / delivered, dsts: { [dst]: delivered },
  };
}

const turns = [0, 1, 2].flatMap((r) => PEERS.map((p) => turn(p, r, p === 'kernel' && r === 1 ? 10 : 0)));

test('summarise: the router\'s share is its path minus the baseline\'s, its rate alone the inverse', () => {
  const peers = summarise(turns);
  assert.deepEqual(peers.map((p) => p.peer), PEERS);
  const by = (id: PeerId) => peers.find((p) => p.peer === id)!;
  const base = by('baseline').pathNsPerPacket.median;
  assert.ok(Math.abs(base - 151) < 0.5, `baseline path ${base}`);
  const x = by('xlvs');
  assert.ok(Math.abs(x.routerNsPerPacket - 100) < 0.5, `xlvs router ${x.routerNsPerPacket}`);
  assert.ok(Math.abs(x.routerPps! - 1e9 / x.routerNsPerPacket) < 1e-6, 'router pps = 1e9 / router ns');
  assert.equal(by('baseline').routerPps, undefined, 'the baseline has no router');
  assert.equal(x.ratioToXlvs, 1);
  assert.ok(Math.abs(by('xdp-fwd').pathRatioToXlvs - 251 / 221) < 1e-3);
  assert.ok(by('kernel').lossMedian === 0 && by('kernel').pps.min < by('kernel').pps.max);
});

function result(): ForwardingResult {
  const peers = summarise(turns);
  return {
    config: { rounds: 3, seconds: 1, ports: 4096, statsSeconds: 1 },
    generator: { name: 'XDP packet loop, FAN 64, seeds 1', fan: 64, seeds: 1, capacityPps: peers[0]!.pps },
    turns, peers, progs: [], profiles: [], setup: [],
  };
}

test('readings name the generator and its capacity, count the frames pub0 refused, read each router against xlvs', () => {
  const r = result();
  const lines = readings(r);
  assert.match(lines[0]!, /^- Generator: the XDP packet loop, FAN 64, seeds 1 offered 6\.623 Mpps into a count-and-drop sink/);
  assert.match(lines[0]!, /fastest router delivered 4\.525 Mpps \(xdp-fwd, 68% of that\), so every router's own cost shows/);
  assert.match(lines[1]!, /^- pub0's ring refused 10 frames over all turns/);
  assert.ok(lines.some((l) => /^- nftables: 1\.427 Mpps delivered, 64% less than xlvs \(3\.984 Mpps\); router share 550 ns\/packet vs xlvs's 100\.$/.test(l)), lines.join('\n'));
  const quiet = readings({ ...r, turns: r.turns.map((t) => ({ ...t, refused: 0 })) });
  assert.match(quiet[1]!, /No frame was refused/);
});

test('the section shows the generator alone first, then the routers with their own share and rate', () => {
  const s = forwardingSection(result(), 12);
  assert.equal(s.title, 'Forwarding rate (XDP packet-loop generator, namespace lab)');
  assert.deepEqual(s.tables[0]!.rows, [['XDP packet loop, FAN 64, seeds 1', '6.623', '6.579 – 6.667', '151']]);
  const main = s.tables[1]!;
  const row = (id: string) => main.rows.find((x) => x[0] === id)!;
  const col = (name: string) => main.columns.indexOf(name);
  assert.deepEqual([row('baseline')[col('router ns/packet')], row('baseline')[col('router Mpps')]], ['(generator)', '']);
  assert.deepEqual([row('xlvs')[col('router ns/packet')], row('xlvs')[col('router Mpps')]], ['100', '10.000']);
  assert.ok(s.setup[0]!.includes('an XDP packet loop, FAN 64, seeds 1') && s.setup[0]!.includes('63 copies to the client\'s eth0'));
  assert.ok(!JSON.stringify(s).match(/live.frames/i), 'no word of live frames left');
});
