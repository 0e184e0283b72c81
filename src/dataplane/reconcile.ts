// SPDX-License-Identifier: Apache-2.0
// Desired state -> maps, by diff. The reconciler remembers which slot each
// service and real occupies; on start it rebuilds that from the pinned maps,
// so a restarted daemon changes only what the config changed.
//
// Write order keeps every intermediate state valid for packets in flight:
// a new service is fully written (reals, its reals list, its table, its
// entry) before a frontend makes it reachable; reals are written before a
// table points at them and freed only after it no longer does; a removed
// service loses its frontends first. A service's table is a fresh inner map
// swapped into svc_tables in one update, so a new table applies atomically.

import type pino from 'pino';
import type { Maps } from './handles.js';
import { IdAllocator } from './ids.js';
import { buildTable } from '../sched/table.js';
import { createU32Array, closeMap } from '../bpf/inner-map.js';
import { addressBytes, addressFromBytes, familyOf } from '../model/ip.js';
import { CapacityError } from '../errors.js';
import {
  XLVS_MAX_SVCS, XLVS_MAX_REALS, XLVS_MAX_SVC_REALS, XLVS_MAX_VIPS, XLVS_MAX_TABLE, XLVS_REAL_F_USED,
  XLVS_SCHED, XLVS_METHOD, XLVS_SVC_F_PERSIST, XLVS_SVC_F_HASH_FALLBACK, XLVS_SVC_F_HASH_PORT,
  type XlvsCounters, type XlvsVipKey, type XlvsReal, type XlvsSvc, type XlvsRealConns,
} from '../gen/abi.js';
import {
  serviceId, realId, type DesiredState, type ServiceSpec, type RealSpec, type Protocol, type Frontend,
  type SchedulerName, type ForwardMethod, type Family, type Timeouts, type LocalAddresses,
} from '../model/types.js';

const PROTO: Record<Protocol, number> = { tcp: 6, udp: 17 };
const PROTO_NAME: Record<number, Protocol> = { 6: 'tcp', 17: 'udp' };
const SCHED_NAME = Object.fromEntries(Object.entries(XLVS_SCHED).map(([k, v]) => [v, k.toLowerCase()])) as Record<number, SchedulerName>;
const METHOD_NAME = Object.fromEntries(Object.entries(XLVS_METHOD).map(([k, v]) => [v, k.toLowerCase()])) as Record<number, ForwardMethod>;
const schedCode = (s: SchedulerName): number => XLVS_SCHED[s.toUpperCase() as keyof typeof XLVS_SCHED];
const methodCode = (m: ForwardMethod): number => XLVS_METHOD[m.toUpperCase() as keyof typeof XLVS_METHOD];

interface RealSlot extends RealSpec {
  id: number;
}

type SvcHead = Omit<ServiceSpec, 'reals'>;

interface SvcSlot {
  id: number;
  spec: SvcHead;
  reals: Map<string, RealSlot>; // by realId, in config order
  tableKey: string; // what table, list and entry were built from, to skip identical rewrites
  tableLen: number; // slots of the table in force
}

/** What apply() will write for a service, worked out before anything is written. */
interface SvcPlan {
  tableKey: string;
  /** The new table as indices into the service's reals (config order); undefined: unchanged. */
  table: number[] | undefined;
}

const NS = 1_000_000_000n;
/** Schedulers whose picks depend on the cluster's hash seed. */
const HASHED = new Set<SchedulerName>(['sh', 'dh', 'mh']);
/** lblc/lblcr: IPVS's default expiration (sysctl lblc_expiration / lblcr_expiration, 24 h). */
const LBLC_EXPIRE_NS = 24n * 3600n * NS;
const zeroCounters = (): XlvsCounters => ({ packets_in: 0n, bytes_in: 0n, packets_out: 0n, bytes_out: 0n, conns: 0n });
const ZERO_ADDR = Buffer.alloc(16);
/** A free slot of the reals map: flags without XLVS_REAL_F_USED. */
const EMPTY_REAL: XlvsReal = {
  addr: ZERO_ADDR, port: 0, method: 0, flags: 0, family: 0, svc_id: 0, weight: 0, u_threshold: 0, l_threshold: 0,
};
const EMPTY_SVC: XlvsSvc = { sched: 0, flags: 0, n_reals: 0, table_len: 0, persist_ns: 0n, hash_seed: 0, persist_plen: 0, family: 0 };

const familyOfAddr = (a: string): Family => familyOf(a)!;

function frontKeyOf(f: Frontend): XlvsVipKey {
  return { addr: addressBytes(f.vip), port: f.port, proto: PROTO[f.protocol], family: familyOfAddr(f.vip) };
}

/** The VIP address entry (port 0, proto 0): ICMP, fragments and the first lookup of every packet. */
function addrKeyOf(vip: string): XlvsVipKey {
  return { addr: addressBytes(vip), port: 0, proto: 0, family: familyOfAddr(vip) };
}

const keyString = (k: XlvsVipKey): string => `${k.family}/${k.addr.toString('hex')}/${k.port}/${k.proto}`;

/** A connection count the data plane left non-zero (or raced below zero: a huge u32). */
const busy = (c: XlvsRealConns | undefined): boolean => c !== undefined && (c.active !== 0 || c.inactive !== 0);

export class Reconciler {
  private readonly svcs = new Map<string, SvcSlot>(); // by serviceId
  private readonly svcIds = new IdAllocator('services', XLVS_MAX_SVCS);
  private readonly realIds = new IdAllocator('reals', XLVS_MAX_REALS);
  private readonly addrs = new Set<string>(); // VIP addresses with an address entry
  /** Every frontend in the vips map and the service it leads to, by keyString. */
  private readonly fronts = new Map<string, { key: XlvsVipKey; slot: SvcSlot }>();
  /** Slots found in the maps at start, by the serviceId of each of their frontends. */
  private readonly adopted = new Map<string, SvcSlot>();
  private readonly ncpus: number;
  private seed = 0;

  constructor(private readonly maps: Maps, private readonly log: pino.Logger) {
    this.ncpus = maps.svcStats.ncpus;
  }

  /** Rebuilds our view from the maps (after a restart: pinned state). */
  adopt(): void {
    const reals = new Map<number, RealSlot & { svc: number }>();
    for (const [id, r] of this.maps.reals.entries()) {
      if (!(r.flags & XLVS_REAL_F_USED)) continue;
      reals.set(id, {
        id, svc: r.svc_id, address: addressFromBytes(r.addr, r.family as Family), port: r.port, weight: r.weight,
        method: METHOD_NAME[r.method] ?? 'nat', upper_threshold: r.u_threshold, lower_threshold: r.l_threshold,
      });
    }
    const byId = new Map<number, SvcSlot>();
    for (const [k, v] of this.maps.vips.entries()) {
      const vip = addressFromBytes(k.addr, k.family as Family);
      if (k.proto === 0) {
        this.addrs.add(vip);
        continue;
      }
      let slot = byId.get(v.svc_id);
      if (!slot) {
        const svc = this.maps.svcs.lookup(v.svc_id)!;
        const head: SvcHead = {
          vip, port: k.port, protocol: PROTO_NAME[k.proto]!, family: k.family as Family, frontends: [],
          scheduler: SCHED_NAME[svc.sched] ?? 'wlc', hash: { fallback: false, port: false }, mh_table_size: 0,
        };
        slot = { id: v.svc_id, spec: head, reals: new Map(), tableKey: '', tableLen: svc.table_len };
        byId.set(v.svc_id, slot);
        this.svcIds.take(v.svc_id);
      }
      const front: Frontend = { vip, port: k.port, protocol: PROTO_NAME[k.proto]! };
      slot.spec.frontends.push(front);
      this.fronts.set(keyString(k), { key: k, slot });
      this.adopted.set(serviceId(front), slot);
    }
    for (const r of reals.values()) {
      const svc = byId.get(r.svc);
      if (!svc) {
        // A real whose service is gone (crash between writes): free its slot.
        this.maps.reals.update(r.id, EMPTY_REAL);
        continue;
      }
      this.realIds.take(r.id);
      const { svc: _svc, ...slot } = r;
      svc.reals.set(realId(slot), slot);
    }
    this.log.info({ services: byId.size, reals: this.realIds.size }, 'adopted data-plane state');
  }

  /** Applies a desired state. Everything that can be refused (capacity, at the peak of the
   * change; tables that cannot be built) is checked before the first write. */
  apply(desired: DesiredState): { added: number; removed: number; changed: number } {
    const want = new Map(desired.services.map((s) => [serviceId(s), s]));
    this.claimAdopted(want);
    const plans = this.plan(desired, want);
    this.writeCfg(desired.timeouts, desired.local);
    this.seed = desired.hash_seed;
    let added = 0, removed = 0;
    const changed = new Set<SvcSlot>();
    for (const [id, spec] of want) {
      const slot = this.svcs.get(id);
      if (!slot) {
        this.addService(id, spec, plans.get(id)!);
        added++;
      } else if (this.updateService(slot, spec, plans.get(id)!)) {
        changed.add(slot);
      }
    }
    // Frontends once, over every service: a frontend that moves from one service to another is
    // overwritten in place (no gap), and only keys no service wants are deleted.
    for (const slot of this.syncFrontends(want)) changed.add(slot);
    for (const [id, slot] of this.svcs) {
      if (!want.has(id)) {
        this.removeService(id, slot);
        changed.delete(slot);
        removed++;
      }
    }
    this.syncAddresses(desired);
    if (added || removed || changed.size) this.log.info({ added, removed, changed: changed.size }, 'data plane reconciled');
    return { added, removed, changed: changed.size };
  }

  /** The slots of a service and its reals, for reading counters. */
  slotsOf(svc: string): { id: number; reals: Map<string, { id: number }> } | undefined {
    return this.svcs.get(svc);
  }

  /** Adopted slots take the name of the desired service that has one of their frontends first. */
  private claimAdopted(want: Map<string, ServiceSpec>): void {
    if (this.adopted.size === 0) return;
    const claimed = new Set<SvcSlot>();
    for (const [id, spec] of want) {
      const slot = this.adopted.get(serviceId(spec));
      if (!slot || claimed.has(slot)) continue;
      claimed.add(slot);
      this.svcs.set(id, slot);
    }
    let n = 0;
    for (const slot of new Set(this.adopted.values())) {
      if (!claimed.has(slot)) this.svcs.set(`(adopted #${n++})`, slot); // removed below: not wanted
    }
    this.adopted.clear();
  }

  /** Checks capacity at the peak of the change (services and reals are added before old ones
   * go, frontends written before old ones are deleted) and builds every changed table. Writes
   * nothing; throws CapacityError or the table builder's error. */
  private plan(d: DesiredState, want: Map<string, ServiceSpec>): Map<string, SvcPlan> {
    const newSvcs = [...want.keys()].filter((id) => !this.svcs.has(id)).length;
    if (this.svcIds.size + newSvcs > XLVS_MAX_SVCS) throw new CapacityError('services', XLVS_MAX_SVCS, this.svcIds.size + newSvcs);
    let newReals = 0;
    for (const [id, s] of want) {
      if (s.reals.length > XLVS_MAX_SVC_REALS) throw new CapacityError(`reals in service ${id}`, XLVS_MAX_SVC_REALS, s.reals.length);
      if (s.scheduler === 'mh' && s.mh_table_size > XLVS_MAX_TABLE) throw new CapacityError(`mh table of ${id}`, XLVS_MAX_TABLE, s.mh_table_size);
      const have = this.svcs.get(id)?.reals;
      newReals += s.reals.filter((r) => !have?.has(realId(r))).length;
    }
    if (this.realIds.size + newReals > XLVS_MAX_REALS) throw new CapacityError('reals', XLVS_MAX_REALS, this.realIds.size + newReals);
    const keys = new Set(d.services.flatMap((s) => s.frontends.map((f) => keyString(frontKeyOf(f)))));
    const vips = new Set(d.services.flatMap((s) => s.frontends.map((f) => f.vip)));
    const peak = new Set([...keys, ...this.fronts.keys()]).size + new Set([...vips, ...this.addrs]).size;
    if (peak > XLVS_MAX_VIPS) throw new CapacityError('frontends plus VIP addresses', XLVS_MAX_VIPS, peak);

    const plans = new Map<string, SvcPlan>();
    for (const [id, s] of want) {
      const seed = HASHED.has(s.scheduler) ? d.hash_seed : 0;
      const tableKey = JSON.stringify([s.scheduler, s.persistence, s.hash, s.mh_table_size, s.family, seed,
        s.reals.map((r) => [r.address, r.port, r.weight])]);
      const table = this.svcs.get(id)?.tableKey === tableKey
        ? undefined
        : buildTable(s.scheduler, s.reals.map((r) => ({ id: realId(r), weight: r.weight })), { seed, mhTableSize: s.mh_table_size });
      plans.set(id, { tableKey, table });
    }
    return plans;
  }

  private writeCfg(t: Timeouts, local: LocalAddresses): void {
    this.maps.cfg.update(0, {
      timeout_tcp_ns: BigInt(t.tcp) * NS,
      timeout_tcp_fin_ns: BigInt(t.tcp_fin) * NS,
      timeout_tcp_close_ns: BigInt(t.tcp_close) * NS,
      timeout_udp_ns: BigInt(t.udp) * NS,
      lblc_expire_ns: LBLC_EXPIRE_NS,
      lblcr_shrink_ns: LBLC_EXPIRE_NS,
      local4: local.v4 ? addressBytes(local.v4) : ZERO_ADDR,
      local6: local.v6 ? addressBytes(local.v6) : ZERO_ADDR,
      has_local: (local.v4 ? 1 : 0) | (local.v6 ? 2 : 0),
    });
  }

  private addService(id: string, spec: ServiceSpec, plan: SvcPlan): void {
    const svcId = this.svcIds.alloc();
    const { reals: _r, ...head } = spec;
    const slot: SvcSlot = { id: svcId, spec: head, reals: new Map(), tableKey: '', tableLen: 0 };
    this.svcs.set(id, slot);
    this.resetCounters(this.maps.svcStats, svcId);
    this.maps.svcRr.update(svcId, 0);
    this.syncReals(slot, spec);
    this.writeTable(slot, plan);
    this.log.info({ service: id, svcId, reals: spec.reals.length, scheduler: spec.scheduler }, 'service added');
  }

  private updateService(slot: SvcSlot, spec: ServiceSpec, plan: SvcPlan): boolean {
    const { reals: _r, ...head } = spec;
    slot.spec = head;
    const { freed, written } = this.syncReals(slot, spec);
    const tableChanged = this.writeTable(slot, plan);
    for (const id of freed) this.freeReal(id);
    return tableChanged || written > 0 || freed.length > 0;
  }

  /** Called once no frontend leads to the service any more. */
  private removeService(id: string, slot: SvcSlot): void {
    this.maps.svcs.update(slot.id, EMPTY_SVC);
    this.maps.svcTables.delete(slot.id);
    for (const r of slot.reals.values()) this.freeReal(r.id);
    this.svcs.delete(id);
    this.svcIds.free(slot.id);
    this.log.info({ service: id, svcId: slot.id }, 'service removed');
  }

  /** Writes every wanted frontend whose service differs (new, or moved), then deletes the
   * frontends no service wants. Returns the services whose frontends changed. */
  private syncFrontends(want: Map<string, ServiceSpec>): Set<SvcSlot> {
    const wanted = new Map<string, { key: XlvsVipKey; slot: SvcSlot }>();
    for (const [id, spec] of want) {
      const slot = this.svcs.get(id)!;
      for (const f of spec.frontends) {
        const key = frontKeyOf(f);
        wanted.set(keyString(key), { key, slot });
      }
    }
    const changed = new Set<SvcSlot>();
    for (const [ks, w] of wanted) {
      const have = this.fronts.get(ks);
      if (have?.slot === w.slot) continue;
      this.maps.vips.update(w.key, { svc_id: w.slot.id, flags: 0 });
      this.fronts.set(ks, w);
      changed.add(w.slot);
      if (have) changed.add(have.slot);
    }
    for (const [ks, have] of [...this.fronts]) {
      if (wanted.has(ks)) continue;
      this.maps.vips.delete(have.key);
      this.fronts.delete(ks);
      changed.add(have.slot);
    }
    return changed;
  }

  /** One address entry per VIP address in use; entries of addresses no longer used go last. */
  private syncAddresses(d: DesiredState): void {
    const want = new Set(d.services.flatMap((s) => s.frontends.map((f) => f.vip)));
    for (const vip of want) {
      if (this.addrs.has(vip)) continue;
      this.maps.vips.update(addrKeyOf(vip), { svc_id: 0, flags: 0 });
      this.addrs.add(vip);
    }
    for (const vip of [...this.addrs]) {
      if (want.has(vip)) continue;
      this.maps.vips.delete(addrKeyOf(vip));
      this.addrs.delete(vip);
    }
  }

  /** Writes new and changed reals; returns ids of removed ones, to free once the table is rewritten. */
  private syncReals(slot: SvcSlot, spec: ServiceSpec): { freed: number[]; written: number } {
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
      const id = have?.id ?? this.realIds.alloc((i) => !busy(this.maps.realConns.lookup(i)));
      if (!have) this.resetCounters(this.maps.realStats, id);
      this.maps.reals.update(id, {
        addr: addressBytes(r.address), port: r.port, method: methodCode(r.method), flags: XLVS_REAL_F_USED,
        family: familyOfAddr(r.address), svc_id: slot.id, weight: r.weight,
        u_threshold: r.upper_threshold, l_threshold: r.lower_threshold,
      });
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

  /** A newly allocated slot starts its counters from zero (the slot may have served before). */
  private resetCounters(map: Maps['svcStats'], id: number): void {
    map.update(id, Array.from({ length: this.ncpus }, zeroCounters));
  }

  private freeReal(id: number): void {
    this.maps.reals.update(id, EMPTY_REAL);
    this.realIds.free(id);
  }

  /** Writes the reals list, the table and the service entry when the plan has a new table. */
  private writeTable(slot: SvcSlot, plan: SvcPlan): boolean {
    if (plan.table === undefined) return false;
    const reals = [...slot.reals.values()];
    const s = slot.spec;
    const base = slot.id * XLVS_MAX_SVC_REALS;
    this.maps.svcReals.updateBatch(reals.map((r, i) => [base + i, r.id]));
    let flags = 0;
    if (s.persistence) flags |= XLVS_SVC_F_PERSIST;
    if (s.hash.fallback) flags |= XLVS_SVC_F_HASH_FALLBACK;
    if (s.hash.port) flags |= XLVS_SVC_F_HASH_PORT;
    const entry: XlvsSvc = {
      sched: schedCode(s.scheduler),
      flags,
      n_reals: reals.length,
      table_len: plan.table.length,
      persist_ns: s.persistence ? BigInt(s.persistence.timeout) * NS : 0n,
      hash_seed: HASHED.has(s.scheduler) ? this.seed >>> 0 : 0,
      persist_plen: s.persistence ? s.persistence.netmask : 0,
      family: s.family,
    };
    // The entry's table_len and the table are two writes: the smaller length goes in force
    // first, so a packet in between never indexes past the table it finds.
    const shrinking = plan.table.length < slot.tableLen;
    if (shrinking) this.maps.svcs.update(slot.id, entry);
    const inner = createU32Array(`xlvs_t${slot.id}`, plan.table.length, plan.table.map((i) => reals[i]!.id));
    try {
      this.maps.svcTables.update(slot.id, inner.fd);
    } finally {
      closeMap(inner);
    }
    if (!shrinking) this.maps.svcs.update(slot.id, entry);
    slot.tableKey = plan.tableKey;
    slot.tableLen = plan.table.length;
    return true;
  }
}

function sameReal(a: RealSpec, b: RealSpec): boolean {
  return a.weight === b.weight && a.method === b.method && a.upper_threshold === b.upper_threshold &&
    a.lower_threshold === b.lower_threshold;
}


