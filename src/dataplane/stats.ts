// SPDX-License-Identifier: Apache-2.0
// Reading the per-CPU counters back as totals.

import type { Maps } from './handles.js';
import type { Counters } from '../model/types.js';
import { XLVS_DROP, type XlvsCounters } from '../gen/abi.js';

export function sumCounters(perCpu: XlvsCounters[] | undefined): Counters {
  const t: Counters = { packets_in: 0n, bytes_in: 0n, packets_out: 0n, bytes_out: 0n, conns: 0n };
  for (const c of perCpu ?? []) {
    t.packets_in += c.packets_in;
    t.bytes_in += c.bytes_in;
    t.packets_out += c.packets_out;
    t.bytes_out += c.bytes_out;
    t.conns += c.conns;
  }
  return t;
}

/** Drop counters by reason, named after enum xlvs_drop in lower case. */
export function readDrops(maps: Maps): Record<string, bigint> {
  const out: Record<string, bigint> = {};
  for (const [name, idx] of Object.entries(XLVS_DROP)) {
    if (name === 'MAX') continue;
    out[name.toLowerCase()] = (maps.drops.lookup(idx) ?? []).reduce((s, v) => s + v, 0n);
  }
  return out;
}
