// SPDX-License-Identifier: Apache-2.0
// on_failure: remove, end to end: a real whose check fails loses its open connections too, reset
// (the client gets a RST from the data plane) or dropped (the client hears nothing more), per
// remove_flows; quiesce (health-lab.test.ts) keeps them. Real xlvsd, real lab, real TCP sessions.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Lab } from '../../lab/lab.js';
import { XlvsdProcess } from '../../lab/xlvsd-process.js';
import { CheckTarget } from '../../lab/check-target.js';

const VIP = '203.0.113.100';
const CHECK_PORT = 7070;
const INTERVAL = 200, TIMEOUT = 150, FALL = 2;
/** interval × fall + timeout, plus the health apply gap (100 ms) and a margin for this machine. */
const BUDGET_MS = INTERVAL * FALL + TIMEOUT + 100 + 400;
const check = (flows: 'reset' | 'drop') =>
  `{ type: tcp, port: ${CHECK_PORT}, interval_ms: ${INTERVAL}, timeout_ms: ${TIMEOUT}, rise: 2, fall: ${FALL}, jitter: 0, initial: up, on_failure: remove, remove_flows: ${flows} }`;
const reals = '[{ address: 10.77.0.11, port: 9000 }, { address: 10.77.0.12, port: 9000 }, { address: 10.77.0.13, port: 9000 }]';
const CONFIG = `interfaces: { public: pub0, private: priv0 }
services:
  - { vip: ${VIP}, port: 9000, scheduler: rr, check: ${check('reset')}, reals: ${reals} }
  - { vip: ${VIP}, port: 9001, scheduler: rr, check: ${check('drop')}, reals: ${reals} }
`;

let lab: Lab;
let xlvsd: XlvsdProcess;
const targets: CheckTarget[] = [];

before(async () => {
  lab = await Lab.create();
  await lab.startRealServers();
  for (const ns of lab.ns.reals) targets.push(await CheckTarget.start(lab, ns, { tcp: CHECK_PORT, mode: { tcp: 'OK' } }));
  xlvsd = await XlvsdProcess.start(lab, { config: CONFIG, readyTimeoutMs: 60_000 });
});

after(async () => {
  for (const t of targets) await t.destroy().catch((e: unknown) => console.error('check target teardown failed', e));
  await xlvsd?.destroy().catch((e: unknown) => console.error('xlvsd teardown failed', e));
  await lab?.destroy();
});

async function downEvent(service: string, real: string, since: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const c = (await xlvsd.api.listHealth()).checks.find((x) => x.service === service && x.real === real);
    if (c?.status === 'down' && c.since !== null && c.since >= since) return c.since;
    if (Date.now() > deadline) throw new Error(`${real} of ${service} not down within ${timeoutMs} ms: ${JSON.stringify(c)}`);
    await sleep(20);
  }
}

test('remove_flows reset: the open connection of a failed real is reset; drop: it goes silent; new ones avoid the real', async () => {
  const reset = lab.hold({ host: VIP, port: 9000, intervalMs: 50, durationMs: 6000 });
  const [r0] = await reset.waitForReplies(1, 5000);
  const i = Number(r0!.reply.slice(2)) - 1;
  // A dropped session on the same real: the next 9001 connection goes where rr sends it, so
  // open sessions until one lands on real i (at most one rr round).
  let dropped;
  for (let k = 0; k < 3 && !dropped; k++) {
    const h = lab.hold({ host: VIP, port: 9001, intervalMs: 50, durationMs: 6000 });
    const [d0] = await h.waitForReplies(1, 5000);
    if (d0!.reply === r0!.reply) dropped = h;
    else await h.stop();
  }
  assert.ok(dropped, `a 9001 session on ${r0!.reply}`);
  const real = `10.77.0.${11 + i}:9000`;

  const killed = Date.now();
  await targets[i]!.stop();
  const [downReset, downDrop] = await Promise.all([
    downEvent(`tcp/${VIP}:9000`, real, killed - 50, 3000),
    downEvent(`tcp/${VIP}:9001`, real, killed - 50, 3000),
  ]);
  console.log(`remove: ${r0!.reply} down after ${downReset - killed} / ${downDrop - killed} ms`);

  const endReset = await reset.result;
  const resetAt = Date.now();
  assert.ok('error' in endReset, `the reset session ended in an error: ${JSON.stringify(endReset)}`);
  assert.match(endReset.error, /ECONNRESET|reset/i);
  assert.ok(resetAt - killed <= BUDGET_MS + 200, `reset ${resetAt - killed} ms after the check port closed`);

  // A reply already on its way to this process (the client's output is read through a pipe)
  // is not a reply after the eviction: settle first, then count.
  await sleep(300);
  const before = dropped.replies.length;
  await sleep(800);
  assert.equal(dropped.replies.length, before, 'the dropped session gets no reply after its flows were removed');
  await dropped.stop();

  const spread: string[] = [];
  for (let k = 0; k < 4; k++) {
    const h = lab.hold({ host: VIP, port: 9000, intervalMs: 50, durationMs: 200 });
    const end = await h.result;
    assert.ok('done' in end, JSON.stringify(end));
    spread.push(...new Set(h.replies.map((x) => x.reply)));
  }
  assert.ok(!spread.includes(r0!.reply), `${r0!.reply} took a new connection: ${JSON.stringify(spread)}`);
  const drops = await xlvsd.api.drops();
  assert.ok((drops.evicted ?? 0n) >= 1n, `evicted drops counted: ${JSON.stringify(drops, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}`);
});
