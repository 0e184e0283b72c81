// SPDX-License-Identifier: Apache-2.0
// The "flow-scale" section of `make bench` (issue 4, item 4): flows held (and what happens past
// the table's capacity), kernel memory per flow, the sustained new-flow rate against nftables
// conntrack, and established flows under a SYN flood. The measurements are in
// flow-scale-{held,rate,flood}.ts; this file runs them in one lab and reports them.

import type pino from 'pino';
import { inNetns } from '../../src/kernel/test-run.js';
import { FlowScaleEnv } from './flow-scale-env.js';
import { measureHeld, usedRealIds, type HeldResult } from './flow-scale-held.js';
import { LiveTraffic } from './flow-scale-live.js';
import { conntrackObjectSize, nftRate, xlvsRate, type RateFigure } from './flow-scale-rate.js';
import { measureFlood, type FloodOptions, type FloodResult } from './flow-scale-flood.js';
import { flowsMapInfo, type MapInfo } from './flow-scale-table.js';
import { flowScaleSection } from './flow-scale-report.js';
import { timedSection, type SectionRunner } from '../common/section.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { MAX_FLOW_ENTRIES, MIN_FLOW_ENTRIES } from '../../src/config/schema.js';

export interface FlowScaleOptions {
  /** The connection table's size in entries (xlvsd's flow_entries), two per connection. */
  flowEntries: number;
  /** Flows opened per "held" case (distinct SYNs), and flows probed at each end. */
  held: number[];
  probe: number;
  /** New-flow rate: SYNs per round and rounds (each round: xlvs, then nftables). */
  rateSyns: number;
  rateRounds: number;
  flood: FloodOptions;
  log: pino.Logger;
  /** The xlvs object to measure (default build/xlvs.bpf.o): lets an older build be measured the same way. */
  objectPath?: string;
}

export interface FlowScaleResult {
  map: MapInfo;
  held: HeldResult[];
  rate: RateFigure[];
  conntrackObjectBytes: number | undefined;
  flood: FloodResult;
  /** The generator of the live traffic, as the report names it. */
  generator: string;
}

export const FULL: Omit<FlowScaleOptions, 'log'> = {
  // flow_entries: 2097152, so that 1,000,000 connections fit (the default holds 524,288).
  flowEntries: 2_097_152,
  held: [500_000, 1_000_000],
  probe: 1000,
  rateSyns: 200_000,
  rateRounds: 3,
  flood: { busy: 500, idle: 500, floodSyns: 2_000_000, slice: 20_000 },
};

export const SMOKE: Omit<FlowScaleOptions, 'log'> = {
  flowEntries: 65_536,
  held: [2000],
  probe: 100,
  rateSyns: 5000,
  rateRounds: 1,
  flood: { busy: 50, idle: 50, floodSyns: 20_000, slice: 2000 },
};

const isInt = (v: number, min: number, max: number): boolean => Number.isInteger(v) && v >= min && v <= max;

/** Refuses options the measurements cannot honour, naming the field and the value. */
export function validateFlowScale(o: Omit<FlowScaleOptions, 'log'>): void {
  if (!isInt(o.flowEntries, MIN_FLOW_ENTRIES, MAX_FLOW_ENTRIES)) throw new InvalidArgumentError('flowEntries', o.flowEntries, `must be an integer ${MIN_FLOW_ENTRIES}..${MAX_FLOW_ENTRIES} (xlvsd's flow_entries)`);
  if (o.held.length === 0) throw new InvalidArgumentError('held', o.held, 'needs at least one number of flows');
  // nthSource spreads flows over 198.18.0.0/15 at 64,000 ports per address: 2^17 addresses.
  const badHeld = o.held.find((n) => !isInt(n, 2, 4_000_000));
  if (badHeld !== undefined) throw new InvalidArgumentError('held', badHeld, 'each must be an integer 2..4000000');
  if (!isInt(o.probe, 1, Math.floor(Math.min(...o.held) / 2))) throw new InvalidArgumentError('probe', o.probe, `must be an integer 1..${Math.floor(Math.min(...o.held) / 2)} (half the smallest held case)`);
  if (!isInt(o.rateSyns, 1, 2 ** 30)) throw new InvalidArgumentError('rateSyns', o.rateSyns, 'must be an integer 1..2^30');
  if (!isInt(o.rateRounds, 1, 100)) throw new InvalidArgumentError('rateRounds', o.rateRounds, 'must be an integer 1..100');
  // Busy flows use client ports 20000.., idle ones 40000..: each set at most 20000 (25535 idle).
  if (!isInt(o.flood.busy, 1, 20_000)) throw new InvalidArgumentError('flood.busy', o.flood.busy, 'must be an integer 1..20000');
  if (!isInt(o.flood.idle, 0, 25_535)) throw new InvalidArgumentError('flood.idle', o.flood.idle, 'must be an integer 0..25535');
  if (!isInt(o.flood.slice, 1, 2 ** 30)) throw new InvalidArgumentError('flood.slice', o.flood.slice, 'must be an integer 1..2^30');
  if (!isInt(o.flood.floodSyns, o.flood.slice, 2 ** 31)) throw new InvalidArgumentError('flood.floodSyns', o.flood.floodSyns, `must be an integer ${o.flood.slice} (one slice)..2^31`);
}

export async function runFlowScale(o: FlowScaleOptions): Promise<FlowScaleResult> {
  validateFlowScale(o);
  const env = await FlowScaleEnv.create(o.log, o.flowEntries, o.objectPath);
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
      return { map, held, rate, conntrackObjectBytes: conntrackObjectSize(), flood, generator: live.generatorName };
    } finally {
      await live.close(o.log);
    }
  } finally {
    await env.close(o.log);
  }
}

export const flowScale: SectionRunner = timedSection('flow-scale', 'Flow scale', ({ log, smoke }) => runFlowScale({ ...(smoke ? SMOKE : FULL), log }), flowScaleSection);
