// SPDX-License-Identifier: Apache-2.0
// The health of one target: consecutive successes and failures against the rise and fall
// thresholds, the initial state, the reentry delay against flapping and the dynamic weight a
// probe may report. Pure: time comes in as an argument, so the scheduler and tests own the clock.

import { validateCheckOptions, type CheckOptions, type ProbeResult } from './types.js';

export type HealthStatus = 'up' | 'down';

/**
 * One change, for the log line, the counter and the gRPC watch stream. `from === to` only when an
 * up target's dynamic weight changed (the status did not).
 */
export interface Transition {
  from: HealthStatus;
  to: HealthStatus;
  at: number; // ms, on the clock the caller passed in
  reason: string; // the probe result's reason that decided it
  successes: number; // consecutive successes when it happened
  failures: number; // consecutive failures when it happened
  weight: number | undefined; // the dynamic weight after it; undefined = the configured one
}

/** upSince of a target that starts up: trusted from the beginning, so no slow start. */
export const UP_FROM_START = Number.NEGATIVE_INFINITY;

export class HealthState {
  readonly options: CheckOptions;
  private current: HealthStatus;
  private consecutiveOk = 0;
  private consecutiveFailed = 0;
  private since: number; // when `current` began (UP_FROM_START for a target trusted from start)
  private wentDownAt: number | undefined; // undefined: never went down from up, no reentry delay
  private dynamicWeight: number | undefined;

  constructor(options: CheckOptions, now: number) {
    this.options = validateCheckOptions(options);
    this.current = this.options.initial;
    this.since = this.current === 'up' ? UP_FROM_START : now;
  }

  get status(): HealthStatus {
    return this.current;
  }
  get successes(): number {
    return this.consecutiveOk;
  }
  get failures(): number {
    return this.consecutiveFailed;
  }
  /** When the target came up (for slow start); null while down. */
  get upSince(): number | null {
    return this.current === 'up' ? this.since : null;
  }
  /** When the current status began (ms); null for a target trusted up from the start. */
  get changedAt(): number | null {
    return this.since === UP_FROM_START ? null : this.since;
  }
  /** The weight the last successful probe reported; undefined = use the configured weight. */
  get weight(): number | undefined {
    return this.dynamicWeight;
  }
  /** The earliest time a down target may be reported up again (reentry delay). */
  get reentryAt(): number {
    return this.wentDownAt === undefined ? Number.NEGATIVE_INFINITY : this.wentDownAt + this.options.reentry_ms;
  }

  /** Counts one probe result at `now`; returns the transition it caused, or null. */
  record(result: ProbeResult, now: number): Transition | null {
    if (result.ok) {
      this.consecutiveOk++;
      this.consecutiveFailed = 0;
      const previousWeight = this.dynamicWeight;
      this.dynamicWeight = result.weight;
      if (this.current === 'down') {
        if (this.consecutiveOk >= this.options.rise && now >= this.reentryAt) return this.move('up', now, result.reason);
        return null;
      }
      if (previousWeight !== this.dynamicWeight) return this.transition('up', now, result.reason);
      return null;
    }
    this.consecutiveFailed++;
    this.consecutiveOk = 0;
    if (this.current === 'up' && this.consecutiveFailed >= this.options.fall) {
      this.wentDownAt = now;
      return this.move('down', now, result.reason);
    }
    return null;
  }

  private move(to: HealthStatus, now: number, reason: string): Transition {
    const t = this.transition(to, now, reason);
    this.current = to;
    this.since = now;
    return t;
  }

  private transition(to: HealthStatus, at: number, reason: string): Transition {
    return {
      from: this.current,
      to,
      at,
      reason,
      successes: this.consecutiveOk,
      failures: this.consecutiveFailed,
      weight: this.dynamicWeight,
    };
  }
}
