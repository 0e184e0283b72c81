// SPDX-License-Identifier: Apache-2.0
// Forwarding rate (issue 4 item 2), the "forwarding" section of `make bench`: small UDP packets
// from the XDP packet-loop generator (bench/traffic/loop-gen.ts), many source ports, through the lab
// router set up as each peer in turn (forwarding-peers.ts), counted by the sink right after the
// router. The baseline peer (no router: the generator straight into a sink) is the generator's
// capacity; per router peer: delivered packets per second, its own ns per packet (the path's
// minus the baseline's), the ratio to xlvs and CPU per packet. Then a pass with run-time
// statistics on and a perf pass say where the time goes (forwarding-passes.ts).

import type pino from 'pino';
import { InvalidArgumentError } from '../../src/errors.js';
import { BenchError } from '../common/errors.js';
import { ForwardingEnv } from './forwarding-env.js';
import { PEERS, type Peer, type PeerId } from './forwarding-peers.js';
import { prepare, profilePass, statsPass, SETTLE_MS, sleep } from './forwarding-passes.js';
import { cpuBetween, readCpuTicks } from '../common/cpu.js';
import type { ProgRun } from './forwarding-stats.js';
import { enableJitSymbols, restoreJitSymbols } from '../common/profile.js';
import { median, spread, type Spread } from '../common/stats.js';
import { forwardingSection } from './forwarding-report.js';
import { timedSection, type SectionRunner } from '../common/section.js';
import { SEEDS } from '../traffic/loop-gen.js';

export interface ForwardingOptions {
  /** Rounds; each runs every peer once, in an order rotated by one per round. */
  rounds: number;
  /** Seconds of traffic per peer per round (the loop's own deadline). */
  seconds: number;
  /** Source ports (flows) of the stream: 1024 .. 1024 + ports - 1. */
  ports: number;
  /** Seconds of traffic per peer in the run-time statistics and perf passes. */
  statsSeconds: number;
  log: pino.Logger;
}

export interface Turn {
  round: number;
  peer: PeerId;
  /** Frames the generator made. */
  sent: number;
  delivered: number;
  /** Kernel clock from the loop's first round to its last. */
  elapsedNs: number;
  /** delivered / elapsed. */
  pps: number;
  /** Frames sent but not counted by the sink. */
  lost: number;
  /** Of them, frames pub0's ring refused (xdp_xmit_errors on the client's eth0): the loop outran the router. */
  refused: number;
  /** Busy ns per CPU over the measurement (/proc/stat). */
  busyNs: number[];
  /** The CPU(s) the loop ran on: generator, router and sink all run in that CPU's softirq. */
  loopCpus: number[];
  /** Their busy time / elapsed: about 1 when the path had them to itself. */
  loopCpuBusy: number;
  cpuNsPerPacket: number;
  /** Busy ns of the loop's CPU(s) per delivered packet: the whole path (generator, router, sink). */
  pathNsPerPacket: number;
  dsts: Record<string, number>;
  /** Connection-tracking entries after the turn (xlvs flows, conntrack), when the peer has any. */
  stateEntries?: number;
}

export interface PeerFigure {
  peer: PeerId;
  pps: Spread;
  /** median pps / xlvs's median pps (baseline: the generator's capacity, for scale). */
  ratioToXlvs: number;
  /** xlvs's median path ns / this peer's: the same ratio from CPU time per packet. */
  pathRatioToXlvs: number;
  /** Connection-tracking entries after the last turn (xlvs flows, conntrack), when the peer has any. */
  stateEntries?: number;
  cpuNsPerPacket: Spread;
  pathNsPerPacket: Spread;
  /** median path ns per packet minus the baseline's: the router's own share. */
  routerNsPerPacket: number;
  /** 1e9 / routerNsPerPacket: the router's rate with a CPU to itself (none for the baseline). */
  routerPps?: number;
  lossMedian: number;
  busyCpus: number;
  dstShares: Record<string, number>;
}

/** A symbol's own (self) share of a profile's samples, in percent. */
export interface TopSymbol {
  symbol: string;
  pct: number;
}

/** Which generator made the traffic and what it can offer (its baseline rate into a sink). */
export interface GeneratorInfo {
  name: string;
  fan: number;
  seeds: number;
  /** The baseline's delivered rate: the generator straight into a count-and-drop sink. */
  capacityPps: Spread;
}

export type ProgRole = 'router' | 'sink' | 'generator' | 'loop';

export interface ForwardingResult {
  config: Omit<ForwardingOptions, 'log'>;
  generator: GeneratorInfo;
  turns: Turn[];
  peers: PeerFigure[];
  /** Run-time statistics pass: per peer, its router program, the sink and the generator's two. */
  progs: Array<{ peer: PeerId; role: ProgRole; run: ProgRun }>;
  /** perf profile of the loop's CPU (the whole path) per profiled peer; or why there is none. */
  profiles: Array<{ peer: PeerId; top: TopSymbol[] } | { peer: PeerId; error: string }>;
  setup: string[];
}

/** A NAT spreading flows round robin over n reals: each share within this of 1/n. */
const SHARE_TOLERANCE = 0.05;

function validate(o: ForwardingOptions): void {
  const int = (f: string, v: number, min: number, max: number): void => {
    if (!Number.isInteger(v) || v < min || v > max) throw new InvalidArgumentError(f, v, `must be an integer ${min}..${max}`);
  };
  int('rounds', o.rounds, 1, 100);
  int('ports', o.ports, 1, 65536 - 1024);
  for (const f of ['seconds', 'statsSeconds'] as const) {
    if (!Number.isFinite(o[f]) || o[f] <= 0 || o[f] > 60) throw new InvalidArgumentError(f, o[f], 'must be a number of seconds in (0, 60]');
  }
}

/** Every counted frame went where the peer sends it; a NAT spread them evenly. */
function checkDsts(peer: Peer, dsts: Map<string, number>, delivered: number): void {
  const stray = [...dsts.keys()].filter((k) => !peer.expect.includes(k));
  if (stray.length > 0) throw new BenchError(`${peer.id}: the sink counted frames to ${stray.join(', ')}, expected only ${peer.expect.join(', ')}`);
  const n = peer.expect.length;
  for (const k of peer.expect) {
    const share = (dsts.get(k) ?? 0) / delivered;
    if (Math.abs(share - 1 / n) > SHARE_TOLERANCE) throw new BenchError(`${peer.id}: ${k} got ${(share * 100).toFixed(1)}% of the frames, expected ${(100 / n).toFixed(1)}% ± ${SHARE_TOLERANCE * 100}`);
  }
}

async function turn(env: ForwardingEnv, peer: Peer, round: number, o: ForwardingOptions): Promise<Turn> {
  await peer.up(env);
  try {
    await prepare(env, peer, o);
    const sink = peer.sink(env);
    sink.reset();
    const x0 = await env.gen.targetStats();
    const c0 = readCpuTicks();
    const r = await env.gen.sendFor(o.seconds);
    const c1 = readCpuTicks();
    await sleep(SETTLE_MS);
    const c = sink.counts();
    const refused = (await env.gen.targetStats()).xmitErrors - x0.xmitErrors;
    if (c.packets === 0) throw new BenchError(`${peer.id}: the sink counted no frame of ${r.sent} sent`);
    if (c.packets > r.sent) throw new BenchError(`${peer.id}: the sink counted ${c.packets} frames, more than the ${r.sent} sent`);
    if (c.dstFull > 0) throw new BenchError(`${peer.id}: ${c.dstFull} frames counted while the sink's destination table was full`);
    checkDsts(peer, c.dsts, c.packets);
    const flows = peer.ports ?? o.ports;
    const state = peer.stateEntries === undefined ? undefined : await peer.stateEntries(env);
    if (state !== undefined && state.entries !== state.perFlow * flows) {
      throw new BenchError(`${peer.id}: ${state.entries} connection-tracking entries after the turn, expected ${state.perFlow} per flow × ${flows} flows`);
    }
    const cpu = cpuBetween(c0, c1);
    const loopBusyNs = r.cpus.reduce((a, i) => a + (cpu.busyNs[i] ?? 0), 0);
    return {
      round, peer: peer.id, sent: r.sent, delivered: c.packets, elapsedNs: r.elapsedNs, pps: c.packets / (r.elapsedNs / 1e9), lost: r.sent - c.packets, refused,
      busyNs: cpu.busyNs, loopCpus: r.cpus, loopCpuBusy: loopBusyNs / r.elapsedNs, cpuNsPerPacket: cpu.totalBusyNs / c.packets,
      pathNsPerPacket: loopBusyNs / c.packets, dsts: Object.fromEntries(c.dsts),
      ...(state === undefined ? {} : { stateEntries: state.entries }),
    };
  } finally {
    await peer.down(env);
  }
}

/** Per peer, over its turns: medians and spreads, its router share (path minus the baseline's) and its ratios to xlvs. */
export function summarise(turns: Turn[]): PeerFigure[] {
  const of = (id: PeerId): Turn[] => turns.filter((t) => t.peer === id);
  const xlvsPps = median(of('xlvs').map((t) => t.pps));
  const basePath = median(of('baseline').map((t) => t.pathNsPerPacket));
  const xlvsPath = median(of('xlvs').map((t) => t.pathNsPerPacket));
  return PEERS.map((p) => {
    const ts = of(p.id);
    const delivered = ts.reduce((a, t) => a + t.delivered, 0);
    const dstShares: Record<string, number> = {};
    for (const t of ts) for (const [k, n] of Object.entries(t.dsts)) dstShares[k] = (dstShares[k] ?? 0) + n / delivered;
    const path = spread(ts.map((t) => t.pathNsPerPacket));
    const routerNs = path.median - basePath;
    return {
      peer: p.id,
      pps: spread(ts.map((t) => t.pps)),
      ratioToXlvs: median(ts.map((t) => t.pps)) / xlvsPps,
      pathRatioToXlvs: xlvsPath / path.median,
      ...(ts[ts.length - 1]?.stateEntries === undefined ? {} : { stateEntries: ts[ts.length - 1]!.stateEntries }),
      cpuNsPerPacket: spread(ts.map((t) => t.cpuNsPerPacket)),
      pathNsPerPacket: path,
      routerNsPerPacket: routerNs,
      ...(p.id === 'baseline' || routerNs <= 0 ? {} : { routerPps: 1e9 / routerNs }),
      lossMedian: median(ts.map((t) => t.lost / t.sent)),
      busyCpus: median(ts.map((t) => t.busyNs.reduce((a, b) => a + b, 0) / t.elapsedNs)),
      dstShares,
    };
  });
}

export async function runForwarding(o: ForwardingOptions): Promise<ForwardingResult> {
  validate(o);
  // JIT-ed programs are named in perf samples only if this is on when they are loaded.
  const jitSymbols = enableJitSymbols();
  const env = await ForwardingEnv.create(o.log).catch((e: unknown) => {
    restoreJitSymbols(jitSymbols);
    throw e;
  });
  try {
    const turns: Turn[] = [];
    const deadline = Date.now() + o.rounds * PEERS.length * (o.seconds + 10) * 1000;
    for (let round = 0; round < o.rounds; round++) {
      // Rotated order: no peer always runs first (or right after the same neighbour).
      const order = PEERS.map((_, i) => PEERS[(i + round) % PEERS.length]!);
      for (const peer of order) {
        const t = await turn(env, peer, round, o);
        turns.push(t);
        o.log.info({ round: round + 1, peer: t.peer, mpps: Number((t.pps / 1e6).toFixed(3)), pathNsPerPacket: Math.round(t.pathNsPerPacket), cpuNsPerPacket: Math.round(t.cpuNsPerPacket), lost: t.lost, refused: t.refused, loopCpus: t.loopCpus }, 'forwarding turn');
        if (Date.now() > deadline) throw new BenchError(`rounds overran their time bound (${o.rounds} rounds × ${PEERS.length} peers × ${o.seconds + 10} s)`);
      }
    }
    const progs = await statsPass(env, o);
    const profiles = await profilePass(env, o);
    const { log: _log, ...config } = o;
    const peers = summarise(turns);
    const generator = { name: env.gen.description, fan: env.gen.fan, seeds: SEEDS, capacityPps: peers.find((p) => p.peer === 'baseline')!.pps };
    return { config, generator, turns, peers, progs, profiles, setup: PEERS.map((p) => `- **${p.id}**: ${p.setup}`) };
  } finally {
    await env.close();
    restoreJitSymbols(jitSymbols);
  }
}

const FULL = { rounds: 5, seconds: 3, ports: 4096, statsSeconds: 1 };
const SMOKE = { rounds: 1, seconds: 0.2, ports: 256, statsSeconds: 0.1 };

export const forwarding: SectionRunner = timedSection('forwarding', 'Forwarding rate', ({ log, smoke }) => runForwarding({ ...(smoke ? SMOKE : FULL), log }), forwardingSection, (r, log) => {
  for (const p of r.peers) log.info({ peer: p.peer, mpps: Number((p.pps.median / 1e6).toFixed(3)), ratio: Number(p.ratioToXlvs.toFixed(2)), pathNsPerPacket: Math.round(p.pathNsPerPacket.median), cpuNsPerPacket: Math.round(p.cpuNsPerPacket.median) }, 'forwarding');
});
