// SPDX-License-Identifier: Apache-2.0
// Smoke run of the per-packet benchmark (bench/per-packet/per-packet.ts) with tiny repeats, so that
// `make bench` does not rot: the same code, the same lab, every case measured and reported.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { perPacket, runPerPacket } from '../../bench/per-packet/per-packet.js';
import { renderMarkdown, machineInfo } from '../../bench/common/report.js';
import { InvalidArgumentError } from '../../src/errors.js';

const log = pino({ level: 'warn' }, pino.destination(2));
const CASES = ['floor', 'floor-restored', 'xdp-fwd', 'non-vip', 'established', 'return', 'new-rr', 'new-wlc', 'new-mh'];

test('per-packet bench smoke: every case has a positive ns figure and a ratio to the floor; the report shows them', async () => {
  const s = await perPacket.run({ log, smoke: true });
  const r = s.data as Awaited<ReturnType<typeof runPerPacket>>;
  assert.equal(s.id, 'per-packet');
  assert.deepEqual(r.cases.map((c) => c.name), CASES);
  for (const c of r.cases) {
    assert.equal(c.runsNs.length, 1, c.name);
    assert.ok(Number.isFinite(c.medianNs) && c.medianNs > 0, `${c.name}: ${c.medianNs} ns`);
    assert.ok(c.minNs <= c.medianNs && c.medianNs <= c.maxNs, `${c.name}: spread ${c.minNs}..${c.maxNs}`);
    assert.ok(Number.isFinite(c.ratio) && c.ratio > 0, `${c.name}: ratio ${c.ratio}`);
  }
  assert.equal(r.cases[0]!.ratio, 1, 'the floor is its own unit');
  // Each ratio is the case's median over the floor's (which is faster is for `make bench` to say).
  for (const c of r.cases) assert.ok(Math.abs(c.ratio - c.medianNs / r.cases[0]!.medianNs) < 1e-9, `${c.name}: ratio ${c.ratio}`);
  // perf found the program and split its time; the parts add up to all of it.
  const b = r.breakdown;
  assert.ok(b.programShare > 0 && b.programShare <= 100, `xlvs_public share ${b.programShare}`);
  const total = b.parts.reduce((a, p) => a + p.share, 0);
  assert.ok(Math.abs(total - 100) < 0.5 || total < 100, `parts sum to ${total}%`);
  // (Which parts get samples is statistics at smoke size; the split's arithmetic is unit-tested.)
  assert.deepEqual(b.parts.map((p) => p.part.split(':')[0]), ['route + neighbour', 'hash map lookups (flows, vips, ...)', 'clock', 'xlvs_public\'s own instructions (parse, NAT, checksums, counters, inlined array lookups)', 'other helpers (redirect, ...)']);
  const machine = machineInfo();
  assert.match(machine.kernel, /^\d+\.\d+/);
  assert.ok(machine.nproc >= 1);
  const md = renderMarkdown({ date: 'd', machine, command: 'bench-smoke', sections: [s] });
  for (const name of CASES) assert.match(md, new RegExp(`^\\| ${name} \\|`, 'm'));
  assert.match(md, /Made by `bench-smoke`/);
  assert.match(md, /Command: `node dist\/bench\/run.js --only per-packet`/);
});

test('per-packet bench refuses bad options before building anything', async () => {
  await assert.rejects(runPerPacket({ repeat: 0, newFlows: 1, runs: 1, log }), (e: unknown) => e instanceof InvalidArgumentError && e.field === 'repeat');
  await assert.rejects(runPerPacket({ repeat: 1, newFlows: 70000, runs: 1, log }), (e: unknown) => e instanceof InvalidArgumentError && e.field === 'newFlows');
});
