// SPDX-License-Identifier: Apache-2.0
// Smoke run of the ha-sync benchmark (bench/ha-sync/) at a small size: 20,000 new flows on r1
// with r2 in sync, then r2 rejoining with an empty table. Every figure is there and sane: the
// data plane made the flows, r2 got them all (streamed, or by the bulk that follows a ring overflow), the bulk brought all
// of them, CPU was measured for both daemons, and the report renders.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { haSync, SMOKE_SIZES } from '../../bench/ha-sync/ha-sync.js';
import type { HaSyncResult } from '../../bench/ha-sync/ha-sync-measure.js';
import { renderMarkdown, machineInfo } from '../../bench/common/report.js';

const log = pino({ level: 'warn' }, pino.destination(2));

test('ha-sync bench smoke: streamed and bulk sync measured against the data plane\'s new-flow rate', async () => {
  const s = await haSync.run({ log, smoke: true });
  const r = s.data as HaSyncResult;
  const st = r.stream;
  console.log(`# data plane ${st.dataPlanePerSecond}/s (${st.onR1} flows in ${st.sendSeconds} s); streamed ${st.syncPerSecond}/s, tail lag ${st.tailLagMs} ms, r2 lag ${st.reportedLagMs} ms (max ${st.maxReportedLagMs}), lost ${st.syncLost}, all on r2 after ${st.completeAfterMs} ms; CPU r1 ${JSON.stringify(st.cpu.r1)} r2 ${JSON.stringify(st.cpu.r2)}`);
  console.log(`# bulk ${r.bulk.flows} flows in ${r.bulk.seconds} s: ${r.bulk.perSecond}/s; CPU r1 ${JSON.stringify(r.bulk.cpu.r1)} r2 ${JSON.stringify(r.bulk.cpu.r2)}`);
  assert.equal(s.id, 'ha-sync');
  assert.deepEqual(r.sizes, SMOKE_SIZES);
  assert.ok(st.onR1 >= SMOKE_SIZES.flows * 0.99, `r1 made ${st.onR1} of ${SMOKE_SIZES.flows} flows`);
  assert.ok(st.dataPlanePerSecond > 0 && st.syncPerSecond > 0);
  // Every flow r1 made reached r2: streamed, or (what the ring could not queue) by the resync bulk.
  assert.ok(st.onR2AtEnd >= st.onR1, `r2 ${st.onR2AtEnd} of r1's ${st.onR1} (ring lost ${st.syncLost})`);
  assert.ok(r.bulk.flows >= st.onR1 && r.bulk.perSecond > 0, JSON.stringify(r.bulk));
  assert.ok(st.cpu.r1.seconds > 0 && st.cpu.r2.seconds > 0, 'both daemons worked');
  const md = renderMarkdown({ date: 'd', machine: machineInfo(), command: 'smoke', sections: [s] });
  assert.match(md, /\| what \| flows \| seconds \| flows\/s \| vs data plane \(this run\) \|/);
  assert.match(md, /\| streamed sync[^|]*\| \d+ \|/);
});
