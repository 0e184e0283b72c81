// SPDX-License-Identifier: Apache-2.0
// FrameSpec -> bytes. Lengths and checksums are computed unless the spec overrides them; every
// bad value throws InvalidArgumentError naming its path in the spec (e.g. "l3.l4.sport").

import { InvalidArgumentError } from '../src/errors.js';
import { parseIPv4, parseIPv6 } from '../src/model/ip.js';
import { finish, pseudoSumOf, sum16 } from './frame-checksum.js';
import {
  ETH_P_IP, ETH_P_IPV6, ICMP, ICMPV6, IPPROTO, TCP_FLAGS,
  type FrameSpec, type IcmpSpec, type Ipv4Spec, type Ipv6Ext, type Ipv6Spec, type L4Spec, type PacketSpec, type TcpSpec, type UdpSpec,
} from './frame-spec.js';

const DEFAULT_DST_MAC = '02:00:00:00:00:02';
const DEFAULT_SRC_MAC = '02:00:00:00:00:01';
const EMPTY = Buffer.alloc(0);

/** Where the L4 checksum's pseudo-header comes from. */
interface Pseudo {
  src: Buffer;
  dst: Buffer;
  v6: boolean;
}

export function buildFrame(spec: FrameSpec): Buffer {
  const eth = Buffer.alloc(14);
  eth.set(mac(spec.eth?.dst ?? DEFAULT_DST_MAC, 'eth.dst'), 0);
  eth.set(mac(spec.eth?.src ?? DEFAULT_SRC_MAC, 'eth.src'), 6);
  const l3 = spec.l3;
  const type = spec.eth?.type ?? (l3.kind === 'ipv4' ? ETH_P_IP : l3.kind === 'ipv6' ? ETH_P_IPV6 : l3.proto);
  eth.writeUInt16BE(uint('eth.type', type, 16), 12);
  const body = l3.kind === 'raw' ? l3.data : buildPacket(l3, 'l3');
  return concat([eth, body, spec.trailer ?? EMPTY]);
}

/** An IP packet (no Ethernet header): what an ICMP error embeds and what encapsulation carries. */
export function buildPacket(spec: PacketSpec, path = 'packet'): Buffer {
  return spec.kind === 'ipv4' ? buildIpv4(spec, path) : buildIpv6(spec, path);
}

export function protoOf(l4: L4Spec): number {
  switch (l4.kind) {
    case 'tcp': return IPPROTO.TCP;
    case 'udp': return IPPROTO.UDP;
    case 'icmp': return IPPROTO.ICMP;
    case 'icmpv6': return IPPROTO.ICMPV6;
    case 'ipv4': return IPPROTO.IPIP;
    case 'ipv6': return IPPROTO.IPV6;
    case 'raw': return l4.proto;
  }
}

function buildIpv4(s: Ipv4Spec, path: string): Buffer {
  const src = v4(s.src, `${path}.src`);
  const dst = v4(s.dst, `${path}.dst`);
  const options = s.options ?? EMPTY;
  if (options.length % 4 !== 0 || options.length > 40) throw new InvalidArgumentError(`${path}.options`, options.length, 'must be a multiple of 4 bytes, at most 40');
  const fragOffset = uint(`${path}.fragOffset`, s.fragOffset ?? 0, 16);
  if (fragOffset % 8 !== 0) throw new InvalidArgumentError(`${path}.fragOffset`, fragOffset, 'must be a multiple of 8 bytes');
  const proto = uint(`${path}.proto`, s.proto ?? protoOf(s.l4), 8);
  const l4 = buildL4(s.l4, { src, dst, v6: false }, proto, `${path}.l4`);
  const h = Buffer.alloc(20 + options.length);
  h[0] = 0x40 | uint(`${path}.ihl`, s.ihl ?? h.length / 4, 4);
  h[1] = uint(`${path}.tos`, s.tos ?? 0, 8);
  h.writeUInt16BE(uint(`${path}.totalLength`, s.totalLength ?? h.length + l4.length, 16), 2);
  h.writeUInt16BE(uint(`${path}.id`, s.id ?? 0, 16), 4);
  h.writeUInt16BE((s.df ? 0x4000 : 0) | (s.mf ? 0x2000 : 0) | (fragOffset / 8), 6);
  h[8] = uint(`${path}.ttl`, s.ttl ?? 64, 8);
  h[9] = proto;
  h.set(src, 12);
  h.set(dst, 16);
  h.set(options, 20);
  h.writeUInt16BE(s.checksum !== undefined ? uint(`${path}.checksum`, s.checksum, 16) : finish(sum16(h, 0, h.length)), 10);
  return concat([h, l4]);
}

function buildIpv6(s: Ipv6Spec, path: string): Buffer {
  const src = v6(s.src, `${path}.src`);
  const dst = v6(s.dst, `${path}.dst`);
  const ext = s.ext ?? [];
  const finalProto = protoOf(s.l4);
  const l4 = buildL4(s.l4, { src, dst, v6: true }, finalProto, `${path}.l4`);
  const next = (i: number): number => (i < ext.length ? extProto(ext[i]!) : finalProto);
  const exts = ext.map((e, i) => buildExt(e, next(i + 1), `${path}.ext[${i}]`));
  const payloadLength = exts.reduce((n, e) => n + e.length, 0) + l4.length;
  const h = Buffer.alloc(40);
  const tc = uint(`${path}.trafficClass`, s.trafficClass ?? 0, 8);
  const fl = uint(`${path}.flowLabel`, s.flowLabel ?? 0, 20);
  h.writeUInt32BE(((6 << 28) | (tc << 20) | fl) >>> 0, 0);
  h.writeUInt16BE(uint(`${path}.payloadLength`, s.payloadLength ?? payloadLength, 16), 4);
  h[6] = uint(`${path}.nextHeader`, s.nextHeader ?? next(0), 8);
  h[7] = uint(`${path}.hopLimit`, s.hopLimit ?? 64, 8);
  h.set(src, 8);
  h.set(dst, 24);
  return concat([h, ...exts, l4]);
}

function extProto(e: Ipv6Ext): number {
  switch (e.kind) {
    case 'hop-by-hop': return IPPROTO.HOPOPTS;
    case 'dest-opts': return IPPROTO.DSTOPTS;
    case 'routing': return IPPROTO.ROUTING;
    case 'fragment': return IPPROTO.FRAGMENT;
  }
}

function buildExt(e: Ipv6Ext, next: number, path: string): Buffer {
  if (e.kind === 'fragment') {
    const offset = uint(`${path}.offset`, e.offset ?? 0, 16);
    if (offset % 8 !== 0) throw new InvalidArgumentError(`${path}.offset`, offset, 'must be a multiple of 8 bytes');
    const b = Buffer.alloc(8);
    b[0] = next;
    b.writeUInt16BE(offset | (e.more ? 1 : 0), 2); // offset/8 sits in the top 13 bits: same as offset
    b.writeUInt32BE(uint(`${path}.id`, e.id ?? 0, 32), 4);
    return b;
  }
  const head = e.kind === 'routing'
    ? Buffer.from([next, 0, uint(`${path}.routingType`, e.routingType ?? 0, 8), uint(`${path}.segmentsLeft`, e.segmentsLeft ?? 0, 8)])
    : Buffer.from([next, 0]);
  const body = (e.kind === 'routing' ? e.data : e.options) ?? EMPTY;
  const len = Math.ceil((head.length + body.length) / 8) * 8 || 8;
  const b = Buffer.alloc(len);
  b.set(head, 0);
  b.set(body, head.length);
  const pad = len - head.length - body.length;
  // Options areas are padded with Pad1 or PadN so that the header parses; routing data with zeros.
  if (e.kind !== 'routing' && pad === 1) b[len - 1] = 0;
  else if (e.kind !== 'routing' && pad >= 2) {
    b[len - pad] = 1;
    b[len - pad + 1] = pad - 2;
  }
  b[1] = len / 8 - 1;
  return b;
}

function buildL4(s: L4Spec, ps: Pseudo, proto: number, path: string): Buffer {
  switch (s.kind) {
    case 'tcp': return buildTcp(s, ps, proto, path);
    case 'udp': return buildUdp(s, ps, proto, path);
    case 'icmp':
    case 'icmpv6': return buildIcmp(s, ps, path);
    case 'ipv4':
    case 'ipv6': return buildPacket(s, path);
    case 'raw': return s.data;
  }
}

function tcpFlags(f: string | number, path: string): number {
  if (typeof f === 'number') return uint(path, f, 8);
  let v = 0;
  for (const name of f.split(',').map((x) => x.trim().toUpperCase()).filter((x) => x !== '')) {
    const bit = TCP_FLAGS.indexOf(name as (typeof TCP_FLAGS)[number]);
    if (bit < 0) throw new InvalidArgumentError(path, f, `unknown TCP flag ${name}; known: ${TCP_FLAGS.join(', ')}`);
    v |= 1 << bit;
  }
  return v;
}

function buildTcp(s: TcpSpec, ps: Pseudo, proto: number, path: string): Buffer {
  const options = s.options ?? EMPTY;
  if (options.length % 4 !== 0 || options.length > 40) throw new InvalidArgumentError(`${path}.options`, options.length, 'must be a multiple of 4 bytes, at most 40');
  const payload = s.payload ?? EMPTY;
  const h = Buffer.alloc(20 + options.length + payload.length);
  h.writeUInt16BE(uint(`${path}.sport`, s.sport, 16), 0);
  h.writeUInt16BE(uint(`${path}.dport`, s.dport, 16), 2);
  h.writeUInt32BE(uint(`${path}.seq`, s.seq ?? 0, 32), 4);
  h.writeUInt32BE(uint(`${path}.ack`, s.ack ?? 0, 32), 8);
  h[12] = uint(`${path}.doff`, s.doff ?? (20 + options.length) / 4, 4) << 4;
  h[13] = tcpFlags(s.flags ?? 'ACK', `${path}.flags`);
  h.writeUInt16BE(uint(`${path}.window`, s.window ?? 65535, 16), 14);
  h.writeUInt16BE(uint(`${path}.urgent`, s.urgent ?? 0, 16), 18);
  h.set(options, 20);
  h.set(payload, 20 + options.length);
  const sum = sum16(h, 0, h.length, pseudoSumOf(ps.src, ps.dst, proto, h.length));
  h.writeUInt16BE(s.checksum !== undefined ? uint(`${path}.checksum`, s.checksum, 16) : finish(sum), 16);
  return h;
}

function buildUdp(s: UdpSpec, ps: Pseudo, proto: number, path: string): Buffer {
  const payload = s.payload ?? EMPTY;
  const h = Buffer.alloc(8 + payload.length);
  h.writeUInt16BE(uint(`${path}.sport`, s.sport, 16), 0);
  h.writeUInt16BE(uint(`${path}.dport`, s.dport, 16), 2);
  h.writeUInt16BE(uint(`${path}.length`, s.length ?? h.length, 16), 4);
  h.set(payload, 8);
  let check: number;
  if (s.checksum === 'zero') check = 0;
  else if (s.checksum !== undefined) check = uint(`${path}.checksum`, s.checksum, 16);
  else check = finish(sum16(h, 0, h.length, pseudoSumOf(ps.src, ps.dst, proto, h.length))) || 0xffff; // 0 means "none" (RFC 768)
  h.writeUInt16BE(check, 6);
  return h;
}

function buildIcmp(s: IcmpSpec, ps: Pseudo, path: string): Buffer {
  const v6 = s.kind === 'icmpv6';
  const type = uint(`${path}.type`, s.type, 8);
  const echo = v6 ? type === ICMPV6.ECHO_REQUEST || type === ICMPV6.ECHO_REPLY : type === ICMP.ECHO_REQUEST || type === ICMP.ECHO_REPLY;
  let rest: number;
  if (echo) rest = uint(`${path}.id`, s.id ?? 0, 16) * 0x10000 + uint(`${path}.seq`, s.seq ?? 0, 16);
  else if (s.mtu !== undefined) rest = v6 ? uint(`${path}.mtu`, s.mtu, 32) : uint(`${path}.mtu`, s.mtu, 16);
  else rest = uint(`${path}.rest`, s.rest ?? 0, 32);
  let body = s.payload ?? EMPTY;
  if (s.original !== undefined) {
    const orig = buildPacket(s.original, `${path}.original`);
    const ihl = s.original.kind === 'ipv4' ? (orig[0]! & 0x0f) * 4 : 40;
    const n = s.originalLength ?? (v6 ? orig.length : ihl + 8);
    body = concat([orig.subarray(0, uint(`${path}.originalLength`, n, 16)), body]);
  }
  const h = Buffer.alloc(8 + body.length);
  h[0] = type;
  h[1] = uint(`${path}.code`, s.code ?? 0, 8);
  h.writeUInt32BE(rest, 4);
  h.set(body, 8);
  const base = v6 ? pseudoSumOf(ps.src, ps.dst, IPPROTO.ICMPV6, h.length) : 0;
  h.writeUInt16BE(s.checksum !== undefined ? uint(`${path}.checksum`, s.checksum, 16) : finish(sum16(h, 0, h.length, base)), 2);
  return h;
}

function uint(field: string, v: unknown, bits: number): number {
  const max = 2 ** bits - 1;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) throw new InvalidArgumentError(field, v, `must be an integer 0..${max}`);
  return v;
}

function v4(s: string, field: string): Buffer {
  const n = parseIPv4(s);
  if (n === null) throw new InvalidArgumentError(field, s, 'must be a dotted-quad IPv4 address');
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n, 0);
  return b;
}

function v6(s: string, field: string): Buffer {
  const b = parseIPv6(s);
  if (b === null) throw new InvalidArgumentError(field, s, 'must be an IPv6 address');
  return b;
}

// Buffer.concat/copy do not type-check with this @types/node under TS 5.9; Uint8Array.set does.
function concat(parts: Buffer[]): Buffer {
  const out = Buffer.alloc(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

export function mac(s: string, field: string): Buffer {
  if (typeof s !== 'string' || !/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(s)) throw new InvalidArgumentError(field, s, 'must be a MAC address like 02:00:00:00:00:01');
  return Buffer.from(s.replace(/:/g, ''), 'hex');
}
