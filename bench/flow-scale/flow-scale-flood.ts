// SPDX-License-Identifier: Apache-2.0
// SYN flood against established flows, through xlvs attached to the router. Established
// connections to VIP:443 are opened first (SYN, the real's SYN-ACK, the client's ACK, each through
// the programs with BPF_PROG_TEST_RUN); half of them are busy, half idle. Then the generator sends
// the flood (SYNs from random sources of 198.18.0.0/15 to VIP:80) in slices, and after each slice
// every busy flow sends one ACK (live, counted by the sink) and its real one ACK back (test run of
// xlvs_private). Reported: each direction's packets sent and delivered, busy and idle flows that
// still work afterwards (probed both ways), flood SYNs forwarded, table occupancy, and the
// connection counts the data plane keeps against the truth in the table.

import { XdpTestRunner, XDP } from '../../src/kernel/test-run.js';
import { CLIENT, EST_PORT, EST_REAL_PORT, type FlowScaleEnv } from './flow-scale-env.js';
import type { LiveTraffic } from './flow-scale-live.js';
import { FlowOpener } from './flow-scale-held.js';
import { TcpFrame, ipv4Number } from './flow-scale-frames.js';
import { census, connCounts, resetTable, type Census, type ConnCounts } from './flow-scale-table.js';
import { BenchError } from '../common/errors.js';

export interface FloodOptions {
  /** Busy established flows (one ACK each way per slice) and idle ones (silent during the flood). */
  busy: number;
  idle: number;
  /** Flood SYNs in all, and per slice. */
  floodSyns: number;
  slice: number;
}

export interface Direction {
  sent: number;
  delivered: number;
}

export interface FloodResult {
  options: FloodOptions;
  floodSent: number;
  /** Flood SYNs the sink counted after the router (each was a new flow xlvs scheduled). */
  floodForwarded: number;
  floodSeconds: number;
  floodPerSecond: number;
  slices: number;
  /** Per busy flow: packets each way per second during the flood. */
  busyPacketsPerSecond: number;
  busyForward: Direction;
  busyReply: Direction;
  /** Flows whose client ACK and real ACK both still go through after the flood. */
  busyIntact: number;
  idleIntact: number;
  census: Census;
  counts: ConnCounts;
  /** After one reaper pass (its recount), taken after the probes. */
  countsAfterReap: ConnCounts;
}

const FIRST_BUSY_PORT = 20000;
const FIRST_IDLE_PORT = 40000;
/** Bound on the whole flood, so a wedged run fails instead of hanging. */
const FLOOD_DEADLINE_MS = 180_000;

interface Established {
  port: number;
  real: number;
}

/** Must run with the thread in the router namespace for the test runs: see the callers. */
export class FloodRun {
  private readonly opener: FlowOpener;
  private readonly priv: XdpTestRunner;
  private readonly reply: TcpFrame;
  private readonly client = ipv4Number(CLIENT);

  constructor(private readonly env: FlowScaleEnv) {
    this.opener = new FlowOpener(env, EST_PORT);
    this.priv = new XdpTestRunner(env.dp.progFd('xlvs_private'));
    this.reply = new TcpFrame({ srcMac: env.macs.rs1, dstMac: env.macs.priv0, dst: CLIENT, dport: 1, flags: 'ACK' });
  }

  /** SYN, SYN-ACK, ACK through the programs; returns the flow's real. */
  open(port: number): Established {
    if (this.opener.send(this.client, port, 'syn') !== XDP.REDIRECT) throw new BenchError(`flood: the SYN of ${CLIENT}:${port} was not forwarded`);
    const real = this.opener.realOf();
    const synAck = new TcpFrame({ srcMac: this.env.macs.rs1, dstMac: this.env.macs.priv0, dst: CLIENT, dport: port, flags: 'SYN,ACK' }).set(real, EST_REAL_PORT, port);
    if (this.priv.run(synAck, undefined, { ingressIfindex: this.env.priv0 }) !== XDP.REDIRECT) throw new BenchError(`flood: the SYN-ACK to ${CLIENT}:${port} was not forwarded`);
    if (this.opener.send(this.client, port, 'ack') !== XDP.REDIRECT) throw new BenchError(`flood: the ACK of ${CLIENT}:${port} was not forwarded`);
    return { port, real };
  }

  /** The real's ACK back to the client; true when xlvs forwarded it. */
  replyGoes(f: Established): boolean {
    return this.priv.run(this.reply.set(f.real, EST_REAL_PORT, f.port), undefined, { ingressIfindex: this.env.priv0 }) === XDP.REDIRECT;
  }

  /** The client's ACK; true when xlvs forwarded it to the flow's real. */
  forwardGoes(f: Established): boolean {
    return this.opener.send(this.client, f.port, 'ack') === XDP.REDIRECT && this.opener.realOf() === f.real;
  }
}

export async function measureFlood(env: FlowScaleEnv, live: LiveTraffic, realIds: number[], o: FloodOptions,
  inRouter: <T>(fn: () => T) => T): Promise<FloodResult> {
  if (o.busy < 1 || o.slice < 1 || o.floodSyns < o.slice) throw new BenchError(`flood: bad options ${JSON.stringify(o)}`);
  resetTable(env, realIds);
  const run = new FloodRun(env);
  const busy = inRouter(() => Array.from({ length: o.busy }, (_, i) => run.open(FIRST_BUSY_PORT + i)));
  const idle = inRouter(() => Array.from({ length: o.idle }, (_, i) => run.open(FIRST_IDLE_PORT + i)));
  live.configureEstablished(FIRST_BUSY_PORT, o.busy);
  live.sink.reset();
  const fwd: Direction = { sent: 0, delivered: 0 };
  const rep: Direction = { sent: 0, delivered: 0 };
  let floodSeconds = 0;
  let slices = 0;
  const t0 = Date.now();
  for (let sent = 0; sent < o.floodSyns; sent += o.slice) {
    floodSeconds += await live.sendFlood(Math.min(o.slice, o.floodSyns - sent));
    fwd.sent += await live.sendEstablished(o.busy);
    inRouter(() => {
      for (const f of busy) {
        rep.sent++;
        if (run.replyGoes(f)) rep.delivered++;
      }
    });
    slices++;
    if (Date.now() - t0 > FLOOD_DEADLINE_MS) throw new BenchError(`flood: ${slices} slices took over ${FLOOD_DEADLINE_MS} ms`);
  }
  const wall = (Date.now() - t0) / 1000;
  const d = await live.delivered();
  fwd.delivered = d.established;
  const c = census(env);
  const counts = connCounts(env, realIds);
  const intact = (fs: Established[]): number => inRouter(() => fs.filter((f) => run.forwardGoes(f) && run.replyGoes(f)).length);
  const busyIntact = intact(busy);
  const idleIntact = intact(idle);
  inRouter(() => new XdpTestRunner(env.dp.progFd('xlvs_reap')).run(Buffer.alloc(64)));
  return {
    options: o, floodSent: o.floodSyns, floodForwarded: d.fresh, floodSeconds, floodPerSecond: d.fresh / floodSeconds, slices,
    busyPacketsPerSecond: slices / wall, busyForward: fwd, busyReply: rep,
    busyIntact, idleIntact, census: c, counts, countsAfterReap: connCounts(env, realIds),
  };
}
