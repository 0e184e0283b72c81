// SPDX-License-Identifier: Apache-2.0
// Inner maps of a map-of-maps: created here, filled, then put into the outer map in one
// update, so the data plane switches from the old content to the new one atomically.

import { lib, check } from './libbpf.js';
import { BpfMap } from './map.js';
import { u32 } from './codec.js';

const BPF_MAP_TYPE_ARRAY = 2;
/** Lets inner maps of one outer map differ in max_entries (kernel >= 5.10). */
export const BPF_F_INNER_MAP = 1 << 12;

/** struct bpf_map_create_opts, libbpf 1.1 (/usr/include/bpf/bpf.h). */
const OPTS_SIZE = 48;
const OPTS_MAP_FLAGS = 28;

/** Creates a u32 -> u32 array of `entries` slots (>= 1) filled with `values`
 * (the rest stays 0), flagged as an inner map. The caller owns the fd. */
export function createU32Array(name: string, entries: number, values: number[]): BpfMap<number, number> {
  const opts = Buffer.alloc(OPTS_SIZE);
  opts.writeBigUInt64LE(BigInt(OPTS_SIZE), 0);
  opts.writeUInt32LE(BPF_F_INNER_MAP, OPTS_MAP_FLAGS);
  const fd = check(`create map ${name}`, lib.map_create(BPF_MAP_TYPE_ARRAY, name.slice(0, 15), 4, 4, Math.max(1, entries), opts));
  const map = new BpfMap(name, fd, u32, u32);
  try {
    map.updateBatch(values.map((v, i) => [i, v]));
  } catch (e) {
    lib.close(fd);
    throw e;
  }
  return map;
}

/** Closes a map handle made by createU32Array (the outer map keeps its own reference). */
export function closeMap(m: BpfMap<number, number>): void {
  lib.close(m.fd);
}
