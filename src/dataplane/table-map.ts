// SPDX-License-Identifier: Apache-2.0
// A service's scheduling table as a filled inner map, written from typed arrays in one
// bpf_map_update_batch. Why not createU32Array's values list: a Maglev table is 65537 slots, and
// building a [slot, real] pair per slot (then encoding each) made 100 mh services spend seconds
// in allocation and GC at 10,000 services; here the key and value buffers are the arrays.

import { createU32Array } from '../bpf/inner-map.js';
import { lib } from '../bpf/libbpf.js';
import { BpfError } from '../errors.js';
import type { BpfMap } from '../bpf/map.js';

/** Keys 0..n-1 as u32, shared by every table (grown on demand, never rewritten). */
let slots = new Uint32Array(0);

function slotKeys(n: number): Uint32Array {
  if (slots.length < n) {
    slots = new Uint32Array(Math.max(n, slots.length * 2));
    for (let i = 0; i < slots.length; i++) slots[i] = i;
  }
  return slots.subarray(0, n);
}

/**
 * A new inner map of `table.length` slots (at least 1), slot i holding realIds[table[i]].
 * The caller owns the fd (closeMap).
 */
export function createTableMap(name: string, table: readonly number[], realIds: readonly number[]): BpfMap<number, number> {
  const map = createU32Array(name, table.length, []);
  if (table.length === 0) return map;
  const values = new Uint32Array(table.length);
  for (let i = 0; i < table.length; i++) values[i] = realIds[table[i]!]!;
  const keys = slotKeys(table.length);
  const count = Buffer.alloc(4);
  count.writeUInt32LE(table.length);
  const rc = lib.map_update_batch(map.fd, Buffer.from(keys.buffer, keys.byteOffset, keys.byteLength), Buffer.from(values.buffer), count, null);
  if (rc < 0) {
    lib.close(map.fd);
    throw new BpfError(`update_batch ${name}`, -rc, `${count.readUInt32LE()} of ${table.length} written`);
  }
  return map;
}
