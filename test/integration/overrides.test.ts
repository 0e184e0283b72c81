// SPDX-License-Identifier: Apache-2.0
// What an API change is worth against the config file (issue 13, defect 4), through xlvsd,
// its gRPC API, SIGHUP reloads and xlvsctl. An override lives only while it changes something
// on top of the file; one that stays wins over the file, and a reload that changes its real in
// the file says so by name; `xlvsctl overrides` lists them, `xlvsctl overrides clear` gives the
// file back its say. Each reload's effect is also checked in the data plane's own view (the
// weights ListServices reads back from the maps).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Lab } from '../../lab/lab.js';
import { XlvsdProcess } from '../../lab/xlvsd-process.js';
import type { RealSpec, ServiceKey } from '../../src/model/types.js';

const XLVSCTL = new URL('../../src/cli/xlvsctl.js', import.meta.url).pathname;
const WEB: ServiceKey = { vip: '203.0.113.100', port: 80, protocol: 'tcp' };
/** The file: WEB with 10.77.0.11 at weight11 and 10.77.0.12 at weight12 (null: not there). */
const config = (weight11: number, weight12: number | null = 1): string => `interfaces: { public: pub0, private: priv0 }
services:
  - vip: 203.0.113.100
    port: 80
    scheduler: wrr
    reals: [{ address: 10.77.0.11, port: 8080, weight: ${weight11} }${weight12 === null ? '' : `, { address: 10.77.0.12, port: 8080, weight: ${weight12} }`}]
  - { vip: 203.0.113.101, port: 80, scheduler: wrr, reals: [{ address: 10.77.0.11, port: 8080 }] }
`;
const real = (address: string, weight: number): RealSpec => ({ address, port: 8080, weight, method: 'nat', upper_threshold: 0, lower_threshold: 0 });

let lab: Lab;
let xlvsd: XlvsdProcess;

before(async () => {
  lab = await Lab.create({ reals: 1 });
  xlvsd = await XlvsdProcess.start(lab, { config: config(1) });
});

after(async () => {
  await xlvsd?.destroy().catch((e: unknown) => console.error('xlvsd teardown failed', e));
  await lab?.destroy();
});

/** WEB's reals as the API lists them: "address=weight". */
const reals = async (): Promise<string[]> =>
  (await xlvsd.api.listServices()).find((s) => s.vip === WEB.vip)!.reals.map((r) => `${r.address}=${r.weight}`).sort();
const saved = (): unknown[] => JSON.parse(readFileSync(join(xlvsd.dir, 'state', 'overrides.json'), 'utf8')) as unknown[];
const ctl = async (...args: string[]): Promise<string> =>
  (await promisify(execFile)(process.execPath, [XLVSCTL, '--socket', xlvsd.socket, ...args], { encoding: 'utf8' })).stdout;

/** Rewrites the file, sends SIGHUP and waits for the reload's last line; returns the reload's log. */
async function reload(text: string): Promise<string> {
  xlvsd.writeConfig(text);
  const mark = xlvsd.output.length;
  xlvsd.reload();
  const deadline = Date.now() + 10_000;
  while (!/config reloaded|config rejected/.test(xlvsd.output.slice(mark))) {
    if (Date.now() > deadline) throw new Error(`no reload within 10 s: ${xlvsd.output.slice(mark)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return xlvsd.output.slice(mark);
}

test('an API change equal to the config leaves no override', async () => {
  await xlvsd.api.addReal(WEB, real('10.77.0.11', 1));
  assert.deepEqual(await xlvsd.api.listOverrides(), []);
  assert.deepEqual(saved(), []);
});

test('200 add/remove pairs of an API-added real leave no override behind', async () => {
  for (let i = 0; i < 200; i++) {
    await xlvsd.api.addReal(WEB, real('10.77.0.13', 1));
    await xlvsd.api.removeReal(WEB, '10.77.0.13', 8080);
  }
  assert.deepEqual(await xlvsd.api.listOverrides(), []);
  assert.deepEqual(saved(), []);
  assert.deepEqual(await reals(), ['10.77.0.11=1', '10.77.0.12=1']);
});

test('setting a real back to its config values removes its override', async () => {
  await xlvsd.api.addReal(WEB, real('10.77.0.12', 7));
  assert.equal((await xlvsd.api.listOverrides()).length, 1);
  await xlvsd.api.addReal(WEB, real('10.77.0.12', 1));
  assert.deepEqual(await xlvsd.api.listOverrides(), []);
  assert.deepEqual(await reals(), ['10.77.0.11=1', '10.77.0.12=1']);
});

test('a reload that edits an overridden real names the override that keeps the edit from applying', async () => {
  await xlvsd.api.addReal(WEB, real('10.77.0.11', 5));
  const log = await reload(config(3));
  assert.deepEqual(await reals(), ['10.77.0.11=5', '10.77.0.12=1'], 'the override wins');
  assert.match(log, /"level":40[^\n]*the file changes 10\.77\.0\.11:8080 of tcp\/203\.0\.113\.100:80 \(weight 1 nat -> weight 3 nat\) but an API override keeps it \(tcp\/203\.0\.113\.100:80: set 10\.77\.0\.11:8080 weight 5 nat\); xlvsctl overrides clear tcp\/203\.0\.113\.100:80 gives the file its say/);
  const listed = await ctl('overrides');
  assert.match(listed, /^SERVICE\s+REAL\s+API\s+FILE\n/);
  assert.match(listed, /tcp\/203\.0\.113\.100:80\s+10\.77\.0\.11:8080\s+weight 5 nat\s+weight 3 nat\n/);
});

test('a reload that makes the file say what the override says drops the override', async () => {
  const log = await reload(config(5));
  assert.match(log, /override not kept: it equals the config/);
  assert.deepEqual(await xlvsd.api.listOverrides(), []);
  assert.deepEqual(saved(), []);
  // Now the file rules that real again.
  await reload(config(2));
  assert.deepEqual(await reals(), ['10.77.0.11=2', '10.77.0.12=1']);
});

test('a reload that edits a real removed over the API names the removal; `overrides clear` lets the edit in', async () => {
  await xlvsd.api.removeReal(WEB, '10.77.0.12', 8080);
  const log = await reload(config(2, 3));
  assert.deepEqual(await reals(), ['10.77.0.11=2'], 'the removal wins');
  assert.match(log, /the file changes 10\.77\.0\.12:8080 of tcp\/203\.0\.113\.100:80 \(weight 1 nat -> weight 3 nat\) but an API override keeps it \(tcp\/203\.0\.113\.100:80: remove 10\.77\.0\.12:8080\)/);
  // An override of the other service stays when WEB's are cleared.
  await xlvsd.api.addReal({ ...WEB, vip: '203.0.113.101' }, real('10.77.0.11', 9));
  assert.match(await ctl('overrides', 'clear', 'tcp/203.0.113.100:80'), /^1 override of tcp\/203\.0\.113\.100:80 cleared; the config file applies\n$/);
  assert.deepEqual(await reals(), ['10.77.0.11=2', '10.77.0.12=3']);
  const left = JSON.parse(await ctl('overrides', '--json')) as { service: string }[];
  assert.deepEqual(left.map((o) => o.service), ['tcp/203.0.113.101:80']);
  assert.match(await ctl('overrides', 'clear'), /^1 override of every service cleared/);
  assert.deepEqual(await xlvsd.api.listOverrides(), []);
  assert.deepEqual(saved(), []);
});

test('a real removed over the API and then from the file comes back when the file adds it again', async () => {
  await xlvsd.api.removeReal(WEB, '10.77.0.12', 8080);
  const log = await reload(config(2, null));
  assert.match(log, /override not kept: it removes a real the config does not have/);
  await reload(config(2, 1));
  assert.deepEqual(await reals(), ['10.77.0.11=2', '10.77.0.12=1']);
  assert.deepEqual(await xlvsd.api.listOverrides(), []);
});

test('a service the config no longer has takes its overrides with it, and they do not come back with it', async () => {
  await xlvsd.api.addReal({ ...WEB, vip: '203.0.113.101' }, real('10.77.0.11', 9));
  const without = config(2).split('\n').filter((l) => !l.includes('203.0.113.101')).join('\n');
  const log = await reload(without);
  assert.match(log, /override not kept: its service is not in the config/);
  await reload(config(2));
  assert.deepEqual(await xlvsd.api.listOverrides(), []);
  const svc = (await xlvsd.api.listServices()).find((s) => s.vip === '203.0.113.101')!;
  assert.deepEqual(svc.reals.map((r) => r.weight), [1]);
});

test('clearing a service neither the config nor an override knows is NOT_FOUND', async () => {
  await assert.rejects(xlvsd.api.clearOverrides({ vip: '203.0.113.199', port: 80, protocol: 'tcp' }), /E_NOT_FOUND|not found/i);
});

test('a restart keeps only the overrides that change something, and says which are in force', async () => {
  await xlvsd.api.addReal(WEB, real('10.77.0.12', 4));
  await xlvsd.stop();
  xlvsd.writeConfig(config(2, 4));
  const mark = xlvsd.output.length;
  await xlvsd.launch();
  const log = xlvsd.output.slice(mark);
  assert.match(log, /saved override not kept: it equals the config/);
  assert.deepEqual(saved(), []);
  await xlvsd.api.addReal(WEB, real('10.77.0.11', 6));
  await xlvsd.stop();
  const mark2 = xlvsd.output.length;
  await xlvsd.launch();
  assert.match(xlvsd.output.slice(mark2), /"service":"tcp\/203\.0\.113\.100:80","override":"tcp\/203\.0\.113\.100:80: set 10\.77\.0\.11:8080 weight 6 nat"[^\n]*API override in force over the config file/);
});
