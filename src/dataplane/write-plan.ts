// SPDX-License-Identifier: Apache-2.0
// An ordered write plan: what the planner decided, step by step, for the writer to carry out.
// Its recorder has the shape of the writer's batching (queue per map, flush a map's queue as
// batches, write or delete now), so the order a plan lists is exactly the order the kernel sees:
// that order is what keeps every intermediate state valid for packets in flight (planner.ts).

import type {
  XlvsCfg, XlvsCounters, XlvsReal, XlvsSrcval, XlvsSrcvalKey, XlvsSrcvalPrefix, XlvsSvc, XlvsVip, XlvsVipKey,
} from '../gen/abi.js';

/** The maps a plan writes, by their names in the object, and what their entries are. */
export interface MapEntries {
  cfg: [number, XlvsCfg];
  vips: [XlvsVipKey, XlvsVip];
  svcs: [number, XlvsSvc];
  reals: [number, XlvsReal];
  svc_reals: [number, number];
  svc_rr: [number, number];
  svc_stats: [number, XlvsCounters[]];
  real_stats: [number, XlvsCounters[]];
  srcval: [number, XlvsSrcval];
  srcval_prefixes: [XlvsSrcvalKey, XlvsSrcvalPrefix];
}
export type MapName = keyof MapEntries;

/** One service's new scheduling table: slot i holds the real slot id realIds[i]. */
export interface TableWrite {
  svc: number;
  realIds: Uint32Array;
}

export type WriteStep =
  /** Entries written to one map, in order, as few batches as the writer makes of them. */
  | { [M in MapName]: { kind: 'batch'; map: M; entries: Array<MapEntries[M]> } }[MapName]
  /** One key deleted (counted only if it was there). */
  | { [M in MapName]: { kind: 'delete'; map: M; key: MapEntries[M][0] } }[MapName]
  /** Tables swapped into svc_tables in one batch: each a fresh inner map, filled first. */
  | { kind: 'tables'; tables: TableWrite[] }
  /** svc_tables entries deleted, one by one (each waits for RCU in the kernel). */
  | { kind: 'drop-table'; svc: number };

/** Records steps with the writer's batching in mind: queue(), flush(), write(), delete(). */
export class PlanRecorder {
  readonly steps: WriteStep[] = [];
  private readonly queues = new Map<MapName, unknown[]>();

  queue<M extends MapName>(map: M, key: MapEntries[M][0], value: MapEntries[M][1]): void {
    let q = this.queues.get(map);
    if (!q) this.queues.set(map, (q = []));
    q.push([key, value]);
  }

  /** The queued entries of one map become one step. */
  flush(map: MapName): void {
    const q = this.queues.get(map);
    if (!q || q.length === 0) return;
    this.queues.delete(map);
    this.steps.push({ kind: 'batch', map, entries: q } as WriteStep);
  }

  /** A write now, ahead of anything queued. */
  write<M extends MapName>(map: M, key: MapEntries[M][0], value: MapEntries[M][1]): void {
    this.steps.push({ kind: 'batch', map, entries: [[key, value]] } as WriteStep);
  }

  delete<M extends MapName>(map: M, key: MapEntries[M][0]): void {
    this.steps.push({ kind: 'delete', map, key } as WriteStep);
  }

  tables(tables: TableWrite[]): void {
    if (tables.length > 0) this.steps.push({ kind: 'tables', tables });
  }

  dropTable(svc: number): void {
    this.steps.push({ kind: 'drop-table', svc });
  }

  /** Every queue must have been flushed: a step left queued would never be written. */
  done(): WriteStep[] {
    const left = [...this.queues.keys()];
    if (left.length > 0) throw new Error(`write plan finished with unflushed queues: ${left.join(', ')}`);
    return this.steps;
  }
}
