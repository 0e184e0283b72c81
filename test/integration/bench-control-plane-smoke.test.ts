// SPDX-License-Identifier: Apache-2.0
// Smoke run of the control-plane benchmark (bench/control-plane/control-plane.ts) at 100 services × 8 reals:
// the same code, the real daemon, the nft peer and the Maglev timings, with figures that must
// agree with each other (every service listed, a reload changing exactly one real and one table,
// a restart keeping every slot, the nft table really loaded).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { controlPlane, type ControlPlaneResult } from '../../bench/control-plane/control-plane.js';
import { renderMarkdown, machineInfo } from '../../bench/common/report.js';
import { configYaml, schedulerOf, services } from '../../bench/control-plane/control-plane-config.js';
import { nftRuleset, nftUpdate } from '../../bench/control-plane/control-plane-nft.js';
import { parseConfig } from '../../src/config/index.js';
import { InvalidArgumentError } from '../../src/errors.js';

const log = pino({ level: 'warn' }, pino.destination(2));

test('control-plane workload: the YAML is a valid xlvsd config with the stated mix; nft describes the same services', () => {
  const spec = { services: 300, realsPerService: 8 };
  const cfg = parseConfig(configYaml(spec, { public: 'pub0', private: 'priv0' }), 'gen.yaml');
  assert.equal(cfg.desired.services.length, 300);
  const count = (s: string): number => cfg.desired.services.filter((x) => x.scheduler === s).length;
  assert.deepEqual([count('mh'), count('sh'), count('rr'), count('wrr'), count('wlc')], [3, 12, 15, 15, 255]);
  assert.ok(cfg.desired.services.every((s) => s.reals.length === 8 && new Set(s.reals.map((r) => r.address)).size === 8));
  const changed = parseConfig(configYaml({ ...spec, change: { service: 150, real: 3, weight: 42 } }, { public: 'pub0', private: 'priv0' }), 'gen.yaml');
  assert.equal(changed.desired.services[150]!.reals[3]!.weight, 42);
  assert.equal(schedulerOf(150), 'wlc');
  const nft = nftRuleset(spec);
  assert.equal((nft.match(/^ {2}chain svc-/gm) ?? []).length, 300);
  assert.match(nftUpdate({ ...spec, change: { service: 150, real: 3, weight: 42 } }, 150), /mod 56 map/); // weights 1,2,3,1,2,3,1,2 sum to 15; real 3 goes 1 -> 42
  assert.throws(() => services({ services: 0, realsPerService: 8 }), (e: unknown) => e instanceof InvalidArgumentError && e.field === 'services');
});

test('control-plane bench smoke: real daemon at 100 × 8, reload changes one real, restart keeps slots, nft loaded, Maglev timed', async () => {
  const s = await controlPlane.run({ log, smoke: true });
  const r = s.data as ControlPlaneResult;
  const d = r.daemon;
  assert.equal(s.id, 'control-plane');
  assert.equal(d.services, 100);
  assert.equal(d.reals, 800);
  assert.ok(d.startMs > 0 && d.startPhases['xlvsd ready']! > d.startPhases['data plane loaded']!);
  assert.equal(d.startWrites.reals, 800, 'every real written once at start');
  assert.equal(d.startWrites.svc_tables, 100);
  for (const diff of d.reloadDiffs) {
    assert.equal(diff.realsChanged.length, 1, 'exactly the changed real');
    assert.equal(diff.tablesChanged.length, 1, 'exactly its service\'s table');
  }
  for (const w of [...d.reloadWrites, ...d.apiWrites]) {
    assert.equal(w.reals, 1);
    assert.equal(w.svc_tables, 1);
    assert.equal(w.vips, undefined, 'no frontend rewritten');
  }
  assert.ok(d.reloadMs.every((x) => x > 0) && d.apiSetWeightMs.every((x) => x > 0));
  assert.deepEqual(d.restartKeptSlots, [true]);
  assert.equal(d.restartWrites[0]!.reals, undefined, 'a restart rewrites no real');
  assert.ok(d.memAfterStart.rssKiB > 10_000 && d.memAfterStart.hwmKiB >= d.memAfterStart.rssKiB);
  assert.equal(d.kernel.tableCount, 100);
  assert.ok(d.kernel.tables > 0 && d.kernel.total > d.kernel.tables);
  assert.equal(r.nft.chains, 101, 'one chain per service plus prerouting');
  assert.ok(r.nft.loadMs[0]! > 0 && r.nft.updateMs.length === 1);
  assert.deepEqual(r.maglev.map((m) => m.reals), [8, 100]);
  assert.ok(r.maglev.every((m) => m.buildMs[0]! > 0 && m.programMs[0]! > 0));
  const md = renderMarkdown({ date: 'd', machine: machineInfo(), command: 'smoke', sections: [s] });
  assert.match(md, /Command: `node dist\/bench\/run.js --only control-plane`/);
  assert.match(md, /one weight changed, whole file reloaded/);
});
