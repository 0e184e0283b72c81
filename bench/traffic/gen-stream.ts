// SPDX-License-Identifier: Apache-2.0
// The benchmarks' traffic streams, the pure part of the generator (bench/traffic/loop-gen.ts runs them):
// a stream is IPv4 UDP or TCP, source ports over a range, source addresses over a prefix,
// sequential or random. validateGenOptions fills the defaults; buildGenTemplate makes flow 0's
// whole frame (checksums correct), which is also the loop's seed; encodeGenCfg lays out struct
// gen_cfg of bench/bpf/bench_gen.bpf.c, whose devmap program patches the template into flow i; flowOf
// says which flow sequential frame n is, as the program computes it.

import { isIP } from 'node:net';
import { buildFrame } from '../../testing/frames.js';
import { InvalidArgumentError } from '../../src/errors.js';

/** GEN_FRAME_MAX and GEN_FAN_MAX of bench/bpf/bench_gen.bpf.c. */
export const GEN_FRAME_MAX = 128;
export const GEN_FAN_MAX = 64;
/**
 * struct gen_cfg of bench/bpf/bench_gen.bpf.c, [member, offset, size]: LoopGen checks it against the
 * object's BTF before it loads (BpfObject.verifyAbi), so a change on one side only fails there.
 */
export const GEN_CFG_LAYOUT: { size: number; members: [string, number, number][] } = {
  size: 176,
  members: [['frame', 0, GEN_FRAME_MAX], ['frame_len', 128, 4], ['l4_csum_off', 132, 4], ['sport_count', 136, 4], ['saddr_count', 140, 4], ['order', 144, 4],
    ['udp', 148, 4], ['loop_ifindex', 152, 4], ['targets', 156, 4], ['count', 160, 8], ['max_ns', 168, 8]],
};
const cfgAt = (member: string): number => GEN_CFG_LAYOUT.members.find(([m]) => m === member)![1];
/** struct gen_cfg: byte offsets, from GEN_CFG_LAYOUT. */
export const CFG = {
  frameLen: cfgAt('frame_len'), l4CsumOff: cfgAt('l4_csum_off'), sportCount: cfgAt('sport_count'), saddrCount: cfgAt('saddr_count'), order: cfgAt('order'),
  udp: cfgAt('udp'), loopIfindex: cfgAt('loop_ifindex'), targets: cfgAt('targets'), count: cfgAt('count'), maxNs: cfgAt('max_ns'), size: GEN_CFG_LAYOUT.size,
} as const;
/** Ethernet's minimum frame (without FCS): shorter frames get a zero trailer, as a NIC would pad. */
export const ETH_MIN_FRAME = 60;
const ETH_IP4_HEADERS = 14 + 20;

export type GenOrder = 'sequential' | 'random';

export interface GenOptions {
  srcMac: string;
  dstMac: string;
  /** Source address, or the first one of srcCount consecutive addresses (IPv4); or give srcPrefix. */
  src?: string;
  /** How many source addresses from src (default 1). See also srcPrefix. */
  srcCount?: number;
  /** Source addresses over a whole prefix, e.g. "198.18.0.0/15" (replaces src/srcCount). */
  srcPrefix?: string;
  dst: string;
  dport: number;
  /** First source port. */
  sport: number;
  /** Source ports sport .. sport + sportCount - 1 (default 1). */
  sportCount?: number;
  proto: 'udp' | 'tcp';
  /** UDP payload bytes (default 18: a 60-byte frame). */
  payload?: number;
  /** TCP flags, e.g. "SYN" or "ACK" (default "ACK"). */
  tcpFlags?: string;
  /** sequential: flow i = frame i mod flows (ports vary fastest); random: each frame picks one. */
  order?: GenOrder;
  ttl?: number;
}

/** A validated stream: every default filled in, addresses as numbers. */
export interface GenStream {
  srcMac: string;
  dstMac: string;
  srcBase: number;
  srcCount: number;
  dst: string;
  dport: number;
  sport: number;
  sportCount: number;
  proto: 'udp' | 'tcp';
  payload: number;
  tcpFlags: string;
  order: GenOrder;
  ttl: number;
}

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;
const TCP_FLAG_NAMES = new Set(['FIN', 'SYN', 'RST', 'PSH', 'ACK', 'URG', 'ECE', 'CWR']);

export function ip4ToNumber(field: string, text: string): number {
  if (isIP(text) !== 4) throw new InvalidArgumentError(field, text, 'must be an IPv4 address');
  return text.split('.').reduce((a, o) => a * 256 + Number(o), 0);
}

export function numberToIp4(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

export function checkInt(field: string, v: number, min: number, max: number): number {
  if (!Number.isInteger(v) || v < min || v > max) throw new InvalidArgumentError(field, v, `must be an integer ${min}..${max}`);
  return v;
}

/** Checks every option and fills in the defaults; the error names the field and the value. */
export function validateGenOptions(o: GenOptions): GenStream {
  for (const f of ['srcMac', 'dstMac'] as const) if (typeof o[f] !== 'string' || !MAC_RE.test(o[f])) throw new InvalidArgumentError(f, o[f], 'must be a MAC address like 02:00:00:00:00:01');
  if (o.proto !== 'udp' && o.proto !== 'tcp') throw new InvalidArgumentError('proto', o.proto, 'must be "udp" or "tcp"');
  let srcBase: number;
  let srcCount: number;
  if (o.srcPrefix !== undefined) {
    const m = /^([0-9.]+)\/(\d+)$/.exec(o.srcPrefix);
    if (m === null) throw new InvalidArgumentError('srcPrefix', o.srcPrefix, 'must be an IPv4 prefix like 198.18.0.0/15');
    const len = checkInt('srcPrefix length', Number(m[2]), 8, 32);
    srcCount = 2 ** (32 - len);
    const addr = ip4ToNumber('srcPrefix', m[1]!);
    srcBase = addr - (addr % srcCount);
  } else {
    if (o.src === undefined) throw new InvalidArgumentError('src', o.src, 'give a source address (src) or a source prefix (srcPrefix)');
    srcBase = ip4ToNumber('src', o.src);
    srcCount = checkInt('srcCount', o.srcCount ?? 1, 1, 2 ** 24);
    if (srcBase + srcCount > 2 ** 32) throw new InvalidArgumentError('srcCount', srcCount, `runs past 255.255.255.255 from ${o.src}`);
  }
  ip4ToNumber('dst', o.dst);
  const dport = checkInt('dport', o.dport, 1, 65535);
  const sport = checkInt('sport', o.sport, 1, 65535);
  const sportCount = checkInt('sportCount', o.sportCount ?? 1, 1, 65536 - sport);
  const payload = checkInt('payload', o.payload ?? 18, 0, GEN_FRAME_MAX - ETH_IP4_HEADERS - 8);
  const tcpFlags = o.tcpFlags ?? 'ACK';
  if (o.proto === 'tcp') {
    const bad = tcpFlags.split(',').find((f) => !TCP_FLAG_NAMES.has(f));
    if (bad !== undefined) throw new InvalidArgumentError('tcpFlags', tcpFlags, `"${bad}" is not one of ${[...TCP_FLAG_NAMES].join(', ')} (comma-separated)`);
    if (o.payload !== undefined) throw new InvalidArgumentError('payload', o.payload, 'is for UDP streams only');
  }
  const order = o.order ?? 'sequential';
  if (order !== 'sequential' && order !== 'random') throw new InvalidArgumentError('order', order, 'must be "sequential" or "random"');
  const ttl = checkInt('ttl', o.ttl ?? 64, 2, 255);
  return { srcMac: o.srcMac, dstMac: o.dstMac, srcBase, srcCount, dst: o.dst, dport, sport, sportCount, proto: o.proto, payload, tcpFlags, order, ttl };
}

export interface GenTemplate {
  /** Flow 0's frame, exactly as long as every generated frame. */
  frame: Buffer;
  /** Offset of the L4 checksum in the frame. */
  l4CsumOff: number;
}

/** Flow 0's whole frame (padded to the Ethernet minimum), checksums correct. */
export function buildGenTemplate(s: GenStream): GenTemplate {
  const src = numberToIp4(s.srcBase);
  const l4 = s.proto === 'udp'
    ? { kind: 'udp' as const, sport: s.sport, dport: s.dport, payload: Buffer.alloc(s.payload, 0x5a) }
    : { kind: 'tcp' as const, sport: s.sport, dport: s.dport, seq: 1, ack: s.tcpFlags.includes('ACK') ? 1 : 0, flags: s.tcpFlags };
  const spec = { eth: { src: s.srcMac, dst: s.dstMac }, l3: { kind: 'ipv4' as const, src, dst: s.dst, id: 1, ttl: s.ttl, l4 } };
  const packet = buildFrame(spec);
  const frame = packet.length >= ETH_MIN_FRAME ? packet : buildFrame({ ...spec, trailer: Buffer.alloc(ETH_MIN_FRAME - packet.length) });
  if (frame.length > GEN_FRAME_MAX) throw new InvalidArgumentError('frame length', frame.length, `must be at most ${GEN_FRAME_MAX} bytes`);
  return { frame, l4CsumOff: ETH_IP4_HEADERS + (s.proto === 'udp' ? 6 : 16) };
}

/** One run's part of struct gen_cfg. */
export interface GenRun {
  /** The loop device's ifindex: its devmap entry carries the seed round, untouched. */
  loopIfindex: number;
  /** Copies per round to the target (FAN - 1). */
  targets: number;
  /** Frames to generate; 0 stops a running loop. */
  count: number;
  /** The loop's time bound from its first round, ns. */
  maxNs: number;
}

/** struct gen_cfg, as the programs read it. */
export function encodeGenCfg(s: GenStream, t: GenTemplate, r: GenRun): Buffer {
  const b = Buffer.alloc(CFG.size);
  b.set(t.frame, 0);
  b.writeUInt32LE(t.frame.length, CFG.frameLen);
  b.writeUInt32LE(t.l4CsumOff, CFG.l4CsumOff);
  b.writeUInt32LE(s.sportCount, CFG.sportCount);
  b.writeUInt32LE(s.srcCount, CFG.saddrCount);
  b.writeUInt32LE(s.order === 'random' ? 1 : 0, CFG.order);
  b.writeUInt32LE(s.proto === 'udp' ? 1 : 0, CFG.udp);
  b.writeUInt32LE(r.loopIfindex, CFG.loopIfindex);
  b.writeUInt32LE(r.targets, CFG.targets);
  b.writeBigUInt64LE(BigInt(r.count), CFG.count);
  b.writeBigUInt64LE(BigInt(Math.round(r.maxNs)), CFG.maxNs);
  return b;
}

/** The flow of sequential frame n: its source address and port (what the program computes). */
export function flowOf(s: GenStream, n: number): { src: string; sport: number } {
  const port = n % s.sportCount;
  const addr = Math.floor(n / s.sportCount) % s.srcCount;
  return { src: numberToIp4(s.srcBase + addr), sport: s.sport + port };
}

