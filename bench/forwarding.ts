// SPDX-License-Identifier: Apache-2.0
// Forwarding rate (issue 4 item 2), the "forwarding" section of `make bench`: small UDP packets
// from the live-frames generator, many source ports, through the lab router set up as each peer
// in turn (forwarding-peers.ts), counted by the sink right after the router. Per peer: delivered
// packets per second, the ratio to xlvs, and CPU per packet. Then a pass with run-time
// statistics on says where the time goes inside the XDP programs.

import type pino from 'pino';
import { InvalidArgumentError } from '../src/errors.js';
import { BenchError, ProfileError } from './errors.js';
import { ForwardingEnv, CLIENT } from './forwarding-env.js';
import { PEERS, type Peer, type PeerId } from './forwarding-peers.js';
import { cpuBetween, readCpuTicks } from './cpu.js';
import { progIdOfFd, progRun, progSnapshot, withRunTimeStats, xdpProgId, type ProgRun } from './forwarding-stats.js';
import { enableJitSymbols, profileSelf, restoreJitSymbols } from './profile.js';
import { median, spread, type Spread } from './stats.js';
import { forwardingSection } from './forwarding-report.js';
import { timedSection, type SectionRunner } from './section.js';

export interface ForwardingOptions {
  /** Rounds; each runs every peer once, in an order rotated by one per round. */
  rounds: number;
  /** Seconds of traffic per peer per round. */
  seconds: number;
  /** Source ports (flows) of the stream: 1024 .. 1024 + ports - 1. */
  ports: number;
  /** Frames per live-frames call (the generator blocks this thread for one call). */
  chunk: number;
  /** Seconds of traffic per peer in the run-time statistics pass. */
  statsSeconds: number;
  log: pino.Logger;
}

export interface Turn {
  round: number;
  peer: PeerId;
  sent: number;
  delivered: number;
  wallNs: number;
  pps: number;
  /** Frames sent but not counted by the sink. */
  lost: number;
  /** Busy ns per CPU over the measurement (/proc/stat). */
  busyNs: number[];
  cpuNsPerPacket: number;
  /** The generator's own kernel time per frame sent (live-frames duration). */
  genKernelNsPerFrame: number;
  /**
   * The live-frames calls' kernel time / delivered packets: the whole path's time per packet
   * (generator, router, sink all run inside those calls; see forwarding-report.ts).
   */
  pathNsPerPacket: number;
  dsts: Record<string, number>;
  /** Connection-tracking entries after the turn (xlvs flows, conntrack), when the peer has any. */
  stateEntries?: number;
}

export interface PeerFigure {
  peer: PeerId;
  pps: Spread;
  /** median pps / xlvs's median pps (baseline: the generator's ceiling, for scale). */
  ratioToXlvs: number;
  /** xlvs's median path ns / this peer's: the same ratio from the kernel-timed cost, which load hardly moves. */
  pathRatioToXlvs: number;
  /** Connection-tracking entries after the last turn (xlvs flows, conntrack), when the peer has any. */
  stateEntries?: number;
  cpuNsPerPacket: Spread;
  pathNsPerPacket: Spread;
  /** median path ns per packet minus the baseline's: the router's own share. */
  routerNsPerPacket: number;
  lossMedian: number;
  busyCpus: number;
  dstShares: Record<string, number>;
}

/** A symbol's own (self) share of a profile's samples, in percent. */
export interface TopSymbol {
  symbol: string;
  pct: number;
}

/** Symbols shown per profile. */
const PROFILE_TOP = 12;

export interface ForwardingResult {
  config: Omit<ForwardingOptions, 'log'>;
  turns: Turn[];
  peers: PeerFigure[];
  /** Run-time statistics pass: per peer, its router program, the sink and the generator. */
  progs: Array<{ peer: PeerId; role: 'router' | 'sink' | 'generator'; run: ProgRun }>;
  /** perf profile of the whole path (this process) per profiled peer; or why there is none. */
  profiles: Array<{ peer: PeerId; top: TopSymbol[] } | { peer: PeerId; error: string }>;
  setup: string[];
}

const FIRST_PORT = 1024;
/** A NAT spreading flows round robin over n reals: each share within this of 1/n. */
const SHARE_TOLERANCE = 0.05;
/** Let frames still in the veth rings land before reading the sink. */
const SETTLE_MS = 50;

function validate(o: ForwardingOptions): void {
  const int = (f: string, v: number, min: number, max: number): void => {
    if (!Number.isInteger(v) || v < min || v > max) throw new InvalidArgumentError(f, v, `must be an integer ${min}..${max}`);
  };
  int('rounds', o.rounds, 1, 100);
  int('ports', o.ports, 1, 65536 - FIRST_PORT);
  int('chunk', o.chunk, 64, 1 << 24);
  for (const f of ['seconds', 'statsSeconds'] as const) {
    if (!Number.isFinite(o[f]) || o[f] <= 0 || o[f] > 60) throw new InvalidArgumentError(f, o[f], 'must be a number of seconds in (0, 60]');
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function configureStream(env: ForwardingEnv, peer: Peer, o: ForwardingOptions): void {
  env.gen.configure({
    srcMac: env.macs.client, dstMac: env.macs.pub0, src: CLIENT, dst: peer.dst, dport: 5353,
    sport: FIRST_PORT, sportCount: peer.ports ?? o.ports, proto: 'udp', payload: 18, order: 'sequential',
  });
}

/** Sends for `seconds` in chunks; returns what the generator reports. */
function sendFor(env: ForwardingEnv, seconds: number, chunk: number): { sent: number; kernelNs: number; wallNs: number } {
  let sent = 0;
  let kernelNs = 0;
  const t0 = process.hrtime.bigint();
  const until = t0 + BigInt(Math.round(seconds * 1e9));
  do {
    const r = env.gen.send(env.clientPath, 'eth0', chunk);
    sent += r.sent;
    kernelNs += r.kernelNs;
  } while (process.hrtime.bigint() < until);
  return { sent, kernelNs, wallNs: Number(process.hrtime.bigint() - t0) };
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
    configureStream(env, peer, o);
    // Warm-up: every flow seen three times (xlvs flows and conntrack entries exist), caches warm.
    env.gen.send(env.clientPath, 'eth0', Math.max(3 * o.ports, 4096));
    await sleep(SETTLE_MS);
    const sink = peer.sink(env);
    sink.reset();
    const c0 = readCpuTicks();
    const r = sendFor(env, o.seconds, o.chunk);
    const c1 = readCpuTicks();
    await sleep(SETTLE_MS);
    const c = sink.counts();
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
    return {
      round, peer: peer.id, sent: r.sent, delivered: c.packets, wallNs: r.wallNs, pps: c.packets / (r.wallNs / 1e9), lost: r.sent - c.packets,
      busyNs: cpu.busyNs, cpuNsPerPacket: cpu.totalBusyNs / c.packets, genKernelNsPerFrame: r.kernelNs / r.sent, pathNsPerPacket: r.kernelNs / c.packets, dsts: Object.fromEntries(c.dsts),
      ...(state === undefined ? {} : { stateEntries: state.entries }),
    };
  } finally {
    await peer.down(env);
  }
}

async function statsPass(env: ForwardingEnv, o: ForwardingOptions): Promise<ForwardingResult['progs']> {
  const progs: ForwardingResult['progs'] = [];
  await withRunTimeStats(async () => {
    for (const peer of PEERS) {
      await peer.up(env);
      try {
        configureStream(env, peer, o);
        env.gen.send(env.clientPath, 'eth0', Math.max(3 * o.ports, 4096));
        const ids: Array<['router' | 'sink' | 'generator', number]> = [
          ...(peer.id === 'baseline' ? [] : [['router', xdpProgId(env.rtrPath, peer.xdpDev)] as ['router', number]]),
          ['sink', progIdOfFd(peer.sink(env).progFd)],
          ['generator', progIdOfFd(env.gen.progFd)],
        ];
        const before = ids.map(([, id]) => progSnapshot(id));
        sendFor(env, o.statsSeconds, o.chunk);
        await sleep(SETTLE_MS);
        ids.forEach(([role, id], i) => progs.push({ peer: peer.id, role, run: progRun(before[i]!, progSnapshot(id)) }));
      } finally {
        await peer.down(env);
      }
    }
  });
  return progs;
}

/** The peers whose paths are profiled: xlvs (many flows, few flows) and the bare forwarder it is read against. */
const PROFILED: readonly PeerId[] = ['xlvs', 'xlvs-16', 'xdp-fwd'];

async function profilePass(env: ForwardingEnv, o: ForwardingOptions): Promise<ForwardingResult['profiles']> {
  const out: ForwardingResult['profiles'] = [];
  for (const peer of PEERS.filter((p) => PROFILED.includes(p.id))) {
    await peer.up(env);
    try {
      configureStream(env, peer, o);
      env.gen.send(env.clientPath, 'eth0', Math.max(3 * o.ports, 4096));
      const shares = await profileSelf(() => void sendFor(env, o.statsSeconds, o.chunk));
      // Self shares: where the samples landed. JIT-ed programs are bpf_prog_<tag>_<name>; the tag is noise here.
      const top = shares.filter((x) => x.self > 0).sort((a, b) => b.self - a.self).slice(0, PROFILE_TOP)
        .map((x) => ({ symbol: x.symbol.replace(/^bpf_prog_[0-9a-f]{16}_/, 'bpf_prog_'), pct: x.self }));
      out.push({ peer: peer.id, top });
    } catch (e) {
      // perf may be missing or refused: the figures stand without it, and the report says why.
      if (!(e instanceof ProfileError)) throw e;
      o.log.warn({ peer: peer.id, err: e }, 'forwarding bench: no perf profile');
      out.push({ peer: peer.id, error: e.message });
    } finally {
      await peer.down(env);
    }
  }
  return out;
}

function summarise(turns: Turn[]): PeerFigure[] {
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
    return {
      peer: p.id,
      pps: spread(ts.map((t) => t.pps)),
      ratioToXlvs: median(ts.map((t) => t.pps)) / xlvsPps,
      pathRatioToXlvs: xlvsPath / path.median,
      ...(ts[ts.length - 1]?.stateEntries === undefined ? {} : { stateEntries: ts[ts.length - 1]!.stateEntries }),
      cpuNsPerPacket: spread(ts.map((t) => t.cpuNsPerPacket)),
      pathNsPerPacket: path,
      routerNsPerPacket: path.median - basePath,
      lossMedian: median(ts.map((t) => t.lost / t.sent)),
      busyCpus: median(ts.map((t) => t.busyNs.reduce((a, b) => a + b, 0) / t.wallNs)),
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
        o.log.info({ round: round + 1, peer: t.peer, mpps: Number((t.pps / 1e6).toFixed(3)), pathNsPerPacket: Math.round(t.pathNsPerPacket), cpuNsPerPacket: Math.round(t.cpuNsPerPacket), lost: t.lost }, 'forwarding turn');
        if (Date.now() > deadline) throw new BenchError(`rounds overran their time bound (${o.rounds} rounds × ${PEERS.length} peers × ${o.seconds + 10} s)`);
      }
    }
    const progs = await statsPass(env, o);
    const profiles = await profilePass(env, o);
    const { log: _log, ...config } = o;
    return { config, turns, peers: summarise(turns), progs, profiles, setup: PEERS.map((p) => `- **${p.id}**: ${p.setup}`) };
  } finally {
    await env.close();
    restoreJitSymbols(jitSymbols);
  }
}

const FULL = { rounds: 5, seconds: 3, ports: 4096, chunk: 1 << 17, statsSeconds: 1 };
const SMOKE = { rounds: 1, seconds: 0.2, ports: 256, chunk: 1 << 14, statsSeconds: 0.1 };

export const forwarding: SectionRunner = timedSection('forwarding', 'Forwarding rate', ({ log, smoke }) => runForwarding({ ...(smoke ? SMOKE : FULL), log }), forwardingSection, (r, log) => {
  for (const p of r.peers) log.info({ peer: p.peer, mpps: Number((p.pps.median / 1e6).toFixed(3)), ratio: Number(p.ratioToXlvs.toFixed(2)), pathNsPerPacket: Math.round(p.pathNsPerPacket.median), cpuNsPerPacket: Math.round(p.cpuNsPerPacket.median) }, 'forwarding');
});
