// SPDX-License-Identifier: Apache-2.0
// lab/failover-traffic.ts in the one-router lab with xlvsd: 20 echoing TCP connections and a
// 1 ms UDP probe stream through the VIP. Steady: all alive, no gap. The router's private link
// down for 500 ms: the UDP gap reported covers the outage and began when it did, every
// connection stalled for it and survived (TCP retransmits). A real that resets and one that
// drops: the tool tells reset from stalled from healthy. IPv6 VIP: the same traffic flows.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Lab, LAB_PORTS } from '../../lab/lab.js';
import { addLabV6, type LabV6Addresses } from '../../lab/lab-v6.js';
import { XlvsdProcess } from '../../lab/xlvsd-process.js';
import { FailoverTraffic, type TrafficReport } from '../../lab/failover-traffic.js';

const N = 20;
let lab: Lab;
let v6: LabV6Addresses;
let xlvsd: XlvsdProcess | undefined;
const running: FailoverTraffic[] = [];

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const brief = (r: TrafficReport): string => JSON.stringify({ ...r, perConnection: r.perConnection.filter((c) => c.state !== 'alive' || c.stalled || c.mismatched > 0) });

before(async () => {
  lab = await Lab.create({ reals: 3 });
  v6 = await addLabV6(lab);
  await lab.startRealServers();
  const svc = (vip: string, port: number, proto: string, reals: string[]): string =>
    `  - { vip: "${vip}", port: ${port}, protocol: ${proto}, scheduler: rr, reals: [${reals.map((a) => `{ address: "${a}" }`).join(', ')}] }`;
  xlvsd = await XlvsdProcess.start(lab, {
    config: [
      'interfaces: { public: pub0, private: priv0 }',
      'services:',
      svc(lab.addr.vip, LAB_PORTS.tcp, 'tcp', lab.addr.reals),
      svc(lab.addr.vip, LAB_PORTS.udp, 'udp', lab.addr.reals),
      svc(v6.vip, LAB_PORTS.tcp, 'tcp', v6.reals),
      svc(v6.vip, LAB_PORTS.udp, 'udp', v6.reals),
      '',
    ].join('\n'),
  });
});

after(async () => {
  for (const t of running) await t.stop().catch((e: unknown) => console.error('traffic stop failed', e));
  await xlvsd?.destroy().catch((e: unknown) => console.error('xlvsd teardown failed', e));
  await lab?.destroy();
});

async function start(host: string, connections: number, durationMs: number): Promise<FailoverTraffic> {
  const t = await FailoverTraffic.start(lab, { ns: lab.ns.client, host, tcpPort: LAB_PORTS.tcp, udpPort: LAB_PORTS.udp, connections, durationMs });
  running.push(t);
  return t;
}

function assertHealthy(r: TrafficReport, n: number, ms: number): void {
  assert.equal(r.connections, n);
  assert.deepEqual([r.alive, r.reset, r.stalled, r.closed, r.errored, r.corrupt, r.lost], [n, 0, 0, 0, 0, 0, 0], brief(r));
  // Each connection echoes every ~5 ms and the probe goes every 1 ms: well over a third of that
  // arrives even on a loaded machine.
  for (const c of r.perConnection) assert.ok(c.echoed >= ms / 5 / 3 && c.echoed <= c.sent, `connection ${c.i} echoed ${c.echoed} of ${c.sent}`);
  assert.ok(r.udp.received >= ms / 3 && r.udp.received <= r.udp.sent && r.udp.bogus === 0, brief(r));
}

// First: taking priv0 down flushes its IPv6 addresses (keep_addr_on_down is 0), the reals' gateway among them.
test('IPv6 VIP: 5 connections and the UDP stream for 2 s, all alive, no gap; the client stops itself at its duration', async (t) => {
  const traffic = await start(v6.vip, 5, 3000);
  await sleep(2000);
  const r = await traffic.report();
  t.diagnostic(`v6: udp gap ${r.udp.longestGapMs} ms, reals ${JSON.stringify(r.udp.reals)}`);
  assertHealthy(r, 5, 2000);
  assert.ok(r.udp.longestGapMs < 300, brief(r));
  await sleep(1500);
  assert.ok(traffic.final !== undefined && traffic.final.alive === 5, 'the hard stop printed a final report');
});

test(`${N} connections and the 1 ms UDP stream for 3 s: all alive, no gap; the private link down for 500 ms: a gap of at least 400 ms from the moment it went down, every connection stalled through it and survived`, async (t) => {
  const traffic = await start(lab.addr.vip, N, 30_000);
  await sleep(3000);
  const steady = await traffic.report();
  t.diagnostic(`steady: udp gap ${steady.udp.longestGapMs} ms, longest stall ${steady.longestStallMs} ms, udp ${steady.udp.received}/${steady.udp.sent}`);
  assertHealthy(steady, N, 3000);
  assert.ok(steady.udp.longestGapMs < 300, `steady UDP gap ${steady.udp.longestGapMs} ms`);
  assert.ok(steady.longestStallMs < 1000, `steady stall ${steady.longestStallMs} ms`);

  await traffic.mark();
  const downAt = Date.now();
  await lab.exec(lab.ns.router, ['ip', 'link', 'set', 'priv0', 'down']);
  await sleep(500);
  await lab.exec(lab.ns.router, ['ip', 'link', 'set', 'priv0', 'up']);
  const upAt = Date.now();
  // TCP's retransmission backs off (200, 400, 800 ms): give it time to come back.
  await sleep(4000);
  const r = await traffic.report();
  t.diagnostic(`outage ${upAt - downAt} ms: udp gap ${r.udp.longestGapMs} ms from ${r.udp.gapFromUnixMs - downAt} ms after the link went down; stalls ${r.perConnection.map((c) => c.longestStallMs).join(' ')}`);
  assertHealthy(r, N, 3000);
  assert.ok(r.udp.longestGapMs >= 400 && r.udp.longestGapMs < 3000, brief(r));
  // The gap began at the outage (the last answer before it), not somewhere else.
  assert.ok(r.udp.gapFromUnixMs >= downAt - 100 && r.udp.gapFromUnixMs <= downAt + 50, `gap began ${r.udp.gapFromUnixMs - downAt} ms after the link went down`);
  for (const c of r.perConnection) assert.ok(c.longestStallMs >= 400 && c.longestStallMs < 4000, `connection ${c.i} stalled ${c.longestStallMs} ms`);
  const end = await traffic.stop();
  assert.ok(end !== undefined && end.alive === N, 'the final report');
});

test('a real that resets and one that drops: reset, stalled and healthy connections told apart', async (t) => {
  const traffic = await start(lab.addr.vip, N, 30_000);
  await sleep(500);
  const rule = (ns: string, verdict: string): Promise<unknown> =>
    lab.exec(ns, ['nft', `add table inet ftt; add chain inet ftt in { type filter hook input priority 0; }; add rule inet ftt in tcp dport ${LAB_PORTS.tcp} ${verdict}`]);
  try {
    await rule(lab.ns.reals[0]!, 'reject with tcp reset');
    await rule(lab.ns.reals[1]!, 'drop');
    await sleep(2600);
    const r = await traffic.report();
    t.diagnostic(brief(r));
    // rr over three reals: 20 connections in a row are 7, 7 and 6 of them.
    const third = (x: number): boolean => x === 6 || x === 7;
    assert.ok(third(r.reset) && third(r.stalled) && third(r.alive - r.stalled), brief(r));
    assert.equal(r.alive + r.reset, N, brief(r));
    assert.equal(r.lost, r.reset + r.stalled, brief(r));
    for (const c of r.perConnection.filter((x) => x.state === 'reset')) assert.match(c.error ?? '', /ECONNRESET/);
    for (const c of r.perConnection.filter((x) => x.stalled)) assert.ok(c.longestStallMs > 2000, `stalled ${c.i}: ${c.longestStallMs} ms`);
  } finally {
    for (const ns of [lab.ns.reals[0]!, lab.ns.reals[1]!]) await lab.exec(ns, ['nft', 'delete table inet ftt']).catch((e: unknown) => console.error(`removing the nft table in ${ns} failed`, e));
    await traffic.stop();
  }
});
