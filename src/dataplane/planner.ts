// SPDX-License-Identifier: Apache-2.0
// The data plane's planner: from the state to run and the slot index of what the maps hold, an
// ordered write plan and the index the maps will hold once it is written. Pure: no kernel; the
// caller passes what it read (which real slots still count connections). It gives the event loop
// a turn every few milliseconds (model/yielder.ts): planning 5,000 services took 690 ms, during
// which the API could not answer. The writer (writer.ts) carries the plan out; reconcile.ts ties
// the two together.
//
// Write order keeps every intermediate state valid for packets in flight: a new service is fully
// written (reals, its reals list, its table, its entry) before a frontend makes it reachable;
// reals are written before a table points at them and freed only after it no longer does; a
// removed service loses its frontends first. A service's table is a fresh inner map swapped into
// svc_tables in one update, so a new table applies atomically.
//
// The writes go in phases, each a batch per map: cfg and source validation (srcval_prefixes, then
// srcval), then every real of every service, then every table
// (reals lists, entries, inner maps), then the reals no table points at any more, then
// frontends, removals, VIP addresses. Each service still sees the order above; batching only
// makes 10,000 services one syscall per map and phase, not one per entry.

import { buildTable, tableSlots } from '../sched/table.js';
import { CapacityError } from '../errors.js';
import { XLVS_MAX_SVCS, XLVS_MAX_REALS, XLVS_MAX_SVC_REALS, XLVS_MAX_VIPS, XLVS_MAX_TABLE, type XlvsCounters, type XlvsVipKey } from '../gen/abi.js';
import { serviceId, realId, type AppliedService, type AppliedState } from '../model/types.js';
import {
  EMPTY_REAL, EMPTY_SVC, HASHED, addrKeyOf, cfgEntry, frontKeyOf, keyString, realEntry, sameReal, srcvalEntry, srcvalPrefixes,
  svcEntry, zeroCounters,
} from './encode.js';
import { SlotIndex, type RealSlot, type SvcSlot } from './slots.js';
import { Yielder } from '../model/yielder.js';
import { PlanRecorder, type TableWrite, type WriteStep } from './write-plan.js';

/** Inner maps created, filled and swapped in per step: bounds the fds held open at once
 * (the default soft limit is 1024) while paying one RCU wait of svc_tables per step. */
export const TABLE_BATCH = 512;

export interface PlanInput {
  /** What the data plane is to run. */
  state: AppliedState;
  /** What the maps hold now (not changed by planning). */
  index: SlotIndex;
  /** Possible CPUs: per-CPU counters are written zeroed for each. */
  ncpus: number;
  /** Real slots whose connection counts are not zero (read once, only if a service changed). */
  busy: () => Promise<ReadonlySet<number>>;
  /** The private interface's index, for source validation's loose mode (0: none known). */
  privateIfindex?: number;
}

export interface WritePlan {
  steps: WriteStep[];
  /** The index once every step is written. */
  next: SlotIndex;
  added: number;
  removed: number;
  changed: number;
}

/** What a service's diff is, worked out before anything is planned. */
interface SvcPlan {
  tableKey: string;
  /** The new table as indices into the service's reals (config order); undefined: unchanged. */
  table: number[] | undefined;
  /** The very spec object applied last time (same seed): nothing to diff. */
  same: boolean;
}

/** vips keys of each spec object's frontends, computed once per object. */
const frontKeyMemo = new WeakMap<AppliedService, Array<{ ks: string; key: XlvsVipKey }>>();
function frontKeys(s: AppliedService): Array<{ ks: string; key: XlvsVipKey }> {
  let keys = frontKeyMemo.get(s);
  if (!keys) {
    keys = s.frontends.map((f) => {
      const key = frontKeyOf(f);
      return { ks: keyString(key), key };
    });
    frontKeyMemo.set(s, keys);
  }
  return keys;
}

/** The plan for `state`. Rejects with CapacityError or the table builder's error, having planned nothing. */
export function planApply(input: PlanInput): Promise<WritePlan> {
  return new Planner(input).run();
}

class Planner {
  private readonly d: AppliedState;
  private readonly next: SlotIndex;
  private readonly w = new PlanRecorder();
  private readonly zeros: XlvsCounters[];
  private busySet: ReadonlySet<number> | undefined;
  private readonly y = new Yielder();

  constructor(private readonly input: PlanInput) {
    this.d = input.state;
    this.next = input.index.clone();
    this.zeros = Array.from({ length: input.ncpus }, zeroCounters);
  }

  async run(): Promise<WritePlan> {
    const next = this.next;
    const want = new Map(this.d.services.map((s) => [serviceId(s), s]));
    this.claimAdopted(want);
    const plans = await this.diff(want);
    this.w.write('cfg', 0, cfgEntry(this.d.timeouts, this.d.local));
    this.syncSourceValidation();
    let added = 0;
    const changed = new Set<number>();
    const tables: Array<{ slot: SvcSlot; plan: SvcPlan }> = [];
    const freed: number[] = [];
    const fresh = new Set<number>(); // added now: counted as added, not changed
    const diffed: Array<[SvcSlot, AppliedService]> = [];
    if ([...plans.values()].some((p) => !p.same)) this.busySet = await this.input.busy();
    // 1. Every new or changed real (and the slots and counters of new services).
    for (const [id, spec] of want) {
      const plan = plans.get(id)!;
      if (plan.same) continue;
      if (this.y.due()) await this.y.pause();
      const isNew = !next.svcs.has(id);
      let slot: SvcSlot;
      if (isNew) {
        slot = this.addService(id, spec);
        fresh.add(slot.id);
        added++;
      } else {
        slot = next.own(id);
        const { reals: _r, ...head } = spec;
        slot.spec = head;
      }
      diffed.push([slot, spec]);
      const r = this.syncReals(slot, spec);
      freed.push(...r.freed);
      if (plan.table !== undefined) tables.push({ slot, plan });
      if (!isNew && (plan.table !== undefined || r.written > 0 || r.freed.length > 0)) changed.add(slot.id);
    }
    for (const m of ['real_stats', 'reals', 'svc_stats', 'svc_rr'] as const) this.w.flush(m);
    // 2. Tables, once their reals are in place.
    for (let i = 0; i < tables.length; i += TABLE_BATCH) {
      if (this.y.due()) await this.y.pause();
      await this.writeTables(tables.slice(i, i + TABLE_BATCH));
    }
    if (this.y.due()) await this.y.pause();
    // 3. Reals no table points at any more.
    this.freeReals(freed);
    // 4. Frontends once, over every service: a frontend that moves from one service to another
    // is overwritten in place (no gap), and only keys no service wants are deleted.
    for (const svc of await this.syncFrontends(want)) if (!fresh.has(svc)) changed.add(svc);
    if (this.y.due()) await this.y.pause();
    // 5. Services no frontend leads to any more.
    const gone = [...next.svcs].filter(([id]) => !want.has(id));
    for (const [, slot] of gone) changed.delete(slot.id);
    this.removeServices(gone);
    if (this.y.due()) await this.y.pause();
    await this.syncAddresses();
    for (const [slot, spec] of diffed) {
      slot.applied = spec;
      slot.appliedSeed = this.d.hash_seed;
    }
    return { steps: this.w.done(), next, added, removed: gone.length, changed: changed.size };
  }

  /** Adopted slots take the name of the desired service that has one of their frontends first. */
  private claimAdopted(want: Map<string, AppliedService>): void {
    const next = this.next;
    if (next.adopted.size === 0) return;
    const claimed = new Set<SvcSlot>();
    for (const [id, spec] of want) {
      const slot = next.adopted.get(serviceId(spec));
      if (!slot || claimed.has(slot)) continue;
      claimed.add(slot);
      next.svcs.set(id, slot);
    }
    let n = 0;
    for (const slot of new Set(next.adopted.values())) {
      if (!claimed.has(slot)) next.svcs.set(`(adopted #${n++})`, slot); // removed below: not wanted
    }
    next.adopted.clear();
  }

  /** Checks capacity at the peak of the change (services and reals are added before old ones
   * go, frontends written before old ones are deleted) and builds every changed table. */
  private async diff(want: Map<string, AppliedService>): Promise<Map<string, SvcPlan>> {
    const { next, d } = this;
    const newSvcs = [...want.keys()].filter((id) => !next.svcs.has(id)).length;
    if (next.svcIds.size + newSvcs > XLVS_MAX_SVCS) throw new CapacityError('services', XLVS_MAX_SVCS, next.svcIds.size + newSvcs);
    const same = (id: string, s: AppliedService): boolean => {
      const slot = next.svcs.get(id);
      return slot?.applied === s && slot.appliedSeed === d.hash_seed;
    };
    let newReals = 0;
    for (const [id, s] of want) {
      if (same(id, s)) continue;
      if (this.y.due()) await this.y.pause();
      if (s.reals.length > XLVS_MAX_SVC_REALS) throw new CapacityError(`reals in service ${id}`, XLVS_MAX_SVC_REALS, s.reals.length);
      if (s.scheduler === 'mh' && s.mh_table_size > XLVS_MAX_TABLE) throw new CapacityError(`mh table of ${id}`, XLVS_MAX_TABLE, s.mh_table_size);
      const have = next.svcs.get(id)?.reals;
      newReals += s.reals.filter((r) => !have?.has(realId(r))).length;
    }
    if (next.realIds.size + newReals > XLVS_MAX_REALS) throw new CapacityError('reals', XLVS_MAX_REALS, next.realIds.size + newReals);
    const keys = new Set<string>();
    const vips = new Set<string>();
    for (const s of d.services) {
      if (this.y.due()) await this.y.pause();
      for (const f of frontKeys(s)) keys.add(f.ks);
      for (const f of s.frontends) vips.add(f.vip);
    }
    const peak = new Set([...keys, ...next.fronts.keys()]).size + new Set([...vips, ...next.addrs]).size;
    if (peak > XLVS_MAX_VIPS) throw new CapacityError('frontends plus VIP addresses', XLVS_MAX_VIPS, peak);

    const plans = new Map<string, SvcPlan>();
    for (const [id, s] of want) {
      if (same(id, s)) {
        plans.set(id, { tableKey: next.svcs.get(id)!.tableKey, table: undefined, same: true });
        continue;
      }
      if (this.y.due()) await this.y.pause();
      const seed = HASHED.has(s.scheduler) ? d.hash_seed : 0;
      const tableKey = JSON.stringify([s.scheduler, s.persistence, s.hash, s.mh_table_size, s.family, seed,
        s.reals.map((r) => [r.address, r.port, r.weight])]);
      const table = next.svcs.get(id)?.tableKey === tableKey
        ? undefined
        : buildTable(s.scheduler, s.reals.map((r) => ({ id: realId(r), weight: r.weight })), { seed, mhTableSize: s.mh_table_size });
      plans.set(id, { tableKey, table, same: false });
    }
    return plans;
  }

  /**
   * Source validation before any frontend changes: the allow/deny prefixes (new and changed
   * ones first, then those no longer wanted), then the mode. The order matters only within a
   * change of lists; a packet meanwhile meets one list or the other for each prefix.
   */
  private syncSourceValidation(): void {
    const next = this.next;
    const want = srcvalPrefixes(this.d.source_validation);
    for (const [ks, p] of want) {
      if (next.prefixes.get(ks)?.action === p.action) continue;
      this.w.queue('srcval_prefixes', p.key, { action: p.action });
      next.prefixes.set(ks, p);
    }
    this.w.flush('srcval_prefixes');
    for (const [ks, have] of [...next.prefixes]) {
      if (want.has(ks)) continue;
      this.w.delete('srcval_prefixes', have.key);
      next.prefixes.delete(ks);
    }
    const entry = srcvalEntry(this.d.source_validation, this.input.privateIfindex ?? 0);
    if (next.srcval?.mode !== entry.mode || next.srcval.private_ifindex !== entry.private_ifindex) {
      this.w.write('srcval', 0, entry);
      next.srcval = entry;
    }
  }

  /** A new service's slot, its counters and round-robin cursor from zero. */
  private addService(id: string, spec: AppliedService): SvcSlot {
    const svcId = this.next.svcIds.alloc();
    const { reals: _r, ...head } = spec;
    const slot: SvcSlot = { id: svcId, spec: head, reals: new Map(), tableKey: '', tableLen: 0 };
    this.next.put(id, slot);
    this.w.queue('svc_stats', svcId, this.zeros);
    this.w.queue('svc_rr', svcId, 0);
    return slot;
  }

  /** Planned once no frontend leads to the services any more: entries, tables, reals. */
  private removeServices(gone: Array<[string, SvcSlot]>): void {
    if (gone.length === 0) return;
    for (const [, slot] of gone) this.w.queue('svcs', slot.id, EMPTY_SVC);
    this.w.flush('svcs');
    for (const [, slot] of gone) this.w.dropTable(slot.id);
    this.freeReals(gone.flatMap(([, slot]) => [...slot.reals.values()].map((r) => r.id)));
    for (const [id, slot] of gone) {
      this.next.svcs.delete(id);
      this.next.svcIds.free(slot.id);
    }
  }

  /** Writes every wanted frontend whose service differs (new, or moved), then deletes the
   * frontends no service wants. Returns the service slots whose frontends changed. */
  private async syncFrontends(want: Map<string, AppliedService>): Promise<Set<number>> {
    const fronts = this.next.fronts;
    const wanted = new Map<string, { key: XlvsVipKey; svc: number }>();
    for (const [id, spec] of want) {
      if (this.y.due()) await this.y.pause();
      const svc = this.next.svcs.get(id)!.id;
      for (const { ks, key } of frontKeys(spec)) wanted.set(ks, { key, svc });
    }
    const changed = new Set<number>();
    for (const [ks, w] of wanted) {
      if (this.y.due()) await this.y.pause();
      const have = fronts.get(ks);
      if (have?.svc === w.svc) continue;
      this.w.queue('vips', w.key, { svc_id: w.svc, flags: 0 });
      fronts.set(ks, w);
      changed.add(w.svc);
      if (have) changed.add(have.svc);
    }
    this.w.flush('vips');
    for (const [ks, have] of [...fronts]) {
      if (this.y.due()) await this.y.pause();
      if (wanted.has(ks)) continue;
      this.w.delete('vips', have.key);
      fronts.delete(ks);
      changed.add(have.svc);
    }
    return changed;
  }

  /** One address entry per VIP address in use; entries of addresses no longer used go last. */
  private async syncAddresses(): Promise<void> {
    const addrs = this.next.addrs;
    const want = new Set(this.d.services.flatMap((s) => s.frontends.map((f) => f.vip)));
    for (const vip of want) {
      if (this.y.due()) await this.y.pause();
      if (addrs.has(vip)) continue;
      this.w.queue('vips', addrKeyOf(vip), { svc_id: 0, flags: 0 });
      addrs.add(vip);
    }
    this.w.flush('vips');
    for (const vip of [...addrs]) {
      if (this.y.due()) await this.y.pause();
      if (want.has(vip)) continue;
      this.w.delete('vips', addrKeyOf(vip));
      addrs.delete(vip);
    }
  }

  /** Queues new and changed reals; returns ids of removed ones, to free once the table is rewritten. */
  private syncReals(slot: SvcSlot, spec: AppliedService): { freed: number[]; written: number } {
    const want = new Map(spec.reals.map((r) => [realId(r), r]));
    const freed: number[] = [];
    let written = 0;
    for (const [rid, r] of slot.reals) {
      if (!want.has(rid)) {
        freed.push(r.id);
        slot.reals.delete(rid);
      }
    }
    for (const [rid, r] of want) {
      const have = slot.reals.get(rid);
      if (have && sameReal(have, r)) continue;
      // A slot whose connection counts are not zero still has flows of a former real that will
      // count it down when they end: it is not reused until they have.
      const id = have?.id ?? this.next.realIds.alloc((i) => !this.busy().has(i));
      if (!have) this.w.queue('real_stats', id, this.zeros);
      this.w.queue('reals', id, realEntry(r, slot.id));
      slot.reals.set(rid, { ...r, id });
      written++;
    }
    // Keep config order (IPVS walks destinations in insertion order).
    const ordered = new Map<string, RealSlot>();
    for (const rid of want.keys()) ordered.set(rid, slot.reals.get(rid)!);
    slot.reals.clear();
    for (const [k, v] of ordered) slot.reals.set(k, v);
    return { freed, written };
  }

  private busy(): ReadonlySet<number> {
    if (this.busySet === undefined) throw new Error('busy real slots not read before a service changed');
    return this.busySet;
  }

  private freeReals(ids: number[]): void {
    for (const id of ids) this.w.queue('reals', id, EMPTY_REAL);
    this.w.flush('reals');
    for (const id of ids) this.next.realIds.free(id);
  }

  /** The reals lists, the tables and the service entries of services with a new table. Per
   * service: reals list, then (when the table shrinks) the entry, the table swap, then (when it
   * grows) the entry: the entry's table_len and the table are two writes, and a packet in
   * between must never index past the table it finds. */
  private async writeTables(batch: Array<{ slot: SvcSlot; plan: SvcPlan }>): Promise<void> {
    const after: Array<[number, ReturnType<typeof svcEntry>]> = [];
    for (const { slot, plan } of batch) {
      if (this.y.due()) await this.y.pause();
      const reals = [...slot.reals.values()];
      const base = slot.id * XLVS_MAX_SVC_REALS;
      reals.forEach((r, i) => this.w.queue('svc_reals', base + i, r.id));
      const entry = svcEntry(slot.spec, reals.length, plan.table!.length, this.d.hash_seed);
      if (plan.table!.length < slot.tableLen) this.w.queue('svcs', slot.id, entry);
      else after.push([slot.id, entry]);
    }
    this.w.flush('svc_reals');
    this.w.flush('svcs');
    const built: TableWrite[] = [];
    for (const { slot, plan } of batch) {
      if (this.y.due()) await this.y.pause();
      built.push({ svc: slot.id, realIds: tableSlots(plan.table!, [...slot.reals.values()].map((r) => r.id)) });
    }
    this.w.tables(built);
    for (const [id, entry] of after) this.w.queue('svcs', id, entry);
    this.w.flush('svcs');
    for (const { slot, plan } of batch) {
      slot.tableKey = plan.tableKey;
      slot.tableLen = plan.table!.length;
    }
  }
}
