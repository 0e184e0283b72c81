// SPDX-License-Identifier: Apache-2.0
// xlvsd's state files across crashes (issue 13). overrides.json is written durably with its
// previous version kept: a file cut short by a crash falls back to overrides.json.prev with a
// warning, and when both are damaged the daemon refuses to start with the file's own error
// rather than start empty. A state dir deleted under a running data plane is said at start.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { Lab } from '../../lab/lab.js';
import { XlvsdProcess } from '../../lab/xlvsd-process.js';
import type { RealSpec, ServiceKey } from '../../src/model/types.js';

const CONFIG = `interfaces: { public: pub0, private: priv0 }
services:
  - { vip: 203.0.113.100, port: 80, scheduler: wrr, reals: [{ address: 10.77.0.11, port: 8080 }] }
`;
const WEB: ServiceKey = { vip: '203.0.113.100', port: 80, protocol: 'tcp' };
const real = (weight: number): RealSpec => ({ address: '10.77.0.12', port: 8080, weight, method: 'nat', upper_threshold: 0, lower_threshold: 0 });

let lab: Lab;
let xlvsd: XlvsdProcess;

before(async () => {
  lab = await Lab.create({ reals: 1 });
  xlvsd = await XlvsdProcess.start(lab, { config: CONFIG });
});

after(async () => {
  await xlvsd?.destroy().catch((e: unknown) => console.error('xlvsd teardown failed', e));
  await lab?.destroy();
});

const stateDir = (): string => join(xlvsd.dir, 'state');
const file = (): string => join(stateDir(), 'overrides.json');
/** The API's reals of WEB: "address:port=weight". */
const reals = async (): Promise<string[]> =>
  (await xlvsd.api.listServices())[0]!.reals.map((r) => `${r.address}:${r.port}=${r.weight}`).sort();
/** A crash mid-write, as an unsynced write leaves it: the file cut to half its length. */
const cutShort = (path: string): void => truncateSync(path, Math.floor(readFileSync(path).length / 2));

test('an overrides.json cut short by a crash falls back to overrides.json.prev, with a warning', async () => {
  await xlvsd.api.addReal(WEB, real(2));
  await xlvsd.api.addReal(WEB, real(5));
  assert.deepEqual(await reals(), ['10.77.0.11:8080=1', '10.77.0.12:8080=5']);
  await xlvsd.stop();
  cutShort(file());
  const mark = xlvsd.output.length;
  await xlvsd.launch();
  assert.deepEqual(await reals(), ['10.77.0.11:8080=1', '10.77.0.12:8080=2'], 'the previous version: the last change is lost');
  const log = xlvsd.output.slice(mark);
  assert.ok(log.includes(`${file()}: not valid JSON`) && log.includes(`using the previous version ${file()}.prev`), log.slice(-2000));
});

test('both damaged: xlvsd refuses to start with the precise error, never starts empty', async () => {
  await xlvsd.stop();
  truncateSync(file(), 0);
  cutShort(`${file()}.prev`);
  await assert.rejects(xlvsd.launch(), (e: unknown) => {
    const msg = (e as Error).message;
    assert.match(msg, /E_STATE/);
    assert.ok(msg.includes(`${file()}: empty (cut short by a crash?); its previous version is damaged too: ${file()}.prev: not valid JSON`), msg);
    return true;
  });
});

test('a state dir deleted while the data plane ran on is said at start, naming what was lost', async () => {
  rmSync(stateDir(), { recursive: true, force: true });
  const mark = xlvsd.output.length;
  await xlvsd.launch();
  assert.deepEqual(await reals(), ['10.77.0.11:8080=1'], 'the config alone');
  const log = xlvsd.output.slice(mark);
  assert.match(log, /"level":40[^\n]*state dir \S+ is gone while the data plane pinned at \S+ ran on: the reals added, removed or reweighted over the API \(overrides\.json\)/);
});
