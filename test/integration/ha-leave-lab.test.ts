// SPDX-License-Identifier: Apache-2.0
// A router that leaves HA: its daemon restarted with a config without `ha:` on the data plane
// that ran with it. The gate must be off (else the pinned flags keep dropping ARP for the old
// floating addresses once the lease runs out), and the addresses HA put on the interfaces come
// off, while an address the admin configured stays and is answered for.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { HaPair } from '../../testing/ha-pair.js';
import { fromRoot } from '../../src/paths.js';

const XLVSD = fromRoot('dist/src/cli/xlvsd.js');

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('restarted without ha: the ARP/ND gate is off and HA\'s addresses are gone; an address the admin keeps is answered', async () => {
  const pair = await HaPair.create({ restartHoldMs: 300 });
  try {
    await pair.waitSteady();
    const { lab } = pair;
    const v4 = lab.addr.v4;
    const r1 = lab.routerNs('r1');
    const has = async (dev: string, a: string): Promise<boolean> => (await lab.exec(r1, ['ip', '-o', 'addr', 'show', 'dev', dev])).stdout.includes(` ${a}/`);
    assert.equal(await has('pub0', v4.vip), true, 'HA put the VIP on r1');
    await pair.daemon('r2').leave();
    await pair.daemon('r1').stop();
    // The same services, no ha: section.
    const plain = pair.config('r1').replace(/^ha:\n(?: {2}.*\n)+/m, '');
    assert.ok(!plain.includes('ha:'), plain);
    pair.daemon('r1').writeConfig(plain);
    await sleep(600); // the restart lease (300 ms) has run out
    await pair.daemon('r1').launch();
    await assert.rejects(pair.daemon('r1').api.haStatus(), /high availability is not configured/);
    assert.equal(await has('pub0', v4.vip), false, 'the VIP HA had put there is gone');
    assert.equal(await has('priv0', v4.gateway), false, 'the gateway HA had put there is gone');
    // The admin configures the VIP as a one-router setup does: r1 answers ARP for it.
    await lab.exec(r1, ['ip', 'addr', 'add', `${v4.vip}/32`, 'dev', 'pub0']);
    await lab.exec(lab.ns.client, ['ip', 'neigh', 'flush', 'dev', 'eth0']);
    const before = (await pair.daemon('r1').api.drops()).ha_standby ?? 0n;
    await lab.exec(lab.ns.client, ['ping', '-c', '1', '-W', '2', v4.vip]);
    assert.equal(lab.neighbourOf(lab.ns.client, v4.vip), lab.macOf('r1', 'pub0'), 'the client resolved the VIP to r1');
    assert.equal((await pair.daemon('r1').api.drops()).ha_standby ?? 0n, before, 'no ARP request was dropped by the gate');
  } finally {
    await pair.destroy();
  }
});

test('a stop for good hands over at once: SIGUSR2 says GOODBYE; so does xlvsd --teardown --config after a restart-stop', async () => {
  // A dead time (2 s) and a restart hold (20 s) long enough that only the GOODBYE explains a quick takeover.
  const pair = await HaPair.create({ intervalMs: 200, deadIntervals: 10, restartHoldMs: 20_000 });
  try {
    await pair.waitSteady();
    let t0 = Date.now();
    await pair.daemon('r1').leave();
    const took = await pair.waitRole('r2', 'master', 1_500);
    const ms = Date.now() - t0;
    console.log(`# SIGUSR2 of the master: r2 master after ${ms} ms (dead time 2000 ms): ${took.reason}`);
    assert.match(took.reason, /said goodbye/);

    // r1 back (it takes the role back: preferred, in sync), then stopped for a restart and torn down.
    await pair.start('r1');
    await pair.waitSteady(20_000);
    const d = pair.daemon('r1');
    await d.stop(); // SIGTERM: r2 would hold off 20 s
    t0 = Date.now();
    await pair.lab.exec(pair.lab.routerNs('r1'), [process.execPath, XLVSD, '--teardown', '--config', d.configPath, '--pin-dir', d.pinDir, '--state-dir', join(d.dir, 'state')]);
    const again = await pair.waitRole('r2', 'master', 1_500);
    console.log(`# teardown of the restarting master: r2 master after ${Date.now() - t0} ms (restart hold 20000 ms): ${again.reason}`);
    assert.match(again.reason, /said goodbye/);
    const has = (await pair.lab.exec(pair.lab.routerNs('r1'), ['ip', '-o', 'addr', 'show', 'dev', 'pub0'])).stdout;
    assert.ok(!has.includes(` ${pair.lab.addr.v4.vip}/`), `the teardown took the VIP off r1: ${has}`);
  } finally {
    await pair.destroy();
  }
});
