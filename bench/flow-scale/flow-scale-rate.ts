// SPDX-License-Identifier: Apache-2.0
// Sustained new-flow rate: SYNs from random sources of 198.18.0.0/15 (every one a new flow) sent
// by the packet-loop generator through the router at full speed, counted after the router by
// the sink. xlvs (attached to pub0/priv0, table emptied before the round) against nftables DNAT
// with numgen over the same four reals (conntrack flushed before the round), alternating. Also
// what a flow costs in kernel memory: for nftables the Slab growth per conntrack entry made in
// the round (and the nf_conntrack object size), for xlvs the flows map's preallocated memory.

import { readFileSync } from 'node:fs';
import type { FlowScaleEnv } from './flow-scale-env.js';
import { NEW_PORT, NEW_REALS, NEW_REAL_PORT, VIP } from './flow-scale-env.js';
import type { LiveTraffic } from './flow-scale-live.js';
import { census, meminfoKb, resetTable } from './flow-scale-table.js';
import { BenchError } from '../common/errors.js';
import { conntrackCount, flushConntrack, startNft, stopNft } from '../peers/nftables.js';

export interface RateFigure {
  peer: 'xlvs' | 'nftables';
  sent: number;
  delivered: number;
  seconds: number;
  /** Delivered new flows per second of the generator's send. */
  perSecond: number;
  /** Flows in the peer's table after the round (xlvs: complete connections; nftables: conntrack entries). */
  tracked: number;
  /** nftables only: Slab growth over the round per conntrack entry, bytes. */
  slabBytesPerEntry?: number;
}

export async function xlvsRate(env: FlowScaleEnv, live: LiveTraffic, realIds: number[], n: number): Promise<RateFigure> {
  resetTable(env, realIds);
  live.sink.reset();
  const seconds = await live.sendFlood(n);
  const d = await live.delivered();
  const c = census(env);
  return { peer: 'xlvs', sent: n, delivered: d.fresh, seconds, perSecond: d.fresh / seconds, tracked: c.complete };
}

/** nftables' documented way to balance (bench/peers/nftables.ts): DNAT in prerouting with numgen over the same reals. */
export async function nftRate(env: FlowScaleEnv, live: LiveTraffic, n: number): Promise<RateFigure> {
  const { lab } = env;
  const rtr = lab.ns.router;
  await startNft(lab, rtr, { proto: 'tcp', vip: VIP, port: NEW_PORT, reals: NEW_REALS, realPort: NEW_REAL_PORT });
  try {
    await flushConntrack(lab, rtr);
    live.sink.reset();
    const slab0 = meminfoKb('Slab');
    const before = await conntrackCount(lab, rtr);
    const seconds = await live.sendFlood(n);
    const d = await live.delivered();
    const tracked = await conntrackCount(lab, rtr);
    const slab = (meminfoKb('Slab') - slab0) * 1024;
    if (tracked - before <= 0) throw new BenchError(`nftables made no conntrack entry for ${n} SYNs (count ${before} -> ${tracked})`);
    return { peer: 'nftables', sent: n, delivered: d.fresh, seconds, perSecond: d.fresh / seconds, tracked, slabBytesPerEntry: slab / (tracked - before) };
  } finally {
    await stopNft(lab, rtr);
    await flushConntrack(lab, rtr);
  }
}

/** /proc/slabinfo's object size of the nf_conntrack cache (bytes), or undefined if not listed. */
export function conntrackObjectSize(): number | undefined {
  const line = readFileSync('/proc/slabinfo', 'utf8').split('\n').find((l) => l.startsWith('nf_conntrack '));
  return line === undefined ? undefined : Number(line.split(/\s+/)[3]);
}
