// SPDX-License-Identifier: Apache-2.0
// xlvs's side of the ha-failover section: TO BE WIRED by the HA manager's author.
//
// runXlvs(intervalMs, ctx) must, in ctx.lab (a fresh HA lab, reals running, nothing on the
// routers): start xlvsd on r1 and r2 with `ha:` (interval = intervalMs, dead time the default
// 3 intervals, r1 priority 150, r2 100), the VIP's TCP port ctx.tcpPort and UDP port ctx.udpPort
// balanced over ctx.lab.addr.v4.reals (nat), wait until r1 is master and r2 is in sync, then call
//   ctx.measure(kill)   with kill = r1's links down (ctx.lab.linksDown('r1')), then SIGKILL of its xlvsd
// and return what measure returns, after stopping both daemons (even on failure). Until then it
// returns a NotRun, and the report's xlvs column says "not run": no figure is made up.

import type pino from 'pino';
import type { HaLab } from '../../lab/ha-lab.js';
import type { FailoverFigures, NotRun } from './ha-failover-measure.js';

export interface XlvsContext {
  lab: HaLab;
  log: pino.Logger;
  tcpPort: number;
  udpPort: number;
  /** The same measurement as keepalived's (ha-failover-measure.ts), with this interval. */
  measure(kill: () => Promise<void>): Promise<FailoverFigures>;
}

export async function runXlvs(intervalMs: number, ctx: XlvsContext): Promise<FailoverFigures | NotRun> {
  void ctx;
  return { ran: false, intervalMs, reason: 'not run: the xlvs HA manager is not wired into bench/ha-failover/ha-failover-xlvs.ts yet' };
}
