// SPDX-License-Identifier: Apache-2.0
// `check: { address: vip }` without SYN checks: the VIP checked on each dr real (which holds it on lo), not the
// real's own address. Each real listens on the check port at the VIP only, so a probe to the
// real's address would be refused: up proves the probe reached the VIP on that very real.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChildProcess } from 'node:child_process';
import { Lab } from '../../lab/lab.js';
import { XlvsdProcess } from '../../lab/xlvsd-process.js';
import { holdVips } from '../../lab/method-reals.js';
import { captureStderr, stopChild, waitForLine } from '../../lab/child.js';
import { VIP_RULE_PREF } from '../../src/health/vip-routes.js';
import type { TargetStatus } from '../../src/health/report.js';

const VIP = '203.0.113.100';
const PORT = 7070;
const CHECK = `{ type: tcp, address: vip, port: ${PORT}, interval_ms: 200, timeout_ms: 150, rise: 2, fall: 2, jitter: 0 }`;
// The socket path (health.syn_checks false); health-vip-syn-lab tests the default, SYN checks.
const CONFIG = `interfaces: { public: pub0, private: priv0 }
health: { syn_checks: false }
services:
  - vip: ${VIP}
    port: 80
    scheduler: rr
    check: ${CHECK}
    reals: [{ address: 10.77.0.11, method: dr }, { address: 10.77.0.12, method: dr }]
  - vip: ${VIP}
    port: 81
    check: { type: tcp, port: ${PORT}, interval_ms: 200, timeout_ms: 150, rise: 2, fall: 2, jitter: 0 }
    reals: [{ address: 10.77.0.11, port: 80 }]
`;

let lab: Lab;
let xlvsd: XlvsdProcess | undefined;
const listeners: Array<ChildProcess | undefined> = [];

/** A TCP listener bound to the VIP only, in real i's namespace. */
async function listenAtVip(i: number): Promise<ChildProcess> {
  const child = lab.spawn(lab.ns.reals[i]!, [process.execPath, '-e',
    `require('net').createServer((s) => s.destroy()).listen(${PORT}, '${VIP}', () => console.log('READY')); process.stdin.on('end', () => process.exit(0)); process.stdin.resume();`]);
  await waitForLine(child, 'READY', 10_000, captureStderr(child, (line) => console.error(`vip listener: ${line}`)));
  return child;
}

async function checkOf(service: string, real: string): Promise<TargetStatus> {
  const c = (await xlvsd!.api.listHealth()).checks.find((x) => x.service === service && x.real === real);
  assert.ok(c, `a check of ${real} in ${service}`);
  return c;
}

async function until(service: string, real: string, status: 'up' | 'down', ms: number): Promise<TargetStatus> {
  const deadline = Date.now() + ms;
  for (;;) {
    const c = await checkOf(service, real);
    if (c.status === status) return c;
    if (Date.now() > deadline) throw new Error(`${real} of ${service} not ${status} within ${ms} ms: ${JSON.stringify(c.last)}`);
    await sleep(50);
  }
}

before(async () => {
  lab = await Lab.create();
  await lab.startRealServers();
  for (const i of [0, 1]) await holdVips(lab, i, [VIP]);
  listeners[0] = await listenAtVip(0);
  xlvsd = await XlvsdProcess.start(lab, { config: CONFIG, readyTimeoutMs: 60_000 });
});

after(async () => {
  for (const l of listeners) if (l) await stopChild(l);
  await xlvsd?.destroy().catch((e: unknown) => console.error('xlvsd teardown failed', e));
  await lab?.destroy();
});

test('the VIP is checked on each dr real; the real\'s own address is not what answers', async () => {
  const web = `tcp/${VIP}:80`;
  const up = await until(web, '10.77.0.11:0', 'up', 5000);
  assert.equal(up.address, VIP, 'the probe goes to the VIP');
  assert.equal(up.port, PORT);
  // rs2 holds the VIP too but nothing listens on it there: refused, so down.
  const down = await until(web, '10.77.0.12:0', 'down', 5000);
  assert.match(down.last?.reason ?? '', /ECONNREFUSED/);
  // The control: the same port on rs1's own address is refused (the listener is on the VIP only).
  const control = await until(`tcp/${VIP}:81`, '10.77.0.11:80', 'down', 5000);
  assert.match(control.last?.reason ?? '', /ECONNREFUSED/);
  // One rule per checked (VIP, real), at the daemon's preference.
  const rules = (await lab.exec(lab.ns.router, ['ip', 'rule', 'show', 'pref', String(VIP_RULE_PREF)])).stdout.trim().split('\n');
  assert.equal(rules.length, 2, rules.join('\n'));

  // rs2's listener comes up: so does rs2; rs1's goes away: rs1 goes down.
  listeners[1] = await listenAtVip(1);
  await until(web, '10.77.0.12:0', 'up', 5000);
  await stopChild(listeners[0]!);
  listeners[0] = undefined;
  const gone = await until(web, '10.77.0.11:0', 'down', 5000);
  assert.match(gone.last?.reason ?? '', /ECONNREFUSED/);
});

test('xlvsd --teardown removes the VIP check rules and their tables', async () => {
  const tables = (await lab.exec(lab.ns.router, ['ip', 'rule', 'show', 'pref', String(VIP_RULE_PREF)])).stdout.match(/lookup \S+/g) ?? [];
  assert.equal(tables.length, 2);
  await xlvsd!.destroy(); // stop, then xlvsd --teardown
  xlvsd = undefined;
  assert.equal((await lab.exec(lab.ns.router, ['ip', 'rule', 'show', 'pref', String(VIP_RULE_PREF)])).stdout.trim(), '');
  for (const t of tables) {
    const table = t.slice('lookup '.length);
    assert.equal((await lab.exec(lab.ns.router, ['ip', 'route', 'show', 'table', table])).stdout.trim(), '', `table ${table} flushed`);
  }
});
