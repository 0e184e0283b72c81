// SPDX-License-Identifier: Apache-2.0
// The API's high-availability calls over HaControl (ha/types.ts, implemented by the daemon's HA
// manager). Without HA (no `ha:` section) every call is HaError E_HA_OFF. Control answers the
// HA part of ControlApi with this; so may any other ControlApi (the tests' in-memory one).

import { HaError } from '../errors.js';
import type { HaControl, HaEvent, HaStatus } from '../ha/types.js';

export const HA_OFF_MESSAGE = 'high availability is not configured (no ha: section)';

export class HaCalls {
  constructor(private readonly ha: HaControl | undefined) {}

  private control(): HaControl {
    if (this.ha === undefined) throw new HaError('E_HA_OFF', HA_OFF_MESSAGE);
    return this.ha;
  }

  async status(): Promise<HaStatus> {
    return this.control().status();
  }

  /**
   * The current role first, as an event from = to (at: when it was entered), then every role
   * change until the returned function is called (idempotent). Both in one synchronous step, so
   * no change falls between them.
   */
  watch(listener: (e: HaEvent) => void): () => void {
    const ha = this.control();
    const s = ha.status();
    listener({ node: s.node, from: s.role, to: s.role, reason: s.reason, atMs: s.sinceMs });
    const stop = ha.watch(listener);
    let stopped = false;
    return () => {
      if (stopped) return;
      stopped = true;
      stop();
    };
  }

  async failover(): Promise<HaStatus> {
    const ha = this.control();
    await ha.failover();
    return ha.status();
  }

  async hold(on: boolean): Promise<HaStatus> {
    const ha = this.control();
    await ha.hold(on);
    return ha.status();
  }
}
