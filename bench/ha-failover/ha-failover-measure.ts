// SPDX-License-Identifier: Apache-2.0
// One failover, measured the same way for every peer: N echoing TCP connections and the 1 ms UDP
// probe stream through the VIP (lab/failover-traffic.ts), a warm-up, then `kill` (the master's
// hard death), then wait for the probes to come back and long enough for TCP's backed-off
// retransmissions to show which connections survived. Bounded everywhere.

import type { HaLab } from '../../lab/ha-lab.js';
import { FailoverTraffic, type TrafficReport } from '../../lab/failover-traffic.js';
import { BenchError } from '../common/errors.js';

export interface MeasureOptions {
  connections: number;
  warmupMs: number;
  /** Longest wait for the UDP answers to resume after the kill. */
  resumeTimeoutMs: number;
}

export interface FailoverFigures {
  ran: true;
  intervalMs: number;
  /** Longest gap in UDP answers around the kill, ms. */
  gapMs: number;
  /** When that gap began, ms after the kill started (negative: the last answer came before it). */
  gapFromKillMs: number;
  connections: number;
  /** Connections lost: reset + stalled (> 2 s without an echo) + closed + errored. */
  lost: number;
  reset: number;
  stalled: number;
  closed: number;
  /** UDP answers per real after the kill (which reals the backup picked). */
  udpReals: Record<string, number>;
  /** Warm-up: every connection alive before the kill (else the figure means nothing). */
  warmAlive: number;
  report: TrafficReport;
}

export interface NotRun {
  ran: false;
  intervalMs: number;
  reason: string;
}

const POLL_MS = 50;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * The probes are answered again: an answer within the last 50 ms, after the longest gap since the
 * mark, which ended more than 20 ms after the kill (the answers in flight at the kill are not a
 * resumption); or, for a failover too short to stand out from the stream's own jitter, answers a
 * second after the kill.
 */
function resumed(r: TrafficReport, killAt: number): boolean {
  const u = r.udp;
  const answering = u.lastAnswerUnixMs > 0 && r.unixMs - u.lastAnswerUnixMs < 50;
  const gapEnd = u.gapFromUnixMs + u.longestGapMs;
  const closed = u.lastAnswerUnixMs >= gapEnd;
  return answering && ((closed && gapEnd >= killAt + 20) || r.unixMs - killAt > 1_000);
}

/** Runs the traffic, kills the master with `kill`, returns the figures. */
export async function measureFailover(lab: HaLab, intervalMs: number, o: MeasureOptions, kill: () => Promise<void>): Promise<FailoverFigures> {
  const v4 = lab.addr.v4;
  // Bound: warm-up, the wait for resumption, up to 20 s of retransmission wait and slack.
  const durationMs = o.warmupMs + o.resumeTimeoutMs + 20_000 + 10_000;
  const traffic = await FailoverTraffic.start(lab, { ns: lab.ns.client, host: v4.vip, tcpPort: lab.ports.tcp, udpPort: lab.ports.udp, connections: o.connections, durationMs });
  try {
    await sleep(o.warmupMs);
    const warm = await traffic.report();
    if (warm.alive !== o.connections || warm.lost !== 0) throw new BenchError(`before the kill only ${warm.alive} of ${o.connections} connections alive (${warm.lost} lost)`);
    await traffic.mark();
    const killAt = Date.now();
    await kill();
    // The probes resume once the backup holds the VIP and the gateway and the neighbours follow.
    let r = await traffic.report();
    while (!resumed(r, killAt)) {
      if (Date.now() - killAt > o.resumeTimeoutMs) throw new BenchError(`UDP answers did not resume within ${o.resumeTimeoutMs} ms of the kill (open gap ${r.udp.longestGapMs} ms)`);
      await sleep(POLL_MS);
      r = await traffic.report();
    }
    // TCP backs its retransmissions off (doubling from 200 ms): a connection whose real survived
    // has retransmitted within about twice the outage; one that has not by then is stalled.
    await sleep(Math.min(20_000, 2 * r.udp.longestGapMs + 2_500));
    r = await traffic.report();
    return {
      ran: true,
      intervalMs,
      gapMs: r.udp.longestGapMs,
      gapFromKillMs: r.udp.gapFromUnixMs - killAt,
      connections: r.connections,
      lost: r.lost,
      reset: r.reset,
      stalled: r.stalled,
      closed: r.closed + r.errored,
      udpReals: r.udp.reals,
      warmAlive: warm.alive,
      // Per-connection detail only for the connections lost (the report's size stays small).
      report: { ...r, perConnection: r.perConnection.filter((c) => c.state !== 'alive' || c.stalled) },
    };
  } finally {
    await traffic.stop();
  }
}
