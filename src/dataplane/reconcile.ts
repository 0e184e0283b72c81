// SPDX-License-Identifier: Apache-2.0
// Desired state -> maps, by diff. The reconciler remembers which slot each
// service and real occupies; on start it rebuilds that from the pinned maps,
// so a restarted daemon changes only what the config changed.
//
// Write order keeps every intermediate state valid for packets in flight:
// a new service is fully written before its VIP entry makes it reachable;
// reals are written before the ring points at them and freed only after it
// no longer does; a removed service loses its VIP entry first.

import type pino from 'pino';
import type { Maps } from './handles.js';
import { IdAllocator } from './ids.js';
import { buildRing } from '../sched/ring.js';
import { parseIPv4, formatIPv4 } from '../config/index.js';
import { CapacityError } from '../errors.js';
import {
  XLVS_MAX_SVCS, XLVS_MAX_REALS, XLVS_RING_SIZE, XLVS_REAL_F_USED, XLVS_SCHED, XLVS_METHOD,
  type XlvsCounters, type XlvsVipKey, type XlvsReal,
} from '../gen/abi.js';
import {
  DEFAULT_MH_TABLE_SIZE, serviceId, realId, type DesiredState, type ServiceSpec, type RealSpec, type Protocol,
  type SchedulerName, type ForwardMethod, type Timeouts,
} from '../model/types.js';

const PROTO: Record<Protocol, number> = { tcp: 6, udp: 17 };
const PROTO_NAME: Record<number, Protocol> = { 6: 'tcp', 17: 'udp' };
const SCHED_NAME = Object.fromEntries(Object.entries(XLVS_SCHED).map(([k, v]) => [v, k.toLowerCase()])) as Record<number, SchedulerName>;
const METHOD_NAME = Object.fromEntries(Object.entries(XLVS_METHOD).map(([k, v]) => [v, k.toLowerCase()])) as Record<number, ForwardMethod>;

interface RealSlot extends RealSpec {
  id: number;
}

interface SvcSlot {
  id: number;
  spec: Omit<ServiceSpec, 'reals'>;
  reals: Map<string, RealSlot>; // by realId
  ringKey: string; // what the ring was built from, to skip identical rewrites
}

const NS = 1_000_000_000n;
const zeroCounters = (): XlvsCounters => ({ packets_in: 0n, bytes_in: 0n, packets_out: 0n, bytes_out: 0n, conns: 0n });
/** A free slot of the reals map: flags without XLVS_REAL_F_USED. */
const EMPTY_REAL: XlvsReal = { addr: 0, port: 0, method: 0, flags: 0, svc_id: 0, weight: 0 };

export class Reconciler {
  private readonly svcs = new Map<string, SvcSlot>(); // by serviceId
  private readonly svcIds = new IdAllocator('services', XLVS_MAX_SVCS);
  private readonly realIds = new IdAllocator('reals', XLVS_MAX_REALS);
  private readonly ncpus: number;

  constructor(private readonly maps: Maps, private readonly log: pino.Logger) {
    this.ncpus = maps.svcStats.ncpus;
  }

  /** Rebuilds our view from the maps (after a restart: pinned state). */
  adopt(): void {
    const reals = new Map<number, RealSlot & { svc: number }>();
    for (const [id, r] of this.maps.reals.entries()) {
      if (!(r.flags & XLVS_REAL_F_USED)) continue;
      reals.set(id, { id, svc: r.svc_id, address: formatIPv4(r.addr), port: r.port, weight: r.weight, method: METHOD_NAME[r.method] ?? 'nat', upper_threshold: 0, lower_threshold: 0 });
    }
    for (const [k, v] of this.maps.vips.entries()) {
      const svc = this.maps.svcs.lookup(v.svc_id)!;
      const key = { vip: formatIPv4(k.addr), port: k.port, protocol: PROTO_NAME[k.proto]! };
      const spec = { ...key, family: 4 as const, frontends: [key], scheduler: SCHED_NAME[svc.sched]!, hash: { fallback: false, port: false }, mh_table_size: DEFAULT_MH_TABLE_SIZE };
      const slot: SvcSlot = { id: v.svc_id, spec, reals: new Map(), ringKey: '' };
      this.svcIds.take(v.svc_id);
      this.svcs.set(serviceId(spec), slot);
    }
    const byId = new Map([...this.svcs.values()].map((s) => [s.id, s]));
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
    this.log.info({ services: this.svcs.size, reals: this.realIds.size }, 'adopted data-plane state');
  }

  /** Applies a desired state. Capacity is checked before anything is written. */
  apply(desired: DesiredState): { added: number; removed: number; changed: number } {
    this.checkCapacity(desired);
    this.writeTimeouts(desired.timeouts);
    const want = new Map(desired.services.map((s) => [serviceId(s), s]));
    let added = 0, removed = 0, changed = 0;
    for (const [id, slot] of this.svcs) {
      if (!want.has(id)) {
        this.removeService(id, slot);
        removed++;
      }
    }
    for (const [id, spec] of want) {
      const slot = this.svcs.get(id);
      if (!slot) {
        this.addService(id, spec);
        added++;
      } else if (this.updateService(slot, spec)) {
        changed++;
      }
    }
    if (added || removed || changed) this.log.info({ added, removed, changed }, 'data plane reconciled');
    return { added, removed, changed };
  }

  /** The slots of a service and its reals, for reading counters. */
  slotsOf(svc: string): { id: number; reals: Map<string, { id: number }> } | undefined {
    return this.svcs.get(svc);
  }

  private checkCapacity(d: DesiredState): void {
    if (d.services.length > XLVS_MAX_SVCS) throw new CapacityError('services', XLVS_MAX_SVCS);
    const reals = d.services.reduce((n, s) => n + s.reals.length, 0);
    if (reals > XLVS_MAX_REALS) throw new CapacityError('reals', XLVS_MAX_REALS);
    for (const s of d.services) {
      // Each real with weight > 0 needs at least one ring slot.
      if (s.reals.filter((r) => r.weight > 0).length > XLVS_RING_SIZE) {
        throw new CapacityError(`reals with weight > 0 in service ${serviceId(s)}`, XLVS_RING_SIZE);
      }
    }
  }

  private writeTimeouts(t: Timeouts): void {
    this.maps.cfg.update(0, {
      timeout_tcp_ns: BigInt(t.tcp) * NS,
      timeout_tcp_fin_ns: BigInt(t.tcp_fin) * NS,
      timeout_tcp_close_ns: BigInt(t.tcp_close) * NS,
      timeout_udp_ns: BigInt(t.udp) * NS,
    });
  }

  private vipKey(s: Omit<ServiceSpec, 'reals'>): XlvsVipKey {
    return { addr: parseIPv4(s.vip)!, port: s.port, proto: PROTO[s.protocol] };
  }

  private addService(id: string, spec: ServiceSpec): void {
    const svcId = this.svcIds.alloc();
    const { reals: _r, ...head } = spec;
    const slot: SvcSlot = { id: svcId, spec: head, reals: new Map(), ringKey: '' };
    this.svcs.set(id, slot);
    this.resetCounters(this.maps.svcStats, svcId);
    this.maps.svcRr.update(svcId, 0);
    this.syncReals(slot, spec);
    this.writeRing(slot);
    this.maps.vips.update(this.vipKey(head), { svc_id: svcId, flags: 0 });
    this.log.info({ service: id, svcId, reals: spec.reals.length }, 'service added');
  }

  private updateService(slot: SvcSlot, spec: ServiceSpec): boolean {
    const { reals: _r, ...head } = spec;
    slot.spec = head;
    const { freed, written } = this.syncReals(slot, spec);
    const ringChanged = this.writeRing(slot);
    for (const id of freed) this.freeReal(id);
    return ringChanged || written > 0 || freed.length > 0;
  }

  private removeService(id: string, slot: SvcSlot): void {
    this.maps.vips.delete(this.vipKey(slot.spec));
    this.maps.svcs.update(slot.id, { sched: 0, ring_len: 0, flags: 0 });
    for (const r of slot.reals.values()) this.freeReal(r.id);
    this.svcs.delete(id);
    this.svcIds.free(slot.id);
    this.log.info({ service: id, svcId: slot.id }, 'service removed');
  }

  /** Writes new and changed reals; returns ids of removed ones, to free once the ring is rewritten. */
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
      if (have && have.weight === r.weight && have.method === r.method) continue;
      const id = have?.id ?? this.realIds.alloc();
      if (!have) this.resetCounters(this.maps.realStats, id);
      this.maps.reals.update(id, {
        addr: parseIPv4(r.address)!, port: r.port, method: XLVS_METHOD[r.method.toUpperCase() as 'NAT'],
        flags: XLVS_REAL_F_USED, svc_id: slot.id, weight: r.weight,
      });
      slot.reals.set(rid, { ...r, id });
      written++;
    }
    // Keep config order for the ring (IPVS walks destinations in insertion order).
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

  /** Rewrites the ring and the service entry when what they derive from changed. */
  private writeRing(slot: SvcSlot): boolean {
    const reals = [...slot.reals.values()];
    const key = `${slot.spec.scheduler}|${reals.map((r) => `${r.id}:${r.weight}`).join(',')}`;
    if (key === slot.ringKey) return false;
    const ring = buildRing(slot.spec.scheduler, reals.map((r) => r.weight), XLVS_RING_SIZE);
    const base = slot.id * XLVS_RING_SIZE;
    this.maps.ring.updateBatch(ring.map((idx, i) => [base + i, reals[idx]!.id]));
    this.maps.svcs.update(slot.id, {
      sched: XLVS_SCHED[slot.spec.scheduler.toUpperCase() as 'RR' | 'WRR'],
      ring_len: ring.length,
      flags: 0,
    });
    slot.ringKey = key;
    return true;
  }
}
