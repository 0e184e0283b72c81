// SPDX-License-Identifier: Apache-2.0
// A seeded source of hostile frames for fuzzing XDP programs: valid template frames, their
// truncations at every header boundary, bit flips, bogus header fields (ihl, doff, lengths,
// protocols, fragment bits), and random bytes behind plausible headers. Everything is derived
// from the seed (no Math.random): a failure names seed and frame index, and replay() rebuilds
// that exact frame. Frames are written into one reused buffer; a million take a few seconds.

import { buildFrame, parseFrame, ETH_P_IP, ETH_P_IPV6, ICMP, ICMPV6, ICMP_CODE, IPPROTO, type FrameSpec, type Ipv4Spec, type L4Spec, type ParsedIpv6 } from './frames.js';
import { finish, sum16 } from './frame-checksum.js';
import { parseIPv6 } from '../src/model/ip.js';

/** sfc32 seeded through splitmix32: fast, 32-bit, good enough for fuzzing. */
export class Prng {
  private a: number;
  private b: number;
  private c: number;
  private d = 1;

  constructor(readonly seed: number) {
    let s = seed >>> 0;
    const split = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = split();
    this.b = split();
    this.c = split();
    for (let i = 0; i < 12; i++) this.u32();
  }

  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** An integer in [0, n). */
  below(n: number): number {
    return Math.floor((this.u32() / 0x100000000) * n);
  }

  chance(p: number): boolean {
    return this.u32() / 0x100000000 < p;
  }
}

/** A template with the offsets the mutators aim at. */
interface Template {
  bytes: Buffer;
  v6: boolean;
  l3: number;
  l4: number;
  /** Offsets where a header starts or ends (and one byte either side): the truncation points. */
  cuts: number[];
}

export const FUZZ_KINDS = ['template', 'truncate', 'bitflip', 'field', 'random'] as const;
export type FuzzKind = (typeof FUZZ_KINDS)[number];
const MAX_FRAME = 1514;

export interface FuzzOptions {
  seed: number;
  /** Valid frames to start from (default: defaultTemplates()). */
  templates?: FrameSpec[];
  /** Destination addresses (IPv4 or IPv6) random frames aim at half of the time (e.g. the VIPs). */
  targets?: string[];
  /**
   * Makes the patcher of one fuzzer (each replay gets a fresh one, so it must depend on nothing
   * but the calls it gets): it rewrites a template's copy before the mutators run (client
   * address, port, sequence number of a session; it fixes the checksums itself).
   */
  patcher?: () => FramePatcher;
}

/** Rewrites the copy of template `template` in buf[0, length) with draws from rng. */
export interface FramePatcher {
  patch(template: number, buf: Buffer, length: number, rng: Prng): void;
}

export class FrameFuzzer {
  // Rounded up to 4 bytes: random() fills it a word at a time.
  readonly buf = Buffer.alloc(MAX_FRAME + 3);
  length = 0;
  /** What made the current frame. */
  kind: FuzzKind = 'template';
  /** Index of the current frame (0-based), for replay(). */
  index = -1;
  /** Index of the template the current frame came from (-1: a random frame). */
  template = -1;
  private readonly rng: Prng;
  private readonly templates: Template[];
  private readonly targets: Buffer[];
  private readonly targets6: Buffer[];
  private readonly patcher: FramePatcher | undefined;

  constructor(readonly opts: FuzzOptions) {
    this.rng = new Prng(opts.seed);
    this.templates = (opts.templates ?? defaultTemplates()).map(template);
    const targets = opts.targets ?? [];
    this.targets = targets.filter((a) => !a.includes(':')).map((a) => Buffer.from(a.split('.').map(Number)));
    this.targets6 = targets.filter((a) => a.includes(':')).map((a) => parseIPv6(a)!);
    this.patcher = opts.patcher?.();
  }

  /** Writes the next frame into buf; returns its length. */
  next(): number {
    const r = this.rng;
    this.index++;
    const ti = r.below(this.templates.length);
    const t = this.templates[ti]!;
    const roll = r.below(100);
    if (roll < 15) {
      this.kind = 'random';
      this.template = -1;
      this.length = this.random();
      return this.length;
    }
    this.template = ti;
    this.buf.set(t.bytes, 0);
    this.length = t.bytes.length;
    this.patcher?.patch(ti, this.buf, this.length, r);
    if (roll < 30) {
      this.kind = 'template';
    } else if (roll < 50) {
      this.kind = 'truncate';
      const cut = t.cuts[r.below(t.cuts.length)]!;
      this.length = Math.max(14, Math.min(this.length, cut));
    } else if (roll < 70) {
      this.kind = 'bitflip';
      const span = Math.min(this.length, t.l4 + 48);
      for (let n = 1 + r.below(4); n > 0; n--) this.buf[r.below(span)]! ^= 1 << r.below(8);
    } else {
      this.kind = 'field';
      this.field(t);
    }
    return this.length;
  }

  /** A header field set to an edge or random value; the IPv4 header checksum is fixed half the time. */
  private field(t: Template): void {
    const r = this.rng;
    const b = this.buf;
    const { l3, l4 } = t;
    const pick = r.below(10);
    if (!t.v6) {
      if (pick === 0) b[l3] = (b[l3]! & 0xf0) | r.below(16); // ihl
      else if (pick === 1) b[l3] = (r.below(16) << 4) | (b[l3]! & 0x0f); // version
      else if (pick === 2) b.writeUInt16BE(edge16(r, this.length - 14), l3 + 2); // total length
      else if (pick === 3) b.writeUInt16BE(r.chance(0.5) ? 0x2000 : r.below(0x10000), l3 + 6); // MF / offset
      else if (pick === 4) b[l3 + 9] = r.chance(0.5) ? [1, 4, 6, 17, 41, 47, 50, 132][r.below(8)]! : r.below(256); // protocol
      else if (pick === 5) b[l3 + 8] = r.below(3); // ttl 0..2
      if (r.chance(0.5)) {
        const hl = (b[l3]! & 0x0f) * 4;
        if (hl >= 20 && l3 + hl <= this.length) {
          b.writeUInt16BE(0, l3 + 10);
          b.writeUInt16BE(finish(sum16(b, l3, l3 + hl)), l3 + 10);
        }
      }
    } else {
      if (pick === 0) b.writeUInt16BE(edge16(r, this.length - 54), l3 + 4); // payload length
      else if (pick === 1) b[l3 + 6] = r.chance(0.5) ? [0, 6, 17, 43, 44, 58, 59, 60, 41, 4][r.below(10)]! : r.below(256); // next header
      else if (pick === 2) b[l3] = (r.below(16) << 4) | (b[l3]! & 0x0f); // version
      else if (pick <= 5 && l4 > l3 + 40 && l4 <= this.length) b[l3 + 41] = r.below(256); // first extension header's length
    }
    if (pick >= 6 && l4 + 14 <= this.length) {
      if (pick === 6) b[l4 + 12] = (r.below(16) << 4) | (b[l4 + 12]! & 0x0f); // tcp doff
      else if (pick === 7) b.writeUInt16BE(edge16(r, this.length - l4), l4 + 4); // udp length / icmp checksum
      else if (pick === 8) b[l4 + 13] = r.below(256); // tcp flags
      else b.writeUInt16BE(r.below(0x10000), l4 + 2); // dport / icmp checksum
    }
  }

  /** Random bytes behind an Ethernet header and, mostly, a plausible IPv4/IPv6 header. */
  private random(): number {
    const r = this.rng;
    const b = this.buf;
    const len = 14 + r.below(r.chance(0.8) ? 120 : MAX_FRAME - 13);
    for (let i = 0; i < len; i += 4) b.writeUInt32LE(r.u32(), i);
    const type = r.below(4);
    if (type === 3) return len; // any EtherType at all
    b.writeUInt16BE(type === 2 ? ETH_P_IPV6 : ETH_P_IP, 12);
    if (type === 2) {
      if (len >= 54) {
        b[14] = 0x60 | (b[14]! & 0x0f);
        if (r.chance(0.8)) b.writeUInt16BE(len - 54, 18);
        b[20] = [6, 17, 58, 0, 43, 44, 60, 41, 4][r.below(9)]!;
        if (this.targets6.length > 0 && r.chance(0.5)) b.set(this.targets6[r.below(this.targets6.length)]!, 38);
        if (r.chance(0.5) && len >= 58) b.writeUInt16BE([80, 53, 5353, 443][r.below(4)]!, 56);
      }
      return len;
    }
    if (len >= 34) {
      b[14] = r.chance(0.8) ? 0x45 : 0x40 | r.below(16);
      b.writeUInt16BE(r.chance(0.8) ? len - 14 : r.below(0x10000), 16);
      if (r.chance(0.7)) b.writeUInt16BE(r.chance(0.5) ? 0x4000 : 0, 20);
      b[23] = [6, 17, 1, 4, 41, r.below(256)][r.below(6)]!;
      if (this.targets.length > 0 && r.chance(0.5)) b.set(this.targets[r.below(this.targets.length)]!, 30);
      if (r.chance(0.5)) {
        b.writeUInt16BE(0, 24);
        b.writeUInt16BE(finish(sum16(b, 14, 34)), 24);
      }
      const l4 = 14 + (b[14]! & 0x0f) * 4;
      if (r.chance(0.5) && l4 + 4 <= len) b.writeUInt16BE([80, 53, 5353, 443][r.below(4)]!, l4 + 2);
    }
    return len;
  }
}

/** The frame `index` of the sequence a FrameFuzzer with these options produces. */
export function replay(opts: FuzzOptions, index: number): { kind: FuzzKind; template: number; frame: Buffer } {
  const f = new FrameFuzzer(opts);
  while (f.index < index) f.next();
  const frame = Buffer.alloc(f.length);
  frame.set(f.buf.subarray(0, f.length));
  return { kind: f.kind, template: f.template, frame };
}

function edge16(r: Prng, real: number): number {
  const edges = [0, 1, 7, 8, 19, 20, 21, real - 1, real, real + 1, 0xffff];
  return r.chance(0.7) ? Math.max(0, Math.min(0xffff, edges[r.below(edges.length)]!)) : r.below(0x10000);
}

function template(spec: FrameSpec): Template {
  const bytes = buildFrame(spec);
  const v6 = spec.l3.kind === 'ipv6';
  const l3 = 14;
  let l4 = l3;
  if (spec.l3.kind === 'ipv4') l4 = l3 + (bytes[l3]! & 0x0f) * 4;
  else if (v6) l4 = l3 + 40 + (parseFrame(bytes).l3 as ParsedIpv6).ext.reduce((n, e) => n + e.length, 0);
  const marks = [6, 12, 13, 14, 15, l3 + 1, l3 + 20, l3 + 40, l4, l4 + 2, l4 + 4, l4 + 8, l4 + 13, l4 + 14, l4 + 20, l4 + 28, l4 + 48, bytes.length - 1];
  const cuts = [...new Set(marks.flatMap((m) => [m - 1, m, m + 1]))].filter((c) => c >= 14 && c < bytes.length).sort((a, b) => a - b);
  return { bytes, v6, l3, l4, cuts };
}

/** Valid frames of every kind the frame builder knows, aimed at `vip` (and elsewhere). */
export function defaultTemplates(vip = '203.0.113.100', client = '203.0.113.2'): FrameSpec[] {
  const v4 = (l4: L4Spec, extra: Partial<Ipv4Spec> = {}): FrameSpec => ({ l3: { kind: 'ipv4', src: client, dst: vip, id: 1, df: true, l4, ...extra } });
  const tcp = (dport: number, flags: string, extra = {}) => ({ kind: 'tcp', sport: 40000, dport, flags, seq: 1, ...extra }) as const;
  const udp = (dport: number) => ({ kind: 'udp', sport: 40001, dport, payload: Buffer.from('fuzz') }) as const;
  const v6 = { kind: 'ipv6', src: '2001:db8::2', dst: '2001:db8::100' } as const;
  return [
    v4(tcp(80, 'SYN', { options: Buffer.from('020405b4', 'hex') })),
    v4(tcp(80, 'ACK', { payload: Buffer.alloc(64, 0x61) })),
    v4(tcp(80, 'FIN,ACK')),
    v4(tcp(80, 'RST')),
    v4(tcp(81, 'SYN')),
    v4(udp(5353)),
    v4(udp(53)),
    v4({ kind: 'udp', sport: 1, dport: 5353, checksum: 'zero' }),
    v4(tcp(80, 'SYN'), { options: Buffer.from('01010100', 'hex'), ttl: 1 }),
    v4(tcp(80, 'SYN'), { mf: true }),
    v4({ kind: 'raw', proto: IPPROTO.TCP, data: Buffer.alloc(40, 1) }, { fragOffset: 1480 }),
    v4({ kind: 'icmp', type: ICMP.ECHO_REQUEST, id: 1, seq: 2, payload: Buffer.alloc(32) }),
    v4({ kind: 'icmp', type: ICMP.DEST_UNREACH, code: ICMP_CODE.FRAG_NEEDED, mtu: 1400, original: { kind: 'ipv4', src: vip, dst: client, l4: { kind: 'tcp', sport: 80, dport: 40000 } } }),
    v4({ kind: 'icmp', type: ICMP.TIME_EXCEEDED, original: { kind: 'ipv4', src: vip, dst: client, l4: { kind: 'udp', sport: 5353, dport: 40001 } } }),
    v4({ kind: 'ipv4', src: client, dst: vip, l4: tcp(80, 'SYN') }),
    v4({ ...v6, l4: tcp(80, 'SYN') }),
    { l3: { ...v6, l4: tcp(80, 'SYN') } },
    { l3: { ...v6, ext: [{ kind: 'hop-by-hop', options: Buffer.from('05020000', 'hex') }, { kind: 'routing', data: Buffer.alloc(4) }, { kind: 'fragment', more: true, id: 7 }, { kind: 'dest-opts' }], l4: udp(53) } },
    { l3: { ...v6, l4: { kind: 'icmpv6', type: ICMPV6.PACKET_TOO_BIG, mtu: 1280, original: { ...v6, src: v6.dst, dst: v6.src, l4: tcp(40000, 'ACK') } } } },
    { l3: { ...v6, l4: { kind: 'icmpv6', type: ICMPV6.ECHO_REQUEST, id: 1, seq: 1 } } },
    { l3: { ...v6, l4: { kind: 'ipv4', src: client, dst: vip, l4: udp(5353) } } },
    { l3: { kind: 'raw', proto: 0x0806, data: Buffer.from('0001080006040001020000000001cb007102000000000000cb007164', 'hex') } },
  ];
}
