// SPDX-License-Identifier: Apache-2.0
// Which map slot each service, real, frontend and VIP address occupies, in both directions:
// identity -> slot for the planner, slot -> identity for whoever reads the data plane's own
// numbers (counters, and later flows a peer router sends, whose slots are its own and must be
// translated through identities). Rebuilt from the pinned maps at a restart (adopt), so nothing
// is renumbered. Pure: reading the maps is the caller's.

import type { XlvsReal, XlvsSrcval, XlvsSrcvalKey, XlvsSrcvalPrefix, XlvsSvc, XlvsVip, XlvsVipKey } from '../gen/abi.js';
import { XLVS_MAX_REALS, XLVS_MAX_SVCS, XLVS_REAL_F_USED } from '../gen/abi.js';
import { addressFromBytes } from '../model/ip.js';
import { realId, serviceId, type AppliedReal, type AppliedService, type Family, type Frontend } from '../model/types.js';
import { IdAllocator } from './ids.js';
import { EMPTY_SVC, PROTO_NAME, SCHED_NAME, keyString, realFromEntry, srcvalKeyString } from './encode.js';

export interface RealSlot extends AppliedReal {
  id: number;
}

export type SvcHead = Omit<AppliedService, 'reals'>;

export interface SvcSlot {
  id: number;
  spec: SvcHead;
  reals: Map<string, RealSlot>; // by realId, in config order
  tableKey: string; // what table, list and entry were built from, to skip identical rewrites
  tableLen: number; // slots of the table in force
  /** The spec object last applied in full, and the seed then: the same object again (the
   * desired state is never mutated) means nothing of this service changed. */
  applied?: AppliedService;
  appliedSeed?: number;
}

/** A frontend in the vips map and the slot of the service it leads to. */
export interface FrontSlot {
  key: XlvsVipKey;
  svc: number;
}

/** What a real slot holds: the service (by id) and the real in it. */
export interface RealRef {
  service: string;
  real: string;
}

/** The pinned maps' entries adoption reads. */
export interface AdoptionSource {
  reals: Iterable<[number, XlvsReal]>;
  vips: Iterable<[XlvsVipKey, XlvsVip]>;
  svcs: Iterable<[number, XlvsSvc]>;
  /** The service slots svc_tables holds a table for. */
  tables: Iterable<number>;
  /** The srcval entry and the srcval_prefixes entries (absent: none written). */
  srcval?: XlvsSrcval;
  prefixes?: Iterable<[XlvsSrcvalKey, XlvsSrcvalPrefix]>;
}

/** A srcval_prefixes entry: an allow or deny prefix (enum xlvs_srcval_action). */
export interface PrefixSlot {
  key: XlvsSrcvalKey;
  action: number;
}

/** What the maps hold that no frontend leads to: left by a crash between writes. */
export interface Orphans {
  /** Real slots whose service is gone. */
  reals: number[];
  /** Service slots with an entry in svcs but no frontend. */
  svcs: number[];
  /** Service slots with a table but no frontend. */
  tables: number[];
}

export class SlotIndex {
  /** Services by serviceId. */
  readonly svcs: Map<string, SvcSlot>;
  /** Every frontend in the vips map, by keyString. */
  readonly fronts: Map<string, FrontSlot>;
  /** VIP addresses with an address entry. */
  readonly addrs: Set<string>;
  /** srcval_prefixes entries, by srcvalKeyString. */
  readonly prefixes: Map<string, PrefixSlot>;
  /** The srcval entry as last written; undefined: not known to be written. */
  srcval: XlvsSrcval | undefined;
  /** Slots found in the maps at start and not yet claimed, by the serviceId of each frontend. */
  readonly adopted: Map<string, SvcSlot>;
  readonly svcIds: IdAllocator;
  readonly realIds: IdAllocator;
  /** Service slots a planner copied from the index it cloned: its own to change. */
  private readonly owned = new Set<SvcSlot>();
  private reverse: { svcs: (string | undefined)[]; reals: (RealRef | undefined)[] } | undefined;

  constructor(from?: SlotIndex) {
    this.svcs = new Map(from?.svcs);
    this.fronts = new Map(from?.fronts);
    this.addrs = new Set(from?.addrs);
    this.prefixes = new Map(from?.prefixes);
    this.srcval = from?.srcval;
    this.adopted = new Map(from?.adopted);
    this.svcIds = from ? from.svcIds.clone() : new IdAllocator('services', XLVS_MAX_SVCS);
    this.realIds = from ? from.realIds.clone() : new IdAllocator('reals', XLVS_MAX_REALS);
  }

  /** A copy to plan in: changing it (through own() for service slots) leaves this one as it is. */
  clone(): SlotIndex {
    return new SlotIndex(this);
  }

  /** The slot of service `id`, as this index's own to change (copied once from a cloned index). */
  own(id: string): SvcSlot {
    const s = this.svcs.get(id);
    if (!s) throw new Error(`no slot for service ${id}`);
    if (this.owned.has(s)) return s;
    const mine: SvcSlot = { ...s, reals: new Map(s.reals) };
    this.owned.add(mine);
    this.svcs.set(id, mine);
    return mine;
  }

  /** Adds a service slot made by this index's planner (its own). */
  put(id: string, slot: SvcSlot): void {
    this.owned.add(slot);
    this.svcs.set(id, slot);
  }

  /** The service in slot `svcId`. */
  serviceAt(svcId: number): string | undefined {
    return this.reversed().svcs[svcId];
  }

  /** The service and real in real slot `realSlot`. */
  realAt(realSlot: number): RealRef | undefined {
    return this.reversed().reals[realSlot];
  }

  /** Slot -> identity, built on first use after a change (an index is not changed once planned). */
  private reversed(): NonNullable<SlotIndex['reverse']> {
    if (!this.reverse) {
      const svcs: (string | undefined)[] = [];
      const reals: (RealRef | undefined)[] = [];
      for (const [service, s] of this.svcs) {
        svcs[s.id] = service;
        for (const [real, r] of s.reals) reals[r.id] = { service, real };
      }
      this.reverse = { svcs, reals };
    }
    return this.reverse;
  }

  /**
   * The index of what the pinned maps hold (after a restart), and what no frontend leads to (a
   * crash between writes: a service is written whole before its frontend): the caller frees it.
   */
  static adopt(src: AdoptionSource): { index: SlotIndex; orphans: Orphans } {
    const index = new SlotIndex();
    const svcs = new Map(src.svcs);
    const reals = new Map<number, RealSlot & { svc: number }>();
    for (const [id, r] of src.reals) {
      if (!(r.flags & XLVS_REAL_F_USED)) continue;
      reals.set(id, { id, svc: r.svc_id, ...realFromEntry(r) });
    }
    const byId = new Map<number, SvcSlot>();
    for (const [k, v] of src.vips) {
      const vip = addressFromBytes(k.addr, k.family as Family);
      if (k.proto === 0) {
        index.addrs.add(vip);
        continue;
      }
      let slot = byId.get(v.svc_id);
      if (!slot) {
        const svc = svcs.get(v.svc_id) ?? EMPTY_SVC;
        const head: SvcHead = {
          vip, port: k.port, protocol: PROTO_NAME[k.proto]!, family: k.family as Family, frontends: [],
          scheduler: SCHED_NAME[svc.sched] ?? 'wlc', hash: { fallback: false, port: false }, mh_table_size: 0,
        };
        slot = { id: v.svc_id, spec: head, reals: new Map(), tableKey: '', tableLen: svc.table_len };
        byId.set(v.svc_id, slot);
        index.svcIds.take(v.svc_id);
      }
      const front: Frontend = { vip, port: k.port, protocol: PROTO_NAME[k.proto]! };
      slot.spec.frontends.push(front);
      index.fronts.set(keyString(k), { key: k, svc: slot.id });
      index.adopted.set(serviceId(front), slot);
    }
    for (const [key, v] of src.prefixes ?? []) index.prefixes.set(srcvalKeyString(key), { key, action: v.action });
    index.srcval = src.srcval;
    const orphans: Orphans = { reals: [], svcs: [], tables: [] };
    for (const r of reals.values()) {
      const svc = byId.get(r.svc);
      if (!svc) {
        orphans.reals.push(r.id);
        continue;
      }
      index.realIds.take(r.id);
      const { svc: _svc, ...slot } = r;
      svc.reals.set(realId(slot), slot);
    }
    // Every service has a family: an entry with none is a free slot.
    for (const [id, s] of svcs) if (s.family !== 0 && !byId.has(id)) orphans.svcs.push(id);
    for (const id of src.tables) if (!byId.has(id)) orphans.tables.push(id);
    return { index, orphans };
  }
}
