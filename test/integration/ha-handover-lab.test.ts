// SPDX-License-Identifier: Apache-2.0
// Issue 15, test 4: a graceful hand-over with the real CLI. Two xlvsd routers in the HA lab
// (testing/ha-pair.ts), 50 echoing TCP connections and a 1 ms UDP probe stream through the VIP.
// `xlvsctl ha failover` on r1 (master): r2 takes over at once (YIELD, no dead time), the probe
// gap is under 50 ms and nothing is lost. `xlvsctl ha hold on` on r2 hands the role back to r1
// (r1 does not preempt by itself after yielding); the hold survives a restart of r2's daemon
// (SIGTERM, start: still held, still backup); `hold off` lets r2 take part again with r1 master.
// And `xlvsctl ha failover` asked of a backup is refused: exit 1, "not master", nothing changes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { HaPair, TCP_PORT, UDP_PORT } from '../../testing/ha-pair.js';
import { FailoverTraffic, type TrafficReport } from '../../lab/failover-traffic.js';
import type { RouterName } from '../../lab/ha-lab.js';
import { assertAllAlive, briefReport } from '../../testing/traffic-checks.js';

const CONNECTIONS = 50;
const XLVSCTL = fileURLToPath(new URL('../../src/cli/xlvsctl.js', import.meta.url));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The real xlvsctl against router r's API socket. */
function xlvsctl(pair: HaPair, r: RouterName, ...args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [XLVSCTL, '--socket', pair.daemon(r).socket, ...args], { timeout: 15_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

async function ok(pair: HaPair, r: RouterName, ...args: string[]): Promise<string> {
  const res = await xlvsctl(pair, r, ...args);
  assert.equal(res.code, 0, `xlvsctl ${args.join(' ')} on ${r}: ${JSON.stringify(res)}`);
  return res.stdout;
}

/** Waits for UDP answers after `since` (unix ms), then 2 s for a lost flow to show as a reset. */
async function settle(t: FailoverTraffic, since: number): Promise<TrafficReport> {
  const end = Date.now() + 10_000;
  let r = await t.report();
  while (!(r.udp.lastAnswerUnixMs > since + 100 && Date.now() - r.udp.lastAnswerUnixMs < 50)) {
    if (Date.now() > end) throw new Error(`UDP answers did not resume: ${briefReport(r)}`);
    await sleep(20);
    r = await t.report();
  }
  await sleep(2_000);
  return t.report();
}

test('graceful hand-over with xlvsctl ha failover (gap < 50 ms, nothing lost), hold on/off hands back, hold survives a restart, failover on a backup refused', async () => {
  const pair = await HaPair.create({ method: 'nat' });
  let traffic: FailoverTraffic | undefined;
  try {
    await pair.waitSteady();
    const a = pair.lab.addr.v4;
    traffic = await FailoverTraffic.start(pair.lab, { ns: pair.lab.ns.client, host: a.vip, tcpPort: TCP_PORT, udpPort: UDP_PORT, connections: CONNECTIONS, durationMs: 120_000 });
    await sleep(1_000);
    assertAllAlive(await traffic.report(), CONNECTIONS, 'before the hand-over');
    await pair.waitFor('r2', (s) => s.sync.in.records >= CONNECTIONS, 5_000, `${CONNECTIONS} flows synced`);

    // A backup refuses: exit 1 (the daemon refused), the documented reason, no role changed.
    const refused = await xlvsctl(pair, 'r2', 'ha', 'failover');
    assert.equal(refused.code, 1, JSON.stringify(refused));
    assert.match(refused.stderr, /r2 is backup, not master/);
    assert.equal((await pair.status('r1')).role, 'master');
    assert.equal((await pair.status('r2')).role, 'backup');

    // The hand-over.
    await traffic.mark();
    const t0 = Date.now();
    const out = await ok(pair, 'r1', 'ha', 'failover');
    const cliMs = Date.now() - t0;
    assert.match(out, /failover: r1 is backup/);
    const r2 = await pair.waitRole('r2', 'master', 2_000);
    const tookMs = Date.now() - t0;
    assert.match(r2.reason, /yield|YIELD|failover|hand/i, `r2's reason: ${r2.reason}`);
    assert.equal((await pair.status('r1')).role, 'backup');
    const over = await settle(traffic, t0);
    assertAllAlive(over, CONNECTIONS, `after the hand-over (r2: ${r2.reason})`);
    console.log(`# hand-over: xlvsctl returned in ${cliMs} ms, r2 master seen after ${tookMs} ms, UDP gap ${over.udp.longestGapMs} ms, ${over.alive}/${CONNECTIONS} alive`);
    assert.ok(over.udp.longestGapMs < 50, `hand-over gap ${over.udp.longestGapMs} ms (target < 50)`);
    // After yielding, r1 (the preferred one) does not take the role back by itself.
    await sleep(1_000);
    assert.equal((await pair.status('r2')).role, 'master', 'r1 did not preempt after its own failover');

    // hold on r2: r2 backup at once, r1 takes over.
    await traffic.mark();
    const t1 = Date.now();
    assert.match(await ok(pair, 'r2', 'ha', 'hold', 'on'), /hold on: r2 is backup/);
    await pair.waitRole('r1', 'master', 2_000);
    const back = await settle(traffic, t1);
    assertAllAlive(back, CONNECTIONS, 'after hold on r2 handed back to r1');
    console.log(`# hold on r2 -> r1 master: UDP gap ${back.udp.longestGapMs} ms, ${back.alive}/${CONNECTIONS} alive`);
    assert.ok(back.udp.longestGapMs < 50, `hand-back gap ${back.udp.longestGapMs} ms`);
    const held = await pair.status('r2');
    assert.deepEqual({ role: held.role, hold: held.hold, priority: held.priority }, { role: 'backup', hold: true, priority: 100 });

    // The hold survives a restart of r2's daemon (SIGTERM, start).
    await traffic.mark();
    const t2 = Date.now();
    await pair.daemon('r2').stop();
    await pair.start('r2');
    const restarted = await pair.waitFor('r2', (s) => s.peer.alive && s.sync.in.bulkDone, 15_000, 'r2 back, in sync');
    assert.deepEqual({ role: restarted.role, hold: restarted.hold }, { role: 'backup', hold: true }, JSON.stringify(restarted));
    assert.match(await xlvsctl(pair, 'r2', 'ha').then((r) => r.stdout), /hold/i);
    assert.equal((await pair.status('r1')).role, 'master');
    const afterRestart = await settle(traffic, t2);
    assertAllAlive(afterRestart, CONNECTIONS, 'after the restart of the held r2');

    // hold off: r2 takes part again; r1 (preferred, in sync) stays master.
    assert.match(await ok(pair, 'r2', 'ha', 'hold', 'off'), /hold off: r2 is backup/);
    await sleep(1_000);
    const [s1, s2] = [await pair.status('r1'), await pair.status('r2')];
    assert.deepEqual({ r1: s1.role, r2: s2.role, hold: s2.hold }, { r1: 'master', r2: 'backup', hold: false });
    const end = await traffic.report();
    assertAllAlive(end, CONNECTIONS, 'at the end');
    console.log(`# end: ${end.alive}/${CONNECTIONS} alive; r1 transitions ${JSON.stringify(s1.counters.transitions)}, r2 ${JSON.stringify(s2.counters.transitions)}`);
  } finally {
    await traffic?.stop();
    await pair.destroy();
  }
});
