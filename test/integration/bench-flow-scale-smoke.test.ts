// SPDX-License-Identifier: Apache-2.0
// Smoke run of the flow-scale benchmark (bench/flow-scale/flow-scale.ts) with its smallest sizes, so that
// `make bench` does not rot: the same lab, programs, generator (the XDP packet loop), sink and
// nftables peer, every case measured, and the figures consistent with each other (never
// compared with fixed results).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { flowScale, runFlowScale, SMOKE, type FlowScaleResult } from '../../bench/flow-scale/flow-scale.js';
import { renderMarkdown, machineInfo } from '../../bench/common/report.js';
import { InvalidArgumentError } from '../../src/errors.js';

const log = pino({ level: 'warn' }, pino.destination(2));

test('flow-scale bench smoke: flows held, rate against nftables, flood; figures agree with the table and the sink', async () => {
  const s = await flowScale.run({ log, smoke: true });
  const r = s.data as FlowScaleResult;
  assert.equal(s.id, 'flow-scale');

  assert.equal(r.map.type, 'lru_hash');
  assert.equal(r.map.maxEntries, SMOKE.flowEntries, 'the table has the size asked for (flow_entries)');
  assert.ok(r.map.maxEntries > 0 && r.map.bytesMemlock >= r.map.maxEntries * (r.map.keyBytes + r.map.valueBytes), `memlock ${r.map.bytesMemlock} for ${r.map.maxEntries} entries`);

  const [h] = r.held;
  assert.ok(h);
  const n = SMOKE.held[0]!;
  assert.equal(h.redirected, n, `every SYN forwarded: ${JSON.stringify(h.verdicts)}`);
  assert.deepEqual([h.census.entries, h.census.forward, h.census.reply, h.census.complete], [2 * n, n, n, n], 'two entries per NAT connection, all paired');
  assert.equal(h.census.halfOpen, n, 'bare SYNs are half-open');
  // Not yet expired, and no further off than the 60 s half-open timeout (how much of it the run
  // took is timing, not checked here).
  assert.ok(h.census.halfOpenSecondsLeft > 0 && h.census.halfOpenSecondsLeft <= 60, `half-open deadline ${h.census.halfOpenSecondsLeft} s`);
  for (const p of [h.first, h.last]) assert.deepEqual(p, { checked: SMOKE.probe, sameReal: SMOKE.probe, otherReal: 0, lost: 0 });
  assert.deepEqual(h.counts, { active: 0, inactive: n }, 'the counts say what the table holds');
  assert.deepEqual(h.countsAfterReap, { active: 2 * SMOKE.probe, inactive: n - 2 * SMOKE.probe }, 'the probes\' ACKs made their flows active');
  assert.ok(h.newFlowNsEmpty > 0 && h.newFlowNsFull > 0 && h.reapMs > 0);

  assert.deepEqual(r.rate.map((x) => x.peer), ['xlvs', 'nftables']);
  for (const x of r.rate) {
    assert.ok(x.delivered > 0 && x.delivered <= x.sent, `${x.peer}: ${x.delivered} of ${x.sent} delivered`);
    assert.ok(x.perSecond > 0 && Number.isFinite(x.perSecond), `${x.peer}: ${x.perSecond}/s`);
    // Random sources may repeat a 4-tuple now and then; a table never tracks more than it got.
    assert.ok(x.tracked <= x.delivered && x.tracked >= x.delivered * 0.99, `${x.peer}: ${x.tracked} tracked for ${x.delivered} delivered`);
  }
  const ct = r.rate[1]!.slabBytesPerEntry!;
  assert.ok(Number.isFinite(ct), `conntrack bytes per entry ${ct}`);

  const f = r.flood;
  const o = SMOKE.flood;
  assert.ok(f.floodForwarded > 0 && f.floodForwarded <= f.floodSent, `flood ${f.floodForwarded} of ${f.floodSent}`);
  assert.equal(f.slices, o.floodSyns / o.slice);
  assert.equal(f.busyForward.sent, o.busy * f.slices);
  assert.ok(f.busyForward.delivered > 0 && f.busyForward.delivered <= f.busyForward.sent, `busy forward ${JSON.stringify(f.busyForward)}`);
  assert.deepEqual(f.busyReply, { sent: o.busy * f.slices, delivered: o.busy * f.slices }, 'a small flood fits the table: no reply lost');
  assert.deepEqual([f.busyIntact, f.idleIntact], [o.busy, o.idle]);
  assert.equal(f.census.established, o.busy + o.idle);
  assert.ok(f.census.halfOpen > 0 && f.census.halfOpen <= f.floodForwarded, `half-open ${f.census.halfOpen}`);
  assert.deepEqual(f.counts, { active: f.census.established, inactive: f.census.halfOpen }, 'ActiveConn/InActConn = the table');
  assert.deepEqual(f.countsAfterReap, f.counts, 'nothing to correct when nothing was evicted');

  const md = renderMarkdown({ date: 'd', machine: machineInfo(), command: 'bench-smoke', sections: [s] });
  assert.match(md, /Command: `node dist\/bench\/run.js --only flow-scale`/);
  assert.match(md, /^\| xlvs \| [\d,]+ \|/m);
  assert.match(md, /^\| nftables \| [\d,]+ \|/m);
  assert.match(md, /^\| busy flows still working both ways afterwards \| \d+ of \d+ \|/m);
  // The live traffic's generator is named: the XDP packet loop, not live frames.
  assert.equal(r.generator, 'XDP packet loop, FAN 64, seeds 1');
  assert.match(md, /the generator is an XDP packet loop, FAN 64, seeds 1/);
  assert.doesNotMatch(md, /live.frames/i);
});

test('flow-scale bench refuses bad options before building anything', async () => {
  const bad = async (patch: object, field: string): Promise<void> => {
    await assert.rejects(runFlowScale({ ...SMOKE, ...patch, log }), (e: unknown) => e instanceof InvalidArgumentError && e.field === field);
  };
  await bad({ held: [] }, 'held');
  await bad({ flowEntries: 100 }, 'flowEntries');
  await bad({ held: [1] }, 'held');
  await bad({ probe: SMOKE.held[0]! }, 'probe');
  await bad({ flood: { ...SMOKE.flood, busy: 0 } }, 'flood.busy');
  await bad({ flood: { ...SMOKE.flood, floodSyns: 10, slice: 100 } }, 'flood.floodSyns');
});
