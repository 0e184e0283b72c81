// SPDX-License-Identifier: Apache-2.0
// The benchmarks' traffic generator: bpf/bench_gen.bpf.c run with BPF_F_TEST_XDP_LIVE_FRAMES,
// which has the kernel push N frames through the program and transmit each (XDP_TX) out of a
// device in a namespace. Configure a stream (IPv4 UDP or TCP, source ports over a range, source
// addresses over a prefix, sequential or random), then send(): frames sent and the kernel's ns.
//
// The pure part (validateGenOptions, buildGenTemplate, encodeGenCfg, flowOf) is unit tested;
// the template carries flow 0 with correct checksums and the program patches the rest (see the C).

import { isIP } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BpfObject } from '../src/bpf/object.js';
import { u32, u64 } from '../src/bpf/codec.js';
import type { BpfMap } from '../src/bpf/map.js';
import { ifindexIn, inNetns, liveFrames } from '../src/bpf/test-run.js';
import { buildFrame } from '../src/testing/frames.js';
import { InvalidArgumentError } from '../src/errors.js';
import { byteArrayCodec } from './bytes-codec.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const GEN_OBJECT = join(ROOT, 'build/bench_gen.bpf.o');

/** GEN_FRAME_MAX and struct gen_cfg of bpf/bench_gen.bpf.c. */
export const GEN_FRAME_MAX = 128;
const CFG = { frameLen: 128, l4CsumOff: 132, sportCount: 136, saddrCount: 140, order: 144, udp: 148, size: 152 } as const;
/** Ethernet's minimum frame (without FCS): shorter frames get a zero trailer, as a NIC would pad. */
export const ETH_MIN_FRAME = 60;
const ETH_IP4_HEADERS = 14 + 20;
/** Frames per live-frames call at most; send() splits bigger counts (repeat is an int32). */
const MAX_CALL = 1 << 30;

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

function int(field: string, v: number, min: number, max: number): number {
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
    const len = int('srcPrefix length', Number(m[2]), 8, 32);
    srcCount = 2 ** (32 - len);
    const addr = ip4ToNumber('srcPrefix', m[1]!);
    srcBase = addr - (addr % srcCount);
  } else {
    if (o.src === undefined) throw new InvalidArgumentError('src', o.src, 'give a source address (src) or a source prefix (srcPrefix)');
    srcBase = ip4ToNumber('src', o.src);
    srcCount = int('srcCount', o.srcCount ?? 1, 1, 2 ** 24);
    if (srcBase + srcCount > 2 ** 32) throw new InvalidArgumentError('srcCount', srcCount, `runs past 255.255.255.255 from ${o.src}`);
  }
  ip4ToNumber('dst', o.dst);
  const dport = int('dport', o.dport, 1, 65535);
  const sport = int('sport', o.sport, 1, 65535);
  const sportCount = int('sportCount', o.sportCount ?? 1, 1, 65536 - sport);
  const payload = int('payload', o.payload ?? 18, 0, GEN_FRAME_MAX - ETH_IP4_HEADERS - 8);
  const tcpFlags = o.tcpFlags ?? 'ACK';
  if (o.proto === 'tcp') {
    const bad = tcpFlags.split(',').find((f) => !TCP_FLAG_NAMES.has(f));
    if (bad !== undefined) throw new InvalidArgumentError('tcpFlags', tcpFlags, `"${bad}" is not one of ${[...TCP_FLAG_NAMES].join(', ')} (comma-separated)`);
    if (o.payload !== undefined) throw new InvalidArgumentError('payload', o.payload, 'is for UDP streams only');
  }
  const order = o.order ?? 'sequential';
  if (order !== 'sequential' && order !== 'random') throw new InvalidArgumentError('order', order, 'must be "sequential" or "random"');
  const ttl = int('ttl', o.ttl ?? 64, 2, 255);
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

/** struct gen_cfg, as the program reads it. */
export function encodeGenCfg(s: GenStream, t: GenTemplate): Buffer {
  const b = Buffer.alloc(CFG.size);
  b.set(t.frame, 0);
  b.writeUInt32LE(t.frame.length, CFG.frameLen);
  b.writeUInt32LE(t.l4CsumOff, CFG.l4CsumOff);
  b.writeUInt32LE(s.sportCount, CFG.sportCount);
  b.writeUInt32LE(s.srcCount, CFG.saddrCount);
  b.writeUInt32LE(s.order === 'random' ? 1 : 0, CFG.order);
  b.writeUInt32LE(s.proto === 'udp' ? 1 : 0, CFG.udp);
  return b;
}

/** The flow of sequential frame n: its source address and port (what the program computes). */
export function flowOf(s: GenStream, n: number): { src: string; sport: number } {
  const port = n % s.sportCount;
  const addr = Math.floor(n / s.sportCount) % s.srcCount;
  return { src: numberToIp4(s.srcBase + addr), sport: s.sport + port };
}

const cfgCodec = byteArrayCodec('struct gen_cfg', CFG.size);

export interface SendResult {
  /** Frames the program turned into stream frames and sent with XDP_TX. */
  sent: number;
  /** The kernel's time for the whole send, in ns (its per-frame average times the frames). */
  kernelNs: number;
  /** Wall-clock ns of the send, as seen from here. */
  wallNs: number;
}

/** The loaded generator. One stream at a time; send() blocks the calling thread while it runs. */
export class LiveGen {
  private stream: GenStream | undefined;
  private template: GenTemplate | undefined;

  private constructor(
    private readonly obj: BpfObject,
    private readonly cfg: BpfMap<number, Buffer>,
    private readonly state: BpfMap<number, bigint>,
  ) {}

  static load(): LiveGen {
    // No map of the generator is pinned: pinRoot is never used.
    const obj = BpfObject.open(GEN_OBJECT, { pinRoot: '/sys/fs/bpf' });
    try {
      obj.load();
      return new LiveGen(obj, obj.map('gen_cfg', u32, cfgCodec), obj.map('gen_state', u32, u64));
    } catch (e) {
      obj.close();
      throw e;
    }
  }

  /** Validates and installs a stream; the sequence starts again at flow 0. */
  configure(o: GenOptions): GenStream {
    const s = validateGenOptions(o);
    const t = buildGenTemplate(s);
    this.cfg.update(0, encodeGenCfg(s, t));
    this.state.update(0, 0n);
    this.stream = s;
    this.template = t;
    return s;
  }

  /** Frames generated since configure(). */
  get generated(): number {
    return Number(this.state.lookup(0) ?? 0n);
  }

  /**
   * Sends `count` frames out of `dev` of the namespace at nsPath (/run/netns/NAME), in batches
   * of batchSize (the kernel's NAPI weight, 64, by default).
   */
  send(nsPath: string, dev: string, count: number, batchSize = 64): SendResult {
    if (this.stream === undefined || this.template === undefined) throw new InvalidArgumentError('stream', undefined, 'configure() the generator before send()');
    int('count', count, 1, Number.MAX_SAFE_INTEGER);
    const frame = this.template.frame;
    const before = this.generated;
    const t0 = process.hrtime.bigint();
    let kernelNs = 0;
    const ifindex = ifindexIn(nsPath, dev);
    inNetns(nsPath, () => {
      for (let left = count; left > 0;) {
        const n = Math.min(left, MAX_CALL);
        kernelNs += liveFrames(this.progFd, frame, { repeat: n, batchSize, ingressIfindex: ifindex }).durationNs * n;
        left -= n;
      }
    });
    const wallNs = Number(process.hrtime.bigint() - t0);
    return { sent: this.generated - before, kernelNs, wallNs };
  }

  get progFd(): number {
    return this.obj.programFd('xlvs_bench_gen');
  }

  close(): void {
    this.obj.close();
  }
}
