// SPDX-License-Identifier: Apache-2.0
// A service's scheduling table as a filled inner map: slot i holds the real id of table[i],
// computed into a typed array and written in one batch (createU32Array). At 10,000 services a
// [slot, real] pair object per slot made 100 mh services spend seconds in allocation and GC.

import { createU32Array } from '../kernel/inner-map.js';
import { tableSlots } from '../sched/table.js';
import type { BpfMap } from '../kernel/map.js';

/**
 * A new inner map of `table.length` slots (at least 1), slot i holding realIds[table[i]].
 * The caller owns the fd (closeMap).
 */
export function createTableMap(name: string, table: readonly number[], realIds: readonly number[]): BpfMap<number, number> {
  return createU32Array(name, table.length, tableSlots(table, realIds));
}
