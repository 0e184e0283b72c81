// SPDX-License-Identifier: Apache-2.0
// The API keeps answering while a big change is applied (issue 13): a real xlvsd is reloaded from
// 1 service to 5,001 and back while a client calls the API in a loop. Loading the file (on a
// worker thread), planning (which yields) and writing (which yields, and drops removed services'
// tables in the background) never hold the event loop for long: before, adding 5,000 services
// held it ~2 s (parse 1 s, plan 0.7 s, write 1 s) and removing them 63 s (one RCU wait per table).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Lab } from '../../lab/lab.js';
import { XlvsdProcess } from '../../lab/xlvsd-process.js';
import type { ApiClient } from '../../src/api/client.js';

/** The most a read may wait while a change is applied. */
const READ_BOUND_MS = 100;
const BIG = 5000;

let lab: Lab;
let xlvsd: XlvsdProcess;

function config(services: number): string {
  const lines = ['interfaces: { public: pub0, private: priv0 }', 'services:'];
  lines.push(`  - { vip: ${lab.addr.vip}, port: 80, reals: [{ address: ${lab.addr.reals[0]} }] }`);
  for (let i = 0; i < services; i++) lines.push(`  - { vip: 198.18.${i >> 8}.${i & 255}, port: 80, scheduler: ${i % 100 === 0 ? 'mh' : 'wlc'}, reals: [{ address: ${lab.addr.reals[0]} }, { address: ${lab.addr.reals[1]} }] }`);
  return `${lines.join('\n')}\n`;
}

before(async () => {
  lab = await Lab.create({ reals: 2 });
  xlvsd = await XlvsdProcess.start(lab, { config: config(0), readyTimeoutMs: 60_000 });
});

after(async () => {
  await xlvsd?.destroy().catch((e: unknown) => console.error('xlvsd teardown failed', e));
  await lab?.destroy();
});

/** Logged `msg` count in the daemon's output. */
const logged = (msg: string): number => xlvsd.output.split('\n').filter((l) => l.includes(`"msg":"${msg}"`)).length;

/**
 * Calls `read` back to back until `done` holds (bounded: 120 s); returns the latencies of the
 * calls `counts` accepts (by their answer) and how many there were.
 */
async function readLoop<T>(read: (api: ApiClient) => Promise<T>, counts: (answer: T) => boolean, done: () => boolean): Promise<number[]> {
  const ms: number[] = [];
  const deadline = Date.now() + 120_000;
  while (!done()) {
    assert.ok(Date.now() < deadline, 'the change did not end within 120 s');
    const t = performance.now();
    const answer = await read(xlvsd.api);
    const took = performance.now() - t;
    if (counts(answer)) ms.push(took);
    await sleep(5);
  }
  return ms;
}

test(`ListServices answers within ${READ_BOUND_MS} ms while ${BIG} services are added`, async (t) => {
  const reloads = logged('config reloaded');
  xlvsd.writeConfig(config(BIG));
  xlvsd.reload();
  // Reads served from the state before the change (one service) measure the event loop, not
  // the size of the answer.
  const ms = await readLoop((api) => api.listServices(), (s) => s.length === 1, () => logged('config reloaded') > reloads);
  assert.equal((await xlvsd.api.listServices()).length, BIG + 1, 'the change was applied');
  assert.ok(ms.length >= 10, `the loop read ${ms.length} times during the change`);
  t.diagnostic(`${ms.length} reads, max ${Math.max(...ms).toFixed(1)} ms`);
  assert.ok(Math.max(...ms) < READ_BOUND_MS, `a read took ${Math.max(...ms).toFixed(1)} ms during the change`);
});

test(`the API answers within ${READ_BOUND_MS} ms while ${BIG} services are removed`, async (t) => {
  const reloads = logged('config reloaded');
  xlvsd.writeConfig(config(0));
  xlvsd.reload();
  const ms = await readLoop((api) => api.drops(), () => true, () => logged('config reloaded') > reloads);
  assert.equal((await xlvsd.api.listServices()).length, 1, 'the change was applied');
  assert.ok(ms.length >= 10, `the loop read ${ms.length} times during the change`);
  t.diagnostic(`${ms.length} reads, max ${Math.max(...ms).toFixed(1)} ms`);
  assert.ok(Math.max(...ms) < READ_BOUND_MS, `a read took ${Math.max(...ms).toFixed(1)} ms during the change`);
  // The removed services' tables go in the background, and the API still answers meanwhile.
  const t0 = performance.now();
  await xlvsd.api.getCapabilities();
  assert.ok(performance.now() - t0 < READ_BOUND_MS);
});
