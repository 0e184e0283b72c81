// SPDX-License-Identifier: Apache-2.0
// Deletes flow entries past their deadline. The data plane already treats them
// as absent; reaping returns their memory so the LRU does not have to evict
// live flows to make room.

import type pino from 'pino';
import type { Maps } from './handles.js';
import type { XlvsFlowKey } from '../gen/abi.js';

/** Monotonic clock in ns: the same clock as bpf_ktime_get_ns() (CLOCK_MONOTONIC). */
export const monotonicNs = (): bigint => process.hrtime.bigint();

export function reapOnce(maps: Maps, now = monotonicNs()): { scanned: number; reaped: number } {
  const dead: XlvsFlowKey[] = [];
  let scanned = 0;
  for (const [k, f] of maps.flows.entries()) {
    scanned++;
    if (f.expires_ns < now) dead.push(k);
  }
  // Deleted one by one: an entry refreshed since the scan is re-checked so a
  // flow that came back to life is not cut.
  let reaped = 0;
  for (const k of dead) {
    const f = maps.flows.lookup(k);
    if (f && f.expires_ns < now && maps.flows.delete(k)) reaped++;
  }
  return { scanned, reaped };
}

export class Reaper {
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly maps: Maps, private readonly intervalMs: number, private readonly log: pino.Logger) {}

  start(): void {
    this.timer = setInterval(() => this.run(), this.intervalMs);
    this.timer.unref();
  }

  run(): void {
    const t0 = monotonicNs();
    const r = reapOnce(this.maps, t0);
    if (r.reaped > 0) this.log.debug({ ...r, ms: Number(monotonicNs() - t0) / 1e6 }, 'flows reaped');
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
