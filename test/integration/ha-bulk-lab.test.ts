// SPDX-License-Identifier: Apache-2.0
// Issue 15, test 7: 200,000 flows on the master, then the backup joins. Only r1 runs at first
// (it takes the master role for silence); 200,000 SYNs from distinct sources through the VIP
// (testing/ha-flows.ts: one AF_PACKET sender in the client namespace) make 200,000 half-open
// flows in its table. Then r2's daemon starts: r1 sends it the whole table in bulk. The test
// reads r2's pinned flows map itself (a census of the flood's forward entries) while it polls
// r2's status: at no point does r2 say bulkDone (in sync) while its table holds fewer than all
// 200,000; when it does, they are all there. The bulk's time and rate are printed. Then, with r2
// in sync, 200,000 more flows in one burst: more than r1's sync ring holds while the stream drains
// it, so records are lost in the data plane (syncLost); r1 sees that and sends a new bulk, and r2
// ends up holding every flow r1 has (r1 may miss a few of the burst's SYNs: veth drops).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync } from 'node:fs';
import { HaPair, TCP_PORT } from '../../testing/ha-pair.js';
import { countFloodFlows, openFlows, prepareFlood, SynFlood } from '../../testing/ha-flows.js';

const FLOWS = 200_000;
const BURST = 200_000;
/** 2 entries a flow: 800k for both phases, the next power of two with room. */
const FLOW_ENTRIES = 1_048_576;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test(`${FLOWS} flows on the master, then the backup joins: it says in sync only once its table holds all of them`, async () => {
  const pair = await HaPair.create({ routers: ['r1'], flowEntries: FLOW_ENTRIES });
  let r1Fd = -1;
  let r2Fd = -1;
  let flood: SynFlood | undefined;
  try {
    const vip = pair.lab.addr.v4.vip;
    await pair.waitRole('r1', 'master', 10_000);
    await prepareFlood(pair.lab);
    flood = new SynFlood(pair.lab, 'r1', TCP_PORT);
    r1Fd = openFlows(pair.lab, 'r1');

    // The flows on r1: send, count, and offer again what the veths dropped (a repeated SYN of a
    // half-open flow is the same flow). The flows live 60 s half-open: the whole test fits.
    const t0 = Date.now();
    let onR1 = 0;
    for (let round = 0; round < 5 && onR1 < FLOWS; round++) {
      flood.send(0, FLOWS);
      await sleep(200);
      onR1 = countFloodFlows(r1Fd, vip);
    }
    const floodMs = Date.now() - t0;
    console.log(`# ${onR1} flows on r1 in ${floodMs} ms (${Math.round(onR1 / (floodMs / 1000))}/s, ${flood.refused} frames refused by the device)`);
    assert.ok(onR1 >= FLOWS, `r1 holds ${onR1} of ${FLOWS} flows`);

    // r2 joins: poll its status and census together until it says it is in sync.
    const startAt = Date.now();
    await pair.start('r2');
    const apiAt = Date.now();
    r2Fd = openFlows(pair.lab, 'r2');
    let connectedAt = 0;
    let polls = 0;
    let maxBefore = 0;
    let census = 0;
    for (;;) {
      const s = await pair.status('r2');
      census = countFloodFlows(r2Fd, vip);
      polls++;
      if (s.sync.in.connected && connectedAt === 0) connectedAt = Date.now();
      if (s.sync.in.bulkDone) {
        assert.ok(census >= FLOWS, `r2 said bulkDone holding ${census} of ${FLOWS} flows (status: ${JSON.stringify(s.sync)})`);
        break;
      }
      maxBefore = Math.max(maxBefore, census);
      if (Date.now() - startAt > 50_000) throw new Error(`r2 not in sync within 50 s; census ${census}, status ${JSON.stringify(s)}`);
    }
    const doneAt = Date.now();
    const s2 = await pair.status('r2');
    const s1 = await pair.status('r1');
    const bulkMs = doneAt - (connectedAt || apiAt);
    console.log(`# r2 in sync ${doneAt - startAt} ms after its start (API up after ${apiAt - startAt} ms); bulk seen from connect to done in ${bulkMs} ms: ${Math.round(FLOWS / (bulkMs / 1000))} flows/s`);
    console.log(`# census polls ${polls}: most flows seen before bulkDone ${maxBefore}, at bulkDone ${census}; r2 records in ${s2.sync.in.records}, r1 records out ${s1.sync.out.records}, r2 rejected ${JSON.stringify(s2.counters.rejected)}, syncUnknown ${s2.counters.syncUnknown}, syncLost r1 ${s1.counters.syncLost}`);
    assert.ok(s2.sync.in.records >= FLOWS, `r2 received ${s2.sync.in.records} records`);
    assert.equal(s2.counters.syncUnknown, 0);
    assert.deepEqual({ r1: s1.role, r2: s2.role, inSync: s2.inSync }, { r1: 'master', r2: 'backup', inSync: true });

    // A burst beyond the ring while r2 is in sync: what the ring lost comes by a resync bulk.
    const lost0 = s1.counters.syncLost;
    const b0 = Date.now();
    flood.send(FLOWS, BURST);
    const sentMs = Date.now() - b0;
    const all = countFloodFlows(r1Fd, vip);
    let onR2 = 0;
    while ((onR2 = countFloodFlows(r2Fd, vip)) < all) {
      if (Date.now() - b0 > 30_000) break;
      await sleep(50);
    }
    const r1After = await pair.status('r1');
    console.log(`# burst of ${BURST} flows sent in ${sentMs} ms: r1 holds ${all}, its ring lost ${r1After.counters.syncLost - lost0} records; r2 holds ${onR2} after ${Date.now() - b0} ms`);
    // The veths drop part of a burst this fast (about a quarter here): enough stays to fill the ring.
    assert.ok(all >= FLOWS + BURST / 2, `r1 holds ${all}`);
    assert.ok(onR2 >= all, `r2 holds ${onR2} of r1's ${all} flows 30 s after the burst (ring lost ${r1After.counters.syncLost - lost0})`);
  } finally {
    flood?.close();
    if (r1Fd >= 0) closeSync(r1Fd);
    if (r2Fd >= 0) closeSync(r2Fd);
    await pair.destroy();
  }
});
