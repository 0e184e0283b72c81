// SPDX-License-Identifier: Apache-2.0
// Walks (or drains) the flows map in raw batches: a million entries through the typed codecs take
// seconds to decode and, to delete, a million syscalls; the benchmark's budget has no room for
// that. Fields are read at the offsets of the generated ABI layout, so a layout change follows.

import { BpfError } from '../../src/errors.js';
import { lib } from '../../src/kernel/libbpf.js';
import { ABI_LAYOUT } from '../../src/gen/abi.js';

const ENOENT = 2;
const ENOSPC = 28;
const BATCH = 65536;

// The daemon never drains a map; the binding is there for this walk.
const lookupAndDeleteBatch = lib.map_lookup_and_delete_batch;

function offsetOf(struct: string, member: string): number {
  const m = ABI_LAYOUT[struct]?.members.find(([name]) => name === member);
  if (!m) throw new BpfError('ABI layout', ENOENT, `${struct}.${member} not in the generated layout`);
  return m[1];
}

/** Offsets of the fields the benchmark reads. */
export const FLOW = {
  keySize: ABI_LAYOUT.xlvs_flow_key!.size,
  valueSize: ABI_LAYOUT.xlvs_flow!.size,
  src: offsetOf('xlvs_flow_key', 'src'),
  dst: offsetOf('xlvs_flow_key', 'dst'),
  sport: offsetOf('xlvs_flow_key', 'sport'),
  dport: offsetOf('xlvs_flow_key', 'dport'),
  expires: offsetOf('xlvs_flow', 'expires_ns'),
  state: offsetOf('xlvs_flow', 'state'),
  realId: offsetOf('xlvs_flow', 'real_id'),
  dir: offsetOf('xlvs_flow', 'dir'),
} as const;

/** visit(keys, k, values, v): one entry, its key at keys[k..], its value at values[v..]. */
export type Visit = (keys: Buffer, k: number, values: Buffer, v: number) => void;

/** Every entry of the map at fd, once; with drain, each is deleted as it is read. Returns how many. */
export function walkFlows(fd: number, visit: Visit, drain = false): number {
  let chunk = BATCH;
  let keys = Buffer.alloc(FLOW.keySize * chunk);
  let vals = Buffer.alloc(FLOW.valueSize * chunk);
  const inBatch = Buffer.alloc(8);
  const outBatch = Buffer.alloc(8);
  const count = Buffer.alloc(4);
  let first = true;
  let total = 0;
  for (;;) {
    count.writeUInt32LE(chunk);
    const args = [fd, first ? null : inBatch, outBatch, keys, vals, count, null] as const;
    const rc = (drain ? lookupAndDeleteBatch(...args) : lib.map_lookup_batch(...args)) as number;
    if (rc === -ENOSPC) {
      chunk *= 2;
      keys = Buffer.alloc(FLOW.keySize * chunk);
      vals = Buffer.alloc(FLOW.valueSize * chunk);
      continue;
    }
    if (rc < 0 && rc !== -ENOENT) throw new BpfError(drain ? 'lookup_and_delete_batch flows' : 'lookup_batch flows', -rc, `after ${total} entries`);
    const n = count.readUInt32LE();
    for (let i = 0; i < n; i++) visit(keys, i * FLOW.keySize, vals, i * FLOW.valueSize);
    total += n;
    if (rc === -ENOENT) return total;
    inBatch.set(outBatch);
    first = false;
  }
}
