// SPDX-License-Identifier: Apache-2.0
// What health does to one service (pure): a down real gets weight 0 (quiesce) and, with
// on_failure: remove, its flows evicted; a real that came back ramps up (slow start) or runs at
// the weight its exec check reported; when the healthy reals' weight is below the quorum the
// sorry server takes the new flows. The result is the service as the data plane runs it
// (AppliedService); the configured one is never changed, and is returned as it is when health
// changes nothing of it.

import type { AppliedReal, AppliedService, RealSpec, ServiceSpec } from '../model/types.js';
import { effectiveWeight } from './slow-start.js';
import type { CheckSpec } from './spec.js';
import type { HealthStatus } from './state.js';

/** A slow start begins at this share of the weight (at least 1), then grows linearly. */
export const SLOW_START_FLOOR = 0.1;

/** What the overlay needs to know of one checked real. */
export interface RealHealth {
  status: HealthStatus;
  upSince: number | null; // for slow start
  weight: number | undefined; // reported by an exec check (misc_dynamic); undefined = configured
  check: CheckSpec;
}

export interface ServiceHealth {
  /** Sum of the healthy reals' weights (configured or reported; slow start not counted). */
  healthyWeight: number;
  quorum: number;
  /** The sorry server takes new flows. */
  sorryActive: boolean;
  /** Some real is still ramping up: the overlay changes with time. */
  ramping: boolean;
}

export interface Overlaid {
  spec: AppliedService;
  health: ServiceHealth;
}

/** The check a real of `s` runs: its own, the service's, or none. */
export function checkOf(s: ServiceSpec, r: RealSpec): CheckSpec | undefined {
  return (r.check === undefined ? s.check : r.check) ?? undefined;
}

/**
 * The service as the data plane should run it at `now`. `healthOf` answers for reals that have
 * a check (by index in s.reals); reals without one count as healthy at their weight.
 */
export function overlayService(s: ServiceSpec, healthOf: (i: number) => RealHealth | undefined, now: number): Overlaid {
  let healthyWeight = 0;
  let ramping = false;
  const reals = s.reals.map((r, i): AppliedReal => {
    const h = healthOf(i);
    if (h === undefined) {
      healthyWeight += r.weight;
      return r;
    }
    if (h.status === 'down') {
      const evict = h.check.options.on_failure === 'remove' ? h.check.remove_flows : undefined;
      return { ...r, weight: 0, ...(evict ? { evict } : {}) };
    }
    const full = h.weight ?? r.weight;
    healthyWeight += full;
    const slow = h.check.options.slow_start_ms;
    const weight = effectiveWeight(full, h.upSince, now, slow, SLOW_START_FLOOR);
    if (weight < full) ramping = true;
    return weight === r.weight ? r : { ...r, weight };
  });
  const quorum = s.quorum ?? 1;
  const lost = healthyWeight < quorum;
  // A real with the sorry server's address:port (added over the API) is that server, in the pool.
  const sorryIsReal = s.sorry_server !== undefined && s.reals.some((r) => r.address === s.sorry_server!.address && r.port === s.sorry_server!.port);
  const sorryActive = lost && s.sorry_server !== undefined && !sorryIsReal;
  if (s.sorry_server !== undefined && !sorryIsReal) {
    // While the sorry server serves, the reals left take no new flows (their flows continue);
    // afterwards it stays at weight 0 so its own flows finish.
    const sorry: AppliedReal = { ...s.sorry_server, weight: sorryActive ? Math.max(1, s.sorry_server.weight) : 0, sorry: true };
    const kept = sorryActive ? reals.map((r) => (r.weight === 0 ? r : { ...r, weight: 0 })) : reals;
    kept.push(sorry);
    return { spec: { ...s, reals: kept }, health: { healthyWeight, quorum, sorryActive, ramping } };
  }
  const changed = reals.some((r, i) => r !== s.reals[i]);
  return { spec: changed ? { ...s, reals } : s, health: { healthyWeight, quorum, sorryActive, ramping } };
}
