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
//
// The writes of one apply() go in phases, each a batch per map (map-writes.ts): every real of
// every service, then every table (reals lists, entries, inner maps), then the reals no table
// points at any more, then frontends, removals, VIP addresses. Each service still sees the order
// above; batching only makes 10,000 services one syscall per map and phase, not one per entry.

import type pino from 'pino';
import type { Maps } from './handles.js';
import { IdAllocator } from './ids.js';
import { MapWrites } from './map-writes.js';
import { buildTable } from '../sched/table.js';
import { closeMap } from '../kernel/inner-map.js';
import { createTableMap } from './table-map.js';
import { addressBytes, addressFromBytes, familyOf } from '../model/ip.js';
import { CapacityError } from '../errors.js';
import {
  XLVS_MAX_SVCS, XLVS_MAX_REALS, XLVS_MAX_SVC_REALS, XLVS_MAX_VIPS, XLVS_MAX_TABLE, XLVS_REAL_F_USED,
  XLVS_REAL_F_EVICT_DROP, XLVS_REAL_F_EVICT_RESET,
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

/** RealSpec.evict as the reals entry's flag bit: the data plane ends the real's existing flows
 * at their next packet (dropped, or a TCP client reset) instead of letting them run on. */
const EVICT_FLAG: Record<NonNullable<RealSpec['evict']>, number> = { drop: XLVS_REAL_F_EVICT_DROP, reset: XLVS_REAL_F_EVICT_RESET };
const realFlags = (r: RealSpec): number => XLVS_REAL_F_USED | (r.evict ? EVICT_FLAG[r.evict] : 0);
/** The evict a reals entry's flags say, for adopt(); RESET wins if both were ever set. */
function evictOf(flags: number): RealSpec['evict'] {
  if (flags & XLVS_REAL_F_EVICT_RESET) return 'reset';
  if (flags & XLVS_REAL_F_EVICT_DROP) return 'drop';
  return undefined;
}

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
  /** The spec object last applied in full, and the seed then: the same object again (the
   * desired state is never mutated) means nothing of this service changed. */
  applied?: ServiceSpec;
  appliedSeed?: number;
}

/** Inner maps created, filled and swapped in per batch: bounds the fds held open at once
 * (the default soft limit is 1024) while paying one RCU wait of svc_tables per batch. */
const TABLE_BATCH = 512;

/** What apply() did: services added, removed, changed, and entries written per map. */
export interface ApplyResult {
  added: number;
  removed: number;
  changed: number;
  writes: Record<string, number>;
}

/** What apply() will write for a service, worked out before anything is written. */
interface SvcPlan {
  tableKey: string;
  /** The new table as indices into the service's reals (config order); undefined: unchanged. */
  table: number[] | undefined;
  /** The very spec object applied last time (same seed): nothing to diff. */
  same: boolean;
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
  private readonly w = new MapWrites();
  /** vips keys of each spec object's frontends, computed once per object. */
  private readonly frontKeyMemo = new WeakMap<ServiceSpec, Array<{ ks: string; key: XlvsVipKey }>>();
  /** Real slots whose connections the data plane still counts, read once per apply (lazily). */
  private busyReals: Set<number> | undefined;
  private seed = 0;

  constructor(private readonly maps: Maps, private readonly log: pino.Logger) {
    this.ncpus = maps.svcStats.ncpus;
  }

  /** Rebuilds our view from the maps (after a restart: pinned state). */
  adopt(): void {
    const reals = new Map<number, RealSlot & { svc: number }>();
    for (const [id, r] of this.maps.reals.entries()) {
      if (!(r.flags & XLVS_REAL_F_USED)) continue;
      const evict = evictOf(r.flags);
      reals.set(id, {
        id, svc: r.svc_id, address: addressFromBytes(r.addr, r.family as Family), port: r.port, weight: r.weight,
        method: METHOD_NAME[r.method] ?? 'nat', upper_threshold: r.u_threshold, lower_threshold: r.l_threshold,
        ...(evict ? { evict } : {}),
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
  apply(desired: DesiredState): ApplyResult {
    const want = new Map(desired.services.map((s) => [serviceId(s), s]));
    this.claimAdopted(want);
    const plans = this.plan(desired, want);
    this.writeCfg(desired.timeouts, desired.local);
    this.seed = desired.hash_seed;
    let added = 0, removed = 0;
    const changed = new Set<SvcSlot>();
    const tables: Array<{ slot: SvcSlot; plan: SvcPlan }> = [];
    const freed: number[] = [];
    const fresh = new Set<SvcSlot>(); // added now: counted as added, not changed
    const diffed: Array<[SvcSlot, ServiceSpec]> = [];
    // 1. Every new or changed real (and the slots and counters of new services).
    for (const [id, spec] of want) {
      const plan = plans.get(id)!;
      if (plan.same) continue;
      let slot = this.svcs.get(id);
      const isNew = slot === undefined;
      if (!slot) {
        slot = this.addService(id, spec);
        fresh.add(slot);
        added++;
      } else {
        const { reals: _r, ...head } = spec;
        slot.spec = head;
      }
      diffed.push([slot, spec]);
      const r = this.syncReals(slot, spec);
      freed.push(...r.freed);
      if (plan.table !== undefined) tables.push({ slot, plan });
      if (!isNew && (plan.table !== undefined || r.written > 0 || r.freed.length > 0)) changed.add(slot);
    }
    for (const m of [this.maps.realStats, this.maps.reals, this.maps.svcStats, this.maps.svcRr] as const) this.w.flush(m as Maps['reals']);
    // 2. Tables, once their reals are in place.
    for (let i = 0; i < tables.length; i += TABLE_BATCH) this.writeTables(tables.slice(i, i + TABLE_BATCH));
    // 3. Reals no table points at any more.
    this.freeReals(freed);
    // 4. Frontends once, over every service: a frontend that moves from one service to another
    // is overwritten in place (no gap), and only keys no service wants are deleted.
    for (const slot of this.syncFrontends(want)) if (!fresh.has(slot)) changed.add(slot);
    // 5. Services no frontend leads to any more.
    const gone = [...this.svcs].filter(([id]) => !want.has(id));
    for (const [, slot] of gone) changed.delete(slot);
    this.removeServices(gone);
    removed = gone.length;
    this.syncAddresses(desired);
    for (const [slot, spec] of diffed) {
      slot.applied = spec;
      slot.appliedSeed = desired.hash_seed;
    }
    const writes = this.w.take();
    this.busyReals = undefined; // counts move with traffic: read afresh next time
    if (added || removed || changed.size) this.log.info({ added, removed, changed: changed.size, writes }, 'data plane reconciled');
    return { added, removed, changed: changed.size, writes };
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
    const same = (id: string, s: ServiceSpec): boolean => {
      const slot = this.svcs.get(id);
      return slot?.applied === s && slot.appliedSeed === d.hash_seed;
    };
    let newReals = 0;
    for (const [id, s] of want) {
      if (same(id, s)) continue;
      if (s.reals.length > XLVS_MAX_SVC_REALS) throw new CapacityError(`reals in service ${id}`, XLVS_MAX_SVC_REALS, s.reals.length);
      if (s.scheduler === 'mh' && s.mh_table_size > XLVS_MAX_TABLE) throw new CapacityError(`mh table of ${id}`, XLVS_MAX_TABLE, s.mh_table_size);
      const have = this.svcs.get(id)?.reals;
      newReals += s.reals.filter((r) => !have?.has(realId(r))).length;
    }
    if (this.realIds.size + newReals > XLVS_MAX_REALS) throw new CapacityError('reals', XLVS_MAX_REALS, this.realIds.size + newReals);
    const keys = new Set(d.services.flatMap((s) => this.frontKeys(s).map((f) => f.ks)));
    const vips = new Set(d.services.flatMap((s) => s.frontends.map((f) => f.vip)));
    const peak = new Set([...keys, ...this.fronts.keys()]).size + new Set([...vips, ...this.addrs]).size;
    if (peak > XLVS_MAX_VIPS) throw new CapacityError('frontends plus VIP addresses', XLVS_MAX_VIPS, peak);

    const plans = new Map<string, SvcPlan>();
    for (const [id, s] of want) {
      if (same(id, s)) {
        plans.set(id, { tableKey: this.svcs.get(id)!.tableKey, table: undefined, same: true });
        continue;
      }
      const seed = HASHED.has(s.scheduler) ? d.hash_seed : 0;
      const tableKey = JSON.stringify([s.scheduler, s.persistence, s.hash, s.mh_table_size, s.family, seed,
        s.reals.map((r) => [r.address, r.port, r.weight])]);
      const table = this.svcs.get(id)?.tableKey === tableKey
        ? undefined
        : buildTable(s.scheduler, s.reals.map((r) => ({ id: realId(r), weight: r.weight })), { seed, mhTableSize: s.mh_table_size });
      plans.set(id, { tableKey, table, same: false });
    }
    return plans;
  }

  private writeCfg(t: Timeouts, local: LocalAddresses): void {
    this.w.write(this.maps.cfg, 0, {
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

  /** A new service's slot, its counters and round-robin cursor from zero (queued). */
  private addService(id: string, spec: ServiceSpec): SvcSlot {
    const svcId = this.svcIds.alloc();
    const { reals: _r, ...head } = spec;
    const slot: SvcSlot = { id: svcId, spec: head, reals: new Map(), tableKey: '', tableLen: 0 };
    this.svcs.set(id, slot);
    this.w.queue(this.maps.svcStats, svcId, this.zeroPerCpu());
    this.w.queue(this.maps.svcRr, svcId, 0);
    this.log.debug({ service: id, svcId, reals: spec.reals.length, scheduler: spec.scheduler }, 'service added');
    return slot;
  }

  /** Called once no frontend leads to the services any more: entries, tables, reals. */
  private removeServices(gone: Array<[string, SvcSlot]>): void {
    if (gone.length === 0) return;
    for (const [, slot] of gone) this.w.queue(this.maps.svcs, slot.id, EMPTY_SVC);
    this.w.flush(this.maps.svcs);
    // One RCU wait per delete (see map-writes.ts); a batch delete needs bpf_map_delete_batch.
    for (const [, slot] of gone) this.w.delete(this.maps.svcTables, slot.id);
    this.freeReals(gone.flatMap(([, slot]) => [...slot.reals.values()].map((r) => r.id)));
    for (const [id, slot] of gone) {
      this.svcs.delete(id);
      this.svcIds.free(slot.id);
      this.log.debug({ service: id, svcId: slot.id }, 'service removed');
    }
  }

  /** Writes every wanted frontend whose service differs (new, or moved), then deletes the
   * frontends no service wants. Returns the services whose frontends changed. */
  private syncFrontends(want: Map<string, ServiceSpec>): Set<SvcSlot> {
    const wanted = new Map<string, { key: XlvsVipKey; slot: SvcSlot }>();
    for (const [id, spec] of want) {
      const slot = this.svcs.get(id)!;
      for (const { ks, key } of this.frontKeys(spec)) wanted.set(ks, { key, slot });
    }
    const changed = new Set<SvcSlot>();
    for (const [ks, w] of wanted) {
      const have = this.fronts.get(ks);
      if (have?.slot === w.slot) continue;
      this.w.queue(this.maps.vips, w.key, { svc_id: w.slot.id, flags: 0 });
      this.fronts.set(ks, w);
      changed.add(w.slot);
      if (have) changed.add(have.slot);
    }
    this.w.flush(this.maps.vips);
    for (const [ks, have] of [...this.fronts]) {
      if (wanted.has(ks)) continue;
      this.w.delete(this.maps.vips, have.key);
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
      this.w.queue(this.maps.vips, addrKeyOf(vip), { svc_id: 0, flags: 0 });
      this.addrs.add(vip);
    }
    this.w.flush(this.maps.vips);
    for (const vip of [...this.addrs]) {
      if (want.has(vip)) continue;
      this.w.delete(this.maps.vips, addrKeyOf(vip));
      this.addrs.delete(vip);
    }
  }

  /** Queues new and changed reals; returns ids of removed ones, to free once the table is rewritten. */
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
      const id = have?.id ?? this.realIds.alloc((i) => !this.busySlots().has(i));
      if (!have) this.w.queue(this.maps.realStats, id, this.zeroPerCpu());
      this.w.queue(this.maps.reals, id, {
        addr: addressBytes(r.address), port: r.port, method: methodCode(r.method), flags: realFlags(r),
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

  private frontKeys(s: ServiceSpec): Array<{ ks: string; key: XlvsVipKey }> {
    let keys = this.frontKeyMemo.get(s);
    if (!keys) {
      keys = s.frontends.map((f) => {
        const key = frontKeyOf(f);
        return { ks: keyString(key), key };
      });
      this.frontKeyMemo.set(s, keys);
    }
    return keys;
  }

  /** One batch read of real_conns instead of a lookup per allocated slot (80,000 at 10k x 8). */
  private busySlots(): Set<number> {
    if (!this.busyReals) {
      this.busyReals = new Set();
      for (const [id, c] of this.maps.realConns.entries()) if (busy(c)) this.busyReals.add(id);
    }
    return this.busyReals;
  }

  /** A newly allocated slot starts its counters from zero (the slot may have served before). */
  private zeroPerCpu(): XlvsCounters[] {
    return Array.from({ length: this.ncpus }, zeroCounters);
  }

  private freeReals(ids: number[]): void {
    for (const id of ids) this.w.queue(this.maps.reals, id, EMPTY_REAL);
    this.w.flush(this.maps.reals);
    for (const id of ids) this.realIds.free(id);
  }

  /** Writes the reals lists, the tables and the service entries of services with a new table.
   * Per service: reals list, then (when the table shrinks) the entry, the table swap, then
   * (when it grows) the entry: the entry's table_len and the table are two writes, and a
   * packet in between must never index past the table it finds. */
  private writeTables(batch: Array<{ slot: SvcSlot; plan: SvcPlan }>): void {
    const after: Array<[number, XlvsSvc]> = [];
    for (const { slot, plan } of batch) {
      const reals = [...slot.reals.values()];
      const base = slot.id * XLVS_MAX_SVC_REALS;
      reals.forEach((r, i) => this.w.queue(this.maps.svcReals, base + i, r.id));
      const entry = this.entryOf(slot, reals.length, plan.table!.length);
      if (plan.table!.length < slot.tableLen) this.w.queue(this.maps.svcs, slot.id, entry);
      else after.push([slot.id, entry]);
    }
    this.w.flush(this.maps.svcReals);
    this.w.flush(this.maps.svcs);
    const inners: Array<ReturnType<typeof createTableMap>> = [];
    try {
      for (const { slot, plan } of batch) {
        const inner = createTableMap(`xlvs_t${slot.id}`, plan.table!, [...slot.reals.values()].map((r) => r.id));
        inners.push(inner);
        this.w.queue(this.maps.svcTables, slot.id, inner.fd);
      }
      this.w.flush(this.maps.svcTables);
    } finally {
      for (const inner of inners) closeMap(inner);
    }
    for (const [id, entry] of after) this.w.queue(this.maps.svcs, id, entry);
    this.w.flush(this.maps.svcs);
    for (const { slot, plan } of batch) {
      slot.tableKey = plan.tableKey;
      slot.tableLen = plan.table!.length;
    }
  }

  private entryOf(slot: SvcSlot, nReals: number, tableLen: number): XlvsSvc {
    const s = slot.spec;
    let flags = 0;
    if (s.persistence) flags |= XLVS_SVC_F_PERSIST;
    if (s.hash.fallback) flags |= XLVS_SVC_F_HASH_FALLBACK;
    if (s.hash.port) flags |= XLVS_SVC_F_HASH_PORT;
    return {
      sched: schedCode(s.scheduler),
      flags,
      n_reals: nReals,
      table_len: tableLen,
      persist_ns: s.persistence ? BigInt(s.persistence.timeout) * NS : 0n,
      hash_seed: HASHED.has(s.scheduler) ? this.seed >>> 0 : 0,
      persist_plen: s.persistence ? s.persistence.netmask : 0,
      family: s.family,
    };
  }
}

/** Same reals entry: a change of any written field (evict alone too) rewrites it. */
function sameReal(a: RealSpec, b: RealSpec): boolean {
  return a.weight === b.weight && a.method === b.method && a.upper_threshold === b.upper_threshold &&
    a.lower_threshold === b.lower_threshold && a.evict === b.evict;
}


