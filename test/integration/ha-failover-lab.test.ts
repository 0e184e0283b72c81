// SPDX-License-Identifier: Apache-2.0
// Issue 15, test 1: two real xlvsd routers in the HA lab (testing/ha-pair.ts), 100 long-lived
// TCP connections each moving data and a 1 ms UDP probe stream through the VIP. The master (r1)
// dies hard: its links go down, then its daemon is SIGKILLed. Every connection continues through
// r2, with no reset; the probe gap is reported. Then r1 comes back (links up, daemon started):
// it takes the peer's table in bulk, preempts, and again every connection lives. For nat, dr, tun
// (the reals strip the tunnel with xlvs_decap) and fullnat over IPv4, and nat over IPv6.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HaPair, TCP_PORT, UDP_PORT, type Method } from '../../testing/ha-pair.js';
import { FailoverTraffic, type TrafficReport } from '../../lab/failover-traffic.js';
import { assertAllAlive, briefReport } from '../../testing/traffic-checks.js';
import { decapCounters } from '../../lab/method-reals.js';
import { LOCAL } from '../../testing/ha-pair.js';

const CONNECTIONS = 100;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Waits until the UDP answers flow again after `since` (unix ms) and gives the connections time to show a loss. */
async function settle(t: FailoverTraffic, since: number): Promise<TrafficReport> {
  const end = Date.now() + 15_000;
  let r = await t.report();
  while (!(r.udp.lastAnswerUnixMs > since && Date.now() - r.udp.lastAnswerUnixMs < 50)) {
    if (Date.now() > end) throw new Error(`UDP answers did not resume: ${briefReport(r)}`);
    await sleep(20);
    r = await t.report();
  }
  // A connection whose flow was lost would be reset by the real at its next retransmission
  // (200 ms, doubling): 2 s covers several.
  await sleep(2_000);
  return t.report();
}

/** Established connections per real of the VIP's TCP service, as router r counts them. */
async function activeByReal(pair: HaPair, r: 'r1' | 'r2', vip: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const s of await pair.daemon(r).api.listServices()) {
    if (s.vip !== vip || s.port !== TCP_PORT || s.protocol !== 'tcp') continue;
    for (const real of s.reals) out[real.address] = real.active_conns;
  }
  return out;
}

/** The backup counts the master's connections per real the same (synced flows, recounted by its reaper). */
async function countsAgree(pair: HaPair, vip: string): Promise<Record<string, number>> {
  const end = Date.now() + 15_000;
  for (;;) {
    const [m, b] = [await activeByReal(pair, 'r1', vip), await activeByReal(pair, 'r2', vip)];
    const total = Object.values(m).reduce((x, y) => x + y, 0);
    if (total === CONNECTIONS && JSON.stringify(m) === JSON.stringify(b)) return b;
    if (Date.now() > end) throw new Error(`per-real active counts differ: r1 ${JSON.stringify(m)}, r2 ${JSON.stringify(b)}`);
    await sleep(250);
  }
}

/** tun: the tunnels the reals' decapsulators stripped in 500 ms, all reals, of the family. */
async function tunnelled(pair: HaPair, family: 4 | 6): Promise<bigint> {
  const read = async (): Promise<bigint> => {
    let n = 0n;
    for (let i = 0; i < pair.lab.ns.reals.length; i++) n += (await decapCounters(pair.lab, i))[`decap_v${family}`] ?? 0n;
    return n;
  };
  const before = await read();
  await sleep(500);
  return (await read()) - before;
}

/**
 * Where the traffic goes before the kill: the client's neighbour entry for the VIP and each
 * real's for its next hop back (nat, dr, tun: the gateway; fullnat: the local address) are r1's
 * MACs, else the test would watch a failover the traffic never needed. Waited for (up to 3 s):
 * a role that moved meanwhile (a starved daemon on a loaded machine) has to settle back first.
 */
async function throughR1(pair: HaPair, method: Method, family: 4 | 6): Promise<void> {
  const lab = pair.lab;
  const a = family === 4 ? lab.addr.v4 : lab.addr.v6;
  const back = method === 'fullnat' ? (family === 4 ? LOCAL.v4 : LOCAL.v6) : a.gateway;
  const want = { client: lab.macOf('r1', 'public'), reals: lab.ns.reals.map(() => lab.macOf('r1', 'private')) };
  const seen = () => ({ client: lab.neighbourOf(lab.ns.client, a.vip), reals: lab.ns.reals.map((ns) => lab.neighbourOf(ns, back)) });
  const end = Date.now() + 3_000;
  while (JSON.stringify(seen()) !== JSON.stringify(want) && Date.now() < end) await sleep(20);
  const [r1, r2] = [await pair.status('r1'), await pair.status('r2')];
  assert.deepEqual(seen(), want, `before the kill the client reaches ${a.vip} and the reals reach ${back} through r1 (r2: ${lab.macOf('r2', 'public')} / ${lab.macOf('r2', 'private')}); r1 ${r1.role} (${r1.reason}, transitions ${JSON.stringify(r1.counters.transitions)}), r2 ${r2.role} (${r2.reason}, transitions ${JSON.stringify(r2.counters.transitions)})`);
}

async function failoverAndBack(method: Method, family: 4 | 6): Promise<void> {
  const pair = await HaPair.create({ method });
  let traffic: FailoverTraffic | undefined;
  try {
    await pair.waitSteady();
    const a = family === 4 ? pair.lab.addr.v4 : pair.lab.addr.v6;
    traffic = await FailoverTraffic.start(pair.lab, { ns: pair.lab.ns.client, host: a.vip, tcpPort: TCP_PORT, udpPort: UDP_PORT, connections: CONNECTIONS, durationMs: 90_000 });
    await sleep(1_000);
    assertAllAlive(await traffic.report(), CONNECTIONS, 'before the kill');
    // r2 holds every connection r1 made (both entries each; census by its own count of records).
    const synced = await pair.waitFor('r2', (s) => s.sync.in.records >= CONNECTIONS, 5_000, `${CONNECTIONS} flows synced`);
    const counts = await countsAgree(pair, a.vip);
    await throughR1(pair, method, family);
    await traffic.mark();

    const killAt = Date.now();
    await pair.hardKill('r1');
    const took = await pair.waitRole('r2', 'master', 5_000);
    const over = await settle(traffic, killAt);
    assertAllAlive(over, CONNECTIONS, `after r1 died (r2: ${took.reason})`);
    const gap = over.udp.longestGapMs;
    console.log(`# ${method} IPv${family}: failover gap ${gap} ms (dead time 300 ms), ${over.alive}/${CONNECTIONS} alive; r2 had ${synced.sync.in.records} records synced, per-real active ${JSON.stringify(counts)} on both`);
    assert.ok(gap < 1_000, `failover gap ${gap} ms`);
    if (method === 'tun') {
      // r2 forwards now: the connections live because r2's tunnels reach the reals.
      const n = await tunnelled(pair, family);
      assert.ok(n >= 100n, `the reals stripped r2's tunnels: ${n} in 500 ms`);
    }

    await traffic.mark();
    const backAt = Date.now();
    await pair.lab.linksUp('r1');
    await pair.start('r1');
    const back = await pair.waitFor('r1', (s) => s.role === 'master', 15_000, 'r1 master again');
    assert.equal(back.sync.in.bulkDone, true, 'r1 took the master role back only holding the current table');
    await pair.waitRole('r2', 'backup', 5_000);
    const after = await settle(traffic, backAt);
    assertAllAlive(after, CONNECTIONS, 'after the failback');
    console.log(`# ${method} IPv${family}: failback gap ${after.udp.longestGapMs} ms, ${after.alive}/${CONNECTIONS} alive`);
  } finally {
    await traffic?.stop();
    await pair.destroy();
  }
}

test('nat, IPv4: hard kill of the master, then failback: all 100 connections live', () => failoverAndBack('nat', 4));
test('dr, IPv4: hard kill of the master, then failback: all 100 connections live', () => failoverAndBack('dr', 4));
test('tun, IPv4: hard kill of the master, then failback: all 100 connections live', () => failoverAndBack('tun', 4));
test('fullnat, IPv4: hard kill of the master, then failback: all 100 connections live', () => failoverAndBack('fullnat', 4));
test('nat, IPv6: hard kill of the master, then failback: all 100 connections live', () => failoverAndBack('nat', 6));
