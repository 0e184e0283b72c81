// SPDX-License-Identifier: Apache-2.0
// What the HA lab tests assert of lab/failover-traffic.ts's reports: every connection alive (none
// reset, stalled, closed, errored or answered wrong), and a short form of a report for messages.

import assert from 'node:assert/strict';
import type { TrafficReport } from '../lab/failover-traffic.js';

/** A report with only the connections that are not healthy (at most 10): for assertion messages. */
export const briefReport = (r: TrafficReport): string =>
  JSON.stringify({ ...r, perConnection: r.perConnection.filter((c) => c.state !== 'alive' || c.stalled || c.mismatched > 0).slice(0, 10) });

/** All `n` connections alive and none lost in any way; `when` names the moment in the message. */
export function assertAllAlive(r: TrafficReport, n: number, when: string): void {
  assert.deepEqual(
    { alive: r.alive, reset: r.reset, stalled: r.stalled, closed: r.closed, errored: r.errored, corrupt: r.corrupt },
    { alive: n, reset: 0, stalled: 0, closed: 0, errored: 0, corrupt: 0 },
    `${when}: ${briefReport(r)}`,
  );
}
