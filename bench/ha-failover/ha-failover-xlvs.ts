// SPDX-License-Identifier: Apache-2.0
// xlvs's side of the ha-failover section: in ctx.lab (a fresh HA lab, reals running, nothing on
// the routers) xlvsd runs on r1 and r2 with `ha:` (interval = intervalMs, dead time 3 intervals,
// r1 priority 150, r2 100; testing/ha-pair.ts), the VIP's TCP and UDP ports balanced (nat) over
// the reals; once r1 is master and both hold each other's table, ctx.measure(kill) with kill =
// r1's links down, then SIGKILL of its xlvsd. Both daemons are removed afterwards, even on failure.

import type pino from 'pino';
import type { HaLab } from '../../lab/ha-lab.js';
import type { FailoverFigures, NotRun } from './ha-failover-measure.js';
import { HaPair, TCP_PORT, UDP_PORT } from '../../testing/ha-pair.js';

export interface XlvsContext {
  lab: HaLab;
  log: pino.Logger;
  tcpPort: number;
  udpPort: number;
  /** The same measurement as keepalived's (ha-failover-measure.ts), with this interval. */
  measure(kill: () => Promise<void>): Promise<FailoverFigures>;
}

export async function runXlvs(intervalMs: number, ctx: XlvsContext): Promise<FailoverFigures | NotRun> {
  if (ctx.tcpPort !== TCP_PORT || ctx.udpPort !== UDP_PORT) throw new Error(`the HA pair serves ${TCP_PORT}/${UDP_PORT}, not ${ctx.tcpPort}/${ctx.udpPort}`);
  const pair = await HaPair.onLab(ctx.lab, { method: 'nat', intervalMs, deadIntervals: 3 }, { ownsLab: false, startReals: false });
  try {
    await pair.waitSteady(20_000);
    const before = await pair.status('r2');
    const figures = await ctx.measure(() => pair.hardKill('r1'));
    const after = await pair.status('r2');
    // A takeover is exactly one transition to master on r2; more means roles flapped (a stalled
    // event loop at short intervals), which the figures must not hide.
    ctx.log.info({ intervalMs, r2Before: before.counters.transitions, r2After: after.counters.transitions, reason: after.reason }, 'xlvs: r2 transitions around the kill');
    return figures;
  } finally {
    await pair.destroy();
    // The lab is reused by the next round: r1's links come back.
    await ctx.lab.linksUp('r1');
  }
}
