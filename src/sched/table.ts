// SPDX-License-Identifier: Apache-2.0
// The one entry point the reconciler calls: the scheduling table of a service, as indices into
// its reals (config order), which the data plane reads from the service's inner table.
//   rr, wrr  the ring the XDP cursor walks (ring.ts)
//   sh, dh   IPVS's 256 buckets (hash-table.ts)
//   mh       the maglev lookup table, opts.mhTableSize slots (maglev.ts)
//   others   no table: lc, wlc, sed, nq, fo, ovf, lblc, lblcr pick from live counts in XDP.

import type { SchedulerName } from '../model/types.js';
import { InvalidArgumentError } from '../errors.js';
import { XLVS_MAX_TABLE } from '../gen/abi.js';
import { buildRing } from './ring.js';
import { shBuckets, dhBuckets } from './hash-table.js';
import { maglevTable } from './maglev.js';

/** Longest rr/wrr ring: 256 KiB of table; wrr cycles longer than this are scaled (ring.ts). */
export const MAX_RING = 65536;

export interface TableReal {
  id: string; // realId: stable identity for hashing
  weight: number;
  /** mh only: the weight before a quiesce (IPVS last_weight), see MaglevReal. */
  lastWeight?: number;
}

export interface TableOptions {
  /** The cluster's hash seed (u32): the same seed lays out the same mh table on every router. */
  seed: number;
  /** mh: slots of the lookup table, a prime up to XLVS_MAX_TABLE. */
  mhTableSize: number;
}

export function buildTable(sched: SchedulerName, reals: TableReal[], opts: TableOptions): number[] {
  switch (sched) {
    case 'rr':
    case 'wrr':
      return buildRing(sched, reals.map((r) => r.weight), MAX_RING);
    case 'sh':
      return shBuckets(reals.map((r) => r.weight));
    case 'dh':
      return dhBuckets(reals.length);
    case 'mh':
      if (!Number.isInteger(opts.mhTableSize) || opts.mhTableSize < 2 || opts.mhTableSize > XLVS_MAX_TABLE) {
        throw new InvalidArgumentError('mh_table_size', opts.mhTableSize, `must be a prime 2..${XLVS_MAX_TABLE}`);
      }
      return maglevTable(reals, opts.mhTableSize, opts.seed);
    case 'lc':
    case 'wlc':
    case 'sed':
    case 'nq':
    case 'fo':
    case 'ovf':
    case 'lblc':
    case 'lblcr':
      return [];
  }
}

/** A table (indices into a service's reals) as the real slot ids its inner map holds. */
export function tableSlots(table: readonly number[], realIds: readonly number[]): Uint32Array {
  const values = new Uint32Array(table.length);
  for (let i = 0; i < table.length; i++) values[i] = realIds[table[i]!]!;
  return values;
}
