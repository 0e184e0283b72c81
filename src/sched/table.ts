// SPDX-License-Identifier: Apache-2.0
// The one entry point the reconciler calls: the scheduling table of a service, as indices
// into its reals (config order). rr/wrr: the ring the XDP cursor walks.

import type { SchedulerName } from '../model/types.js';
import { buildRing } from './ring.js';

/** Longest rr/wrr ring: 256 KiB of table; wrr cycles longer than this are scaled (ring.ts). */
export const MAX_RING = 65536;

export interface TableReal {
  id: string; // realId: stable identity for hashing
  weight: number;
}

export interface TableOptions {
  seed: number;
  mhTableSize: number;
}

export function buildTable(sched: SchedulerName, reals: TableReal[], _opts: TableOptions): number[] {
  switch (sched) {
    case 'rr':
    case 'wrr':
      return buildRing(sched, reals.map((r) => r.weight), MAX_RING);
    default:
      return [];
  }
}
