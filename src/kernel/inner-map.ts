// SPDX-License-Identifier: Apache-2.0
// Inner maps of a map-of-maps: created here, filled, then put into the outer map in one
// update, so the data plane switches from the old content to the new one atomically.

import { lib, check } from './libbpf.js';
import { libc } from './libc.js';
import { BpfMap } from './map.js';
import { u32 } from './codec.js';
import { bpfMapCreateOpts, libbpfOpts } from './structs.js';
import { BpfError, InvalidArgumentError } from '../errors.js';

const BPF_MAP_TYPE_ARRAY = 2;
/** Lets inner maps of one outer map differ in max_entries (kernel >= 5.10). */
export const BPF_F_INNER_MAP = 1 << 12;

/** Keys 0..n-1 as u32, shared by every fill (grown on demand, never rewritten). */
let slots = new Uint32Array(0);

function slotKeys(n: number): Uint32Array {
  if (slots.length < n) {
    slots = new Uint32Array(Math.max(n, slots.length * 2));
    for (let i = 0; i < slots.length; i++) slots[i] = i;
  }
  return slots.subarray(0, n);
}

/**
 * Creates a u32 -> u32 array of `entries` slots (>= 1) filled with `values` in one
 * bpf_map_update_batch (the rest stays 0), flagged as an inner map. The typed arrays are the
 * syscall's key and value buffers: a 65537-slot Maglev table costs no per-slot objects. The
 * caller owns the fd.
 */
export function createU32Array(name: string, entries: number, values: Uint32Array): BpfMap<number, number> {
  if (values.length > Math.max(1, entries)) throw new InvalidArgumentError('values.length', values.length, `must fit the ${entries} slots of ${name}`);
  const opts = libbpfOpts(bpfMapCreateOpts, { map_flags: BPF_F_INNER_MAP });
  const fd = check(`create map ${name}`, lib.map_create(BPF_MAP_TYPE_ARRAY, name.slice(0, 15), 4, 4, Math.max(1, entries), opts));
  if (values.length === 0) return new BpfMap(name, fd, u32, u32);
  const keys = slotKeys(values.length);
  const count = Buffer.alloc(4);
  count.writeUInt32LE(values.length);
  const rc = lib.map_update_batch(fd, Buffer.from(keys.buffer, keys.byteOffset, keys.byteLength), Buffer.from(values.buffer, values.byteOffset, values.byteLength), count, null);
  if (rc < 0) {
    libc.close(fd);
    throw new BpfError(`update_batch ${name}`, -rc, `${count.readUInt32LE()} of ${values.length} written`);
  }
  return new BpfMap(name, fd, u32, u32);
}

/** Closes a map handle made by createU32Array (the outer map keeps its own reference). */
export function closeMap(m: BpfMap<number, number>): void {
  libc.close(m.fd);
}
