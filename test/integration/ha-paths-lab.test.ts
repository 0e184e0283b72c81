// SPDX-License-Identifier: Apache-2.0
// Issue 15, test 5: heartbeat path cuts between two real xlvsd routers in the HA lab, 50
// long-lived TCP connections and a 1 ms UDP probe stream through the VIP all the while. The cuts
// drop the heartbeat port (UDP 7707) with nftables in r1's namespace, both directions, so the
// links stay up and the data traffic flows.
//  - Only the private path cut: no failover; both see the private path dead and the public alive.
//  - Both paths cut: split brain, both master.
//  - Healed: exactly one master (r1) within one interval; the client's neighbour entry for the
//    VIP and every real's for the gateway point at r1 again. Every role change gave a counter and
//    a pino line with its reason; no connection was lost.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HaPair, TCP_PORT, UDP_PORT } from '../../testing/ha-pair.js';
import { RoleWatch } from '../../testing/ha-watch.js';
import { routerProbers, type RouterProbers } from '../../testing/neighbour-prober.js';
import { FailoverTraffic } from '../../lab/failover-traffic.js';
import type { HaStatus } from '../../src/ha/types.js';
import { assertAllAlive } from '../../testing/traffic-checks.js';

const CONNECTIONS = 50;
const INTERVAL_MS = 100;
const DEAD_MS = 3 * INTERVAL_MS;
const HA_PORT = 7707;
const TABLE = 'xlvs_test_cut';
/** What a loaded 2-core machine may add to a daemon's timer or a heartbeat's trip (measured figures are printed). */
const SLACK_MS = 150;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const pathAlive = (s: HaStatus, path: 'public' | 'private'): boolean | undefined => s.peer.paths.find((p) => p.path === path)?.alive;

/** Drops the heartbeats on the given interfaces of the router's namespace, both directions. */
async function cut(pair: HaPair, ns: string, ifaces: string[]): Promise<void> {
  await uncut(pair, ns);
  const rules = ifaces.flatMap((i) => [`add rule inet ${TABLE} in iifname ${i} udp dport ${HA_PORT} drop`, `add rule inet ${TABLE} out oifname ${i} udp dport ${HA_PORT} drop`]);
  await pair.lab.exec(ns, ['nft', [
    `add table inet ${TABLE}`,
    `add chain inet ${TABLE} in { type filter hook input priority -10 ; }`,
    `add chain inet ${TABLE} out { type filter hook output priority -10 ; }`,
    ...rules,
  ].join('; ')]);
}

async function uncut(pair: HaPair, ns: string): Promise<void> {
  // (no `destroy` in this nft: add, which is a no-op when it exists, then delete)
  await pair.lab.exec(ns, ['nft', `add table inet ${TABLE}; delete table inet ${TABLE}`]);
}

/** Polls fn every 2 ms until it holds; the ms it took, or throws after timeoutMs. */
async function until(fn: () => boolean, timeoutMs: number, what: string): Promise<number> {
  const t0 = Date.now();
  while (!fn()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`${what} not reached within ${timeoutMs} ms`);
    await sleep(2);
  }
  return Date.now() - t0;
}

test('test 5: private path cut: no failover; both cut: split brain; healed: one master within one interval, neighbours on it', async () => {
  const pair = await HaPair.create({ intervalMs: INTERVAL_MS, deadIntervals: 3 });
  const { lab } = pair;
  const r1ns = lab.routerNs('r1');
  let traffic: FailoverTraffic | undefined;
  let watch1: RoleWatch | undefined;
  let watch2: RoleWatch | undefined;
  let probe: RouterProbers | undefined;
  try {
    await pair.waitSteady();
    const a = lab.addr.v4;
    traffic = await FailoverTraffic.start(lab, { ns: lab.ns.client, host: a.vip, tcpPort: TCP_PORT, udpPort: UDP_PORT, connections: CONNECTIONS, durationMs: 90_000 });
    await pair.waitFor('r2', (s) => s.sync.in.records >= CONNECTIONS, 5_000, `${CONNECTIONS} flows synced`);
    const before = { r1: await pair.status('r1'), r2: await pair.status('r2') };
    watch1 = await RoleWatch.start(pair, 'r1');
    watch2 = await RoleWatch.start(pair, 'r2');

    // Only the private path: the public one keeps the peer alive.
    await cut(pair, r1ns, [lab.ifaces.private]);
    const privCutAt = Date.now();
    await pair.waitFor('r2', (s) => pathAlive(s, 'private') === false, DEAD_MS + 1_000, 'the private path dead');
    await sleep(5 * DEAD_MS);
    const privCut = { r1: await pair.status('r1'), r2: await pair.status('r2') };
    console.log(`# private path cut for ${Date.now() - privCutAt} ms: r2 ${privCut.r2.role}, r1 ${privCut.r1.role}; r2 paths ${JSON.stringify(privCut.r2.peer.paths)}`);
    for (const r of ['r1', 'r2'] as const) {
      assert.equal(pathAlive(privCut[r], 'private'), false, `${r} sees the private path dead`);
      assert.equal(pathAlive(privCut[r], 'public'), true, `${r} sees the public path alive`);
      assert.equal(privCut[r].peer.alive, true, `${r} sees its peer alive`);
    }
    assert.deepEqual([...watch1.events, ...watch2.events], [], 'no role changed with the private path cut');
    assert.deepEqual(watch2.notRole('backup'), [], 'r2 was backup at every poll');
    assert.deepEqual(watch1.notRole('master'), [], 'r1 was master at every poll');

    // Both paths: neither hears the other; r2 takes over (split brain), r1 stays master.
    probe = await routerProbers(lab);
    const bothCutAt = Date.now();
    await cut(pair, r1ns, [lab.ifaces.public, lab.ifaces.private]);
    const split = await watch2.eventTo('master', bothCutAt, DEAD_MS + 2_000);
    await sleep(2 * INTERVAL_MS);
    const r1Split = await pair.status('r1');
    console.log(`# both paths cut: r2 master ${split.atMs - bothCutAt} ms after the cut (dead time ${DEAD_MS} ms): ${split.reason}; client's neighbour for the VIP ${lab.neighbourOf(lab.ns.client, a.vip)} (r1 ${lab.macOf('r1', 'public')}, r2 ${lab.macOf('r2', 'public')})`);
    assert.equal(r1Split.role, 'master', 'r1 stays master with both paths cut');
    assert.equal(r1Split.peer.alive, false, 'r1 hears no peer');
    assert.deepEqual(watch1.events, [], 'r1 changed no role');

    // Heal: r2 (lower priority) goes backup within one interval, r1 re-announces.
    await uncut(pair, r1ns);
    const healAt = Date.now();
    const healed = await watch2.eventTo('backup', healAt - 50, INTERVAL_MS + 5_000);
    const oneMasterMs = healed.atMs - healAt;
    const r1Pub = lab.macOf('r1', 'public');
    const r1Priv = lab.macOf('r1', 'private');
    const clientMs = await until(() => lab.neighbourOf(lab.ns.client, a.vip) === r1Pub, 5_000, "the client's neighbour for the VIP on r1");
    const realsMs: number[] = [];
    for (const ns of lab.ns.reals) realsMs.push(await until(() => lab.neighbourOf(ns, a.gateway) === r1Priv, 5_000, `${ns}'s neighbour for the gateway on r1`));
    const neighboursMs = Date.now() - healAt;
    await sleep(3 * DEAD_MS);
    await probe.stop();
    // On the wire: r2 answered ARP/ND for every floating address in the split, and stopped
    // within one interval of the heal; r1 answered throughout.
    for (const [prober, targets, iface] of [[probe.pub, [a.vip, lab.addr.v6.vip], 'public'], [probe.prv, [a.gateway, lab.addr.v6.gateway], 'private']] as const) {
      const [m1, m2] = [lab.macOf('r1', iface), lab.macOf('r2', iface)];
      for (const target of targets) {
        const seen = prober.of(target, bothCutAt);
        const r2 = seen.filter((x) => x.mac === m2);
        const r1After = seen.filter((x) => x.mac === m1 && x.atMs > healed.atMs);
        const lastR2 = r2.length === 0 ? NaN : r2[r2.length - 1]!.atMs - healAt;
        console.log(`# split brain: ${target}: r2 answered ${r2.length} times, from ${r2.length === 0 ? NaN : (r2[0]!.atMs - bothCutAt).toFixed(1)} ms after the cut to ${lastR2.toFixed(1)} ms after the heal; r1 ${r1After.length} times after r2 stepped down`);
        assert.ok(r2.length > 0 && r2[0]!.atMs >= split.atMs - 5, `${target}: r2 answered in the split brain, not before it took over`);
        assert.ok(lastR2 <= INTERVAL_MS + SLACK_MS, `${target}: r2 still answered ${lastR2} ms after the heal`);
        assert.ok(r1After.length > 0, `${target}: r1 answers after the heal`);
        assert.ok(seen.every((x) => x.mac === m1 || x.mac === m2), `${target}: only the routers answered`);
      }
    }
    await watch1.stop();
    await watch2.stop();
    const after = { r1: await pair.status('r1'), r2: await pair.status('r2') };
    console.log(
      `# healed: one master ${oneMasterMs} ms after the heal (interval ${INTERVAL_MS} ms): ${healed.reason}; neighbours on r1 within ${neighboursMs} ms ` +
        `(client ${clientMs} ms, reals ${realsMs.join(' / ')} ms after the previous check); r1 re-announced: ${/announcing again/.test(pair.daemon('r1').output)}`,
    );
    assert.ok(oneMasterMs <= INTERVAL_MS + SLACK_MS, `one master ${oneMasterMs} ms after the heal`);
    assert.match(healed.reason, /split brain/);
    assert.ok(neighboursMs <= INTERVAL_MS + SLACK_MS, `neighbours pointed at r1 ${neighboursMs} ms after the heal`);
    assert.equal(after.r1.role, 'master');
    assert.equal(after.r2.role, 'backup');
    assert.deepEqual(watch1.events, [], 'r1 never left master');
    assert.deepEqual(watch2.events.map((e) => `${e.from}->${e.to}`), ['backup->master', 'master->backup'], 'r2: the split and the heal, nothing else');

    // Every change: a counter, and a pino line with its reason.
    assert.deepEqual(after.r2.counters.transitions, { ...before.r2.counters.transitions, master: before.r2.counters.transitions.master + 1, backup: before.r2.counters.transitions.backup + 1 });
    assert.deepEqual(after.r1.counters.transitions, before.r1.counters.transitions);
    const out = pair.daemon('r2').output;
    assert.match(out, /"msg":"ha: backup -> master: peer r1 silent for \d+ ms on both paths"/);
    assert.match(out, /"msg":"ha: master -> backup: split brain: peer r1 is master with higher precedence"/);

    const report = await traffic.report();
    console.log(`# path cuts: UDP gap ${report.udp.longestGapMs} ms, ${report.alive}/${CONNECTIONS} alive`);
    assertAllAlive(report, CONNECTIONS, 'after the cuts and the heal');
  } finally {
    await probe?.stop();
    await watch1?.stop();
    await watch2?.stop();
    await uncut(pair, r1ns).catch((e: unknown) => console.log(`# nft clean-up: ${(e as Error).message}`));
    await traffic?.stop();
    await pair.destroy();
  }
});
