// SPDX-License-Identifier: Apache-2.0
// Zero loss while the control plane changes hands, measured with UDP (TCP's retransmissions hide
// a gap): a constant-rate stream on one flow from the client through the router to the reals,
// counted per second sent and received, while (1) xlvsd stops and starts again (SIGTERM, a
// second without a daemon, adoption of the pinned data plane), and (2) a freshly loaded
// program (the object loaded anew, adopting the pinned maps) is swapped into the live XDP links
// with bpf_link_update. Every datagram sent must be answered, and by the one real of its flow.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab, type UdpRateResult } from '../../lab/lab.js';
import { XlvsdProcess } from '../../lab/xlvsd-process.js';
import { BpfObject } from '../../src/kernel/object.js';
import { XdpLink } from '../../src/kernel/link.js';
import { pinnedMapInfo } from '../../src/kernel/map-info.js';
import * as abi from '../../src/gen/abi.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const VIP = '203.0.113.100';
const RATE = 200; // datagrams a second
const DURATION_MS = 6000;

let lab: Lab;
let xlvsd: XlvsdProcess;

before(async () => {
  lab = await Lab.create({ reals: 2 });
  await lab.startRealServers();
  xlvsd = await XlvsdProcess.start(lab, {
    config: `interfaces: { public: pub0, private: priv0 }
services:
  - { vip: ${VIP}, port: 5353, protocol: udp, scheduler: rr, reals: [{ address: 10.77.0.11, port: 5353 }, { address: 10.77.0.12, port: 5353 }] }
`,
  });
});

after(async () => {
  await xlvsd?.destroy().catch((e: unknown) => console.error('xlvsd teardown failed', e));
  await lab?.destroy();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const stream = (): Promise<UdpRateResult> => lab.client('udp-rate', ['--host', VIP, '--port', '5353', '--rate', String(RATE), '--duration-ms', String(DURATION_MS)], DURATION_MS + 15_000);

function assertNoLoss(t: { diagnostic(s: string): void }, r: UdpRateResult): void {
  t.diagnostic(`sent per second ${r.sent.join(' ')}; received ${r.received.join(' ')}; by real ${JSON.stringify(r.reals)}`);
  assert.ok(r.sentTotal >= (RATE * DURATION_MS) / 1000 - 1, `the stream ran at its rate: ${r.sentTotal} sent`);
  r.sent.forEach((s, i) => assert.equal(r.received[i], s, `second ${i}: ${s} sent, ${r.received[i]} answered`));
  assert.equal(r.receivedTotal, r.sentTotal, 'every datagram answered');
  assert.equal(Object.keys(r.reals).length, 1, 'one flow, one real');
}

test(`a ${RATE}/s UDP stream loses nothing while xlvsd stops and starts again`, async (t) => {
  const s = stream();
  await sleep(1500);
  await xlvsd.stop();
  await sleep(1000); // forwarding with no daemon at all
  await xlvsd.launch();
  assertNoLoss(t, await s);
  assert.match(xlvsd.output, /adopted data-plane state|data plane loaded/);
});

test(`a ${RATE}/s UDP stream loses nothing while a freshly loaded program is swapped into the live links (bpf_link_update)`, async (t) => {
  const pinDir = xlvsd.pinDir;
  const s = stream();
  await sleep(2000);
  // The object loaded anew, as an upgrade would: it adopts the pinned maps (flows included),
  // then each link takes its program atomically.
  const obj = BpfObject.open(join(ROOT, 'build/xlvs.bpf.o'), { pinRoot: join(pinDir, 'maps') });
  try {
    obj.verifyAbi(abi.ABI_LAYOUT);
    obj.setMaxEntries('flows', pinnedMapInfo(join(pinDir, 'maps', 'flows')).maxEntries);
    obj.load();
    for (const [role, prog] of [['public', 'xlvs_public'], ['private', 'xlvs_private']] as const) {
      const link = XdpLink.open(join(pinDir, 'links', role));
      assert.ok(link, `link ${role} pinned`);
      const before = link.info().progId;
      link.update(obj.programFd(prog));
      assert.notEqual(link.info().progId, before, `${role}: the link runs the new program`);
      link.close();
    }
  } finally {
    obj.close();
  }
  assertNoLoss(t, await s);
});
