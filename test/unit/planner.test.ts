// SPDX-License-Identifier: Apache-2.0
// The data plane's planner (src/dataplane/planner.ts) without a kernel: the order of the steps
// it plans (what keeps packets in flight safe), what it allocates, that planning changes nothing
// of the index it was given, that refusals come before any step, and the slot index both ways,
// adoption from map entries included.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { planApply, type WritePlan } from '../../src/dataplane/planner.js';
import { SlotIndex } from '../../src/dataplane/slots.js';
import { EMPTY_SVC, frontKeyOf, realEntry, svcEntry } from '../../src/dataplane/encode.js';
import { CapacityError } from '../../src/errors.js';
import { XLVS_MAX_SVC_REALS, XLVS_SRCVAL_LOOSE, XLVS_SRCVAL_STRICT, type XlvsVip, type XlvsVipKey } from '../../src/gen/abi.js';
import type { WriteStep } from '../../src/dataplane/write-plan.js';
import type { DesiredState, ServiceSpec } from '../../src/model/types.js';
import { desired, service } from '../../testing/desired.js';

const NONE = new Set<number>();
const plan = (state: DesiredState, index = new SlotIndex(), busy: ReadonlySet<number> = NONE): Promise<WritePlan> =>
  planApply({ state, index, ncpus: 2, busy: async () => busy });

/** A step as "kind map(n)", e.g. "batch reals(3)", "delete vips", "tables(2)". */
function shape(s: WriteStep): string {
  if (s.kind === 'batch') return `batch ${s.map}(${s.entries.length})`;
  if (s.kind === 'delete') return `delete ${s.map}`;
  if (s.kind === 'tables') return `tables(${s.tables.length})`;
  return `drop-table ${s.svc}`;
}

const web = (weights = [1, 1, 1], scheduler: ServiceSpec['scheduler'] = 'wrr'): ServiceSpec =>
  service('203.0.113.100', 80, 'tcp', scheduler, weights.map((weight, i) => ({ address: `10.77.0.${11 + i}`, port: 80, weight })));
const dns = (): ServiceSpec => service('203.0.113.100', 53, 'udp', 'rr', [{ address: '10.77.0.21', port: 53 }]);

describe('planApply', () => {
  it('a first apply: reals, then tables and entries, then frontends, then the VIP address', async () => {
    const p = await plan(desired([web(), dns()]));
    assert.deepEqual(p.steps.map(shape), [
      'batch cfg(1)', 'batch srcval(1)',
      'batch real_stats(4)', 'batch reals(4)', 'batch svc_stats(2)', 'batch svc_rr(2)',
      'batch svc_reals(4)', 'tables(2)', 'batch svcs(2)',
      'batch vips(2)', 'batch vips(1)',
    ]);
    assert.deepEqual([p.added, p.removed, p.changed], [2, 0, 0]);
    assert.equal(p.next.svcs.get('tcp/203.0.113.100:80')!.id, 0);
    assert.deepEqual([...p.next.svcs.get('udp/203.0.113.100:53')!.reals.values()].map((r) => r.id), [3]);
    assert.deepEqual([...p.next.addrs], ['203.0.113.100']);
  });

  it('changes nothing of the index it plans against: the same plan twice, and the index still empty', async () => {
    const index = new SlotIndex();
    const state = desired([web(), dns()]);
    const a = await plan(state, index);
    const b = await plan(state, index);
    assert.deepEqual(a.steps, b.steps);
    assert.equal(index.svcs.size + index.fronts.size + index.addrs.size + index.realIds.size + index.svcIds.size, 0);
  });

  it('the same spec objects again plan only the cfg write; an equal copy diffs to nothing either', async () => {
    const state = desired([web(), dns()]);
    const first = await plan(state);
    assert.deepEqual((await plan(state, first.next)).steps.map(shape), ['batch cfg(1)']);
    assert.deepEqual((await plan(desired([web(), dns()]), first.next)).steps.map(shape), ['batch cfg(1)']);
  });

  it('a removed service loses its frontend first, then its entry, table and reals', async () => {
    const first = await plan(desired([web(), dns()]));
    const p = await plan(desired([web()]), first.next);
    assert.deepEqual(p.steps.map(shape), ['batch cfg(1)', 'delete vips', 'batch svcs(1)', 'drop-table 1', 'batch reals(1)']);
    assert.deepEqual([p.added, p.removed, p.changed], [0, 1, 0]);
    assert.equal(p.next.realIds.size, 3, 'its real slot is free again');
  });

  it('a shrinking table: the entry (shorter table_len) goes before the swap; a growing one after it', async () => {
    const first = await plan(desired([web([3, 1, 1])]));
    const shrink = await plan(desired([web([1, 1, 1])]), first.next);
    assert.deepEqual(shrink.steps.map(shape), ['batch cfg(1)', 'batch reals(1)', 'batch svc_reals(3)', 'batch svcs(1)', 'tables(1)']);
    const grow = await plan(desired([web([3, 1, 1])]), shrink.next);
    assert.deepEqual(grow.steps.map(shape), ['batch cfg(1)', 'batch reals(1)', 'batch svc_reals(3)', 'tables(1)', 'batch svcs(1)']);
  });

  it('a removed real is freed only after the table that no longer holds it', async () => {
    const first = await plan(desired([web()]));
    const p = await plan(desired([web([1, 1])]), first.next);
    assert.deepEqual(p.steps.map(shape), ['batch cfg(1)', 'batch svc_reals(2)', 'batch svcs(1)', 'tables(1)', 'batch reals(1)']);
    const freed = p.steps.at(-1)!;
    assert.ok(freed.kind === 'batch' && freed.map === 'reals' && freed.entries[0]![0] === 2 && freed.entries[0]![1].flags === 0);
  });

  it('a frontend moving to another service is overwritten in place, never deleted', async () => {
    const a = { ...web(), frontends: [{ vip: '203.0.113.100', port: 80, protocol: 'tcp' as const }, { vip: '203.0.113.100', port: 443, protocol: 'tcp' as const }] };
    const b = service('203.0.113.100', 8443, 'tcp', 'rr', [{ address: '10.77.0.31', port: 443 }]);
    const first = await plan(desired([a, b]));
    const moved = await plan(desired([web(), { ...b, frontends: [...b.frontends, { vip: '203.0.113.100', port: 443, protocol: 'tcp' }] }]), first.next);
    const vips = moved.steps.filter((s) => s.kind !== 'batch' || s.map === 'vips');
    assert.deepEqual(vips.map(shape), ['batch vips(1)']);
    const step = vips[0]!;
    assert.ok(step.kind === 'batch' && step.map === 'vips');
    assert.equal((step.entries[0]![1] as XlvsVip).svc_id, moved.next.svcs.get('tcp/203.0.113.100:8443')!.id);
  });

  it('a real slot whose connections are still counted is not given to a new real', async () => {
    const p = await plan(desired([dns()]), new SlotIndex(), new Set([0, 1]));
    assert.deepEqual([...p.next.svcs.get('udp/203.0.113.100:53')!.reals.values()].map((r) => r.id), [2]);
  });

  it('refusals come before any step: too many reals in a service', async () => {
    const big = service('203.0.113.100', 80, 'tcp', 'rr', Array.from({ length: XLVS_MAX_SVC_REALS + 1 }, (_, i) => ({ address: `10.77.${i >> 8}.${i & 255}`, port: 80 })));
    await assert.rejects(plan(desired([big])), (e: unknown) => e instanceof CapacityError && /reals in service tcp\/203\.0\.113\.100:80/.test(e.message));
  });
});

describe('SlotIndex', () => {
  it('maps slots back to identities: service and real by their slot numbers', async () => {
    const p = await plan(desired([web(), dns()]));
    assert.equal(p.next.serviceAt(1), 'udp/203.0.113.100:53');
    assert.deepEqual(p.next.realAt(1), { service: 'tcp/203.0.113.100:80', real: '10.77.0.12:80' });
    assert.equal(p.next.realAt(99), undefined);
  });

  it('source validation: prefixes before the mode, only what changed, all gone with mode off', async () => {
    const sv = (mode: 'strict' | 'loose' | 'off', deny: string[]) => desired([web()], {
      source_validation: { mode, allow: [{ address: '10.77.0.50', prefix: 32 }], deny: deny.map((address) => ({ address, prefix: 24 })) },
    });
    const first = await plan(sv('strict', ['198.51.100.0', '198.18.0.0']));
    const srcvalSteps = (p: typeof first) => p.steps.filter((st) => 'map' in st && st.map.startsWith('srcval')).map(shape);
    assert.deepEqual(srcvalSteps(first), ['batch srcval_prefixes(3)', 'batch srcval(1)']);
    const same = await plan(sv('strict', ['198.51.100.0', '198.18.0.0']), first.next);
    assert.deepEqual(srcvalSteps(same), []);
    const loose = await plan(sv('loose', ['198.51.100.0']), first.next);
    assert.deepEqual(srcvalSteps(loose), ['delete srcval_prefixes', 'batch srcval(1)']);
    assert.equal(loose.next.srcval?.mode, XLVS_SRCVAL_LOOSE);
    const off = await plan(sv('off', []), loose.next);
    assert.deepEqual(srcvalSteps(off), ['delete srcval_prefixes', 'delete srcval_prefixes', 'batch srcval(1)']);
    assert.equal(off.next.prefixes.size, 0);
  });

  it('adopts what the maps hold: the same state claims the adopted slots; what no frontend leads to is an orphan', async () => {
    const s = web([2, 1]);
    const key: XlvsVipKey = frontKeyOf(s.frontends[0]!);
    const addr: XlvsVipKey = { ...key, port: 0, proto: 0 };
    const { index, orphans } = SlotIndex.adopt({
      reals: [[5, realEntry(s.reals[0]!, 7)], [6, realEntry(s.reals[1]!, 7)], [9, realEntry(dns().reals[0]!, 3)]],
      vips: [[key, { svc_id: 7, flags: 0 }], [addr, { svc_id: 0, flags: 0 }]],
      svcs: [[3, svcEntry(dns(), 1, 1, 0)], [7, svcEntry(s, 2, 3, 0)], [8, EMPTY_SVC]],
      tables: [3, 7],
      srcval: { mode: XLVS_SRCVAL_STRICT, private_ifindex: 0 }, // as the last daemon wrote it
    });
    // A crash between writes: service 3 was written whole, its frontend never was.
    assert.deepEqual(orphans, { reals: [9], svcs: [3], tables: [3] }, 'service 3 has no frontend: its entry, table and real are orphans');
    const p = await plan(desired([s]), index);
    assert.equal(p.next.svcs.get('tcp/203.0.113.100:80')!.id, 7, 'the adopted slot, not a new one');
    assert.deepEqual([...p.next.svcs.get('tcp/203.0.113.100:80')!.reals.values()].map((r) => r.id), [5, 6]);
    assert.equal(p.added, 0);
    // reals unchanged; the adopted slot has no table key: its table, list and entry are rewritten once
    assert.deepEqual(p.steps.map(shape), ['batch cfg(1)', 'batch svc_reals(2)', 'tables(1)', 'batch svcs(1)']);
  });
});
