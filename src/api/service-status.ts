// SPDX-License-Identifier: Apache-2.0
// ListServices' answer: each service as configured (desired state), with what the data plane
// runs (applied state: weights after health, the sorry server), its counters and connection
// counts read from the maps at the slots the reconciler gave it, and each real's health.

import { realId, serviceId, type AppliedState, type DesiredState, type ServiceStatus } from '../model/types.js';
import type { Maps } from '../dataplane/handles.js';
import { sumCounters } from '../dataplane/stats.js';
import type { HealthStatus } from '../health/state.js';

/** Above this many reals, the counter maps are read whole instead of per real. */
const BATCH_LIST_REALS = 512;

/** The data plane's counts are u32 updated with atomic adds; one that raced below zero reads 0. */
const connCount = (v: number | undefined): number => (v === undefined || v >= 0x80000000 ? 0 : v);

export interface StatusSources {
  desired: DesiredState;
  applied: AppliedState;
  maps: Maps;
  slotsOf(service: string): { id: number; reals: Map<string, { id: number }> } | undefined;
  healthOf(service: string, real: string): HealthStatus | undefined;
}

export function serviceStatuses(src: StatusSources): ServiceStatus[] {
  const m = src.maps;
  const nReals = src.desired.services.reduce((n, s) => n + s.reals.length, 0);
  // Many reals: a few batch reads of whole maps beat a lookup pair per real (80,000 reals took
  // seconds in syscalls alone); few reals: the lookups read less.
  const batch = nReals > BATCH_LIST_REALS;
  const readAll = <V>(map: { entries(): Iterable<[number, V]> }): Map<number, V> | undefined => (batch ? new Map(map.entries()) : undefined);
  const svcStats = readAll(m.svcStats), realStats = readAll(m.realStats), realConns = readAll(m.realConns);
  const configured = new Map(src.desired.services.map((s) => [serviceId(s), s]));
  return src.applied.services.map((s) => {
    const id = serviceId(s);
    const slots = src.slotsOf(id)!;
    const base = configured.get(id)!;
    const weights = new Map(base.reals.map((r) => [realId(r), r.weight]));
    const { reals: _reals, ...head } = base;
    return {
      ...head,
      counters: sumCounters(svcStats ? svcStats.get(slots.id) : m.svcStats.lookup(slots.id)),
      reals: s.reals.map((r) => {
        const rid = realId(r);
        const slot = slots.reals.get(rid)!.id;
        const conns = realConns ? realConns.get(slot) : m.realConns.lookup(slot);
        const { evict: _evict, sorry: _sorry, check: _check, ...spec } = r;
        return {
          ...spec,
          weight: weights.get(rid) ?? base.sorry_server?.weight ?? r.weight,
          counters: sumCounters(realStats ? realStats.get(slot) : m.realStats.lookup(slot)),
          active_conns: connCount(conns?.active), inactive_conns: connCount(conns?.inactive),
          health: r.sorry ? 'unchecked' as const : src.healthOf(id, rid) ?? 'unchecked' as const,
          effective_weight: r.weight,
          sorry: r.sorry === true,
        };
      }),
    };
  });
}
