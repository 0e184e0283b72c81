// SPDX-License-Identifier: Apache-2.0
// Smoke run of the forwarding benchmark (bench/forwarding/forwarding.ts) with the smallest sizes, so that
// `make bench` does not rot: the same lab, the packet-loop generator, every peer, the sink's
// counts checked against the generator's and per destination, the run-time statistics pass, the
// perf pass, the report rendered (naming the generator and what it offered).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import pino from 'pino';
import { forwarding, runForwarding, type ForwardingResult } from '../../bench/forwarding/forwarding.js';
import { renderMarkdown, machineInfo } from '../../bench/common/report.js';
import { InvalidArgumentError } from '../../src/errors.js';

const log = pino({ level: 'warn' }, pino.destination(2));
const PEERS = ['baseline', 'xlvs', 'xlvs-16', 'nftables', 'kernel', 'xdp-fwd'];
const REALS = ['10.77.0.11', '10.77.0.12', '10.77.0.13', '10.77.0.14'].map((a) => `${a}:5353/17`);

const ourPins = (): string[] => readdirSync('/sys/fs/bpf').filter((n) => ['xlvs-bench-sink-', 'xlvs-bench-gen-', 'xlvs-test-'].some((p) => n.startsWith(`${p}${process.pid}-`)));

test('forwarding bench smoke: every peer delivers, counts agree, NAT spreads over the reals, the report shows it', async () => {
  const s = await forwarding.run({ log, smoke: true });
  const r = s.data as ForwardingResult;
  assert.equal(s.id, 'forwarding');
  assert.deepEqual(r.peers.map((p) => p.peer), PEERS);
  assert.equal(r.turns.length, r.config.rounds * PEERS.length);
  for (const t of r.turns) {
    const what = `${t.peer} round ${t.round}`;
    assert.ok(t.delivered > 0 && t.delivered <= t.sent, `${what}: ${t.delivered} delivered of ${t.sent}`);
    assert.equal(t.lost, t.sent - t.delivered, what);
    // refused is a difference of two readings of a counter: negative would mean a reset between them.
    assert.ok(Number.isInteger(t.refused) && t.refused >= 0 && t.refused <= t.lost, `${what}: ${t.refused} refused of ${t.lost} lost`);
    // /proc/stat counts in 10 ms ticks: a short smoke turn of a fast forwarder may see few (0).
    assert.ok(Number.isFinite(t.cpuNsPerPacket) && t.cpuNsPerPacket >= 0 && Number.isFinite(t.pathNsPerPacket) && t.pathNsPerPacket >= 0, `${what}: cpu ${t.cpuNsPerPacket} ns/packet, path ${t.pathNsPerPacket}`);
    assert.equal(t.loopCpus.length, 1, `${what}: one seed, one CPU (${t.loopCpus})`);
    // The loop's deadline is the turn's seconds, by the kernel clock: it never stops before (how
    // late it stops on a loaded machine is timing, for `make bench`).
    assert.ok(Number.isFinite(t.elapsedNs) && t.elapsedNs >= r.config.seconds * 1e9, `${what}: ran ${t.elapsedNs} ns`);
    assert.ok(Math.abs(t.pps - t.delivered / (t.elapsedNs / 1e9)) < 1e-6 * t.pps, what);
    const want = t.peer.startsWith('xlvs') || t.peer === 'nftables' ? REALS : t.peer === 'baseline' ? ['203.0.113.100:5353/17'] : [REALS[0]];
    assert.deepEqual(Object.keys(t.dsts).sort(), want, `${what}: destinations`);
  }
  for (const p of r.peers) {
    assert.ok(p.pps.median > 0 && p.pps.min <= p.pps.median && p.pps.median <= p.pps.max, p.peer);
    assert.ok(Number.isFinite(p.ratioToXlvs) && p.ratioToXlvs > 0, p.peer);
  }
  const xlvs = r.peers.find((p) => p.peer === 'xlvs')!;
  assert.equal(xlvs.ratioToXlvs, 1);
  // Each ratio is the peer's median rate over xlvs's (which peer is faster is for `make bench`).
  for (const p of r.peers) assert.ok(Math.abs(p.ratioToXlvs - p.pps.median / xlvs.pps.median) < 1e-9, `${p.peer}: ratio ${p.ratioToXlvs}`);
  // The generator is named and its capacity is the baseline's rate.
  const base = r.peers.find((p) => p.peer === 'baseline')!;
  assert.deepEqual([r.generator.name, r.generator.fan, r.generator.seeds], ['XDP packet loop, FAN 64, seeds 1', 64, 1]);
  assert.deepEqual(r.generator.capacityPps, base.pps);
  for (const p of r.peers.filter((q) => q.peer !== 'baseline')) {
    assert.ok(p.routerPps === undefined || Math.abs(p.routerPps - 1e9 / p.routerNsPerPacket) < 1e-6 * p.routerPps, p.peer);
  }
  // The run-time pass saw every program run: the router's (not for the baseline), the sink, the generator's two.
  for (const peer of PEERS) {
    const roles = r.progs.filter((q) => q.peer === peer);
    assert.deepEqual(roles.map((q) => q.role), [...(peer === 'baseline' ? [] : ['router']), 'sink', 'generator', 'loop'], peer);
    for (const q of roles) assert.ok(q.run.runs > 0 && q.run.nsPerRun > 0 && q.run.insns > 0, `${peer} ${q.role}: ${JSON.stringify(q.run)}`);
  }
  assert.equal(r.progs.find((q) => q.peer === 'xlvs' && q.role === 'router')!.run.name, 'xlvs_public');
  assert.equal(r.progs.find((q) => q.peer === 'xdp-fwd' && q.role === 'router')!.run.name, 'xlvs_bench_fwd');
  const md = renderMarkdown({ date: 'd', machine: machineInfo(), command: 'bench-forwarding-smoke', sections: [s] });
  for (const peer of PEERS) assert.match(md, new RegExp(`^\\| ${peer} \\| \\d+\\.\\d{3} \\|`, 'm'));
  assert.match(md, /Command: `node dist\/bench\/run.js --only forwarding`/);
  assert.match(md, /^\| XDP packet loop, FAN 64, seeds 1 \| \d+\.\d{3} \|/m);
  assert.doesNotMatch(md, /live.frames/i);
  // perf profiles of xlvs, xlvs-16 and xdp-fwd, from the CPU the loop ran on.
  assert.deepEqual(r.profiles.map((p) => p.peer), ['xlvs', 'xlvs-16', 'xdp-fwd']);
  for (const p of r.profiles) {
    assert.ok('top' in p, `${p.peer}: ${'error' in p ? p.error : ''}`);
    assert.ok(p.top.length > 0 && p.top.every((t) => t.pct > 0 && t.pct <= 100), p.peer);
  }
  assert.deepEqual(ourPins(), [], 'no pin left behind');
});

test('forwarding bench refuses bad options before building anything', async () => {
  const ok = { rounds: 1, seconds: 0.1, ports: 16, statsSeconds: 0.1, log };
  await assert.rejects(runForwarding({ ...ok, rounds: 0 }), (e: unknown) => e instanceof InvalidArgumentError && e.field === 'rounds');
  await assert.rejects(runForwarding({ ...ok, ports: 70000 }), (e: unknown) => e instanceof InvalidArgumentError && e.field === 'ports');
  await assert.rejects(runForwarding({ ...ok, seconds: 0 }), (e: unknown) => e instanceof InvalidArgumentError && e.field === 'seconds');
});
