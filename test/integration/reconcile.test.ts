// SPDX-License-Identifier: Apache-2.0
// The reconciler against a real loaded data plane (maps in a temporary pin dir, nothing
// attached): frontends that move between services, a refused change that writes nothing, and
// real slots that still have counted connections not being handed to a new real.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { TestDataplane } from '../../testing/fixture.js';
import { Reconciler } from '../../src/dataplane/reconcile.js';
import { desired, service } from '../../testing/desired.js';
import type { ServiceSpec } from '../../src/model/types.js';
import { XLVS_REAL_F_USED } from '../../src/gen/abi.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const log = pino({ level: 'warn' }, pino.destination(2));
let dp: TestDataplane;

before(async () => {
  dp = TestDataplane.load(join(ROOT, 'build/xlvs.bpf.o'), `/sys/fs/bpf/xlvs-test-${process.pid}-${randomBytes(4).toString('hex')}`);
});
after(() => dp?.close());

/** The vips map as "port -> svc_id" for the frontends of one VIP (address entries left out). */
function frontends(): Record<number, number> {
  const out: Record<number, number> = {};
  for (const [k, v] of dp.maps.vips.entries()) if (k.proto !== 0) out[k.port] = v.svc_id;
  return out;
}

/** Every map the reconciler writes, as bytes-ish text, to compare before/after. */
function snapshot(): string {
  const m = dp.maps;
  const rows = (it: Iterable<[unknown, unknown]>) => [...it].map((e) => JSON.stringify(e, (_, v) => (typeof v === 'bigint' ? String(v) : v))).sort();
  return JSON.stringify({
    vips: rows(m.vips.entries()), svcs: rows(m.svcs.entries()), reals: rows(m.reals.entries()),
    tables: rows(m.svcTables.entries()), cfg: rows(m.cfg.entries()), svcReals: rows(m.svcReals.entries()),
  });
}

const group = (ports: number[], reals: string[], extra: Partial<ServiceSpec> = {}): ServiceSpec => ({
  ...service('203.0.113.100', ports[0]!, 'tcp', 'rr', reals.map((a) => ({ address: a, port: 0 }))),
  frontends: ports.map((port) => ({ vip: '203.0.113.100', port, protocol: 'tcp' as const })),
  ...extra,
});

test('a frontend that moves to a service listed before its old one stays in the vips map', async () => {
  const r = new Reconciler(dp.maps, log);
  await r.apply(desired([group([80, 443], ['10.77.0.11'])]));
  const one = r.slotsOf('tcp/203.0.113.100:80')!.id;
  assert.deepEqual(frontends(), { 80: one, 443: one });

  await r.apply(desired([group([443], ['10.77.0.12']), group([80], ['10.77.0.11'])]));
  const two = r.slotsOf('tcp/203.0.113.100:443')!.id;
  assert.notEqual(two, one);
  assert.equal(r.slotsOf('tcp/203.0.113.100:80')!.id, one, 'the service keeping port 80 keeps its slot');
  assert.deepEqual(frontends(), { 80: one, 443: two });

  // and back: 443 rejoins the first service, the second one goes away
  await r.apply(desired([group([80, 443], ['10.77.0.11'])]));
  assert.deepEqual(frontends(), { 80: one, 443: one });
  assert.equal(r.slotsOf('tcp/203.0.113.100:443'), undefined);
  await r.apply(desired([]));
  assert.deepEqual(frontends(), {});
});

test('a change the data plane cannot take is refused before anything is written', async () => {
  const r = new Reconciler(dp.maps, log);
  await r.apply(desired([group([80], ['10.77.0.11', '10.77.0.12'])], { hash_seed: 7 }));
  const before = snapshot();
  // Maglev with a table smaller than the number of reals: the table builder refuses it.
  const mh = group([8080], ['10.77.0.21', '10.77.0.22', '10.77.0.23'], { scheduler: 'mh', mh_table_size: 2 });
  await assert.rejects(() => r.apply(desired([group([80], ['10.77.0.11', '10.77.0.13']), mh], { hash_seed: 8, timeouts: { tcp: 1, tcp_fin: 1, tcp_close: 1, udp: 1 } })));
  assert.equal(snapshot(), before, 'no map changed');
  // Too many reals in one service.
  const big = group([9000], Array.from({ length: 257 }, (_, i) => `10.78.${i >> 8}.${i & 255}`));
  await assert.rejects(() => r.apply(desired([big])), /E_CAPACITY|too many reals in service/);
  assert.equal(snapshot(), before, 'no map changed');
  // The reconciler still works from where it was.
  await r.apply(desired([]));
  assert.deepEqual(frontends(), {});
});

test('a real slot whose connections are still counted is not given to a new real', async () => {
  const first = new Reconciler(dp.maps, log);
  await first.apply(desired([group([80], ['10.77.0.11'])]));
  const id = first.slotsOf('tcp/203.0.113.100:80')!.reals.get('10.77.0.11:0')!.id;
  // The data plane still counts two connections of that real when it is removed.
  dp.maps.realConns.update(id, { active: 1, inactive: 1, overloaded: 0, seq: 0 });
  await first.apply(desired([]));

  // A fresh reconciler starts allocating at the lowest slot, where the busy one is.
  const ids = (r: Reconciler) => [...r.slotsOf('tcp/203.0.113.100:80')!.reals.values()].map((x) => x.id);
  const second = new Reconciler(dp.maps, log);
  await second.apply(desired([group([80], ['10.77.1.1', '10.77.1.2'])]));
  assert.ok(!ids(second).includes(id), `slot ${id} reused while its connections are counted: ${ids(second)}`);
  assert.ok(ids(second).every((x) => x < id + 3), `slots ${ids(second)} are the next free ones`);
  await second.apply(desired([]));

  // Once the counts are back to zero the slot is used again.
  dp.maps.realConns.update(id, { active: 0, inactive: 0, overloaded: 0, seq: 0 });
  const third = new Reconciler(dp.maps, log);
  await third.apply(desired([group([80], ['10.77.1.1'])]));
  assert.deepEqual(ids(third), [id]);
  await third.apply(desired([]));
});

test('what a crash between writes left (entries no frontend leads to) is freed at adoption', async () => {
  const svcs = (n: number, from: number) => Array.from({ length: n }, (_, i) =>
    ({ ...service('203.0.113.100', from + i, 'tcp', 'mh', [{ address: `10.77.2.${i + 1}`, port: 0 }]), mh_table_size: 251 }));
  const keep = svcs(3, 7000);
  const first = new Reconciler(dp.maps, log);
  await first.apply(desired([...keep, ...svcs(5, 8000)]));
  // A daemon killed after writing these five services' reals, svcs entries and tables, but
  // before their frontends (vips is written last): nothing leads to them any more.
  for (const [k] of [...dp.maps.vips.entries()]) if (k.proto !== 0 && k.port >= 8000) dp.maps.vips.delete(k);
  const used = () => ({
    svcs: [...dp.maps.svcs.entries()].filter(([, v]) => v.family !== 0).length,
    tables: [...dp.maps.svcTables.entries()].length,
    reals: [...dp.maps.reals.entries()].filter(([, v]) => v.flags & XLVS_REAL_F_USED).length,
  });
  assert.deepEqual(used(), { svcs: 8, tables: 8, reals: 8 }, 'the crash left them');

  const second = new Reconciler(dp.maps, log);
  second.adopt();
  await second.apply(desired(keep));
  await second.settled();
  assert.deepEqual(used(), { svcs: 3, tables: 3, reals: 3 }, 'the orphans are gone, the three services kept');
  assert.deepEqual(Object.keys(frontends()).map(Number).sort(), [7000, 7001, 7002]);
  await second.apply(desired([]));
  await second.settled();
  assert.deepEqual(used(), { svcs: 0, tables: 0, reals: 0 });
});
