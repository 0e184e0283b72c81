// SPDX-License-Identifier: Apache-2.0
// The reconciler's batched writes and its skip of unchanged services, against a real loaded data
// plane: what each apply writes (counted per map, and checked in the maps themselves), that the
// same spec object again writes nothing but cfg, that an equal copy diffs to nothing, that a
// changed scheduler reaches the service entry, and that removals free every slot.

import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { TestDataplane } from '../../testing/fixture.js';
import { Reconciler } from '../../src/dataplane/reconcile.js';
import { desired, service } from '../../testing/desired.js';
import { applyOverrides } from '../../src/state/overrides.js';
import { XLVS_REAL_F_USED, XLVS_SCHED_MH, XLVS_SCHED_WRR } from '../../src/gen/abi.js';
import type { SchedulerName, ServiceSpec } from '../../src/model/types.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const log = pino({ level: 'warn' }, pino.destination(2));
let dp: TestDataplane;

// A fresh data plane per test: each test's reconciler starts from empty maps.
beforeEach(async () => {
  dp = TestDataplane.load(join(ROOT, 'build/xlvs.bpf.o'), `/sys/fs/bpf/xlvs-test-${process.pid}-${randomBytes(4).toString('hex')}`);
});
afterEach(() => dp?.close());

const SCHEDS: SchedulerName[] = ['wlc', 'rr', 'wrr', 'sh', 'mh'];
const N = 600; // more than one TABLE_BATCH (512) of inner maps

function specs(n = N): ServiceSpec[] {
  return Array.from({ length: n }, (_, i) => service(`198.18.${i >> 8}.${i & 255}`, 80, 'tcp', SCHEDS[i % SCHEDS.length]!,
    Array.from({ length: 8 }, (_, j) => ({ address: `10.77.${1 + j}.${i & 255}`, port: 8000 + (i >> 8), weight: 1 + (j % 3) })),
    { mh_table_size: 251 }));
}

const usedReals = (): number => [...dp.maps.reals.entries()].filter(([, r]) => (r.flags & XLVS_REAL_F_USED) !== 0).length;

test('batched apply of 600 services x 8: counted writes match the maps; the same objects again write only cfg', async () => {
  const r = new Reconciler(dp.maps, log);
  const d = desired(specs(), { hash_seed: 5 });
  const first = await r.apply(d);
  assert.equal(first.added, N);
  assert.equal(first.changed, 0, 'new services count as added only');
  assert.deepEqual(
    { reals: first.writes.reals, tables: first.writes.svc_tables, svcs: first.writes.svcs, vips: first.writes.vips },
    { reals: N * 8, tables: N, svcs: N, vips: N + N }, // a frontend and an address entry per VIP
  );
  assert.equal(usedReals(), N * 8);
  assert.equal([...dp.maps.svcTables.entries()].length, N);
  const mhId = r.slotsOf('tcp/198.18.0.4:80')!.id;
  assert.equal(dp.maps.svcs.lookup(mhId)!.sched, XLVS_SCHED_MH);
  assert.equal(dp.maps.svcs.lookup(mhId)!.table_len, 251);

  assert.deepEqual((await r.apply(d)).writes, { cfg: 1 }, 'same objects: nothing to diff');
  assert.deepEqual((await r.apply(desired(specs(), { hash_seed: 5 }))).writes, { cfg: 1 }, 'equal copies: nothing changed');

  // One weight through the overrides: only that service is a new object.
  const o = applyOverrides(d, [{ op: 'set', service: 'tcp/198.18.1.44:80', real: { address: '10.77.3.44', port: 8001, weight: 9, method: 'nat', upper_threshold: 0, lower_threshold: 0 } }]);
  assert.equal(o.services.filter((s, i) => s !== d.services[i]).length, 1, 'overrides copy only the service they touch');
  const one = await r.apply(o);
  assert.equal(one.changed, 1);
  assert.equal(one.writes.reals, 1);
  assert.equal(one.writes.svc_tables, 1);
  assert.equal(one.writes.vips, undefined);
});

test('a changed scheduler reaches the service entry; removing services frees their reals and tables', async () => {
  // A removed service's table is dropped in the background (each delete waits an RCU grace
  // period, and svc_tables has no batch delete here): settled() waits for that.
  const M = 40;
  const r = new Reconciler(dp.maps, log);
  await r.apply(desired(specs(M), { hash_seed: 5 }));
  const next = specs(M);
  next[0] = { ...next[0]!, scheduler: 'wrr' }; // was wlc
  await r.apply(desired(next, { hash_seed: 5 }));
  assert.equal(dp.maps.svcs.lookup(r.slotsOf('tcp/198.18.0.0:80')!.id)!.sched, XLVS_SCHED_WRR);

  const gone = await r.apply(desired(next.slice(0, M - 20), { hash_seed: 5 }));
  assert.equal(gone.removed, 20);
  assert.equal(usedReals(), (M - 20) * 8);
  await r.settled();
  assert.equal([...dp.maps.svcTables.entries()].length, M - 20);
  await r.apply(desired([]));
  assert.equal(usedReals(), 0);
  await r.settled();
  assert.equal([...dp.maps.svcTables.entries()].length, 0);
});
