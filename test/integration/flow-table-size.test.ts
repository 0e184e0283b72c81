// SPDX-License-Identifier: Apache-2.0
// flow_entries sizes the connection table (the pinned flows map) when the data plane is made.
// While that table holds connections it keeps its size: a reload asking for another one is
// refused and changes nothing, a restart asking for another one refuses to start and names the
// field, the pinned size and the way out (--teardown); the old size starts again.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Lab } from '../../lab/lab.js';
import { XlvsdProcess } from '../../lab/xlvsd-process.js';
import { pinnedMapInfo } from '../../src/kernel/map-info.js';

const config = (entries: number, weight = 1): string => `interfaces: { public: pub0, private: priv0 }
flow_entries: ${entries}
services:
  - { vip: 203.0.113.100, port: 80, scheduler: rr, reals: [{ address: 10.77.0.11, port: 8080, weight: ${weight} }] }
`;

let lab: Lab;
let xlvsd: XlvsdProcess;

before(async () => {
  lab = await Lab.create({ reals: 1 });
  xlvsd = await XlvsdProcess.start(lab, { config: config(8192) });
});

after(async () => {
  await xlvsd?.destroy().catch((e) => console.error('xlvsd teardown failed', e));
  await lab?.destroy();
});

const flowsPin = (): string => join(xlvsd.pinDir, 'maps', 'flows');
const weight = async (): Promise<number> => (await xlvsd.api.listServices())[0]!.reals[0]!.weight;

async function logged(mark: number, re: RegExp, ms = 10_000): Promise<string> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const line = xlvsd.output.slice(mark).split('\n').find((l) => re.test(l));
    if (line !== undefined) return line;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no log line ${re} within ${ms} ms: ${xlvsd.output.slice(mark).slice(-1500)}`);
}

test('flow_entries: 8192 makes a connection table of 8192 entries', () => {
  assert.equal(pinnedMapInfo(flowsPin()).maxEntries, 8192);
});

test('a reload asking for another flow_entries is refused, and the rest of that file is not applied', async () => {
  const mark = xlvsd.output.length;
  xlvsd.writeConfig(config(16384, 7));
  xlvsd.reload();
  const line = await logged(mark, /config rejected/);
  assert.match(line, /E_FLOW_TABLE_SIZE/);
  assert.match(line, /flow_entries: the pinned connection table has 8192 entries/);
  assert.equal(await weight(), 1, 'the weight in the refused file was not applied');
  assert.equal(pinnedMapInfo(flowsPin()).maxEntries, 8192);
});

test('a restart asking for another size refuses to start and says how; the pinned size starts again', async () => {
  await xlvsd.stop();
  xlvsd.writeConfig(config(16384));
  await assert.rejects(xlvsd.launch(), /xlvsd exited during start[\s\S]*E_FLOW_TABLE_SIZE[\s\S]*set flow_entries: 8192, or run xlvsd --teardown/);
  assert.equal(pinnedMapInfo(flowsPin()).maxEntries, 8192, 'the pinned table is untouched');
  xlvsd.writeConfig(config(8192, 3));
  await xlvsd.launch();
  assert.equal(await weight(), 3);
  assert.equal(pinnedMapInfo(flowsPin()).maxEntries, 8192);
});
