// SPDX-License-Identifier: Apache-2.0
// Live traffic for the flow-scale benchmark: two packet-loop generators (bench/traffic/loop-gen.ts) in the
// client namespace, out of its eth0 (the SYN flood / new flows from random sources of
// 198.18.0.0/15 to VIP:80, and the established flows' ACKs to VIP:443), and the count-and-drop
// sink on the lan's end of priv0, counting per destination so that the two kinds are told apart
// after the router.

import type pino from 'pino';
import { LoopGen } from '../traffic/loop-gen.js';
import { LiveSink } from '../traffic/live-sink.js';
import { BenchError } from '../common/errors.js';
import { BENCH_PREFIX, CLIENT, EST_PORT, EST_REALS, EST_REAL_PORT, NEW_PORT, NEW_REALS, NEW_REAL_PORT, VIP, type FlowScaleEnv } from './flow-scale-env.js';

/** Frames the veth may still hold when send() returns are counted after this pause. */
const SETTLE_MS = 50;

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class LiveTraffic {
  private constructor(
    private readonly env: FlowScaleEnv,
    readonly flood: LoopGen,
    readonly est: LoopGen,
    readonly sink: LiveSink,
  ) {}

  static async start(env: FlowScaleEnv, log: pino.Logger): Promise<LiveTraffic> {
    const undo: Array<() => unknown> = [];
    try {
      const flood = await LoopGen.create({ ns: env.lab.ns.client, target: 'eth0' });
      undo.push(() => flood.close());
      const est = await LoopGen.create({ ns: env.lab.ns.client, target: 'eth0' });
      undo.push(() => est.close());
      const sink = LiveSink.load({ perDst: true });
      undo.push(() => sink.close());
      await sink.attach(env.lanNs, env.lanPort);
      flood.configure({
        srcMac: env.macs.client, dstMac: env.macs.pub0, srcPrefix: BENCH_PREFIX, dst: VIP, dport: NEW_PORT,
        sport: 1024, sportCount: 64512, proto: 'tcp', tcpFlags: 'SYN', order: 'random',
      });
      return new LiveTraffic(env, flood, est, sink);
    } catch (e) {
      for (const u of undo.reverse()) {
        try {
          await u();
        } catch (err) {
          log.error({ err }, 'flow-scale bench: cleanup after a failed start failed');
        }
      }
      throw e;
    }
  }

  /** The established flows' stream: CLIENT:firstPort.. (count flows) to VIP:443, one ACK per flow per send of `count`. */
  configureEstablished(firstPort: number, count: number): void {
    this.est.configure({ srcMac: this.env.macs.client, dstMac: this.env.macs.pub0, src: CLIENT, dst: VIP, dport: EST_PORT, sport: firstPort, sportCount: count, proto: 'tcp', tcpFlags: 'ACK' });
  }

  /** Sends n flood SYNs; returns the seconds the loop took (kernel clock, first round to last). */
  async sendFlood(n: number): Promise<number> {
    const r = await this.flood.send(n);
    if (r.sent !== n) throw new BenchError(`flood: the generator made ${r.sent} of ${n} SYNs (it ended by its ${r.ended})`);
    // From the first round to the one that ended the loop: never 0, the end is a round of its own.
    return r.elapsedNs / 1e9;
  }

  /** Sends one ACK for each of the first n established flows; returns the frames sent. */
  async sendEstablished(n: number): Promise<number> {
    return (await this.est.send(n)).sent;
  }

  /** Which generator made the traffic (for the report). */
  get generatorName(): string {
    return this.flood.description;
  }

  /** Frames the sink counted, to the new-flow reals (:8080) and to the established ones (:8443). */
  async delivered(): Promise<{ fresh: number; established: number; total: number }> {
    await sleep(SETTLE_MS);
    const c = this.sink.counts();
    const sum = (reals: string[], port: number): number => reals.reduce((a, r) => a + (c.dsts.get(`${r}:${port}/6`) ?? 0), 0);
    return { fresh: sum(NEW_REALS, NEW_REAL_PORT), established: sum(EST_REALS, EST_REAL_PORT), total: c.packets };
  }

  async close(log: pino.Logger): Promise<void> {
    for (const step of [() => this.sink.close(), () => this.flood.close(), () => this.est.close()]) {
      try {
        await step();
      } catch (e) {
        log.error({ err: e }, 'flow-scale bench: closing live traffic failed');
      }
    }
  }
}
