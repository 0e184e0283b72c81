// SPDX-License-Identifier: Apache-2.0
// The "flow-scale" section of `make bench` (issue 4, item 4): flows held (and what happens past
// the table's capacity), kernel memory per flow, the sustained new-flow rate against nftables
// conntrack, and established flows under a SYN flood. The measurements are in
// flow-scale-{held,rate,flood}.ts; this file runs them in one lab and reports them.

import type pino from 'pino';
import { inNetns } from '../src/bpf/test-run.js';
import { FlowScaleEnv } from './flow-scale-env.js';
import { measureHeld, usedRealIds, type HeldResult } from './flow-scale-held.js';
import { LiveTraffic } from './flow-scale-live.js';
import { conntrackObjectSize, nftRate, xlvsRate, type RateFigure } from './flow-scale-rate.js';
import { measureFlood, type FloodOptions, type FloodResult } from './flow-scale-flood.js';
import { flowsMapInfo, type MapInfo } from './flow-scale-table.js';
import { flowScaleSection } from './flow-scale-report.js';
import type { SectionRunner } from './section.js';

export interface FlowScaleOptions {
  /** Flows opened per "held" case (distinct SYNs), and flows probed at each end. */
  held: number[];
  probe: number;
  /** New-flow rate: SYNs per round and rounds (each round: xlvs, then nftables). */
  rateSyns: number;
  rateRounds: number;
  flood: FloodOptions;
  log: pino.Logger;
}

export interface FlowScaleResult {
  map: MapInfo;
  held: HeldResult[];
  rate: RateFigure[];
  conntrackObjectBytes: number | undefined;
  flood: FloodResult;
}

export const FULL: Omit<FlowScaleOptions, 'log'> = {
  held: [500_000, 1_000_000],
  probe: 1000,
  rateSyns: 200_000,
  rateRounds: 3,
  flood: { busy: 500, idle: 500, floodSyns: 2_000_000, slice: 20_000 },
};

export const SMOKE: Omit<FlowScaleOptions, 'log'> = {
  held: [2000],
  probe: 100,
  rateSyns: 5000,
  rateRounds: 1,
  flood: { busy: 50, idle: 50, floodSyns: 20_000, slice: 2000 },
};

export async function runFlowScale(o: FlowScaleOptions): Promise<FlowScaleResult> {
  const env = await FlowScaleEnv.create(o.log);
  try {
    const realIds = usedRealIds(env);
    const inRouter = <T>(fn: () => T): T => inNetns(env.rtr, fn);
    const map = flowsMapInfo(env);
    const held: HeldResult[] = [];
    for (const n of o.held) {
      held.push(inRouter(() => measureHeld(env, n, o.probe)));
      o.log.info({ flows: n, complete: held.at(-1)!.census.complete }, 'flow-scale: held');
    }
    const live = await LiveTraffic.start(env, o.log);
    try {
      const rate: RateFigure[] = [];
      for (let r = 0; r < o.rateRounds; r++) {
        env.attachXlvs();
        rate.push(await xlvsRate(env, live, realIds, o.rateSyns));
        env.detachXlvs();
        rate.push(await nftRate(env, live, o.rateSyns));
        o.log.info({ round: r + 1, xlvs: Math.round(rate.at(-2)!.perSecond), nftables: Math.round(rate.at(-1)!.perSecond) }, 'flow-scale: new flows per second');
      }
      env.attachXlvs();
      const flood = await measureFlood(env, live, realIds, o.flood, inRouter);
      o.log.info({ busyIntact: flood.busyIntact, idleIntact: flood.idleIntact, floodPerSecond: Math.round(flood.floodPerSecond) }, 'flow-scale: flood');
      return { map, held, rate, conntrackObjectBytes: conntrackObjectSize(), flood };
    } finally {
      await live.close(o.log);
    }
  } finally {
    await env.close(o.log);
  }
}

export const flowScale: SectionRunner = {
  id: 'flow-scale',
  title: 'Flow scale',
  async run({ log, smoke }) {
    const t0 = Date.now();
    const r = await runFlowScale({ ...(smoke ? SMOKE : FULL), log });
    return flowScaleSection(r, (Date.now() - t0) / 1000);
  },
};
