// SPDX-License-Identifier: Apache-2.0
// A router that leaves HA: its daemon restarted with a config without `ha:` on the data plane
// that ran with it. The gate must be off (else the pinned flags keep dropping ARP for the old
// floating addresses once the lease runs out), and the addresses HA put on the interfaces come
// off, while an address the admin configured stays and is answered for.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HaPair } from '../../testing/ha-pair.js';

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
